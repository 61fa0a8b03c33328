/**
 * Issue 16's item 4: a repeat `codehub-build build` of the same folder costs what changed. A folder that is not a
 * git repo, BENCH_UPLOAD_FILES (300) random 1 MB files under `data/` beside a small `app/`, no .dockerignore, so
 * that all 300 MB are the context both ways; each round changes one line of `app/version.txt`. Two Dockerfiles:
 * one copies the whole folder (`COPY . /ctx/`: every change also makes and pushes a 300 MB layer, both ways), one
 * copies `app/` alone (what the change costs to reach BuildKit dominates). Side by side, in one run:
 *
 *  - `codehub-build build -t <name>:bench .` with the CLI downloaded from the server (GET /downloads/codehub-build,
 *    run with node, HOME a scratch folder so its hash cache lives there), against a server building on `local`
 *    (dockerd's Engine API, the context through the session): the whole command, walk, upload, build, push and
 *    the log followed to its end;
 *  - `docker buildx build --push -t <registry>/<user>/<name>:raw .` in the same folder, logged in to the server's
 *    token registry with `docker login` (buildx's `default` builder: the same dockerd).
 *
 * The first build of the folder (everything uploaded, everything sent to BuildKit) is the warm-up, reported as
 * such. Bytes per build: the CLI's line `context: N files, X (Y uploaded, Z already on the server)`, and the bytes
 * BuildKit was sent: the build log's `context: N files, B bytes sent` (GET /api/builds/:id/log) for codehub-build,
 * BuildKit's `transferring context: …` in buildx's plain progress for the raw way. The CLI's walk alone (in
 * process, with a hash cache of its own) is timed beside them.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { walkContext } from '../src/client/context-walk.js';
import { parseSize } from '../src/units.js';
import { removeOwnRegistries, TestServer, uniqueName } from '../test/helpers/server.js';
import { contextBytes, type BuildRecord } from './lib/build-log.js';
import { removeImages } from './lib/docker.js';
import { run } from './lib/proc.js';
import { Scratch } from './lib/scratch.js';
import { msSince, pct, stats, type Stats } from './lib/stats.js';

export interface UploadFolderWay {
  name: string;
  /** The command as run (placeholders for the server's address, the user and the registry). */
  command: string;
  /** The first build of the folder, ms: everything uploaded (codehub-build) and sent to BuildKit. */
  firstMs: number;
  /** The builds after a one-line change. */
  ms: Stats;
  /** Bytes the CLI uploaded to the server (its `Y uploaded`): the first build, and the median of the repeats; null for the raw way. */
  firstUploaded: number | null;
  uploaded: number | null;
  /** Bytes of context BuildKit was sent: the first build, and the median of the repeats; null when nothing says. */
  firstSent: number | null;
  sent: number | null;
}

export interface UploadFolderVariant {
  /** What the Dockerfile copies. */
  label: string;
  dockerfile: string;
  codehub: UploadFolderWay;
  raw: UploadFolderWay;
}

export interface UploadFolderResult {
  files: number;
  /** Bytes of every file in the folder (the context: no .dockerignore). */
  folderBytes: number;
  /** The whole folder copied into the image (every change costs a 300 MB layer both ways), then only `app/` (what a change costs to reach BuildKit). */
  variants: UploadFolderVariant[];
  /** The CLI's walk alone (src/client/context-walk.ts in process): the first (every file hashed), then after each one-line change. */
  walk: { firstMs: number; ms: Stats };
}

const FILES = Number(process.env.BENCH_UPLOAD_FILES ?? 300);
const NAME = 'upload-bench';
const VARIANTS = [
  { label: 'COPY . (the whole folder into the image)', dockerfile: 'FROM localhost:5000/cache/busybox:latest\nCOPY . /ctx/\nRUN wc -c /ctx/app/version.txt\n' },
  {
    label: 'COPY app/ (the build uses a small part of the context)',
    dockerfile: 'FROM localhost:5000/cache/busybox:latest\nCOPY app/ /ctx/app/\nRUN wc -c /ctx/app/version.txt\n',
  },
];
/** The CLI's summary of what it sent (src/client/build.ts). */
const CLI_CONTEXT = /^context: (\d+) files?, ([\d.]+ ?[KMGT]?i?B) \(([\d.]+ ?[KMGT]?i?B) uploaded, /m;

interface Measured {
  ms: number;
  uploaded: number | null;
  sent: number | null;
}

interface Way {
  name: string;
  command: string;
  /** Builds the folder as it is now; `ms` is the command's wall time, the rest is read afterwards (untimed). */
  build(): Promise<Measured>;
}

export async function uploadFolderBench(runs: number, log: (s: string) => void): Promise<UploadFolderResult> {
  const tmp = new Scratch();
  let server: TestServer | null = null;
  const owner = uniqueName('upload');
  try {
    server = await TestServer.start({ dataDir: tmp.dir('chb-e2e-'), env: { CODEHUB_LOG_LEVEL: 'warn', CODEHUB_BUILDERS: 'local' } });
    const s = server;
    const token = s.addUser(owner);
    const work = tmp.dir('chb-upload-');
    const home = join(work, 'home');
    const folder = join(work, NAME);
    const walkCache = join(work, 'walk-cache');
    mkdirSync(home);

    log(`upload: writing ${FILES} files of 1 MB (a folder, not a git repo)`);
    mkdirSync(join(folder, 'data'), { recursive: true });
    mkdirSync(join(folder, 'app'));
    writeFileSync(join(folder, 'app', 'main.sh'), '#!/bin/sh\ncat /ctx/app/version.txt\n');
    writeFileSync(join(folder, 'app', 'README.md'), `# ${NAME}\n\nA folder built by bench/upload-folder.ts.\n`);
    const version = (line: string) => writeFileSync(join(folder, 'app', 'version.txt'), `name: ${NAME}\n${line}\nchannel: bench\n`);
    version('version: 0');
    let folderBytes = 0;
    for (let i = 0; i < FILES; i++) {
      const blob = randomBytes(1024 * 1024);
      writeFileSync(join(folder, 'data', `blob-${String(i).padStart(4, '0')}.bin`), blob);
      folderBytes += blob.length;
    }

    // The CLI as a workspace gets it: downloaded from the server, run with node, only a workspace's environment.
    const cli = join(home, 'codehub-build');
    const res = await fetch(`${s.url}/downloads/codehub-build`);
    if (!res.ok) throw new Error(`GET /downloads/codehub-build: ${res.status}`);
    writeFileSync(cli, Buffer.from(await res.arrayBuffer()), { mode: 0o755 });
    const cliEnv = { HOME: home, PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', CODEHUB_URL: s.url, CODEHUB_TOKEN: token };
    const rawEnv = { ...process.env, DOCKER_CONFIG: tmp.add(await s.dockerConfig(owner, token)) };
    const rawRef = `${s.registry}/${owner}/${NAME}:raw`;

    const codehub: Way = {
      name: 'codehub-build build (the downloaded CLI, `local`)',
      command: `CODEHUB_URL=<server> CODEHUB_TOKEN=<token> HOME=<scratch> node codehub-build build -t ${NAME}:bench .`,
      build: async () => {
        const t0 = process.hrtime.bigint();
        const r = await run([process.execPath, cli, 'build', '-t', `${NAME}:bench`, '.'], { cwd: folder, env: cliEnv });
        const ms = msSince(t0);
        if (r.code !== 0) throw new Error(`codehub-build build exited ${r.code}:\n${r.out.slice(-3000)}`);
        const line = CLI_CONTEXT.exec(r.out);
        const uploaded = line ? parseSize(line[3]!) : null;
        if (!uploaded?.ok) throw new Error(`codehub-build build printed no \`context: … uploaded\` line:\n${r.out.slice(0, 2000)}`);
        const id = /^build #(\d+) queued/m.exec(r.out)?.[1];
        if (!id) throw new Error(`codehub-build build printed no build number:\n${r.out.slice(0, 2000)}`);
        const { body: build } = await s.api<BuildRecord>(`/api/builds/${id}`, token);
        if (build.status !== 'succeeded' || build.builder !== 'local')
          throw new Error(`build #${id} is ${build.status} on ${build.builder}, not succeeded on local`);
        const buildLog = await fetch(`${s.url}/api/builds/${id}/log`, { headers: { authorization: `Bearer ${token}` } });
        if (!buildLog.ok) throw new Error(`GET /api/builds/${id}/log: ${buildLog.status}`);
        return { ms, uploaded: uploaded.value, sent: contextBytes(await buildLog.text()) };
      },
    };
    const raw: Way = {
      name: '`docker buildx build --push .` in the folder',
      command: 'docker login <registry> -u <user> --password-stdin; docker buildx build --push --provenance=false -t <registry>/<user>/upload-bench:raw .',
      build: async () => {
        const t0 = process.hrtime.bigint();
        const r = await run(['docker', 'buildx', 'build', '--push', '--provenance=false', '-t', rawRef, '.'], { cwd: folder, env: rawEnv });
        const ms = msSince(t0);
        if (r.code !== 0) throw new Error(`docker buildx build --push failed:\n${r.out.slice(-3000)}`);
        return { ms, uploaded: null, sent: contextBytes(r.out) };
      },
    };
    const ways = [codehub, raw];

    const median = (xs: (number | null)[]) => {
      const known = xs.filter((x): x is number => x !== null);
      return known.length ? pct(known, 0.5) : null;
    };
    let firstWalk = 0;
    const walks: number[] = [];
    const variants: UploadFolderVariant[] = [];
    for (const variant of VARIANTS) {
      writeFileSync(join(folder, 'Dockerfile'), variant.dockerfile);
      const first = new Map<string, Measured>();
      const repeats = new Map<string, Measured[]>(ways.map((w) => [w.name, []]));
      for (let i = -1; i < runs; i++) {
        // One changed line before every build, each way first in turn, so each way meets the same change.
        for (const way of i % 2 ? ways : [...ways].reverse()) {
          version(`version: ${i} ${way === codehub ? 'codehub' : 'raw'} ${randomBytes(3).toString('hex')}`);
          if (way === codehub && variant === VARIANTS[0]) {
            // The walk alone, as the CLI's first step does it (its own hash cache, so the CLI's is left as it was).
            const w0 = process.hrtime.bigint();
            const walked = await walkContext(folder, { dockerfile: 'Dockerfile', cacheDir: walkCache });
            const wms = msSince(w0);
            if (!walked.ok) throw new Error(`the walk failed: ${walked.problem}`);
            if (i < 0) firstWalk = wms;
            else walks.push(wms);
          }
          const m = await way.build();
          if (i < 0) first.set(way.name, m);
          else repeats.get(way.name)!.push(m);
        }
        log(i < 0 ? `  upload (${variant.label}): first builds done` : `  upload (${variant.label}): round ${i + 1} of ${runs}`);
      }
      const row = (w: Way): UploadFolderWay => {
        const f = first.get(w.name)!;
        const r = repeats.get(w.name)!;
        return {
          name: w.name,
          command: w.command,
          firstMs: f.ms,
          ms: stats(r.map((m) => m.ms)),
          firstUploaded: f.uploaded,
          uploaded: median(r.map((m) => m.uploaded)),
          firstSent: f.sent,
          sent: median(r.map((m) => m.sent)),
        };
      };
      variants.push({ label: variant.label, dockerfile: variant.dockerfile, codehub: row(codehub), raw: row(raw) });
    }
    return { files: FILES, folderBytes, variants, walk: { firstMs: firstWalk, ms: stats(walks) } };
  } finally {
    await server?.stop();
    // The images the builds left in dockerd's store (both ways push to the user's namespace).
    if (server) await removeImages([`${server.registry}/${owner}/`]);
    await removeOwnRegistries();
    tmp.remove();
  }
}
