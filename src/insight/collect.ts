/**
 * A build's insight, made at its end from what the build already has: its steps, the context files its builder
 * received, its args, and the image it pushed (the manifest, and the config for each layer's instruction), set
 * against the previous build of the same branch (or folder) and image.
 */
import { createHmac } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { RawManifest } from '../registry/client.js';
import type { BuildStep } from '../store/schema.js';
import { basesOf, findCacheMiss } from './explain.js';
import { storedInsight } from './stored.js';
import type { InsightInputs, InsightLayer, StoredInsight } from './types.js';

/** What insight reads an image through: the registry client (src/registry/client.ts), with the server's credentials. */
export interface ImageReader {
  manifest(name: string, reference: string): Promise<RawManifest | null>;
  blob(name: string, digest: string): Promise<Readable | null>;
}

export interface InsightDeps {
  registry: ImageReader;
  /** The key build-arg values are hashed under (never stored in clear, and not guessable from their hash). */
  key: Buffer;
}

export interface BuildFacts {
  /** The attempt's steps, names masked as stored. */
  steps: readonly BuildStep[];
  /** What the driver said its builder received of the context (BuildOutcome.contextChanged); undefined: it cannot say. */
  contextChanged: readonly string[] | undefined;
  /** The build args the build ran with, resolved (secret-looking ones included: only their HMAC is kept). */
  args: Record<string, string>;
  noCache: boolean;
  /** Hides secret values in text kept from the image (BuildKit's history names a RUN's build args with their values). */
  mask: (text: string) => string;
  /**
   * The pushed image (its repository in the registry, and manifest digest, and the manifest when the build's end
   * read it already); null when nothing was pushed.
   */
  image: { repository: string; digest: string; manifest?: RawManifest | null } | null;
}

/** The insight to store, and the previous build's id it was compared with. Throws only on the registry's errors. */
export async function collectInsight(
  deps: InsightDeps,
  facts: BuildFacts,
  previous: { id: number; insight: Record<string, unknown> } | null,
): Promise<StoredInsight> {
  const before = previous ? storedInsight(previous.insight) : null;
  const image = facts.image ? await readImage(deps.registry, facts.image, facts.mask) : null;
  const inputs: InsightInputs = {
    args: Object.fromEntries(Object.entries(facts.args).map(([k, v]) => [k, createHmac('sha256', deps.key).update(`${k}=${v}`).digest('hex').slice(0, 32)])),
    bases: basesOf(facts.steps),
    layers: image?.layers.map((l) => l.digest) ?? [],
  };
  const layers: InsightLayer[] = (image?.layers ?? []).map((l, i) => {
    const prev = before?.layers[i];
    const same = before?.inputs.layers[i] === l.digest;
    return { instruction: l.instruction, bytes: l.bytes, bytes_delta: same ? 0 : prev && prev.instruction === l.instruction ? l.bytes - prev.bytes : null };
  });
  const imageBytes = image ? image.configBytes + image.layers.reduce((n, l) => n + l.bytes, 0) : null;
  return {
    v: 1,
    inputs,
    cache_miss: findCacheMiss({
      steps: facts.steps,
      changed: facts.contextChanged ?? null,
      inputs,
      previous: before?.inputs ?? null,
      noCache: facts.noCache,
    }),
    layers,
    image_bytes: imageBytes,
    image_bytes_delta: imageBytes !== null && before?.image_bytes != null ? imageBytes - before.image_bytes : null,
    previous_build: before ? previous!.id : null,
  };
}

interface ImageFacts {
  configBytes: number;
  layers: { digest: string; bytes: number; instruction: string }[];
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string };
}

/** The most bytes of an image config read (a config is a few kB; history of a thousand steps stays well under). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * An image's layers (compressed size, and the instruction its config's history names for each) and its config's
 * size. An index: its first linux/amd64 image, else its first image.
 */
async function readImage(
  registry: ImageReader,
  { repository, digest, manifest }: NonNullable<BuildFacts['image']>,
  mask: (t: string) => string,
): Promise<ImageFacts | null> {
  let raw = manifest?.digest === digest ? manifest : await registry.manifest(repository, digest);
  if (!raw) return null;
  let json = JSON.parse(raw.body.toString('utf8')) as { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
  if (json.manifests) {
    const images = json.manifests.filter((m) => m.platform?.os !== 'unknown');
    const pick = images.find((m) => m.platform?.architecture === 'amd64') ?? images[0];
    raw = pick ? await registry.manifest(repository, pick.digest) : null;
    if (!raw) return null;
    json = JSON.parse(raw.body.toString('utf8')) as typeof json;
  }
  if (!json.config) return null;
  const history = await readHistory(registry, repository, json.config);
  // History entries that made a layer, in order; the config may lack history (an imported image): then no names.
  const made = history.filter((h) => !h.empty_layer);
  return {
    configBytes: Number(json.config.size) || 0,
    layers: (json.layers ?? []).map((l, i) => ({
      digest: l.digest,
      bytes: Number(l.size) || 0,
      instruction: made.length === (json.layers ?? []).length ? mask(instructionText(made[i]!.created_by ?? '')) : '',
    })),
  };
}

async function readHistory(registry: ImageReader, repository: string, config: Descriptor): Promise<{ created_by?: string; empty_layer?: boolean }[]> {
  if (Number(config.size) > MAX_CONFIG_BYTES) return [];
  const stream = await registry.blob(repository, config.digest);
  if (!stream) return [];
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  try {
    return (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { history?: { created_by?: string; empty_layer?: boolean }[] }).history ?? [];
  } catch {
    return [];
  }
}

/**
 * A history entry's `created_by` as the Dockerfile said it: BuildKit's ` # buildkit`, the classic `/bin/sh -c #(nop) `,
 * and the build args BuildKit lists before a RUN's shell (`RUN |1 TOKEN=value /bin/sh -c ...`: values stay out) dropped.
 */
export function instructionText(createdBy: string): string {
  return createdBy
    .replace(/\s*# buildkit$/, '')
    .replace(/^RUN \|\d+ .*? \/bin\/sh -c /, 'RUN ')
    .replace(/^\/bin\/sh -c #\(nop\)\s*/, '')
    .replace(/^\/bin\/sh -c /, 'RUN ')
    .replace(/^RUN \/bin\/sh -c /, 'RUN ')
    .trim();
}
