/**
 * Go build info read from a stream (src/scan/go-buildinfo.ts): from a real Go binary (esbuild's, from
 * node_modules), checked against a plain search of its bytes as `strings` would show them, and from constructed
 * binaries for the format's edges: alignment, a magic split across chunks, replacements, pre-1.18 binaries,
 * truncation, malformed lengths and lines, files that are not ELF.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { goBuildInfoSink, MAX_BUILD_INFO_BYTES, parseModInfo, readGoBuildInfo } from '../../src/scan/go-buildinfo.js';

const ESBUILD = fileURLToPath(new URL(`../../node_modules/@esbuild/${process.platform}-${process.arch}/bin/esbuild`, import.meta.url));

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
/** Go's module info sentinels (cmd/go's infoStart and infoEnd): bytes that are not UTF-8. */
const START = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
const END = Buffer.from('f932433186182072008242104116d8f2', 'hex');

function uvarint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A build info blob as Go 1.18+ writes it: header, then the version and the framed module info inline. */
function blob(goVersion: string, modText: string | null, flags = 0x2): Buffer {
  const header = Buffer.concat([MAGIC, Buffer.from([8, flags]), Buffer.alloc(16)]);
  const mod = modText === null ? Buffer.alloc(0) : Buffer.concat([START, Buffer.from(modText), END]);
  return Buffer.concat([header, uvarint(goVersion.length), Buffer.from(goVersion), uvarint(mod.length), mod]);
}

/** An ELF-looking file with `parts` laid out at the given offsets, zeros between. */
function elf(size: number, parts: [number, Buffer][]): Buffer {
  const file = Buffer.alloc(size);
  Buffer.from('\x7fELF', 'latin1').copy(file, 0);
  for (const [at, bytes] of parts) bytes.copy(file, at);
  return file;
}

async function read(file: Buffer, chunk = 65536) {
  const parts: Buffer[] = [];
  for (let i = 0; i < file.length; i += chunk) parts.push(file.subarray(i, i + chunk));
  return readGoBuildInfo(Readable.from(parts));
}

const MOD = [
  'path\texample.com/app/cmd/app',
  'mod\texample.com/app\tv1.4.0\th1:abc=',
  'dep\tgolang.org/x/net\tv0.17.0\th1:net=',
  'dep\tgithub.com/old/lib\tv1.0.0\th1:old=',
  '=>\tgithub.com/fork/lib\tv1.0.1-fix\th1:fork=',
  'dep\texample.com/local\tv0.0.0',
  '=>\t../local\t\t',
  'build\t-buildmode=exe',
  'build\tGOOS=linux',
  '',
].join('\n');

describe('readGoBuildInfo', () => {
  it("reads esbuild's Go version, main module and dependencies as its bytes show them", async () => {
    const result = await readGoBuildInfo(createReadStream(ESBUILD));
    expect(result.problems).toEqual([]);
    const info = result.found!;
    // The check, independent of the reader: the module info's lines as `strings` prints them.
    const bytes = readFileSync(ESBUILD).toString('latin1');
    const lines = /path\t([^\n]+)\nmod\t([^\t]+)\t([^\t\n]*)\t[^\n]*\n((?:dep\t[^\n]+\n)*)/.exec(bytes)!;
    expect(info.path).toBe(lines[1]);
    expect(info.path).toBe('github.com/evanw/esbuild/cmd/esbuild');
    expect(info.main).toEqual({ path: 'github.com/evanw/esbuild', version: lines[3] });
    const deps = lines[4]!
      .trim()
      .split('\n')
      .map((l) => l.split('\t'))
      .map(([, path, version]) => ({ path, version }));
    expect(deps.length).toBeGreaterThan(0);
    expect(info.deps).toEqual(deps);
    expect(info.deps.map((d) => d.path)).toContain('golang.org/x/sys');
    expect(info.goVersion).toMatch(/^go1\.\d+(\.\d+)?/);
    // The version right after the 32-byte header at the 16-aligned magic, varint length first.
    const at = bytes.indexOf('\xff Go buildinf:');
    expect(at % 16).toBe(0);
    expect(bytes.slice(at + 33, at + 33 + bytes.charCodeAt(at + 32))).toBe(info.goVersion);
  });

  it('finds the build info at an aligned offset whatever the chunk sizes, also when the magic is split', async () => {
    const file = elf(4096, [[1024, blob('go1.22.5', MOD)]]);
    const whole = await read(file);
    expect(whole).toEqual({
      found: {
        goVersion: 'go1.22.5',
        path: 'example.com/app/cmd/app',
        main: { path: 'example.com/app', version: 'v1.4.0' },
        deps: [
          { path: 'golang.org/x/net', version: 'v0.17.0' },
          { path: 'github.com/fork/lib', version: 'v1.0.1-fix', replaced: { path: 'github.com/old/lib', version: 'v1.0.0' } },
          { path: '../local', version: '', replaced: { path: 'example.com/local', version: 'v0.0.0' } },
        ],
      },
      problems: [],
    });
    for (const size of [1, 3, 7, 13, 1030]) expect(await read(file, size)).toEqual(whole);
  });

  it('passes over the magic at an unaligned offset, as Go does, and where no header follows it', async () => {
    const decoy = blob('go0.0.0-decoy', 'x');
    // As the go command's rodata holds it: the magic as a string, other strings right after it (here 'v' where
    // the flags byte would be: it has the inline bit, so only the header's other checks tell it apart).
    const asString = Buffer.concat([MAGIC, Buffer.from('over the strings that follow it in rodata, as many as fill a header')]);
    const found = await read(
      elf(8192, [
        [1004, decoy],
        [2048, asString],
        [4096, blob('go1.21.0', MOD)],
      ]),
    );
    expect(found).toMatchObject({ found: { goVersion: 'go1.21.0' }, problems: [] });
    expect(await read(elf(4096, [[1036, blob('go1.21.0', MOD)]]))).toEqual({ found: null, problems: [] });
  });

  it('finds nothing in a file that is not ELF, or an ELF file without build info', async () => {
    const script = Buffer.concat([Buffer.from('#!/bin/sh\n'), Buffer.alloc(1014), blob('go1.22.0', MOD)]);
    expect(await read(script)).toEqual({ found: null, problems: [] });
    expect(await read(elf(10_000, []))).toEqual({ found: null, problems: [] });
    expect(await read(Buffer.from('\x7fEL', 'latin1'))).toEqual({ found: null, problems: [] });
  });

  it('gives a binary built outside module mode its Go version and no modules', async () => {
    expect(await read(elf(2048, [[512, blob('go1.20.1', null)]]))).toEqual({ found: { goVersion: 'go1.20.1', path: '', main: null, deps: [] }, problems: [] });
  });

  it('names a pre-1.18 binary, a build info cut short, a malformed length and a bad line as problems', async () => {
    expect(await read(elf(2048, [[512, blob('go1.16', MOD, 0x0)]]))).toEqual({
      found: null,
      problems: ['built by Go before 1.18 (its build info is held by address, which a streamed read cannot follow): not read'],
    });
    const cut = elf(1024 + 60, [[1024, blob('go1.22.5', MOD)]]);
    expect(await read(cut)).toEqual({ found: null, problems: ['its Go build info is cut short: the file ends 60 bytes after its start'] });
    const huge = Buffer.concat([MAGIC, Buffer.from([8, 2]), Buffer.alloc(16), uvarint(MAX_BUILD_INFO_BYTES + 1)]);
    expect(await read(elf(2048, [[512, huge]]))).toEqual({ found: null, problems: ['its Go build info has a malformed length'] });
    expect(await read(elf(2048, [[512, blob('go1.22.5', 'path\tx\ndep\tonly-a-path\n')]]))).toEqual({
      found: null,
      problems: ['its Go module info does not parse: line 2: a dep line has 1 columns, not 2 or 3'],
    });
  });

  it('as a sink, says it has enough once the build info is read, before the file ends', async () => {
    const file = elf(1 << 20, [[4096, blob('go1.22.5', MOD)]]);
    const sink = goBuildInfoSink();
    let fed = 0;
    for (let i = 0; i < file.length; i += 8192) {
      fed += 8192;
      if (await sink.write(file.subarray(i, i + 8192))) break;
    }
    expect(fed).toBe(8192);
    expect((await sink.end()).found?.goVersion).toBe('go1.22.5');
  });
});

describe('parseModInfo', () => {
  it('refuses a replacement with no module before it or with the wrong columns, and ignores unknown lines', () => {
    expect(parseModInfo('=>\ta\tv1\th1\n')).toEqual({ ok: false, problem: 'line 1: a replacement follows no module' });
    expect(parseModInfo('dep\ta\tv1\n=>\tb\tv2\n')).toEqual({ ok: false, problem: 'line 2: a replacement has 2 columns, not 3' });
    expect(parseModInfo('future\tthing\ndep\ta\tv1\nno newline at the end')).toEqual({
      ok: true,
      value: { path: '', main: null, deps: [{ path: 'a', version: 'v1' }] },
    });
  });
});
