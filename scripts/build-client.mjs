// Bundles the client CLI (src/client/main.ts) into one file the server serves at /downloads/codehub-build:
// node 20+ runs it with nothing installed beside it. Refuses to write a bundle that pulls in anything but the
// client's own modules (no server code, no npm package, no native module).
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';

// The same list is CLIENT_SHARED in .dependency-cruiser.cjs (`npm run lint` refuses a client import outside it): change both.
const ALLOWED = [
  /^src\/client\//,
  /^src\/names\.ts$/,
  /^src\/units\.ts$/,
  /^src\/limits\.ts$/,
  /^src\/context\/dockerignore\.ts$/,
  /^src\/context\/tree\.ts$/,
  /^src\/util\/map-limit\.ts$/,
  /^src\/util\/controls\.ts$/,
];
const out = 'dist/downloads/codehub-build';
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

mkdirSync('dist/downloads', { recursive: true });
const result = await build({
  entryPoints: ['src/client/main.ts'],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  define: { __CODEHUB_VERSION__: JSON.stringify(version) },
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const strays = Object.keys(result.metafile.inputs).filter((f) => !ALLOWED.some((re) => re.test(f)));
if (strays.length) {
  console.error(`build-client: the client bundle must hold only src/client and its small shared modules; it pulled in:\n  ${strays.join('\n  ')}`);
  process.exit(1);
}
chmodSync(out, 0o755);
console.error(`build-client: ${out} (${(statSync(out).size / 1024).toFixed(0)} KiB, ${Object.keys(result.metafile.inputs).length} modules)`);
