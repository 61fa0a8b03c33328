/**
 * The Maven coordinates a Java archive carries: the `META-INF/maven/<group>/<artifact>/pom.properties` files
 * Maven writes into every jar it builds, read from the jar (`.jar`, `.war`, `.ear`) and from the jars inside it,
 * one level down (a Spring Boot `BOOT-INF/lib/`, a war's `WEB-INF/lib/`, an ear's modules). A zip is read from
 * its central directory at the end, so the archive goes to a temporary file first, capped; nothing is held whole.
 */
import { createWriteStream } from 'node:fs';
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import type { FileSink, SinkResult } from './layer-walk.js';

/** An archive larger than this is not read (a problem says so). */
export const DEFAULT_MAX_JAR_BYTES = 256 * 1024 * 1024;
/** A pom.properties is a few lines; a larger entry named so is not one, or is a zip bomb's. */
const MAX_POM_BYTES = 64 * 1024;
/** pom.properties kept per archive, nested ones included (a shaded jar has a few hundred). */
const MAX_POMS = 10_000;
const ARCHIVE_RE = /\.(jar|war|ear)$/i;
const POM_RE = /^META-INF\/maven\/.+\/pom\.properties$/;

export interface PomProperties {
  /** Where it is in the archive; in a nested jar, the jar's path, `!/`, then the path in it (as Java writes jar URLs). */
  path: string;
  /** The file's text, as written (`groupId=`, `artifactId=`, `version=` lines). */
  text: string;
}

export interface JarOptions {
  /** Bytes of an archive read at most, the outer one and each nested one (default 256 MiB). */
  maxBytes?: number;
  /** Where the temporary copy goes (default the system's temporary folder); it is removed when read. */
  tmpDir?: string;
}

/** Whether a layer's path names a Java archive this module reads. */
export function isJavaArchive(path: string): boolean {
  return ARCHIVE_RE.test(path);
}

/**
 * A sink for layer-walk.ts: feed it an archive's bytes. It finds the archive's pom.properties (an empty list for
 * a jar without any); an archive past `maxBytes`, one that is not a zip and a nested jar that cannot be read are
 * problems (what could be read is still found).
 */
export function jarSink(opts: JarOptions = {}): FileSink<PomProperties[]> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_JAR_BYTES;
  let size = 0;
  let tooBig = false;
  let dir: string | null = null;
  let file: FileHandle | null = null;
  const release = async () => {
    await file?.close();
    file = null;
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = null;
  };
  return {
    async write(chunk) {
      size += chunk.length;
      if (size > maxBytes) {
        tooBig = true;
        return true;
      }
      if (!file) {
        dir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'codehub-jar-'));
        file = await open(join(dir, 'archive.zip'), 'wx');
      }
      // A write may take fewer bytes than it was given.
      for (let at = 0; at < chunk.length; ) at += (await file.write(chunk, at)).bytesWritten;
      return false;
    },
    async end() {
      try {
        if (tooBig) return { found: null, problems: [`the archive is larger than ${maxBytes} bytes: not read`] };
        if (!file || !dir) return { found: null, problems: ['the archive is empty: not a zip'] };
        await file.close();
        file = null;
        return await readJarFile(join(dir, 'archive.zip'), opts);
      } finally {
        await release();
      }
    },
    discard: release,
  };
}

/** The pom.properties of the archive at `path` (a file on disk), and of the archives in it, one level down. */
export async function readJarFile(path: string, opts: JarOptions = {}): Promise<SinkResult<PomProperties[]>> {
  const poms: PomProperties[] = [];
  const problems: string[] = [];
  const tmp = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'codehub-jar-'));
  try {
    const opened = await readZip(path, '', true, { poms, problems, tmp, maxBytes: opts.maxBytes ?? DEFAULT_MAX_JAR_BYTES });
    if (!opened) return { found: null, problems };
    return { found: poms, problems };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

interface Reading {
  poms: PomProperties[];
  problems: string[];
  /** A folder of this read's own, for the nested archives' copies. */
  tmp: string;
  maxBytes: number;
}

/**
 * Reads the zip at `file` into `r`, its paths prefixed with `prefix`; `nested` says whether the archives in it are
 * read too. False when it is not a zip at all (a problem says why).
 */
async function readZip(file: string, prefix: string, nested: boolean, r: Reading): Promise<boolean> {
  const label = prefix ? prefix.slice(0, -'!/'.length) : 'the archive';
  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(file, { autoClose: true, validateEntrySizes: true });
  } catch (err) {
    r.problems.push(`${label} is not a zip: ${(err as Error).message}`);
    return false;
  }
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (POM_RE.test(name)) {
        if (r.poms.length >= MAX_POMS) {
          r.problems.push(`${prefix}${name}: more than ${MAX_POMS} pom.properties in one archive: the rest are not read`);
          break;
        }
        await readPom(zip, entry, prefix, r);
      } else if (nested && ARCHIVE_RE.test(name) && !name.endsWith('/')) {
        await readNested(zip, entry, prefix, r);
      }
    }
  } catch (err) {
    // A broken central directory: what was read stands, the rest is named as unread.
    r.problems.push(`${label} could not be read to its end: ${(err as Error).message}`);
  } finally {
    // Closed already when the entries ran out; not when a read of one failed (close() is safe twice).
    zip.close();
  }
  return true;
}

async function readPom(zip: ZipFile, entry: Entry, prefix: string, r: Reading): Promise<void> {
  const path = `${prefix}${entry.fileName}`;
  if (entry.uncompressedSize > MAX_POM_BYTES) {
    r.problems.push(`${path} is ${entry.uncompressedSize} bytes, more than a pom.properties holds: not read`);
    return;
  }
  try {
    const chunks: Buffer[] = [];
    // validateEntrySizes holds the stream to the size checked above: a lying header errors, it cannot inflate more.
    for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk as Buffer);
    r.poms.push({ path, text: Buffer.concat(chunks).toString('utf8') });
  } catch (err) {
    r.problems.push(`${path} could not be read: ${(err as Error).message}`);
  }
}

async function readNested(zip: ZipFile, entry: Entry, prefix: string, r: Reading): Promise<void> {
  const path = `${prefix}${entry.fileName}`;
  if (entry.uncompressedSize > r.maxBytes) {
    r.problems.push(`${path} is ${entry.uncompressedSize} bytes, more than the ${r.maxBytes} read of an archive: not read`);
    return;
  }
  const copy = join(r.tmp, 'nested.zip');
  try {
    await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(copy));
    await readZip(copy, `${path}!/`, false, r);
  } catch (err) {
    r.problems.push(`${path} could not be read: ${(err as Error).message}`);
  } finally {
    await rm(copy, { force: true });
  }
}
