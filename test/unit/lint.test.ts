/**
 * The dependency rules `npm run lint` checks (.dependency-cruiser.cjs): src/ keeps them, and in a small tree
 * made for it they catch a cycle, an import back up the layers and a client module reaching into the server,
 * while the imports they allow (down a layer, a type the client reads) pass.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

/** `npm run lint`'s check, run in `cwd` with the repo's config: its exit code (the number of violations) and report. */
function lint(cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CRUISE, 'src', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'err'],
      { cwd, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr });
      },
    );
  });
}

const tree = mkdtempSync(join(tmpdir(), 'chb-lint-'));
afterAll(() => rmSync(tree, { recursive: true, force: true }));

function write(files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(tree, path)), { recursive: true });
    writeFileSync(join(tree, path), text);
  }
}

// A cycle inside one layer; the store importing a type from auth, a layer above it (logs/mask.ts is placed below
// the store, so that import is allowed); the client importing a server module at run time (a server type and
// its own modules are allowed).
const FIXTURE: Record<string, string> = {
  'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src'] }),
  'src/util/a.ts': "import { b } from './b.js';\nexport const a = (): number => b;\n",
  'src/util/b.ts': "import { a } from './a.js';\nexport const b = 1;\nexport const twice = (): number => a() * 2;\n",
  'src/auth/access.ts': 'export type Who = string;\n',
  'src/logs/mask.ts': "export const MASK = '***';\n",
  'src/store/store.ts':
    "import type { Who } from '../auth/access.js';\nimport { MASK } from '../logs/mask.js';\nimport { b } from '../util/b.js';\nexport const who = (w: Who): string => w + MASK + b;\n",
  'src/client/main.ts':
    "import { a } from '../util/a.js';\nimport type { who } from '../store/store.js';\nimport { n } from './x.js';\nexport const run = (w: typeof who): number => a() + n + w.length;\n",
  'src/client/x.ts': 'export const n = 0;\n',
};

describe('npm run lint (dependency-cruiser)', () => {
  // Both runs at once: each is a few seconds of parsing.
  let real: Promise<{ code: number; out: string }>;
  let injected: Promise<{ code: number; out: string }>;
  beforeAll(() => {
    write(FIXTURE);
    real = lint(ROOT);
    injected = lint(tree);
  });

  it('finds no cycle and no import back up in src/', async () => {
    const r = await real;
    expect(r.out).toContain('no dependency violations found');
    expect(r.code).toBe(0);
  }, 30_000);

  it('fails on an injected cycle, an import back up and a client module importing server code', async () => {
    const r = await injected;
    expect(r.out).toMatch(/error no-circular: src\/util\/a\.ts →\s+src\/util\/b\.ts →\s+src\/util\/a\.ts/);
    expect(r.out).toContain('error layer-store: src/store/store.ts → src/auth/access.ts');
    expect(r.out).toContain('error client-bundle: src/client/main.ts → src/util/a.ts');
    expect(r.out).toContain('3 dependency violations');
    expect(r.code).toBe(3);
  }, 30_000);
});
