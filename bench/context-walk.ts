/**
 * The workspace side of an upload build (src/client/context-walk.ts) on issue 16's 300 MB folder: what the
 * first walk costs (every byte hashed), what a repeat walk costs with the hash cache (a stat per file), and what
 * one changed line costs. Standalone: `npx tsx bench/context-walk.ts [runs]`.
 *
 * The files are in the page cache (just written), so "cold" means without the hash cache, not from disk: a
 * workspace's own files are usually there too, and dropping the page cache would slow whatever else runs here.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { walkContext, type WalkResult } from '../src/client/context-walk.js';
import { Scratch } from './lib/scratch.js';
import { msSince, spread, stats } from './lib/stats.js';

const FILES = 300;
const FILE_BYTES = 1024 * 1024;
const runs = Number(process.argv[2] ?? 3);
const MB = (n: number) => (n / 1e6).toFixed(3);

function makeFolder(dir: string): void {
  mkdirSync(join(dir, 'app/lib'), { recursive: true });
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM node:20-alpine\nWORKDIR /app\nCOPY app/ .\nCOPY data/ /data/\nCMD ["node", "main.js"]\n');
  writeFileSync(join(dir, '.dockerignore'), '*.log\n');
  writeFileSync(join(dir, 'app/package.json'), '{"name":"app","version":"1.0.0","type":"module"}\n');
  writeFileSync(join(dir, 'app/main.js'), Array.from({ length: 200 }, (_, i) => `console.log('line ${i}');`).join('\n') + '\n');
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `app/lib/m${i}.js`), `export const m${i} = ${i};\n`.repeat(50));
  for (let i = 0; i < FILES; i++) writeFileSync(join(dir, `data/f${String(i).padStart(3, '0')}.bin`), randomBytes(FILE_BYTES));
}

async function timedWalk(dir: string, cacheDir: string): Promise<{ ms: number; r: Extract<WalkResult, { ok: true }> }> {
  const t0 = process.hrtime.bigint();
  const r = await walkContext(dir, { dockerfile: 'Dockerfile', cacheDir });
  const ms = msSince(t0);
  if (!r.ok) throw new Error(r.problem);
  return { ms, r };
}

async function main(): Promise<void> {
  const tmp = new Scratch();
  try {
    const dir = tmp.dir('context-walk-bench-');
    const cacheRoot = tmp.dir('context-walk-cache-');
    const t0 = process.hrtime.bigint();
    makeFolder(dir);
    console.error(`context-walk bench: wrote ${FILES} x 1 MiB + app/ in ${msSince(t0).toFixed(0)} ms; ${runs} runs`);

    const cold: number[] = [];
    const warm: number[] = [];
    const edit: number[] = [];
    const hashed = { cold: [] as number[], warm: [] as number[], edit: [] as number[] };
    let total = 0;
    let entries = 0;
    for (let i = 0; i < runs; i++) {
      // Nobody starts a build within 100 ms of saving a file; without this pause the file the last round edited
      // would (rightly, see racy() in context-hashes.ts) be kept out of the cache and read again by the warm walk.
      await new Promise((r) => setTimeout(r, 200));
      const cacheDir = join(cacheRoot, String(i)); // a fresh cache each round: the first walk reads everything
      const c = await timedWalk(dir, cacheDir);
      cold.push(c.ms);
      hashed.cold.push(c.r.hashedBytes);
      total = c.r.totalBytes;
      entries = c.r.entries.length;
      const w = await timedWalk(dir, cacheDir);
      warm.push(w.ms);
      hashed.warm.push(w.r.hashedBytes);
      const main = join(dir, 'app/main.js');
      writeFileSync(main, readFileSync(main, 'utf8').replace(/console\.log\('line 100[^\n]*/, `console.log('line 100, edit ${i}');`));
      const e = await timedWalk(dir, cacheDir);
      edit.push(e.ms);
      hashed.edit.push(e.r.hashedBytes);
      console.error(`  run ${i + 1}: cold ${c.ms.toFixed(0)} ms, warm ${w.ms.toFixed(0)} ms, one line ${e.ms.toFixed(0)} ms`);
    }

    const max = (xs: number[]) => Math.max(...xs);
    console.log(`## Context walk (src/client/context-walk.ts), ${entries} entries, ${MB(total)} MB\n`);
    console.log(
      `${cpus().length} cores, ${cpus()[0]?.model ?? '?'}, node ${process.version}, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} at the end. Median (min-max) of ${runs} runs, ms.\n`,
    );
    console.log('| walk | ms | MB hashed |');
    console.log('| --- | --- | --- |');
    console.log(`| cold (no hash cache) | ${spread(stats(cold))} | ${MB(max(hashed.cold))} |`);
    console.log(`| warm (hash cache, nothing changed) | ${spread(stats(warm))} | ${MB(max(hashed.warm))} |`);
    console.log(`| warm, one line of app/main.js changed | ${spread(stats(edit))} | ${MB(max(hashed.edit))} |`);
    console.log(`\nCold throughput: ${(total / 1e6 / (stats(cold).median / 1000)).toFixed(0)} MB/s.`);
  } finally {
    tmp.remove();
  }
}

await main();
