import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { compareDpkgPart, compareDpkgVersions, type DpkgVersion, parseDpkgVersion } from '../../src/scan/versions/dpkg.js';

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

function parsed(v: string): DpkgVersion {
  const p = parseDpkgVersion(v);
  if (!p.ok) throw new Error(p.problem);
  return p.value;
}
const cmp = (a: string, b: string): number => sign(compareDpkgVersions(parsed(a), parsed(b)));

describe('dpkg version order: named cases (Debian Policy 5.6.12, deb-version(5))', () => {
  it.each([
    // ~ sorts before everything, even the end of the part
    ['1.0~rc1', '1.0', -1],
    ['1.0~~', '1.0~', -1],
    ['1.0~~a', '1.0~', -1],
    ['1.0~', '1.0', -1],
    ['1.0', '1.0a', -1],
    ['2.5.0-1~bpo12+1', '2.5.0-1', -1],
    ['2.5.0-1+deb12u1', '2.5.0-1', 1],
    // letters before non-letters; + and . after the end
    ['1.0a', '1.0+', -1],
    ['1.0+', '1.0.', -1],
    ['1.0', '1.0+b1', -1],
    ['1.0Z', '1.0a', -1],
    // digit runs numerically; leading zeros do not count
    ['1.9', '1.10', -1],
    ['1.010', '1.10', 0],
    ['1.0', '1.00', 0],
    ['1.0', '1.0.0', -1],
    ['10', '9', 1],
    ['1.2.3', '1.2.3a', -1],
    // epochs first, 0 when absent, numerically
    ['1:0.1', '9.9', 1],
    ['0:1.0', '1.0', 0],
    ['00:1.0', '1.0', 0],
    ['2:1.0', '10:0.1', -1],
    // the revision: absent orders as 0; the last hyphen splits
    ['1.0-0', '1.0', 0],
    ['1.0-1', '1.0', 1],
    ['1.0-1-1', '1.0-1', 1],
    ['1.0-1-1', '1.0-2', 1],
    ['1:2-3:4-5', '1:2-3:4-6', -1],
    // real pairs: a security update, a rebuild, an upstream with a colon in it
    ['2.5.0-1+deb12u1', '2.5.0-1+deb12u2', -1],
    ['2.36-9+deb12u4', '2.36-9+deb12u10', -1],
    ['1:1.2.13.dfsg-1', '1:1.2.13.dfsg-1+b1', -1],
    ['7.88.1-10+deb12u5', '7.88.1-10+deb12u12', -1],
  ] as const)('%s vs %s -> %i', (a, b, expected) => {
    expect(cmp(a, b)).toBe(expected);
    expect(cmp(b, a)).toBe(0 - expected || 0);
  });

  it('reads the parts as dpkg splits them: the first colon, the last hyphen', () => {
    expect(parsed('1:2.30-1:1-3')).toEqual({ epoch: 1, upstream: '2.30-1:1', revision: '3' });
    expect(parsed(' 1.0 ')).toEqual({ epoch: 0, upstream: '1.0', revision: '' });
    expect(compareDpkgPart('', '0')).toBe(0);
    expect(sign(compareDpkgPart('~', ''))).toBe(-1);
  });

  it.each([
    ['', 'it is empty'],
    ['1.0 1', 'it has embedded spaces'],
    [':1.0', 'the epoch before the colon is empty'],
    ['a:1.0', 'the epoch "a" is not a number'],
    ['+1:1.0', 'the epoch "+1" is not a number'],
    ['1:', 'nothing follows the colon'],
    ['99999999999:1', 'the epoch 99999999999 is too big (at most 2147483647)'],
    ['1.0-', 'the revision after the last hyphen is empty'],
    ['-1', 'the upstream version is empty'],
    ['a1.0', 'the upstream version "a1.0" does not start with a digit'],
    ['1.0_1', 'the upstream version "1.0_1" has a character other than letters, digits and . + ~ - :'],
    ['1.0-1_2', 'the revision "1_2" has a character other than letters, digits and . + ~'],
  ])('%j is not a Debian version: %s', (v, why) => {
    expect(parseDpkgVersion(v)).toEqual({ ok: false, problem: `${JSON.stringify(v)} is not a Debian version: ${why}` });
  });
});

/** mulberry32: a small seeded generator, so that a failure reproduces with the same versions. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Versions drawn from a small alphabet so that many are equal or nearly so: epochs (some `0:` or `00:`, which
 * equal none), digit runs with leading zeros, letters of both cases, `~` (alone and doubled), `+`, `.`, hyphens
 * inside the upstream part when there is a revision, colons inside it when there is an epoch, and revisions.
 */
function dpkgVersions(count: number, seed: number): string[] {
  const r = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const digits = ['0', '1', '2', '9', '10', '01', '00', '010', '100'];
  const others = ['.', '.', '+', '~', '~~', 'a', 'b', 'z', 'A', 'Z', 'ab', 'rc', '.dfsg', '+deb12u', '+b', '~bpo'];
  const part = (withHyphen: boolean, withColon: boolean): string => {
    let s = pick(digits);
    const n = Math.floor(r() * 5);
    for (let i = 0; i < n; i++) {
      const roll = r();
      if (withHyphen && roll < 0.05) s += '-';
      else if (withColon && roll < 0.1) s += ':';
      s += r() < 0.5 ? pick(others) : pick(digits);
    }
    return s;
  };
  const out: string[] = [];
  while (out.length < count) {
    const epoch = r() < 0.3 ? `${pick(['0', '00', '1', '2', '01', '10'])}:` : '';
    const revision =
      r() < 0.6 ? `-${pick(['0', '1', '2', '10', '01'])}${r() < 0.5 ? pick(['', '+deb12u1', '+deb12u2', '~bpo12+1', '.1', 'ubuntu1', '+b1', '~']) : ''}` : '';
    const v = `${epoch}${part(revision !== '', epoch !== '')}${revision}`;
    out.push(v);
    // Equal spellings of what was just made: an explicit zero epoch, a zero revision, a padded number.
    if (r() < 0.2) out.push(epoch === '' ? `0:${v}` : v.replace(/^[0-9]+:/, (e) => `0${e}`));
    if (r() < 0.1 && revision === '' && !v.includes('-')) out.push(`${v}-0`);
    if (r() < 0.2) out.push(v.replace(/[0-9]/, (d) => `0${d}`));
  }
  return out.slice(0, count);
}

/**
 * Asks the real dpkg about each `a op b` line (op lt, eq or gt: the relation our compare claims), one process
 * each, all in one shell; the answer is 1 where dpkg agrees, 0 where it does not.
 */
function dpkgAgrees(claims: readonly [string, 'lt' | 'eq' | 'gt', string][]): boolean[] {
  const script = 'while read -r a op b; do if dpkg --compare-versions "$a" "$op" "$b"; then echo 1; else echo 0; fi; done';
  const run = spawnSync('sh', ['-c', script], {
    input: claims.map((c) => c.join(' ')).join('\n') + '\n',
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
  });
  if (run.error) throw run.error;
  // A warning from dpkg means the generator made a version dpkg only tolerates: the comparison proves nothing then.
  expect(run.stderr).toBe('');
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(claims.length);
  return lines.map((l) => l === '1');
}

const opOf = (c: number): 'lt' | 'eq' | 'gt' => (c < 0 ? 'lt' : c === 0 ? 'eq' : 'gt');

describe('dpkg version order against dpkg --compare-versions', () => {
  it('agrees with the real dpkg on every pair of 500 generated versions (124,750 pairs) and on 100 pairs drawn from them', () => {
    const versions = dpkgVersions(500, 26);
    const all = versions.map((v) => {
      const p = parseDpkgVersion(v);
      if (!p.ok) throw new Error(`the generator made ${v}, which does not parse: ${p.problem}`);
      return { text: v, v: p.value };
    });

    // Sorted by our order, then cut into classes of equal versions. Our compare must agree with that chain on every
    // pair (it is a consistent order); dpkg must agree on every neighbouring pair. Since dpkg's order is a total
    // preorder too, the two then agree on all 500 x 500 pairs, at the cost of 499 dpkg runs (about 5 ms each).
    const sorted = [...all].sort((a, b) => compareDpkgVersions(a.v, b.v));
    const klass: number[] = [0];
    for (let i = 1; i < sorted.length; i++) klass.push(klass[i - 1]! + (compareDpkgVersions(sorted[i - 1]!.v, sorted[i]!.v) < 0 ? 1 : 0));
    const inconsistent: string[] = [];
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        if (sign(compareDpkgVersions(sorted[i]!.v, sorted[j]!.v)) !== sign(klass[i]! - klass[j]!)) inconsistent.push(`${sorted[i]!.text} ? ${sorted[j]!.text}`);
      }
    }
    expect(inconsistent).toEqual([]);

    const steps = sorted.slice(1).map((b, i): [string, 'lt' | 'eq' | 'gt', string] => [sorted[i]!.text, opOf(compareDpkgVersions(sorted[i]!.v, b.v)), b.text]);
    // The generator must make both ties and near misses, or the chain proves little.
    expect(steps.filter((s) => s[1] === 'eq').length).toBeGreaterThan(100);
    expect(steps.filter((s) => s[1] === 'lt').length).toBeGreaterThan(250);

    const r = random(7);
    const direct = Array.from({ length: 100 }, (): [string, 'lt' | 'eq' | 'gt', string] => {
      const a = all[Math.floor(r() * all.length)]!;
      const b = all[Math.floor(r() * all.length)]!;
      return [a.text, opOf(compareDpkgVersions(a.v, b.v)), b.text];
    });
    expect(new Set(direct.map((d) => d[1]))).toEqual(new Set(['lt', 'eq', 'gt']));

    const claims = [...steps, ...direct];
    const agrees = dpkgAgrees(claims);
    expect(claims.filter((_, i) => !agrees[i]).map((c) => c.join(' '))).toEqual([]);
  });

  it('the harness sees a disagreement: a claim dpkg rejects comes back as one', () => {
    expect(
      dpkgAgrees([
        ['1.0~rc1', 'gt', '1.0'],
        ['1.0~rc1', 'lt', '1.0'],
      ]),
    ).toEqual([false, true]);
  });
});
