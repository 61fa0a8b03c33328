/**
 * `codehub-build explain` (src/client/explain.ts) from InsightAnswer values made as the server makes them
 * (insightView over a stored insight, so each sentence is the server's): the header, the cache sentence, the
 * timeline's bars scaled to the longest step within 80 columns, the layer table and the image's change; a build
 * without insight; hostile names printed inert; --json and the exit statuses through a small fake server. Then
 * `git push -o wait`'s last lines (src/builds/wait.ts): the cache sentence after a build's result, or nothing; a
 * multi-platform image's platforms line, in the wait summary and the client's printers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Build as BuildSchema, type BuildAnswer, type InsightAnswer } from '../../src/api/answers.js';
import { cacheLines, platformLines, streamBuilds } from '../../src/builds/wait.js';
import { platformsText } from '../../src/limits.js';
import { ClientError } from '../../src/client/errors.js';
import { BAR_WIDTH, WIDTH, bar, explainCmd, printExplanation, timeline } from '../../src/client/explain.js';
import { insightView } from '../../src/insight/stored.js';
import type { CacheMiss, CacheMissCause, StoredInsight } from '../../src/insight/types.js';
import { LogStore } from '../../src/logs/store.js';
import { openDb } from '../../src/store/db.js';
import type { Build, BuildStep } from '../../src/store/schema.js';
import { Store } from '../../src/store/store.js';
import { CONTROL_RE } from '../../src/util/controls.js';

const T0 = Date.parse('2026-12-07T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** A step as BuildKit reports it, from `from` to `to` ms after T0. */
const step = (n: number, name: string, cached: boolean, from: number, to: number): BuildStep => ({ n, name, cached, started: at(from), completed: at(to) });

/** The four steps of the repo: conf cached, src ran (8 s), the RUN on it ran (16 s). */
const STEPS: BuildStep[] = [
  { n: 1, name: '[internal] load build definition from Dockerfile', cached: false, started: at(0), completed: at(100) },
  step(2, '[1/5] FROM docker.io/library/alpine:3.20@sha256:' + 'b'.repeat(64), true, 100, 100),
  step(3, '[2/5] COPY conf/ /conf/', true, 100, 100),
  step(4, '[3/5] RUN cat /conf/*', true, 100, 100),
  step(5, '[4/5] COPY src/ /src/', false, 200, 8200),
  step(6, '[5/5] RUN cat /src/*', false, 8200, 24200),
];

/** A base image's layer as its history names it: longer than the table's column. */
const BASE_LAYER = 'ADD file:5758b97d8301c84a204a6e516241275d785a7cc2ba3ad2c2e5ea7ba8b2eb1d1b in / ';

const because = (c: Partial<CacheMissCause>): CacheMissCause => ({ files: [], files_total: 0, build_args: [], base: null, unknown: null, ...c });
const miss4 = (c: Partial<CacheMissCause>): CacheMiss => ({ step: '[4/5] COPY src/ /src/', number: 4, after: 1, because: because(c) });

/** The insight the API shows for these steps and this stored cache miss (layers: base, conf, src, run). */
function insightOf(steps: BuildStep[], miss: CacheMiss | null, more: Partial<StoredInsight> = {}): InsightAnswer {
  const stored: StoredInsight = {
    v: 1,
    cache_miss: miss,
    layers: [
      { instruction: BASE_LAYER, bytes: 3_623_807, bytes_delta: 0 },
      { instruction: 'COPY conf/ /conf/', bytes: 180, bytes_delta: 0 },
      { instruction: 'COPY src/ /src/', bytes: 3_146_000, bytes_delta: 3_145_900 },
      { instruction: 'RUN cat /src/*', bytes: 32, bytes_delta: null },
    ],
    image_bytes: 6_772_019,
    image_bytes_delta: 3_145_900,
    previous_build: 11,
    inputs: { args: {}, bases: {}, layers: [] },
    ...more,
  };
  return insightView({ steps, insight: stored as unknown as Build['insight'] })!;
}

/** A Build answer as the API gives it (held to its schema, so a fixture cannot drift from the real shape). */
function build(insight: InsightAnswer | null, over: Partial<BuildAnswer> = {}): BuildAnswer {
  return BuildSchema.parse({
    id: 12,
    source: 'push',
    repo: 'alice/shop',
    ref: 'refs/heads/main',
    ref_type: 'branch',
    ref_name: 'main',
    commit: 'c0ffee'.padEnd(40, '0'),
    upload: null,
    image: 'shop',
    image_refs: ['registry.test/alice/shop:main'],
    digest: `sha256:${'d'.repeat(64)}`,
    platforms: [],
    status: 'succeeded',
    reason: null,
    reason_code: null,
    pusher: 'alice',
    queued_at: at(-1000),
    started_at: at(0),
    finished_at: at(25_400),
    attempts: 1,
    builder: 'local',
    config: null,
    steps: STEPS,
    log_expired_at: null,
    log_url: 'http://codehub.test/api/builds/12/log',
    web_url: 'http://codehub.test/builds/12',
    scan: null,
    insight,
    forge_status: null,
    ...over,
  });
}

let out: string[];
beforeEach(() => {
  out = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    out.push(a.join(' '));
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** What printExplanation printed for `b`. */
function explained(b: BuildAnswer): string[] {
  printExplanation(b);
  return out;
}

describe('explain: one build', () => {
  it('a miss on changed files: header, sentence, a bar per step scaled to the longest, the layers and the image change', () => {
    const lines = explained(build(insightOf(STEPS, miss4({ files: ['src/a.txt'], files_total: 1 }))));
    expect(lines).toEqual([
      'build #12 shop @ main: succeeded in 25.4s',
      '  cache: step 4 `COPY src/ /src/` ran because 1 file changed: src/a.txt; the step after it ran because it did',
      '  steps (█ ran, ░ cached):',
      '  [1/5]                                    0.0s  cached  FROM docker.io/library…',
      '  [2/5]                                    0.0s  cached  COPY conf/ /conf/',
      '  [3/5]                                    0.0s  cached  RUN cat /conf/*',
      `  [4/5]  ${'█'.repeat(15).padEnd(BAR_WIDTH)}    8.0s  ran     COPY src/ /src/`,
      `  [5/5]  ${'█'.repeat(30)}   16.0s  ran     RUN cat /src/*`,
      '  layers, base first:',
      '  INSTRUCTION                                   SIZE      CHANGE',
      '  ADD file:5758b97d8301c84a204a6e516241275d78…  3.46 MiB  0 B',
      '  COPY conf/ /conf/                             180 B     0 B',
      '  COPY src/ /src/                               3 MiB     +3 MiB',
      '  RUN cat /src/*                                32 B      new',
      '  image: 6.46 MiB, +3 MiB against build #11',
    ]);
    expect(lines[3]).toHaveLength(WIDTH); // the cut name fills the line exactly
  });

  it('a changed build arg, a moved base and an unknown cause are each the sentence given', () => {
    const base = `docker.io/library/alpine:3.20@sha256:${'e'.repeat(64)}`;
    const cases: [CacheMiss, string][] = [
      [miss4({ build_args: ['VERSION'] }), '  cache: step 4 `COPY src/ /src/` ran because build arg VERSION changed; the step after it ran because it did'],
      [miss4({ base }), `  cache: step 4 \`COPY src/ /src/\` ran because its base image moved: ${base}; the step after it ran because it did`],
      [
        miss4({ unknown: 'there is no earlier build of this branch and image to compare with' }),
        '  cache: step 4 `COPY src/ /src/` ran, and why cannot be told: there is no earlier build of this branch and image to compare with; the step after it ran because it did',
      ],
    ];
    for (const [miss, line] of cases) {
      out = [];
      expect(explained(build(insightOf(STEPS, miss)))[1]).toBe(line);
    }
  });

  it('all cached: says so, every step marked cached in words, no bar; a first build has nothing to compare its size with', () => {
    const cached = STEPS.map((s) => ({ ...s, cached: true, completed: s.started }));
    const lines = explained(
      build(
        insightOf(cached, null, {
          previous_build: null,
          image_bytes_delta: null,
          layers: [
            { instruction: 'FROM alpine:3.20', bytes: 3_623_807, bytes_delta: null },
            { instruction: '', bytes: 100, bytes_delta: null },
          ],
        }),
      ),
    );
    expect(lines[1]).toBe('  cache: every step came from the cache');
    const steps = lines.filter((l) => l.startsWith('  ['));
    expect(steps).toHaveLength(5);
    for (const l of steps) expect(l).toMatch(/^ {2}\[\d\/5\] {36}0\.0s {2}cached {2}/);
    expect(lines).toContain('  FROM alpine:3.20  3.46 MiB  -');
    expect(lines).toContain('  -                 100 B     -'); // a layer its image config does not name
    expect(lines.at(-1)).toBe('  image: 6.46 MiB (no earlier build of this branch and image to compare with)');
  });

  it("a multi-platform image's platforms after the image line, each with its manifest's short digest; none for one platform", () => {
    const platforms = [
      { platform: 'linux/amd64', digest: `sha256:0123456789ab${'c'.repeat(52)}` },
      { platform: 'linux/arm64', digest: `sha256:fedcba987654${'e'.repeat(52)}` },
    ];
    const lines = explained(build(insightOf(STEPS, null), { platforms }));
    expect(lines.slice(-2)).toEqual([
      '  image: 6.46 MiB, +3 MiB against build #11',
      '  platforms: linux/amd64 sha256:0123456789ab…, linux/arm64 sha256:fedcba987654…',
    ]);
    out = [];
    expect(explained(build(insightOf(STEPS, null))).at(-1)).toBe('  image: 6.46 MiB, +3 MiB against build #11');
  });

  it('an upload names its folder; nothing pushed says so', () => {
    const lines = explained(
      build(insightOf(STEPS, null, { image_bytes: null, image_bytes_delta: null, layers: [] }), {
        source: 'upload',
        ref: null,
        ref_type: null,
        ref_name: null,
        commit: null,
        upload: { folder: 'web', bytes: 10 },
      }),
    );
    expect(lines[0]).toBe('build #12 shop @ upload web: succeeded in 25.4s');
    expect(lines).not.toContain('  layers, base first:');
    expect(lines.at(-1)).toBe('  image: nothing was pushed');
  });

  it('no insight: a running build says how to wait for it, an ended one that it has none and how to get one', () => {
    expect(explained(build(null, { status: 'running', finished_at: null }))).toEqual([
      'build #12 shop @ main: running',
      '  no insight yet: it is made when the build ends; wait for it with `codehub-build logs -f 12`, then run `codehub-build explain 12` again',
    ]);
    out = [];
    expect(explained(build(null))).toEqual([
      'build #12 shop @ main: succeeded in 25.4s',
      '  no insight: the build ended without one (it ran before this server kept insight, or ended before building); `codehub-build rebuild 12` makes a build that has it',
    ]);
  });

  it('prints hostile names inert: escape sequences, bells and line breaks in steps, files, layers and the branch', () => {
    const evil = '\x1b]0;pwned\x07\x1b[2J\r\n\x9b31m';
    const steps = [step(1, `[1/2] COPY ${evil} /x`, false, 0, 1000), step(2, `[2/2] RUN echo ${evil}`, false, 1000, 2000)];
    const miss: CacheMiss = { step: steps[0]!.name, number: 1, after: 1, because: because({ files: [`a${evil}.txt`], files_total: 1 }) };
    const insight = insightOf(steps, miss, { layers: [{ instruction: `RUN echo ${evil}`, bytes: 10, bytes_delta: 1 }] });
    const lines = explained(build(insight, { ref_name: `main${evil}`, image: 'shop' }));
    expect(lines.length).toBeGreaterThan(6);
    for (const l of lines) expect(l, JSON.stringify(l)).not.toMatch(CONTROL_RE);
    expect(lines[0]).toBe('build #12 shop @ main\\x1b]0;pwned\\x07\\x1b[2J\\r\\n\\x9b31m: succeeded in 25.4s');
    expect(lines[1]).toContain('1 file changed: a\\x1b]0;pwned\\x07\\x1b[2J\\r\\n\\x9b31m.txt');
    expect(lines.join('\n')).toContain('RUN echo \\x1b]0;pwned\\x07');
  });
});

describe('explain: the timeline', () => {
  it('scales bars to the longest step: it fills the bar, others their rounded share, at least one block for any time spent', () => {
    expect(bar(16_000, 16_000)).toBe('█'.repeat(BAR_WIDTH));
    expect(bar(8_000, 16_000)).toBe('█'.repeat(BAR_WIDTH / 2));
    expect(bar(1_000, 3_000, '░')).toBe('░'.repeat(BAR_WIDTH / 3));
    expect(bar(1, 60_000)).toBe('█');
    expect(bar(0, 16_000)).toBe('');
    expect(bar(null, 16_000)).toBe('');
    expect(bar(0, 0)).toBe('');
  });

  it('keeps every line within 80 columns, cutting long names and stage labels; a step without times has no bar', () => {
    const lines = timeline([
      { n: 1, name: `[a-very-long-stage-name 1/2] RUN ${'x'.repeat(200)}`, started_at: at(0), finished_at: at(90_000), cached: false },
      { n: 2, name: '[a-very-long-stage-name 2/2] RUN true', started_at: null, finished_at: null, cached: false },
    ]);
    expect(lines[0]).toHaveLength(WIDTH);
    expect(lines[0]).toMatch(/^ {2}\[a-very-long-… {2}█{30} {3}1m30s {2}ran {5}RUN x+…$/);
    expect(lines[1]).toMatch(/^ {2}\[a-very-long-… {39}- {2}ran {5}RUN true$/);
  });
});

describe('explain: the command', () => {
  let server: Server;
  const answers = new Map<string, unknown>();
  const asked: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      asked.push(req.url!);
      // A list the test did not set is empty, as the server answers a commit it has no build of.
      const body = answers.get(req.url!) ?? (req.url!.startsWith('/api/builds?') ? { builds: [], next_cursor: null } : undefined);
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body ?? { error: { code: 'not_found', message: `no build #${req.url!.split('/').pop()}` } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    vi.stubEnv('CODEHUB_URL', `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    vi.stubEnv('CODEHUB_TOKEN', 'chb_test');
    answers.clear();
    asked.length = 0;
  });

  const withMiss = insightOf(STEPS, miss4({ files: ['src/a.txt'], files_total: 1 }));

  it('--json prints the build’s insight object as the API gave it; exit 0', async () => {
    answers.set('/api/builds/12', build(withMiss));
    expect(await explainCmd(['#12', '--json'])).toBe(0);
    expect(JSON.parse(out.join('\n'))).toEqual(withMiss);
    expect(asked).toEqual(['/api/builds/12']);
  });

  it('a commit prefix explains each of its builds, oldest first (an array with --json); exit 4 when one has no insight yet', async () => {
    const running = build(null, { id: 14, image: 'api', status: 'running', finished_at: null });
    answers.set('/api/builds?commit=c0ffee&limit=200', { builds: [running, build(withMiss)], next_cursor: null });
    expect(await explainCmd(['c0ffee'])).toBe(4);
    expect(out.filter((l) => l.startsWith('build #'))).toEqual(['build #12 shop @ main: succeeded in 25.4s', 'build #14 api @ main: running']);
    expect(out).toContain('');
    out = [];
    expect(await explainCmd(['c0ffee', '--json'])).toBe(4);
    expect(JSON.parse(out.join('\n'))).toEqual([withMiss, null]);
  });

  it('an unknown build is the server’s 404 as the other commands give it; a missing argument is a usage error', async () => {
    await expect(explainCmd(['99'])).rejects.toMatchObject({ constructor: ClientError, status: 404, message: 'no build #99' });
    await expect(explainCmd(['beef'])).rejects.toThrow('no build found for a commit starting with beef');
    await expect(explainCmd([])).rejects.toThrow('usage: codehub-build explain <commit|build-id> [--json]');
  });
});

describe('git push -o wait: the cache line', () => {
  it('is the sentence when a step missed the cache; nothing when all was cached or there is no insight', () => {
    const stored = (miss: CacheMiss | null) =>
      ({
        v: 1,
        cache_miss: miss,
        layers: [],
        image_bytes: 1,
        image_bytes_delta: null,
        previous_build: null,
        inputs: { args: {}, bases: {}, layers: [] },
      }) as const;
    expect(cacheLines({ steps: STEPS, insight: stored(miss4({ files: ['src/a.txt'], files_total: 1 })) })).toEqual([
      '  cache: step 4 `COPY src/ /src/` ran because 1 file changed: src/a.txt; the step after it ran because it did',
    ]);
    expect(cacheLines({ steps: STEPS, insight: stored(null) })).toEqual([]);
    expect(cacheLines({ steps: STEPS, insight: null })).toEqual([]);
    expect(cacheLines({ steps: STEPS, insight: { v: 2 } })).toEqual([]); // a shape this version does not read
    const hostile = cacheLines({ steps: STEPS, insight: stored(miss4({ files: ['a\x1b[2J\n.txt'], files_total: 1 })) });
    expect(hostile[0]).toContain('a\\x1b[2J\\n.txt');
    expect(hostile[0]).not.toMatch(CONTROL_RE);
  });

  it("ends each build's summary with it, after the result and scan lines", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chb-wait-'));
    try {
      const logs = new LogStore(dir, { maxBytes: 4096 });
      const real = new Store(openDb(':memory:'));
      const repoId = real.repos.ensure('alice', 'shop').id;
      const rows = real.builds.insert(
        ['shop', 'api'].map((image) => ({
          repoId,
          repo: 'alice/shop',
          owner: 'alice',
          ref: 'refs/heads/main',
          refType: 'branch' as const,
          refName: 'main',
          commitSha: 'a'.repeat(40),
          image,
          status: 'queued' as const,
          pusher: 'alice',
        })),
        () => [],
      );
      const [shop, api] = rows.map((r) => real.builds.byId(r.id)!);
      const ended = new Map<number, Build>([
        [
          shop!.id,
          {
            ...shop!,
            status: 'succeeded',
            digest: `sha256:${'d'.repeat(64)}`,
            imageRefs: ['registry.test/alice/shop:main'],
            platforms: [
              { platform: 'linux/amd64', digest: `sha256:0123456789ab${'c'.repeat(52)}` },
              { platform: 'linux/arm64', digest: `sha256:fedcba987654${'e'.repeat(52)}` },
            ],
            steps: STEPS,
            scan: {
              ...{ status: 'skipped', reason: 'nothing to scan', fixable: 0, fail_on: 'high', vex: [], blocking: [], expired: [] },
              ...{ counts: { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 }, policy: { failOn: 'high', allow: [], vex: [] } },
            },
            insight: {
              v: 1,
              cache_miss: miss4({ build_args: ['VERSION'] }),
              layers: [],
              image_bytes: 1,
              image_bytes_delta: null,
              previous_build: null,
              inputs: { args: {}, bases: {}, layers: [] },
            },
          },
        ],
        [
          api!.id,
          {
            ...api!,
            status: 'failed',
            reason: 'RUN exited 1',
            reasonCode: 'build_failed',
            steps: STEPS,
            insight: {
              v: 1,
              cache_miss: null,
              layers: [],
              image_bytes: null,
              image_bytes_delta: null,
              previous_build: null,
              inputs: { args: {}, bases: {}, layers: [] },
            },
          },
        ],
      ]);
      for (const id of ended.keys()) await logs.append(id, [`#1 building ${id}`]);
      const store = { builds: { byId: (id: number) => ended.get(id) } } as unknown as Store;
      let text = '';
      await streamBuilds({
        logs,
        store,
        publicUrl: 'http://codehub.test',
        builds: [shop!, api!],
        write: async (t) => {
          text += t;
        },
        signal: new AbortController().signal,
      });
      const summary = text
        .slice(text.indexOf('\n\n') + 2)
        .trimEnd()
        .split('\n');
      expect(summary).toEqual([
        `build #${shop!.id} shop succeeded:`,
        `  registry.test/alice/shop:main@sha256:${'d'.repeat(64)}`,
        '  platforms: linux/amd64 sha256:0123456789ab…, linux/arm64 sha256:fedcba987654…',
        '  scan skipped: nothing to scan',
        '  cache: step 4 `COPY src/ /src/` ran because build arg VERSION changed; the step after it ran because it did',
        `build #${api!.id} api FAILED (build_failed): RUN exited 1`,
        `  log: codehub-build logs ${api!.id}   (http://codehub.test/builds/${api!.id})`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('git push -o wait: the platforms line', () => {
  it("names each platform and its manifest's short digest on one line; nothing for one platform; controls escaped", () => {
    expect(
      platformLines({
        platforms: [
          { platform: 'linux/amd64', digest: `sha256:0123456789ab${'c'.repeat(52)}` },
          { platform: 'linux/arm/v7', digest: `sha256:fedcba987654${'e'.repeat(52)}` },
        ],
      }),
    ).toEqual(['  platforms: linux/amd64 sha256:0123456789ab…, linux/arm/v7 sha256:fedcba987654…']);
    expect(platformLines({ platforms: null })).toEqual([]);
    expect(platformLines({ platforms: [] })).toEqual([]);
    expect(platformLines({ platforms: [{ platform: 'linux/\x1b[2Jarm64', digest: 'sha256:ab' }] })).toEqual(['  platforms: linux/\\x1b[2Jarm64 sha256:ab…']);
  });
});

describe("the client's platforms line (explain, build, status)", () => {
  it("is the wait line's text; null for one platform and for an older server's answer without platforms", () => {
    const platforms = [
      { platform: 'linux/amd64', digest: `sha256:0123456789ab${'c'.repeat(52)}` },
      { platform: 'linux/\x07arm64', digest: `sha256:fedcba987654${'e'.repeat(52)}` },
    ];
    expect(platformsText(platforms)).toBe('linux/amd64 sha256:0123456789ab…, linux/\\x07arm64 sha256:fedcba987654…');
    expect(`  platforms: ${platformsText(platforms)}`).toBe(platformLines({ platforms })[0]);
    expect(platformsText([])).toBeNull();
    expect(platformsText(({} as Partial<Pick<BuildAnswer, 'platforms'>>).platforms)).toBeNull(); // an older server's answer
  });
});
