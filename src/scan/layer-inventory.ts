/**
 * One layer's inventory: what its package databases, Go binaries and Java archives list, by path, beside its
 * whiteouts and opaque folders. It is the unit kept by layer digest (a layer is read once ever), so it holds only
 * plain data (JSON as it is) and nothing that depends on the other layers of an image: OS packages are parsed
 * without a distro, and inventory.ts spells their purls once the image's os-release is known.
 */
import type { Readable } from 'node:stream';
import { type GoBuildInfo, type GoModule, goBuildInfoSink } from './go-buildinfo.js';
import { isJavaArchive, jarSink, type PomProperties } from './jar.js';
import { type EntryInfo, type FileSink, walkLayer } from './layer-walk.js';
import { type Distro, interestingPath, MAX_FILE_BYTES, type Package, type PackageFileKind, parsePackages } from './packages/index.js';
import { makePurl } from './packages/types.js';

/**
 * What a layer wrote at one path. `packages`: what the file lists (possibly none, e.g. a jar without Maven
 * metadata); `os-release`: the distro it names (absent when it did not parse); `shadow`: something stands there
 * that yields nothing (a symlink, an executable that is not a Go binary, a file too large), which still hides
 * what lower layers had at the path.
 */
export type LayerFileFacts =
  | { path: string; kind: 'packages'; packages: Package[] }
  | { path: string; kind: 'os-release'; distro?: Distro }
  | { path: string; kind: 'shadow' };

export interface LayerInventory {
  /** The blob's digest, which its bytes were checked against. */
  digest: string;
  /** Paths as walkLayer normalises them (`var/lib/dpkg/status`), each once. */
  files: LayerFileFacts[];
  whiteouts: string[];
  opaque: string[];
  /** Sentences naming what could not be read and where; the layer's result holds everything that could. */
  problems: string[];
}

/**
 * Layers' inventories by digest. `get` answers null for a layer never stored. Only complete layers are stored
 * (their bytes hashed to the digest and read to the end), so what `get` answers is that layer's inventory.
 */
export interface LayerCache {
  get(digest: string): LayerInventory | null | Promise<LayerInventory | null>;
  set(inventory: LayerInventory): void | Promise<void>;
}

/** A LayerCache in memory, for tests and for a process that scans without a store. */
export class MemoryLayerCache implements LayerCache {
  private layers = new Map<string, LayerInventory>();
  get(digest: string): LayerInventory | null {
    return this.layers.get(digest) ?? null;
  }
  set(inventory: LayerInventory): void {
    this.layers.set(inventory.digest, inventory);
  }
  get size(): number {
    return this.layers.size;
  }
}

/** What a sniffed file held: a Go binary's build info or an archive's pom.properties. */
type Sniffed = { go: GoBuildInfo } | { poms: PomProperties[] };

/** The largest kept file: the largest any parser reads (rpm's sqlite); each kind's own cap is applied in select. */
const MAX_KEPT_FILE = Math.max(
  ...(Object.keys(MAX_FILE_BYTES) as (keyof typeof MAX_FILE_BYTES)[]).filter((k) => k !== 'java-archive').map((k) => MAX_FILE_BYTES[k]),
);

/**
 * Reads one layer blob (`stream`, served as `mediaType`) into its inventory, checking its bytes against
 * `digest`. `complete` false: the layer could not be read to its end or its bytes are not the digest's; then
 * `inventory` must not be stored nor trusted (the caller drops its files and keeps its problems).
 */
export async function inventoryLayer(stream: Readable, mediaType: string, digest: string): Promise<{ inventory: LayerInventory; complete: boolean }> {
  const select = (path: string, info: EntryInfo): boolean | 'sniff' => {
    const kind = interestingPath(path);
    if (kind === 'java-archive') return info.type === 'file' ? 'sniff' : true;
    // Over its kind's cap, a file goes to a sink that refuses it: it is a problem and a shadow, never in memory.
    if (kind !== null) return info.type === 'file' && info.size > MAX_FILE_BYTES[kind] ? 'sniff' : true;
    // Executables may be Go binaries. Symlinks to them are not followed (the target is sniffed where it is).
    return info.type !== 'symlink' && (info.mode & 0o111) !== 0 && (info.type === 'hardlink' || info.size > 0) ? 'sniff' : false;
  };
  const sniff = (path: string, info: EntryInfo): FileSink<Sniffed> | null => {
    const kind = interestingPath(path);
    if (kind !== null && kind !== 'java-archive') return refuse(`${info.size} bytes, more than the ${MAX_FILE_BYTES[kind]} read of a ${kind} file: skipped`);
    if (isJavaArchive(path)) return mapSink(jarSink({ maxBytes: MAX_FILE_BYTES['java-archive'] }), (poms) => ({ poms }));
    return mapSink(goBuildInfoSink(), (go) => ({ go }));
  };
  const walked = await walkLayer<Sniffed>(stream, mediaType, select, { digest, sniff, maxFileBytes: MAX_KEPT_FILE });
  const inventory: LayerInventory = { digest, files: [], whiteouts: walked.whiteouts, opaque: walked.opaque, problems: [...walked.problems] };
  for (const [path, entry] of walked.files) {
    if (entry.kind === 'shadow') {
      inventory.files.push({ path, kind: 'shadow' });
    } else if (entry.kind === 'found') {
      const r = 'go' in entry.found ? goPackages(`/${path}`, entry.found.go) : pomPackages(`/${path}`, entry.found.poms);
      inventory.problems.push(...r.problems);
      inventory.files.push({ path, kind: 'packages', packages: r.packages });
    } else {
      const kind = interestingPath(path) as PackageFileKind;
      // No distro here: the layer's result must hold for any image it is in (inventory.ts spells the purls).
      const r = parsePackages(kind, path, entry.bytes);
      inventory.problems.push(...r.problems);
      if (kind === 'os-release') inventory.files.push({ path, kind: 'os-release', ...(r.distro ? { distro: r.distro } : {}) });
      else inventory.files.push({ path, kind: 'packages', packages: r.packages });
    }
  }
  return { inventory, complete: walked.complete };
}

/** A sink that wants nothing and says why (a file over its size cap): the path becomes a shadow. */
function refuse(problem: string): FileSink<Sniffed> {
  return { write: () => true, end: () => ({ found: null, problems: [problem] }) };
}

function mapSink<A>(sink: FileSink<A>, f: (a: A) => Sniffed): FileSink<Sniffed> {
  return {
    write: (chunk) => sink.write(chunk),
    end: async () => {
      const r = await sink.end();
      return { found: r.found === null ? null : f(r.found), problems: r.problems };
    },
    ...(sink.discard ? { discard: () => sink.discard?.() } : {}),
  };
}

/**
 * A Go binary's modules as `golang` packages, and its toolchain as `stdlib` (OSV files the standard library's
 * advisories under that name, versions without the `go` prefix). A main module built from a checkout (`(devel)`)
 * or a local replacement (no version) has no version to match, and is left out.
 */
export function goPackages(path: string, info: GoBuildInfo): { packages: Package[]; problems: string[] } {
  const packages: Package[] = [];
  const problems: string[] = [];
  const add = (name: string, version: string) => {
    const cut = name.lastIndexOf('/');
    const purl = makePurl('golang', cut < 0 ? undefined : name.slice(0, cut), name.slice(cut + 1), version);
    if (purl.ok) packages.push({ ecosystem: 'golang', name, version, path, purl: purl.purl });
    else problems.push(`${path}: ${purl.problem}`);
  };
  const std = /^go(\d+\.\d+(?:\.\d+)?)/.exec(info.goVersion)?.[1];
  if (std) add('stdlib', std);
  const mods: GoModule[] = [...(info.main ? [info.main] : []), ...info.deps];
  for (const m of mods) if (m.version && m.version !== '(devel)') add(m.path, m.version);
  return { packages, problems };
}

/** An archive's pom.properties as `maven` packages, each at `<archive>!/<entry>` as Java names a jar's entries. */
function pomPackages(path: string, poms: PomProperties[]): { packages: Package[]; problems: string[] } {
  const packages: Package[] = [];
  const problems: string[] = [];
  for (const pom of poms) {
    const r = parsePackages('pom-properties', `${path}!/${pom.path}`, Buffer.from(pom.text, 'utf8'));
    packages.push(...r.packages);
    problems.push(...r.problems);
  }
  return { packages, problems };
}
