import { execa } from 'execa';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { BuilderDriver, BuildIO, BuildRequest } from '../../src/builder/driver.js';
import { findBuildProcesses } from '../../src/builds/orphans.js';
import { MODE_DIR, MODE_SYMLINK } from '../../src/context/tree.js';
import { UploadTree } from '../../src/context/upload-tree.js';
import { BlobStore } from '../../src/uploads/blobs.js';
import { validateManifest, type ManifestEntry } from '../../src/uploads/manifest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { OPEN_REGISTRY, uniqueName } from './server.js';

/**
 * A build context the two ways a driver may take it: a tar stream of `files`, and the commit of a git repo
 * that holds them (`source`, for a driver that serves the context itself).
 */
function contextOf(files: Record<string, string>): Pick<BuildIO, 'context' | 'source'> {
  const dir = mkdtempSync(join(tmpdir(), 'chb-ctx-'));
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir })
      .toString()
      .trim();
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'context');
  const commit = git('rev-parse', 'HEAD');
  // Through a PassThrough, as the runner does: Node discards a child's stdout that nothing reads yet, and a driver
  // may await something (a session, a docker config) before it reads the context.
  const context = spawn('tar', ['-c', '--exclude=.git', '-C', dir, '.'], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout!.pipe(new PassThrough());
  return { context, source: { kind: 'commit', gitDir: join(dir, '.git'), commit, dir: '.', repo: `contract/${basename(dir).toLowerCase()}` } };
}

type UploadFile = string | { content: string; mode: number } | { symlink: string };

/**
 * An uploaded folder as the runner gives it to a driver: its files in an owner's blob store, the session's tree
 * over them (`source`) and the tar of the same (`context`).
 */
async function uploadOf(owner: string, files: Record<string, UploadFile>): Promise<Pick<BuildIO, 'context' | 'source'>> {
  const blobs = new BlobStore(mkdtempSync(join(tmpdir(), 'chb-blobs-')));
  const entries: ManifestEntry[] = [];
  const dirs = new Set<string>();
  for (const [path, f] of Object.entries(files)) {
    for (let d = dirname(path); d !== '.'; d = dirname(d)) dirs.add(d);
    if (typeof f === 'object' && 'symlink' in f) {
      entries.push({ path, mode: (MODE_SYMLINK | 0o777) >>> 0, size: 0, linkname: f.symlink });
      continue;
    }
    const [content, mode] = typeof f === 'string' ? [f, 0o644] : [f.content, f.mode];
    const sha256 = createHash('sha256').update(content).digest('hex');
    await blobs.write(owner, sha256, Buffer.byteLength(content), Readable.from([Buffer.from(content)]));
    entries.push({ path, mode, size: Buffer.byteLength(content), sha256 });
  }
  for (const d of dirs) entries.push({ path: d, mode: (MODE_DIR | 0o755) >>> 0, size: 0 });
  const checked = validateManifest({ entries }, { maxBytes: 1 << 20 });
  if (!checked.ok) throw new Error(checked.problems.join('\n'));
  const tree = new UploadTree(blobs, owner, checked.manifest);
  return { context: tree.tar(), source: { kind: 'upload', tree, key: `${owner}:contract`, label: `${owner}'s folder contract` } };
}

function request(tags: string[], over: Partial<BuildRequest> = {}): BuildRequest {
  return {
    dockerfile: 'Dockerfile',
    target: null,
    args: {},
    labels: {},
    tags,
    platforms: [],
    secrets: {},
    workDir: mkdtempSync(join(tmpdir(), 'chb-w-')),
    ...over,
  };
}

/**
 * The behaviour every BuilderDriver must have, run against the real BuildKit and registry. Each driver's
 * test file calls this with a factory; a new driver passes this suite before it is used.
 */
export function describeDriverContract(
  label: string,
  makeDriver: () => BuilderDriver,
  opts: {
    /**
     * True for drivers that run a BuildKit client process per build: it must carry the build's markers so a
     * restarted server can stop one its dead predecessor left. False for drivers whose solve lives on this
     * process's own connection to the daemon, and dies with it.
     */
    clientProcess: boolean;
    /**
     * True for drivers that keep the context between builds (a BuildKit session of their own, a kept work tree):
     * they must say which files the builder got because they changed (insight names them). False: they send the
     * whole context, and must not claim to know.
     */
    reportsChanges?: boolean;
  },
): void {
  describe(`BuilderDriver contract: ${label}`, () => {
    const driver = makeDriver();
    const owner = uniqueName('driver');
    const registry = new RegistryClient(OPEN_REGISTRY);
    const FROM = 'FROM localhost:5000/cache/busybox:latest';

    it('reports itself healthy', async () => {
      expect(await driver.health()).toMatchObject({ ok: true });
    });

    it('builds a context with args, target and labels, pushes every tag, and returns the pushed digest', async () => {
      const lines: string[] = [];
      const tags = [`${OPEN_REGISTRY}/${owner}/ok:one`, `${OPEN_REGISTRY}/${owner}/ok:two`];
      const out = await driver.build(
        request(tags, {
          args: { WORD: 'from-arg' },
          target: 'final',
          labels: { 'dev.codehub.test': 'yes' },
        }),
        {
          ...contextOf({
            Dockerfile: `${FROM} AS base\nRUN echo base\n${FROM} AS final\nARG WORD\nCOPY f.txt /f.txt\nRUN echo "word=$WORD" && cat /f.txt\n`,
            'f.txt': `file-in-context of ${owner}\n`,
          }),
          onLog: (l) => lines.push(l),
          signal: new AbortController().signal,
          processEnv: {},
        },
      );
      expect(out.ok, JSON.stringify(out)).toBe(true);
      if (!out.ok) return;
      expect(await registry.digest(`${owner}/ok`, 'one')).toBe(out.digest);
      expect(await registry.digest(`${owner}/ok`, 'two')).toBe(out.digest);
      expect((await registry.labels(`${owner}/ok`, 'one'))['dev.codehub.test']).toBe('yes');
      expect(lines.join('\n')).toContain('word=from-arg');
      expect(lines.join('\n')).toContain(`file-in-context of ${owner}`);
      expect(lines.join('\n')).not.toContain('echo base'); // the target stops before the unused stage
      expect(out.steps.length).toBeGreaterThan(2);
    });

    it(`${opts.reportsChanges ? 'says which context files changed since the last build of the repo' : 'claims to know no changed context files'}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'chb-ctx-'));
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd: dir })
          .toString()
          .trim();
      git('init', '-q');
      const files: Record<string, string> = {
        Dockerfile: `${FROM}\nCOPY conf/ /conf/\nCOPY src/ /src/\nRUN cat /src/*\n`,
        'conf/c.txt': 'c\n',
        'src/a.txt': `a of ${owner}\n`,
        'src/b.txt': 'b\n',
      };
      const build = async (changes: Record<string, string>) => {
        for (const [p, c] of Object.entries({ ...changes })) {
          mkdirSync(join(dir, p, '..'), { recursive: true });
          writeFileSync(join(dir, p), c);
        }
        git('add', '-A');
        git('commit', '-qm', 'context');
        const commit = git('rev-parse', 'HEAD');
        const context = spawn('tar', ['-c', '--exclude=.git', '-C', dir, '.'], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout!.pipe(new PassThrough());
        const out = await driver.build(request([`${OPEN_REGISTRY}/${owner}/changes:x`]), {
          context,
          source: { kind: 'commit', gitDir: join(dir, '.git'), commit, dir: '.', repo: `contract/changes-${owner}` },
          onLog: () => {},
          signal: new AbortController().signal,
          processEnv: {},
        });
        expect(out.ok, JSON.stringify(out)).toBe(true);
        return out;
      };
      await build(files);
      const second = await build({ 'src/b.txt': 'b, changed\n' });
      if (opts.reportsChanges) expect(second.contextChanged).toEqual(['src/b.txt']);
      else expect(second.contextChanged).toBeUndefined();
    });

    it("classifies a failing RUN as the user's failure, with the exit code", async () => {
      const out = await driver.build(request([`${OPEN_REGISTRY}/${owner}/bad:x`]), {
        ...contextOf({ Dockerfile: `${FROM}\nRUN exit 7\n` }),
        onLog: () => {},
        signal: new AbortController().signal,
        processEnv: {},
      });
      expect(out).toMatchObject({ ok: false, code: 'user' });
      expect(!out.ok && out.problem).toContain('exit code: 7');
    });

    it("classifies a Dockerfile syntax error as the user's failure", async () => {
      const out = await driver.build(request([`${OPEN_REGISTRY}/${owner}/bad:y`]), {
        ...contextOf({ Dockerfile: `${FROM}\nRUNN echo\n` }),
        onLog: () => {},
        signal: new AbortController().signal,
        processEnv: {},
      });
      expect(out).toMatchObject({ ok: false, code: 'user' });
      expect(!out.ok && out.problem).toMatch(/unknown instruction/i);
    });

    it('passes secrets to RUN --mount=type=secret, and an unset one fails the build naming it', async () => {
      const value = `s3cr3t-${owner}`;
      const lines: string[] = [];
      const out = await driver.build(request([`${OPEN_REGISTRY}/${owner}/secret:x`], { secrets: { token: value } }), {
        ...contextOf({
          Dockerfile: `${FROM}\nRUN --mount=type=secret,id=token test "$(cat /run/secrets/token)" = "${value}" && echo secret-matched-${owner}\n`,
        }),
        onLog: (l) => lines.push(l),
        signal: new AbortController().signal,
        processEnv: {},
      });
      expect(out.ok, JSON.stringify(out)).toBe(true);
      expect(lines.join('\n')).toContain(`secret-matched-${owner}`);
      const missing = await driver.build(request([`${OPEN_REGISTRY}/${owner}/secret:y`], { secrets: { other: 'x' } }), {
        ...contextOf({ Dockerfile: `${FROM}\nRUN --mount=type=secret,id=token,required=true cat /run/secrets/token\n` }),
        onLog: () => {},
        signal: new AbortController().signal,
        processEnv: {},
      });
      expect(missing).toMatchObject({ ok: false, code: 'user' });
      expect(!missing.ok && missing.problem).toMatch(/secret token/i);
    });

    it('builds an uploaded folder (`codehub-build build`): files, an executable, a symlink, from the blob store', async () => {
      const lines: string[] = [];
      const out = await driver.build(request([`${OPEN_REGISTRY}/${owner}/upload:x`]), {
        ...(await uploadOf(owner, {
          Dockerfile: `${FROM}\nCOPY . /up/\nRUN cat /up/dir/f.txt && /up/run.sh && readlink /up/link && echo upload-built-${owner}\n`,
          'dir/f.txt': `uploaded file of ${owner}\n`,
          'run.sh': { content: '#!/bin/sh\necho ran-executable\n', mode: 0o755 },
          link: { symlink: 'dir/f.txt' },
        })),
        onLog: (l) => lines.push(l),
        signal: new AbortController().signal,
        processEnv: {},
      });
      expect(out.ok, `${JSON.stringify(out)}\n${lines.join('\n')}`).toBe(true);
      const log = lines.join('\n');
      expect(log).toContain(`uploaded file of ${owner}`);
      expect(log).toContain('ran-executable');
      expect(log).toContain(`upload-built-${owner}`);
      expect(log).toMatch(/^#\d+ dir\/f\.txt$/m);
    });

    it('classifies an unreachable registry as an infrastructure failure', async () => {
      const out = await driver.build(request([`localhost:5999/${owner}/nowhere:x`]), {
        ...contextOf({ Dockerfile: `${FROM}\nRUN echo unreachable-${Date.now()}\n` }),
        onLog: () => {},
        signal: new AbortController().signal,
        processEnv: {},
      });
      expect(out).toMatchObject({ ok: false, code: 'infrastructure' });
    });

    it(`stops the solve when aborted and leaves no process behind${opts.clientProcess ? ', and marks its client for orphan recovery' : ''}`, async () => {
      const ctl = new AbortController();
      // busybox's sh execs the last command, so the RUN shows in the process table as this exact sleep.
      const sleep = `sleep ${300_000 + (Date.now() % 100_000)}`;
      const marker = `abort-${owner}`;
      const lines: string[] = [];
      let marked = -1;
      let seenRunning = false;
      const psLines = async () => (await execa('ps', ['-eo', 'args'], { reject: false })).stdout.split('\n').filter((l) => l.includes(sleep));
      // Once the RUN has printed: see its process, check the client carries the build's markers, then abort.
      const abortWhenRunning = async () => {
        for (let i = 0; i < 100 && !seenRunning; i++) {
          seenRunning = (await psLines()).length > 0;
          if (!seenRunning) await new Promise((r) => setTimeout(r, 50));
        }
        marked = (await findBuildProcesses(`contract-${owner}`, [424242])).length;
        ctl.abort('canceled by test');
      };
      let triggered = false;
      const pending = driver.build(request([`${OPEN_REGISTRY}/${owner}/slow:x`]), {
        ...contextOf({ Dockerfile: `${FROM}\nRUN echo ${marker} && ${sleep}\n` }),
        onLog: (l) => {
          lines.push(l);
          if (!triggered && l.includes(marker) && !l.includes('RUN')) {
            triggered = true;
            void abortWhenRunning();
          }
        },
        signal: ctl.signal,
        processEnv: { CODEHUB_INSTANCE: `contract-${owner}`, CODEHUB_BUILD_ID: '424242' },
      });
      const out = await pending;
      expect(out).toMatchObject({ ok: false, code: 'canceled', problem: 'canceled by test' });
      // A client process carried the build's markers, so a restarted server could have found and stopped it;
      // a driver without one started none.
      expect(marked).toBe(opts.clientProcess ? 1 : 0);
      // The RUN's own process (visible in the host's process table) was there, and goes away with the solve.
      expect(seenRunning).toBe(true);
      let procs: string[] = [];
      for (let i = 0; i < 50; i++) {
        procs = await psLines();
        if (procs.length === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(procs).toEqual([]);
    });
  });
}
