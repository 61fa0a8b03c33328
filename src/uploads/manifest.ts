/**
 * The manifest a workspace sends for an upload build (issue 16, docs/research/upload-builds.md): every entry of
 * the context as BuildKit will be sent it (src/client/context-walk.ts makes it), each file named by its sha256
 * so that only the blobs the server lacks are uploaded.
 *
 * Nothing in it is trusted: its paths become paths in BuildKit's snapshot and, for the buildx and buildctl
 * drivers, in a work tree on the server's disk, so each is checked here once, before a byte of content moves,
 * and every problem is reported at once (a workspace fixes them in one go).
 *
 * A file's folders must be listed, not implied: the walker sends every folder above what it sends (an excluded
 * one too, as fsutil does), and fsutil sends a folder's own mode, which an implied folder would have to make up.
 */
import { MODE_DIR, MODE_SETGID, MODE_SETUID, MODE_STICKY, MODE_SYMLINK } from '../context/tree.js';
import { formatBytes } from '../units.js';
import { escapeControls, firstControl } from '../util/controls.js';

/** Entries one upload may hold: a large monorepo has ~100k files; beyond that the manifest itself is the cost. */
export const MAX_UPLOAD_ENTRIES = 200_000;
/** Linux's PATH_MAX and NAME_MAX: what BuildKit (and a work tree here) could not write anyway. */
const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;
/** Problems listed before the rest are only counted: a wholly wrong manifest of 200k entries is not a 20 MB answer. */
const MAX_PROBLEMS = 100;

/** Go's FileMode bits beyond the type (setuid, setgid, sticky) are allowed: fsutil carries them and the walker sends them. */
const ALLOWED_BITS = (MODE_DIR | MODE_SYMLINK | MODE_SETUID | MODE_SETGID | MODE_STICKY | 0o777) >>> 0;
/** Go's other FileMode bits, named for the problem: what a context cannot hold. */
const OTHER_BITS: [number, string][] = [
  [0x40000000, 'append-only'],
  [0x20000000, 'exclusive'],
  [0x10000000, 'temporary'],
  [0x04000000, 'a device'],
  [0x02000000, 'a named pipe'],
  [0x01000000, 'a socket'],
  [0x00200000, 'a character device'],
  [0x00080000, 'irregular'],
];

const SHA256_RE = /^[0-9a-f]{64}$/;
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export interface ManifestEntry {
  /** Relative to the context folder, `/`-separated. */
  path: string;
  /** Go's FileMode: permission bits (with setuid, setgid, sticky) plus MODE_DIR or MODE_SYMLINK. */
  mode: number;
  /** Bytes of a regular file; 0 for folders and symlinks. */
  size: number;
  /** A regular file's content hash, lowercase hex. */
  sha256?: string;
  /** A symlink's target, as the link holds it. */
  linkname?: string;
}

export interface UploadManifest {
  /** fsutil's order: bytes order within a folder, a folder's children right after it. */
  entries: ManifestEntry[];
  /** Bytes of the regular files: the context's size. */
  totalBytes: number;
  /** Each file content once, in the order of `entries`: what the store is asked about. */
  blobs: string[];
}

export interface ManifestLimits {
  /** The context's largest total size in bytes. */
  maxBytes: number;
  /** Default MAX_UPLOAD_ENTRIES. */
  maxEntries?: number;
  /** The setting that sets maxBytes, named when the context is over it. */
  setting?: string;
}

export type ManifestResult =
  | { ok: true; manifest: UploadManifest }
  /** `tooLarge`: the context is over a limit (413 rather than 400), whatever else is wrong with it. */
  | { ok: false; problems: string[]; tooLarge: boolean };

/** The manifest `body` (parsed JSON) checked and sorted, or every problem with it. Never throws. */
export function validateManifest(body: unknown, limits: ManifestLimits): ManifestResult {
  const maxEntries = limits.maxEntries ?? MAX_UPLOAD_ENTRIES;
  const raw = isObject(body) ? body.entries : undefined;
  if (!Array.isArray(raw))
    return { ok: false, problems: ['the manifest must be an object { "entries": [{ path, mode, size, sha256?, linkname? }, ...] }'], tooLarge: false };
  // Checked before anything else, so that an oversized list costs no more than its length.
  if (raw.length > maxEntries) {
    return {
      ok: false,
      problems: [`the context has ${raw.length} entries; the server takes at most ${maxEntries}: add what the build does not need to .dockerignore`],
      tooLarge: true,
    };
  }

  const problems: string[] = [];
  const entries: ManifestEntry[] = [];
  /** Where each well-formed entry is, for duplicates and parents. */
  const index = new Map<string, { i: number; entry: ManifestEntry }>();
  /** Every path given, well-formed or not: a folder listed wrongly is reported as itself, not again as missing. */
  const given = new Set<string>();
  let totalBytes = 0;
  for (const [i, item] of raw.entries()) {
    if (isObject(item) && typeof item.path === 'string') given.add(item.path);
    const r = checkEntry(item);
    if (!r.ok) {
      problems.push(`${where(i, item)}: ${r.problems.join('; ')}`);
      continue;
    }
    const first = index.get(r.entry.path);
    if (first !== undefined) {
      problems.push(`${where(i, item)}: listed twice (also entries[${first.i}])`);
      continue;
    }
    index.set(r.entry.path, { i, entry: r.entry });
    entries.push(r.entry);
    if (!(r.entry.mode & (MODE_DIR | MODE_SYMLINK))) totalBytes += r.entry.size;
  }
  for (const [path, { i }] of index) {
    const slash = path.lastIndexOf('/');
    if (slash < 0) continue;
    const parent = path.slice(0, slash);
    const up = index.get(parent);
    if (!up) {
      if (!given.has(parent)) problems.push(`${where(i, raw[i])}: its folder ${show(parent)} is not listed: list every folder above an entry`);
    } else if (!(up.entry.mode & MODE_DIR)) {
      problems.push(`${where(i, raw[i])}: ${show(parent)} (entries[${up.i}]) is not a folder, so nothing can be under it`);
    }
  }
  let tooLarge = false;
  if (totalBytes > limits.maxBytes) {
    tooLarge = true;
    problems.push(
      `the context is ${formatBytes(totalBytes)}; the server takes at most ${formatBytes(limits.maxBytes)} (${limits.setting ?? 'CODEHUB_MAX_UPLOAD_BYTES'}): add what the build does not need to .dockerignore`,
    );
  }
  if (problems.length) {
    const shown = problems.length > MAX_PROBLEMS ? [...problems.slice(0, MAX_PROBLEMS), `... and ${problems.length - MAX_PROBLEMS} more problems`] : problems;
    return { ok: false, problems: shown, tooLarge };
  }

  const sorted = sortFsutil(entries);
  const seen = new Set<string>();
  const blobs: string[] = [];
  for (const e of sorted)
    if (e.sha256 !== undefined && !seen.has(e.sha256)) {
      seen.add(e.sha256);
      blobs.push(e.sha256);
    }
  return { ok: true, manifest: { entries: sorted, totalBytes, blobs } };
}

/** One entry as given, checked: the entry with only its known fields, or what is wrong with it. */
function checkEntry(item: unknown): { ok: true; entry: ManifestEntry } | { ok: false; problems: string[] } {
  if (!isObject(item)) return { ok: false, problems: ['not an object { path, mode, size, sha256?, linkname? }'] };
  const problems: string[] = [];
  const { path, mode, size, sha256, linkname } = item;

  if (typeof path !== 'string') problems.push('path must be a string');
  else problems.push(...pathProblems(path));

  let kind: 'file' | 'folder' | 'symlink' | null = null;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0xffffffff) {
    problems.push('mode must be a Go FileMode: an integer from 0 to 2^32-1');
  } else {
    const other = OTHER_BITS.filter(([bit]) => mode & bit).map(([, name]) => name);
    if (other.length) problems.push(`mode 0x${mode.toString(16)} is ${other.join(', ')}: a context holds only files, folders and symlinks`);
    else if (mode & ~ALLOWED_BITS)
      problems.push(`mode 0x${mode.toString(16)} has bits no Go FileMode of a file, folder or symlink has (0x${((mode & ~ALLOWED_BITS) >>> 0).toString(16)})`);
    else if (mode & MODE_DIR && mode & MODE_SYMLINK) problems.push(`mode 0x${mode.toString(16)} is both a folder and a symlink`);
    else kind = mode & MODE_DIR ? 'folder' : mode & MODE_SYMLINK ? 'symlink' : 'file';
  }

  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) problems.push('size must be a whole number of bytes, 0 or more');
  else if (kind && kind !== 'file' && size !== 0) problems.push(`a ${kind}'s size must be 0`);

  if (kind === 'file') {
    if (typeof sha256 !== 'string' || !SHA256_RE.test(sha256)) problems.push('a file needs its sha256: 64 lowercase hex digits');
  } else if (kind && sha256 !== undefined) {
    problems.push(`a ${kind} has no sha256`);
  }

  if (kind === 'symlink') {
    if (typeof linkname !== 'string' || linkname === '') problems.push('a symlink needs its linkname (its target)');
    else if (linkname.includes('\0')) problems.push('the linkname holds a NUL byte');
    else if (LONE_SURROGATE_RE.test(linkname)) problems.push('the linkname is not valid Unicode');
    else if (Buffer.byteLength(linkname) > MAX_PATH_BYTES) problems.push(`the linkname is longer than ${MAX_PATH_BYTES} bytes`);
  } else if (kind && linkname !== undefined) {
    problems.push(`a ${kind} has no linkname`);
  }

  if (problems.length || kind === null) return { ok: false, problems };
  const entry: ManifestEntry = { path: path as string, mode: (mode as number) >>> 0, size: size as number };
  if (kind === 'file') entry.sha256 = sha256 as string;
  if (kind === 'symlink') entry.linkname = linkname as string;
  return { ok: true, entry };
}

/** What makes `path` no path inside the context: each reason once. */
function pathProblems(path: string): string[] {
  if (path === '') return ['the path is empty'];
  const out: string[] = [];
  if (path.startsWith('/')) out.push('the path starts with "/": paths are relative to the context folder');
  if (path.includes('\0')) out.push('the path holds a NUL byte');
  if (path.includes('\n') || path.includes('\r')) out.push('the path holds a line break');
  // The other controls too (ESC, BEL, DEL, C1): a path is echoed into logs and terminals, where they act.
  const control = firstControl(path.replace(/[\0\n\r]/g, ''));
  if (control) out.push(`the path holds the control character ${control}`);
  if (LONE_SURROGATE_RE.test(path)) out.push('the path is not valid Unicode');
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) out.push(`the path is longer than ${MAX_PATH_BYTES} bytes`);
  const parts = path.split('/');
  // A leading "/" is its own problem, not also an empty component.
  const inner = path.startsWith('/') ? parts.slice(1) : parts;
  if (inner.some((p) => p === '')) out.push('the path has an empty component ("//" or a trailing "/")');
  if (inner.includes('.')) out.push('the path has a "." component');
  if (inner.includes('..')) out.push('the path has a ".." component');
  if (inner.some((p) => Buffer.byteLength(p) > MAX_NAME_BYTES)) out.push(`a name in the path is longer than ${MAX_NAME_BYTES} bytes`);
  return out;
}

/**
 * `entries` in fsutil's order (git-tree.ts's fsutilOrder). Comparing the paths' bytes with `/` as NUL gives
 * fsutilOrder's answer (names hold neither), and one key per path instead of a split per comparison sorts 200k paths in well under a second
 * where fsutilOrder takes seconds; a manifest that comes sorted, as the walker's does, is only checked.
 */
function sortFsutil(entries: ManifestEntry[]): ManifestEntry[] {
  const keyed = entries.map((e) => ({ e, key: Buffer.from(e.path.replaceAll('/', '\0')) }));
  let sorted = true;
  for (let i = 1; i < keyed.length && sorted; i++) sorted = Buffer.compare(keyed[i - 1]!.key, keyed[i]!.key) < 0;
  if (!sorted) keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.e);
}

function where(i: number, item: unknown): string {
  const path = isObject(item) && typeof item.path === 'string' ? item.path : undefined;
  return path === undefined ? `entries[${i}]` : `entries[${i}] (${show(path)})`;
}

/** A path for a message: quoted and escaped, and cut short, since it came from outside. */
function show(path: string): string {
  // JSON escapes C0 controls; DEL and C1 (which some terminals act on) are left to escapeControls.
  return escapeControls(JSON.stringify(path.length > 120 ? `${path.slice(0, 120)}…` : path));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
