/**
 * One image layer read as a stream: decompressed, its tar walked entry by entry, and only what the caller
 * selected kept (package databases by path, Go binaries and Java archives through a sink), beside the layer's
 * whiteouts and opaque folders. image-files.ts applies the layers in order. A layer of any size is read in
 * bounded memory: nothing is buffered but the selected files, each capped, and every other entry is drained as
 * it passes.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';

export const LAYER_MEDIA_TYPES = {
  gzip: [
    'application/vnd.oci.image.layer.v1.tar+gzip',
    'application/vnd.docker.image.rootfs.diff.tar.gzip',
    // Foreign and non-distributable layers (Windows bases) are the same bytes; a registry may still serve them.
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
    'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ],
  tar: ['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.nondistributable.v1.tar'],
  zstd: ['application/vnd.oci.image.layer.v1.tar+zstd', 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd'],
} as const;

/** A selected file's size limit when the caller gives none: a dpkg status of thousands of packages is a few MiB. */
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
/** All kept files of one layer together (a layer with a hundred thousand package.json files stays under it). */
export const DEFAULT_MAX_KEPT_BYTES = 512 * 1024 * 1024;
/** Problems kept per layer: a hostile layer of a million bad paths must not make a million sentences. */
const MAX_PROBLEMS = 100;

/** What select and a sink learn of an entry: regular files, hard links and symlinks only (folders never count). */
export interface EntryInfo {
  type: 'file' | 'hardlink' | 'symlink';
  /** Permission bits as the tar holds them (0o755: an executable). */
  mode: number;
  /** Bytes of content (0 for links). */
  size: number;
  /** A link's target as written in the tar (a hard link's is a path in the layer, normalised like the entry's). */
  linkname?: string;
}

/**
 * What the walker feeds a sniffed file's bytes to, in order; `opts.sniff` makes one per file. The walker drains
 * whatever the sink does not want, so a sink never has to read to the end.
 */
export interface FileSink<S> {
  /** The next bytes of the file. Answers true when the sink needs no more (then it gets no more writes). */
  write(chunk: Buffer): boolean | Promise<boolean>;
  /**
   * The file ended, or the sink said it had enough: `found` is what the sink read (null when the file is not
   * what it looks for, e.g. an executable that is not a Go binary), `problems` what went wrong, each a sentence
   * without the file's path (the walker puts it in front).
   */
  end(): SinkResult<S> | Promise<SinkResult<S>>;
  /** The walk failed in the middle of this file: release what the sink holds (a temporary file). */
  discard?(): void | Promise<void>;
}

export interface SinkResult<S> {
  found: S | null;
  problems: string[];
}

/**
 * What a layer wrote at a selected path. `bytes`: the file's content; `found`: what a sink read from it;
 * `shadow`: something stands at the path that this walk keeps nothing of (a symlink, a file over its size limit,
 * an executable that is not a Go binary), which still hides what lower layers had there.
 */
export type LayerEntry<S> = { kind: 'bytes'; bytes: Buffer } | { kind: 'found'; found: S } | { kind: 'shadow' };

export interface LayerFiles<S> {
  /** Selected paths (normalised: `var/lib/dpkg/status`, no leading `/` or `./`) and what this layer wrote there. */
  files: Map<string, LayerEntry<S>>;
  /** Paths this layer deletes from the layers below it (`.wh.<name>`): a file, or a folder and all below it. */
  whiteouts: string[];
  /** Folders this layer makes opaque (`.wh..wh..opq`): all the lower layers had below them is gone; '' is the root. */
  opaque: string[];
  /**
   * Sentences naming what could not be read and where (a path and why); at most 100, the last counting the rest,
   * then the reason the layer is incomplete when it is.
   */
  problems: string[];
  /**
   * False when the layer could not be read to its end (not gzip, not a tar, a stream that failed, a compression
   * not supported): what was read before is kept, but it is not the layer's inventory and must not be stored as it.
   */
  complete: boolean;
}

export type Select = (path: string, info: EntryInfo) => boolean | 'sniff';

export interface WalkOptions<S> {
  /** Bytes of one selected file kept at most (default 64 MiB); a larger one is a problem and is not kept. */
  maxFileBytes?: number;
  /** Bytes of all kept files of the layer (default 512 MiB); past it, files are problems and are not kept. */
  maxKeptBytes?: number;
  /**
   * The layer's digest (`sha256:<hex>`) when the caller wants the bytes checked against it: the layer's inventory
   * is kept by its digest, so bytes that do not hash to it (a proxy's error page, a corrupted cache) must not be
   * stored under it. A mismatch makes the walk incomplete.
   */
  digest?: string;
  /** A sink for a path select answered 'sniff' for; null when nothing is sought there. */
  sniff?: (path: string, info: EntryInfo) => FileSink<S> | null;
}

/**
 * Reads one layer from `stream` (the blob as the registry serves it) as `mediaType` says: gzip or plain tar;
 * zstd and unknown types are a problem and nothing is read. `select(path, info)` is asked for each regular file,
 * hard link and symlink: true keeps the file's bytes, 'sniff' feeds them to `opts.sniff`'s sink, false skips it.
 *
 * Links are not followed: a symlink at a selected path is a `shadow` (what it points to may sit in another layer,
 * and a package database behind a symlink is rare; Trivy does not follow them either). A hard link takes what its
 * target (an earlier entry of the same layer, as tar requires) was kept as; a link to a file that was not
 * selected is a shadow and a problem.
 *
 * Paths are normalised (`./` and a leading `/` dropped); an entry whose path climbs out of the root with `..` is a
 * problem and is skipped. The stream is always consumed or destroyed; the promise never rejects (select and the
 * sink factory must not throw: a sink may, and that file is then a problem).
 */
export async function walkLayer<S = never>(stream: Readable, mediaType: string, select: Select, opts: WalkOptions<S> = {}): Promise<LayerFiles<S>> {
  const out: LayerFiles<S> = { files: new Map(), whiteouts: [], opaque: [], problems: [], complete: false };
  const problems = problemList(out.problems);
  const type = mediaType.split(';')[0]!.trim();
  const gzip = (LAYER_MEDIA_TYPES.gzip as readonly string[]).includes(type);
  if (!gzip && !(LAYER_MEDIA_TYPES.tar as readonly string[]).includes(type)) {
    problems.add(
      (LAYER_MEDIA_TYPES.zstd as readonly string[]).includes(type)
        ? `the layer is compressed with zstd (${type}), which is not supported yet: nothing in it was read`
        : `the layer's media type ${JSON.stringify(mediaType)} is not a tar layer this scanner reads: nothing in it was read`,
    );
    stream.destroy();
    return out;
  }

  const [algorithm = '', expected = ''] = opts.digest?.split(':') ?? [];
  if (opts.digest !== undefined && (!['sha256', 'sha512'].includes(algorithm) || !/^[0-9a-f]+$/.test(expected))) {
    problems.add(`the layer's digest ${JSON.stringify(opts.digest)} is not sha256:<hex> or sha512:<hex>: nothing in it was read`);
    stream.destroy();
    return out;
  }

  const maxFile = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const maxKept = opts.maxKeptBytes ?? DEFAULT_MAX_KEPT_BYTES;
  let kept = 0;
  // The first failure names the layer's problem; the ones it causes downstream (a tar cut short) say nothing new.
  let failure: string | null = null;
  const extract = tar.extract();
  const fail = (what: string) => (err: Error) => {
    failure ??= `${what}: ${err.message}`;
    extract.destroy(err);
  };
  stream.on('error', fail('the layer stream failed'));
  // A second 'data' listener beside pipe's sees the same chunks and leaves backpressure to pipe.
  const hash = opts.digest === undefined ? null : createHash(algorithm);
  if (hash) stream.on('data', (chunk: Buffer) => hash.update(chunk));
  if (gzip) {
    const gunzip = createGunzip();
    gunzip.on('error', fail('the layer is not valid gzip'));
    stream.pipe(gunzip).pipe(extract);
  } else {
    stream.pipe(extract);
  }

  let sink: FileSink<S> | null = null;
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const path = normaliseLayerPath(header.name);
      if (path === null) {
        problems.add(`${JSON.stringify(header.name)} climbs out of the image's root: skipped`);
        await drain(entry);
        continue;
      }
      const slash = path.lastIndexOf('/');
      const dir = slash < 0 ? '' : path.slice(0, slash);
      const base = path.slice(slash + 1);
      if (base.startsWith('.wh.') && base.length > '.wh.'.length) {
        if (base === '.wh..wh..opq') out.opaque.push(dir);
        // Other `.wh..wh.` names are AUFS's own bookkeeping (`.wh..wh.plnk`), not deletions.
        else if (!base.startsWith('.wh..wh.')) out.whiteouts.push(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
        await drain(entry);
        continue;
      }
      const info = entryInfo(header);
      const choice = path === '' || info === null ? false : select(path, info);
      if (choice === false || info === null) {
        await drain(entry);
        continue;
      }

      if (info.type === 'symlink') {
        out.files.set(path, { kind: 'shadow' });
      } else if (info.type === 'hardlink') {
        const target = normaliseLayerPath(info.linkname ?? '');
        const was = target ? out.files.get(target) : undefined;
        out.files.set(path, was ?? { kind: 'shadow' });
        // A link to a shadow is one too, quietly (Debian hard-links executables that are not Go binaries); a link
        // to a file that was not selected cannot be read after the fact.
        if (!was) problems.add(`${path} is a hard link to ${JSON.stringify(info.linkname ?? '')}, which this layer did not keep: not read`);
      } else if (choice === true) {
        if (info.size > maxFile || kept + info.size > maxKept) {
          out.files.set(path, { kind: 'shadow' });
          problems.add(
            info.size > maxFile
              ? `${path} is ${info.size} bytes, more than the ${maxFile} read of one file: not read`
              : `${path} (${info.size} bytes) would take the layer's kept files past ${maxKept} bytes: not read`,
          );
        } else {
          const bytes = await readAll(entry);
          kept += bytes.length;
          out.files.set(path, { kind: 'bytes', bytes });
          continue;
        }
      } else {
        sink = opts.sniff?.(path, info) ?? null;
        if (sink) {
          const result = await feed(sink, entry);
          sink = null;
          for (const p of result.problems) problems.add(`${path}: ${p}`);
          out.files.set(path, result.found === null ? { kind: 'shadow' } : { kind: 'found', found: result.found });
          continue;
        }
        out.files.set(path, { kind: 'shadow' });
      }
      await drain(entry);
    }
    const got = hash?.digest('hex');
    if (failure === null && got !== undefined && got !== expected) failure = `the layer's bytes hash to ${algorithm}:${got}, not to its digest ${opts.digest}`;
    if (failure === null) out.complete = true;
  } catch (err) {
    failure ??= `the layer is not a valid tar: ${(err as Error).message}`;
  } finally {
    if (sink?.discard) await sink.discard();
    if (!stream.readableEnded) stream.destroy();
  }
  // Past the cap too: it is the sentence that says why the layer is incomplete.
  if (failure !== null) out.problems.push(failure);
  return out;
}

/**
 * `./usr/bin/`, `/usr/bin` and `usr//bin/.` are all `usr/bin`; `a/../b` is `b`; the root is ''. Null for a path
 * that climbs above the root (`../etc/passwd`, `a/../../b`) or holds a NUL byte: such an entry is hostile, and no
 * container runtime would write it where it says.
 */
export function normaliseLayerPath(name: string): string | null {
  if (name.includes('\0')) return null;
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join('/');
}

function entryInfo(header: Header): EntryInfo | null {
  const mode = (header.mode ?? 0) & 0o7777;
  // tar-stream gives a type to every entry it knows (a v7 header's NUL flag is 'file'); an unknown one (GNU
  // sparse files, vendor types) is null, and is skipped rather than read as something it may not be.
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      return { type: 'file', mode, size: header.size ?? 0 };
    case 'link':
      return { type: 'hardlink', mode, size: 0, linkname: header.linkname ?? '' };
    case 'symlink':
      return { type: 'symlink', mode, size: 0, linkname: header.linkname ?? '' };
    default:
      return null;
  }
}

/** Reads an entry the walker skips to its end: the tar moves on only once each entry is consumed. */
async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _chunk of entry) {
    // Dropped: only its passing matters.
  }
}

async function readAll(entry: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // tar-stream's entries are streamx streams of Buffers (typed unknown).
  for await (const chunk of entry) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Feeds the entry to the sink until it ends or the sink has enough, drains the rest; a throwing sink is a problem. */
async function feed<S>(sink: FileSink<S>, entry: AsyncIterable<unknown>): Promise<SinkResult<S>> {
  let enough = false;
  let thrown: Error | null = null;
  for await (const chunk of entry) {
    if (enough) continue;
    try {
      enough = await sink.write(chunk as Buffer);
    } catch (err) {
      thrown = err as Error;
      enough = true;
    }
  }
  if (thrown) {
    await sink.discard?.();
    return { found: null, problems: [`could not be read: ${thrown.message}`] };
  }
  try {
    return await sink.end();
  } catch (err) {
    return { found: null, problems: [`could not be read: ${(err as Error).message}`] };
  }
}

function problemList(into: string[]) {
  let more = 0;
  return {
    add(p: string) {
      if (into.length < MAX_PROBLEMS - 1) into.push(p);
      else {
        more++;
        into[MAX_PROBLEMS - 1] = `and ${more} more problem${more === 1 ? '' : 's'}`;
      }
    },
  };
}
