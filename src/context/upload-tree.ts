import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore } from '../uploads/blobs.js';
import type { UploadManifest } from '../uploads/manifest.js';
import { filterEntries } from './filter.js';
import { tarStream } from './tar.js';
import { MODE_DIR, MODE_SYMLINK, type ContextTree, type TreeEntry, type TreeFilter } from './tree.js';

/** 2000-01-01T00:00:00Z in nanoseconds, as git-tree.ts dates a commit's files: a fixed date plus a hash-derived offset. */
const BASE_NS = 946_684_800_000_000_000n;

/**
 * An uploaded folder as a build context: the entries of its manifest (checked by validateManifest), the files'
 * bytes from the owner's blob store. Filtered exactly as a commit's tree is (filter.ts), so a folder gives
 * BuildKit the same entries whether it was pushed or uploaded.
 *
 * The workspace's file times are not sent: each file's mtime is derived from its sha256 (as git-tree.ts derives
 * it from the blob id), so under the same shared key an unchanged file is never sent again and a changed one
 * always is, whatever a checkout, an editor or a `touch` did to the times. A symlink's comes from its target, a
 * folder's is the fixed date.
 */
export class UploadTree implements ContextTree {
  private readonly all: TreeEntry[];
  private readonly byPath: Map<string, TreeEntry>;
  /** A regular file's path -> its blob. */
  private readonly blobs = new Map<string, string>();

  constructor(
    private readonly store: BlobStore,
    private readonly owner: string,
    manifest: UploadManifest,
  ) {
    this.all = manifest.entries.map((e) => {
      const entry: TreeEntry = { path: e.path, mode: e.mode, size: e.size, mtimeNs: BASE_NS };
      if (e.mode & MODE_SYMLINK) {
        entry.linkname = e.linkname ?? '';
        entry.mtimeNs = mtimeOf(createHash('sha256').update(entry.linkname).digest('hex'));
      } else if (!(e.mode & MODE_DIR) && e.sha256 !== undefined) {
        entry.mtimeNs = mtimeOf(e.sha256);
        this.blobs.set(e.path, e.sha256);
      }
      return entry;
    });
    this.byPath = new Map(this.all.map((e) => [e.path, e]));
  }

  async entries(filter: TreeFilter): Promise<{ ok: true; entries: TreeEntry[] } | { ok: false; problem: string }> {
    return filterEntries(this.all, this.byPath, filter);
  }

  async read(path: string): Promise<Buffer> {
    return this.store.read(this.owner, this.blobOf(path));
  }

  /** The file's content as a stream: for files larger than a Buffer should hold. */
  async open(path: string): Promise<Readable> {
    return this.store.open(this.owner, this.blobOf(path));
  }

  /**
   * The whole context as a tar, for the drivers that take one (buildx, buildctl, dockerd without a session).
   * Made on first read: a driver that serves the tree through its session never reads it, and no blob is opened.
   */
  tar(signal?: AbortSignal): Readable {
    const tree = this;
    async function* blocks(): AsyncGenerator<Buffer> {
      yield* tarStream(tree.all, (p) => tree.open(p), signal ? { signal } : {});
    }
    return Readable.from(blocks(), { objectMode: false });
  }

  private blobOf(path: string): string {
    const sha = this.blobs.get(path);
    if (sha === undefined) throw new Error(`${path} is not a file of the context`);
    return sha;
  }
}

/** The fixed date plus up to ~3 days of nanoseconds taken from the hash (its first 48 bits). */
function mtimeOf(sha256: string): bigint {
  return BASE_NS + (BigInt(`0x${sha256.slice(0, 12)}`) & 0x3ffffffffffffn);
}
