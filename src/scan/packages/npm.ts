/**
 * An installed npm package: the package.json at the top of its folder under a `node_modules` folder (which files
 * those are is index.ts's `interestingPath`). Only `name` and `version` matter for matching.
 */
import { makePurl, type Package, type ParseResult, problemAt } from './types.js';

/**
 * The package one package.json describes. A file without a string `name` and `version` is no package (a folder's
 * `{"type": "module"}` marker, a fixture): nothing, and no problem. A file that is not a JSON object is a problem.
 */
export function parseNpmPackageJson(path: string, content: Buffer): ParseResult {
  let json: unknown;
  try {
    json = JSON.parse(content.toString('utf8').replace(/^\uFEFF/, ''));
  } catch (err) {
    return { packages: [], problems: [problemAt(path, undefined, `not JSON: ${(err as Error).message}`)] };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { packages: [], problems: [problemAt(path, undefined, 'not a JSON object')] };
  }
  const { name, version } = json as Record<string, unknown>;
  if (typeof name !== 'string' || typeof version !== 'string' || !name.trim() || !version.trim()) return { packages: [], problems: [] };
  const scoped = /^(@[^/]+)\/(.+)$/.exec(name);
  const purl = scoped ? makePurl('npm', scoped[1], scoped[2] ?? '', version.trim()) : makePurl('npm', undefined, name, version.trim());
  if (!purl.ok) return { packages: [], problems: [problemAt(path, undefined, purl.problem)] };
  const pkg: Package = { ecosystem: 'npm', name, version: version.trim(), path, purl: purl.purl };
  return { packages: [pkg], problems: [] };
}
