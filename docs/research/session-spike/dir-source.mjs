// The context as fsutil's local walker would send it: depth-first, names sorted by bytes within each dir.
import { lstat, readdir, readlink } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';

const S_IFMT = 0o170000;
/** Unix st_mode -> Go os.FileMode bits (what fsutil puts in Stat.mode). */
export function goMode(m) {
  let g = m & 0o777;
  switch (m & S_IFMT) {
    case 0o040000: g |= 2 ** 31; break; // ModeDir
    case 0o120000: g |= 2 ** 27; break; // ModeSymlink
    case 0o010000: g |= 2 ** 25; break; // ModeNamedPipe
    case 0o140000: break; // ModeSocket is cleared by fsutil
    case 0o060000: g |= 2 ** 26; break; // ModeDevice
    case 0o020000: g |= 2 ** 26 + 2 ** 21; break; // ModeDevice|ModeCharDevice
  }
  if (m & 0o4000) g |= 2 ** 23;
  if (m & 0o2000) g |= 2 ** 22;
  if (m & 0o1000) g |= 2 ** 20;
  return g >>> 0;
}

export const byBytes = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export async function dirSource(root) {
  const entries = [];
  async function walk(rel) {
    const names = (await readdir(path.join(root, rel))).sort(byBytes);
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, r);
      const st = await lstat(abs, { bigint: true });
      const mode = goMode(Number(st.mode));
      const isDir = st.isDirectory();
      const stat = { path: r, mode, uid: Number(st.uid), gid: Number(st.gid), modTime: st.mtimeNs, size: isDir ? 0 : Number(st.size) };
      if (st.isSymbolicLink()) stat.linkname = await readlink(abs);
      const regular = st.isFile();
      entries.push({ stat, open: regular ? () => createReadStream(abs, { highWaterMark: 32 * 1024 }) : null });
      if (isDir) await walk(r);
    }
  }
  await walk('');
  return { entries };
}
