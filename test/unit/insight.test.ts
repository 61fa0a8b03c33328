import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RawManifest } from '../../src/registry/client.js';
import type { BuildStep } from '../../src/store/schema.js';
import { collectInsight, instructionText, type ImageReader } from '../../src/insight/collect.js';
import { basesOf, contextSources, findCacheMiss, MAX_FILES, type MissFacts } from '../../src/insight/explain.js';
import { cacheMissSentence } from '../../src/insight/sentence.js';
import { insightView } from '../../src/insight/stored.js';
import type { CacheMiss, InsightInputs, StoredInsight } from '../../src/insight/types.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

/** Steps as BuildKit reports a five-step Dockerfile; `ran` lists the step numbers that were not cached. */
function steps(ran: number[], base = D1): BuildStep[] {
  const names = [`FROM reg/cache/base:1@${base}`, 'COPY conf/ /conf/', 'RUN cat /conf/*', 'COPY src/ /src/', 'RUN make'];
  return [
    { n: 1, name: '[internal] load build definition from Dockerfile', cached: false },
    ...names.map((name, i) => ({
      n: i + 2,
      name: `[${i + 1}/5] ${name}`,
      cached: i > 0 && !ran.includes(i + 1),
      started: `2026-12-07T10:00:0${i}.000Z`,
      completed: `2026-12-07T10:00:0${i}.500Z`,
    })),
    { n: 7, name: 'exporting to image', cached: false },
  ];
}

const inputs = (over: Partial<InsightInputs> = {}): InsightInputs => ({ args: {}, bases: { 'reg/cache/base:1': D1 }, layers: [], ...over });
const facts = (over: Partial<MissFacts> = {}): MissFacts => ({
  steps: steps([4, 5]),
  changed: ['src/a.txt'],
  inputs: inputs(),
  previous: inputs(),
  noCache: false,
  ...over,
});

describe('which files a COPY or ADD reads', () => {
  const reads = (step: string, path: string) => contextSources(`[2/5] ${step}`)?.(path);
  it('takes a folder source as everything below it, and nothing beside it', () => {
    expect(reads('COPY src/ /src/', 'src/a.txt')).toBe(true);
    expect(reads('COPY src /src/', 'src/deep/a.txt')).toBe(true);
    expect(reads('COPY ./src/ /src/', 'src/a.txt')).toBe(true);
    expect(reads('COPY src/ /src/', 'srcx/a.txt')).toBe(false);
    expect(reads('COPY src/ /src/', 'conf/a.txt')).toBe(false);
  });
  it('reads every source, with flags, globs and the JSON form', () => {
    expect(reads('COPY --chown=1:1 --chmod=644 a.txt lib/ /dst/', 'lib/x.js')).toBe(true);
    expect(reads('COPY --chown=1:1 --chmod=644 a.txt lib/ /dst/', 'a.txt')).toBe(true);
    expect(reads('COPY *.json ./', 'package.json')).toBe(true);
    expect(reads('COPY *.json ./', 'sub/package.json')).toBe(false);
    expect(reads('COPY ["my file.txt", "/d/"]', 'my file.txt')).toBe(true);
    expect(reads('ADD ./site /srv', 'site/index.html')).toBe(true);
    expect(reads('COPY . .', 'anything/at/all')).toBe(true);
  });
  it('says nothing for a COPY from another stage or image, or any other step', () => {
    expect(contextSources('[3/4] COPY --from=build /out /out')).toBeNull();
    expect(contextSources('[3/4] RUN make')).toBeNull();
    expect(contextSources('[internal] load build context')).toBeNull();
  });
});

describe('the first step that missed the cache', () => {
  it('is null when every step after FROM was cached (a FROM is reported run even when its base stayed)', () => {
    expect(findCacheMiss(facts({ steps: steps([]) }))).toBeNull();
  });

  it('names the COPY and the changed files it reads, not the others, and counts the steps after it', () => {
    const miss = findCacheMiss(facts({ changed: ['README.md', 'src/a.txt', 'conf/x'] }))!;
    expect(miss).toEqual({
      step: '[4/5] COPY src/ /src/',
      number: 4,
      after: 1,
      because: { files: ['src/a.txt'], files_total: 1, build_args: [], base: null, unknown: null },
    });
    expect(cacheMissSentence(miss)).toBe('step 4 `COPY src/ /src/` ran because 1 file changed: src/a.txt; the step after it ran because it did');
  });

  it('takes the step that started first, whatever order BuildKit reported them in', () => {
    const s = steps([2, 3, 4, 5]).reverse();
    expect(findCacheMiss(facts({ steps: s, changed: ['conf/c'] }))!.step).toBe('[2/5] COPY conf/ /conf/');
  });

  it('names at most 50 files and counts them all', () => {
    const changed = Array.from({ length: 70 }, (_, i) => `src/f${i}.txt`);
    const miss = findCacheMiss(facts({ changed }))!;
    expect(miss.because.files).toHaveLength(MAX_FILES);
    expect(miss.because.files_total).toBe(70);
    expect(cacheMissSentence(miss)).toContain('70 files changed: src/f0.txt, src/f1.txt');
    expect(cacheMissSentence(miss)).toContain(' and 20 more; the step after it');
  });

  it('names changed, added and removed build args by name, never their values', () => {
    const miss = findCacheMiss(
      facts({
        steps: steps([5]),
        changed: [],
        inputs: inputs({ args: { A: 'h1', B: 'h2', C: 'h3' } }),
        previous: inputs({ args: { A: 'h1', B: 'hx', D: 'h4' } }),
      }),
    )!;
    expect(miss.because).toMatchObject({ files: [], build_args: ['B', 'C', 'D'], unknown: null });
    expect(cacheMissSentence(miss)).toBe('step 5 `RUN make` ran because build args B, C, D changed');
  });

  it('names a base that resolved to a new digest', () => {
    const miss = findCacheMiss(facts({ steps: steps([2, 3, 4, 5], D2), changed: [], inputs: inputs({ bases: basesOf(steps([], D2)) }) }))!;
    expect(miss.because.base).toBe(`reg/cache/base:1@${D2}`);
    expect(cacheMissSentence(miss)).toBe(
      `step 2 \`COPY conf/ /conf/\` ran because its base image moved: reg/cache/base:1@${D2}; the 3 steps after it ran because it did`,
    );
  });

  it('says why it cannot tell rather than guess', () => {
    expect(findCacheMiss(facts({ previous: null }))!.because.unknown).toMatch(/no earlier build/);
    expect(findCacheMiss(facts({ noCache: true, changed: [] }))!.because.unknown).toMatch(/no_cache/);
    expect(findCacheMiss(facts({ changed: null }))!.because.unknown).toMatch(/does not say which context files/);
    const cold = findCacheMiss(facts({ changed: [] }))!;
    expect(cold.because.unknown).toMatch(/cache no longer held the step/);
    expect(cacheMissSentence(cold)).toMatch(/^step 4 `COPY src\/ \/src\/` ran, and why cannot be told: nothing it reads changed/);
  });
});

describe('bases and instructions', () => {
  it('reads the digests FROM steps resolved, and nothing from a FROM without one', () => {
    expect(
      basesOf([
        { n: 1, name: `[1/2] FROM r:5000/a/b:1@${D1}`, cached: false },
        { n: 2, name: '[1/1] FROM busybox', cached: true },
      ]),
    ).toEqual({
      'r:5000/a/b:1': D1,
    });
  });
  it("writes a history entry as its Dockerfile line: BuildKit's marker and the shell dropped", () => {
    expect(instructionText('COPY src/ /src/ # buildkit')).toBe('COPY src/ /src/');
    expect(instructionText('RUN /bin/sh -c make # buildkit')).toBe('RUN make');
    expect(instructionText('/bin/sh -c #(nop)  CMD ["sh"]')).toBe('CMD ["sh"]');
    expect(instructionText('/bin/sh -c apk add x')).toBe('RUN apk add x');
    expect(instructionText('RUN |2 A=1 B=two words /bin/sh -c echo "$A" # buildkit')).toBe('RUN echo "$A"');
  });
});

/** A registry of one image: its manifest (or an index over it) and its config with `history`. */
function registryOf(layers: { digest: string; size: number }[], history: object[], index = false): ImageReader {
  const config = Buffer.from(JSON.stringify({ history }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const image = Buffer.from(JSON.stringify({ config: { digest: configDigest, size: config.length }, layers }));
  const imageDigest = `sha256:${createHash('sha256').update(image).digest('hex')}`;
  const idx = Buffer.from(
    JSON.stringify({
      manifests: [
        { digest: `sha256:${'9'.repeat(64)}`, size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
        { digest: imageDigest, size: image.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    }),
  );
  const manifests: Record<string, RawManifest> = {
    top: index ? { digest: 'top', mediaType: 'index', body: idx } : { digest: 'top', mediaType: 'image', body: image },
    [imageDigest]: { digest: imageDigest, mediaType: 'image', body: image },
  };
  return {
    manifest: async (_name, ref) => manifests[ref] ?? null,
    blob: async (_name, digest) => (digest === configDigest ? Readable.from([config]) : null),
  };
}

describe('collecting a build insight', () => {
  const history = [
    { created_by: 'BASE', empty_layer: false },
    { created_by: 'ARG X=1', empty_layer: true },
    { created_by: 'COPY src/ /src/ # buildkit' },
    { created_by: 'RUN |1 TOKEN=hunter2 /bin/sh -c make # buildkit' },
  ];
  const key = Buffer.alloc(32, 7);
  const collect = (reg: ImageReader, prev: StoredInsight | null, args: Record<string, string> = {}) =>
    collectInsight(
      { registry: reg, key },
      {
        steps: steps([4, 5]),
        contextChanged: ['src/a.txt'],
        args,
        noCache: false,
        mask: (t) => t.replaceAll('hunter2', '***'),
        image: { repository: 'a/app', digest: 'top' },
      },
      prev && { id: 7, insight: prev as unknown as Record<string, unknown> },
    );

  it("names each layer by its instruction (empty ones skipped, a RUN's arg values left out), and sums the image", async () => {
    const layers = [
      { digest: D1, size: 1000 },
      { digest: D2, size: 200 },
      { digest: `sha256:${'3'.repeat(64)}`, size: 30 },
    ];
    const i = await collect(registryOf(layers, history), null, { TOKEN: 'hunter2' });
    expect(i.layers).toEqual([
      { instruction: 'BASE', bytes: 1000, bytes_delta: null },
      { instruction: 'COPY src/ /src/', bytes: 200, bytes_delta: null },
      { instruction: 'RUN make', bytes: 30, bytes_delta: null },
    ]);
    expect(i.image_bytes).toBeGreaterThan(1230);
    expect(i.image_bytes_delta).toBeNull();
    expect(i.previous_build).toBeNull();
    // The arg's value is kept only as an HMAC under the server's key.
    expect(JSON.stringify(i)).not.toContain('hunter2');
    expect(i.inputs.args.TOKEN).toMatch(/^[0-9a-f]{32}$/);
  });

  it('sets each layer and the image against the previous build, and reads an index through its image', async () => {
    const layers = [
      { digest: D1, size: 1000 },
      { digest: D2, size: 200 },
      { digest: `sha256:${'3'.repeat(64)}`, size: 30 },
    ];
    const prev = await collect(registryOf(layers, history), null);
    const grown = [layers[0]!, { digest: `sha256:${'4'.repeat(64)}`, size: 3_200_000 }, layers[2]!];
    const i = await collect(registryOf(grown, history, true), prev);
    expect(i.layers.map((l) => l.bytes_delta)).toEqual([0, 3_199_800, 0]);
    expect(i.image_bytes_delta).toBe(3_199_800);
    expect(i.previous_build).toBe(7);
    expect(i.cache_miss?.because.files).toEqual(['src/a.txt']);
  });

  it('reads no second copy of a manifest the build’s end read already', async () => {
    const reg = registryOf([{ digest: D1, size: 5 }], [{ created_by: 'BASE' }]);
    const manifest = (await reg.manifest('a/app', 'top'))!;
    const blobOnly: ImageReader = {
      manifest: async () => {
        throw new Error('read the manifest again');
      },
      blob: reg.blob,
    };
    const i = await collectInsight(
      { registry: blobOnly, key },
      { steps: [], contextChanged: undefined, args: {}, noCache: false, mask: (t) => t, image: { repository: 'a/app', digest: 'top', manifest } },
      null,
    );
    expect(i.layers).toEqual([{ instruction: 'BASE', bytes: 5, bytes_delta: null }]);
  });

  it('is shown with the build’s Dockerfile steps and its sentence', async () => {
    const stored = await collect(registryOf([{ digest: D1, size: 5 }], [{ created_by: 'BASE' }]), null);
    const view = insightView({ steps: steps([4, 5]), insight: stored as unknown as Record<string, unknown> })!;
    expect(view.steps.map((s) => s.name)).toEqual([
      '[1/5] FROM reg/cache/base:1@' + D1,
      '[2/5] COPY conf/ /conf/',
      '[3/5] RUN cat /conf/*',
      '[4/5] COPY src/ /src/',
      '[5/5] RUN make',
    ]);
    expect(view.steps[3]).toMatchObject({ cached: false, started_at: '2026-12-07T10:00:03.000Z', finished_at: '2026-12-07T10:00:03.500Z' });
    expect(view.cache_miss?.sentence).toMatch(/no earlier build/);
    expect(insightView({ steps: [], insight: null })).toBeNull();
  });
});

describe('the sentence', () => {
  const miss = (because: Partial<CacheMiss['because']>, after = 0): CacheMiss => ({
    step: '[3/4] RUN go build ./...',
    number: 3,
    after,
    because: { files: [], files_total: 0, build_args: [], base: null, unknown: null, ...because },
  });
  it('joins several causes and counts the steps after', () => {
    expect(cacheMissSentence(miss({ build_args: ['GOFLAGS'], base: `golang:1@${D1}` }, 2))).toBe(
      `step 3 \`RUN go build ./...\` ran because its base image moved: golang:1@${D1}, and build arg GOFLAGS changed; the 2 steps after it ran because it did`,
    );
    expect(cacheMissSentence(miss({ files: ['a', 'b'], files_total: 2 }))).toBe('step 3 `RUN go build ./...` ran because 2 files changed: a, b');
  });
  it('names a step without a number by its instruction alone', () => {
    expect(cacheMissSentence({ ...miss({ unknown: 'x' }), step: 'RUN y', number: null })).toBe('`RUN y` ran, and why cannot be told: x');
  });
});
