// The context as a git tree: entries from `git ls-tree -r -t -l -z`, re-sorted into fsutil walk order,
// contents from `git cat-file blob` per request. modTime is derived from the blob id, so an unchanged
// blob keeps its mtime across commits and a changed one (even of the same size) gets a different one.
import { execFileSync, spawn } from 'node:child_process';
import { byBytes } from './dir-source.mjs';

const EPOCH_S = 946684800n; // 2000-01-01T00:00:00Z; all files get this second, the nanoseconds come from the blob id
const modTimeOf = (oid) => EPOCH_S * 1_000_000_000n + (BigInt(`0x${oid.slice(0, 12)}`) % 1_000_000_000n);
const DIR = 2 ** 31, SYMLINK = 2 ** 27;

export async function gitSource(repo, rev) {
  const out = execFileSync('git', ['-C', repo, 'ls-tree', '-r', '-t', '-l', '-z', '--full-tree', rev], { maxBuffer: 1 << 30 });
  const byDir = new Map([['', []]]);
  const info = new Map();
  for (const rec of out.toString('utf8').split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, oid, size] = rec.slice(0, tab).split(/ +/);
    const p = rec.slice(tab + 1);
    const slash = p.lastIndexOf('/');
    const parent = slash < 0 ? '' : p.slice(0, slash);
    (byDir.get(parent) ?? byDir.set(parent, []).get(parent)).push(p.slice(slash + 1));
    info.set(p, { mode, type, oid, size: size === '-' ? 0 : Number(size) });
    if (type === 'tree') byDir.set(p, byDir.get(p) ?? []);
  }
  const entries = [];
  const walk = (dir) => {
    for (const name of (byDir.get(dir) ?? []).sort(byBytes)) {
      const p = dir ? `${dir}/${name}` : name;
      const e = info.get(p);
      const stat = { path: p, uid: 0, gid: 0, modTime: modTimeOf(e.oid), size: e.size };
      let open = null;
      if (e.type === 'tree' || e.type === 'commit') { // commit = submodule: an empty dir, as git archive does
        stat.mode = (DIR | 0o755) >>> 0; stat.size = 0; stat.modTime = EPOCH_S * 1_000_000_000n;
      } else if (e.mode === '120000') {
        stat.mode = (SYMLINK | 0o777) >>> 0;
        stat.linkname = execFileSync('git', ['-C', repo, 'cat-file', 'blob', e.oid]).toString('utf8');
      } else {
        stat.mode = e.mode === '100755' ? 0o755 : 0o644;
        open = () => spawn('git', ['-C', repo, 'cat-file', 'blob', e.oid], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout;
      }
      entries.push({ stat, open, oid: e.oid });
      if (e.type === 'tree') walk(p);
    }
  };
  walk('');
  return { entries };
}
