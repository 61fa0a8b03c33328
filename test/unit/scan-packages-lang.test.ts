import { readFileSync } from 'node:fs';
import { PackageURL } from 'packageurl-js';
import { describe, expect, it } from 'vitest';
import { parsePomProperties, readProperties } from '../../src/scan/packages/maven.js';
import { parseNpmPackageJson } from '../../src/scan/packages/npm.js';
import { normalizePypiName, parsePythonMetadata } from '../../src/scan/packages/python.js';

/** Real files; test/fixtures/packages/README.md names their sources. */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/packages/${name}`, import.meta.url));

describe('npm package.json', () => {
  it("reads an installed package's name and version", () => {
    const r = parseNpmPackageJson('/app/node_modules/lodash/package.json', fixture('npm/lodash-package.json'));
    expect(r).toEqual({
      packages: [{ ecosystem: 'npm', name: 'lodash', version: '4.18.1', path: '/app/node_modules/lodash/package.json', purl: 'pkg:npm/lodash@4.18.1' }],
      problems: [],
    });
  });

  it('keeps the scope in the name and writes it as the purl namespace, @ encoded', () => {
    const r = parseNpmPackageJson('/app/node_modules/@biomejs/biome/package.json', fixture('npm/biome-package.json'));
    const expected = JSON.parse(fixture('npm/biome-package.json').toString()) as { version: string };
    expect(r.packages.map((p) => [p.name, p.version, p.purl])).toEqual([['@biomejs/biome', expected.version, `pkg:npm/%40biomejs/biome@${expected.version}`]]);
  });

  it('a package.json without a name and version is no package and no problem (a folder\'s {"type": "module"})', () => {
    expect(parseNpmPackageJson('/a/node_modules/x/package.json', Buffer.from('{"type":"module"}'))).toEqual({ packages: [], problems: [] });
    expect(parseNpmPackageJson('/a/node_modules/x/package.json', Buffer.from('{"name":"x","version":3}'))).toEqual({ packages: [], problems: [] });
  });

  it('JSON that does not parse, or is not an object, is a problem naming the file', () => {
    const bad = parseNpmPackageJson('/a/node_modules/x/package.json', Buffer.from('{"name": "x",'));
    expect(bad.packages).toEqual([]);
    expect(bad.problems).toHaveLength(1);
    expect(bad.problems[0]).toMatch(/^\/a\/node_modules\/x\/package\.json: not JSON: /);
    expect(parseNpmPackageJson('/a/node_modules/x/package.json', Buffer.from('[1]')).problems).toEqual(['/a/node_modules/x/package.json: not a JSON object']);
  });

  it('a + in a version is %2B in the purl; a byte order mark does not stop the parse', () => {
    const r = parseNpmPackageJson('/n/node_modules/x/package.json', Buffer.from('\uFEFF{"name":"x","version":"1.0.0+build.5"}'));
    expect(r.packages[0]?.purl).toBe('pkg:npm/x@1.0.0%2Bbuild.5');
    expect(PackageURL.fromString(r.packages[0]?.purl ?? '').version).toBe('1.0.0+build.5');
  });
});

describe('Python METADATA and PKG-INFO', () => {
  it('reads a wheel METADATA, keeping the name as written and the purl name normalized', () => {
    const r = parsePythonMetadata('/usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA', fixture('python/PyYAML-6.0.dist-info/METADATA'));
    expect(r.problems).toEqual([]);
    expect(r.packages.map((p) => [p.ecosystem, p.name, p.version, p.purl])).toEqual([['pypi', 'PyYAML', '6.0', 'pkg:pypi/pyyaml@6.0']]);
  });

  it('reads an egg-info PKG-INFO and a METADATA whose long description follows the headers', () => {
    const egg = parsePythonMetadata('/x/oslo.config-9.0.0.egg-info/PKG-INFO', fixture('python/oslo.config-9.0.0.egg-info/PKG-INFO'));
    expect(egg.packages.map((p) => [p.name, p.version, p.purl])).toEqual([['oslo.config', '9.0.0', 'pkg:pypi/oslo-config@9.0.0']]);
    const cn = parsePythonMetadata('/x/charset_normalizer-3.0.1.dist-info/METADATA', fixture('python/charset_normalizer-3.0.1.dist-info/METADATA'));
    expect(cn.problems).toEqual([]);
    expect(cn.packages.map((p) => [p.name, p.version])).toEqual([['charset-normalizer', '3.0.1']]);
  });

  it('normalizes names per PEP 503', () => {
    expect(normalizePypiName('Foo.Bar__baz-_-Qux')).toBe('foo-bar-baz-qux');
    expect(normalizePypiName('oslo.config')).toBe('oslo-config');
    expect(normalizePypiName('charset_normalizer')).toBe(normalizePypiName('Charset-Normalizer'));
  });

  it('names the line of a header that is not Key: value, and a file without Name or Version', () => {
    const r = parsePythonMetadata('/p/x.dist-info/METADATA', Buffer.from('Metadata-Version: 2.1\nName: x\nthis is not a header\nVersion: 1\n'));
    expect(r).toEqual({ packages: [], problems: ['/p/x.dist-info/METADATA: line 3: not a "Key: value" header: "this is not a header"'] });
    expect(parsePythonMetadata('/p/x.dist-info/METADATA', Buffer.from('Name: x\n\nVersion: 1\n')).problems).toEqual([
      '/p/x.dist-info/METADATA: no Version header',
    ]);
    expect(parsePythonMetadata('/p/x.dist-info/METADATA', Buffer.from('Name: not valid!\nVersion: 1\n')).problems).toEqual([
      '/p/x.dist-info/METADATA: line 1: "not valid!" is not a valid project name',
    ]);
  });
});

describe('pom.properties', () => {
  it('reads the coordinates Maven wrote into two real jars (one with comments first)', () => {
    const jopt = parsePomProperties('/app/lib/jopt-simple-5.0.4.jar', fixture('maven/jopt-simple-5.0.4.pom.properties'));
    expect(jopt).toEqual({
      packages: [
        {
          ecosystem: 'maven',
          name: 'net.sf.jopt-simple:jopt-simple',
          version: '5.0.4',
          path: '/app/lib/jopt-simple-5.0.4.jar',
          purl: 'pkg:maven/net.sf.jopt-simple/jopt-simple@5.0.4',
        },
      ],
      problems: [],
    });
    const smart = parsePomProperties('/app/lib/json-smart-2.6.0.jar', fixture('maven/json-smart-2.6.0.pom.properties'));
    expect(smart.packages.map((p) => [p.name, p.version, p.purl])).toEqual([['net.minidev:json-smart', '2.6.0', 'pkg:maven/net.minidev/json-smart@2.6.0']]);
  });

  it('reads the separators and continuations java.util.Properties does', () => {
    const props = readProperties('! bang comment\ngroupId : org.example\nartifactId   lib\\\n    rary\nversion=1.0\\u002D1\nempty\ntab=a\\tb\nwe\\:ird=x\n');
    expect(Object.fromEntries([...props].map(([k, v]) => [k, v.value]))).toEqual({
      groupId: 'org.example',
      artifactId: 'library',
      version: '1.0-1',
      empty: '',
      tab: 'a\tb',
      'we:ird': 'x',
    });
    expect(props.get('version')?.line).toBe(5);
  });

  it('names what is missing', () => {
    expect(parsePomProperties('/a.jar', Buffer.from('groupId=g\n')).problems).toEqual(['/a.jar: no artifactId, version']);
  });
});
