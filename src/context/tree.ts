/**
 * A build context as BuildKit's filesync reads it: entries with the metadata it compares against the snapshot
 * it kept (size, mtime, mode), and the bytes of the files it asks for. The session (session.ts) serves one to
 * dockerd; git-tree.ts makes one from a commit without writing a work tree.
 */

/** Go's os.FileMode bits, which fsutil's Stat carries. */
export const MODE_DIR = 0x80000000;
export const MODE_SYMLINK = 0x08000000;
export const MODE_SETUID = 0x00800000;
export const MODE_SETGID = 0x00400000;
export const MODE_STICKY = 0x00100000;

export interface TreeEntry {
  /** Relative to the context root, `/`-separated, no leading `./`. */
  path: string;
  /** Permission bits plus MODE_DIR or MODE_SYMLINK. */
  mode: number;
  /** Bytes of a regular file (0 for directories and symlinks). */
  size: number;
  /** Modification time in nanoseconds since the epoch: what tells BuildKit a file changed. */
  mtimeNs: bigint;
  /** A symlink's target. */
  linkname?: string;
}

/** What the receiver asked for, from the DiffCopy call's metadata. */
export interface TreeFilter {
  includePatterns: string[];
  excludePatterns: string[];
  /** Paths the build uses (COPY sources, the Dockerfile): only these, their parents and what is under them. */
  followPaths: string[];
}

export interface ContextTree {
  /**
   * The entries to send, filtered, in fsutil's order (bytes order within a directory, a directory's children
   * right after it), or a problem for the build's log (a malformed pattern). Parents of included entries are
   * included, as fsutil sends them.
   */
  entries(filter: TreeFilter): Promise<{ ok: true; entries: TreeEntry[] } | { ok: false; problem: string }>;
  /** The content of a regular file entry (`path` as entries() gave it). */
  read(path: string): Promise<Buffer>;
  /**
   * The same content as a stream, where a file may be larger than memory should hold (an uploaded folder's);
   * absent, read() is used. A git blob is read whole either way (`git cat-file --batch` answers in one piece).
   */
  open?(path: string): Promise<import('node:stream').Readable>;
}
