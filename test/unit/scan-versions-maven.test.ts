/**
 * Maven's order, held to the cases of Maven's own ComparableVersionTest (apache/maven,
 * compat/maven-artifact/src/test/java/org/apache/maven/artifact/versioning/ComparableVersionTest.java, Apache
 * License 2.0): the version lists and pairs below are that test's data, the assertions ours.
 */
import { describe, expect, it } from 'vitest';
import { canonicalMavenVersion, compareMavenVersions, type MavenVersion, parseMavenVersion } from '../../src/scan/versions/maven.js';

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

function parsed(v: string): MavenVersion {
  const p = parseMavenVersion(v);
  if (!p.ok) throw new Error(p.problem);
  return p.value;
}
const cmp = (a: string, b: string): number => sign(compareMavenVersions(parsed(a), parsed(b)));

/** Every later version orders after every earlier one, both ways round (the test's checkVersionsOrder). */
function expectAscending(versions: readonly string[]): void {
  const wrong: string[] = [];
  for (let i = 0; i < versions.length; i++) {
    for (let j = i + 1; j < versions.length; j++) {
      if (cmp(versions[i]!, versions[j]!) !== -1 || cmp(versions[j]!, versions[i]!) !== 1) wrong.push(`${versions[i]} < ${versions[j]}`);
    }
  }
  expect(wrong).toEqual([]);
}

function expectSame(a: string, b: string): void {
  expect([a, b, cmp(a, b), cmp(b, a)]).toEqual([a, b, 0, 0]);
}

const VERSIONS_QUALIFIER = [
  '1-alpha2snapshot',
  '1-alpha2',
  '1-alpha-123',
  '1-beta-2',
  '1-beta123',
  '1-m2',
  '1-m11',
  '1-rc',
  '1-cr2',
  '1-rc123',
  '1-SNAPSHOT',
  '1',
  '1-sp',
  '1-sp2',
  '1-sp123',
  '1-abc',
  '1-def',
  '1-pom-1',
  '1-1-snapshot',
  '1-1',
  '1-2',
  '1-123',
];

const VERSIONS_NUMBER = [
  '2.0',
  '2.0.a',
  '2-1',
  '2.0.2',
  '2.0.123',
  '2.1.0',
  '2.1-a',
  '2.1b',
  '2.1-c',
  '2.1-1',
  '2.1.0.1',
  '2.2',
  '2.123',
  '11.a2',
  '11.a11',
  '11.b2',
  '11.b11',
  '11.m2',
  '11.m11',
  '11',
  '11.a',
  '11b',
  '11c',
  '11m',
];

describe('Maven version order (ComparableVersion)', () => {
  it('orders the qualifiers: alpha < beta < milestone < rc = cr < snapshot < release < sp < other words < numbers', () => {
    expectAscending(VERSIONS_QUALIFIER);
  });

  it('orders numbers and the qualifiers mixed among them', () => {
    expectAscending(VERSIONS_NUMBER);
  });

  it.each([
    ['1', '1'],
    ['1', '1.0'],
    ['1', '1.0.0'],
    ['1.0', '1.0.0'],
    ['1', '1-0'],
    ['1', '1.0-0'],
    ['1.0', '1.0-0'],
    ['1a', '1-a'],
    ['1a', '1.0-a'],
    ['1a', '1.0.0-a'],
    ['1.0a', '1-a'],
    ['1.0.0a', '1-a'],
    ['1x', '1-x'],
    ['1x', '1.0-x'],
    ['1x', '1.0.0-x'],
    ['1.0x', '1-x'],
    ['1.0.0x', '1-x'],
    ['1cr', '1rc'],
    ['1a1', '1-alpha-1'],
    ['1b2', '1-beta-2'],
    ['1m3', '1-milestone-3'],
    ['1X', '1x'],
    ['1A', '1a'],
    ['1B', '1b'],
    ['1M', '1m'],
    ['1Cr', '1Rc'],
    ['1cR', '1rC'],
    ['1m3', '1Milestone3'],
    ['1m3', '1MileStone3'],
    ['1m3', '1MILESTONE3'],
    // release qualifiers order as no qualifier
    ['1ga', '1'],
    ['1release', '1'],
    ['1final', '1'],
    ['1GA', '1'],
    ['1RELeaSE', '1'],
    ['1FINAL', '1'],
    ['1-ga', '1.0.0'],
    ['1.0.0-ALPHA1', '1.0.0-alpha1'],
    ['1.A', '1.a'],
    ['1.É', '1.é'],
    ['1-abcdefghijklmnopqrstuvwxyz', '1-ABCDEFGHIJKLMNOPQRSTUVWXYZ'],
  ])('%s orders the same as %s', (a, b) => expectSame(a, b));

  it.each([
    ['1', '2'],
    ['1.5', '2'],
    ['1', '2.5'],
    ['1.0', '1.1'],
    ['1.1', '1.2'],
    ['1.0.0', '1.1'],
    ['1.0.1', '1.1'],
    ['1.1', '1.2.0'],
    ['1.0-alpha-1', '1.0'],
    ['1.0-alpha-1', '1.0-alpha-2'],
    ['1.0-alpha-1', '1.0-beta-1'],
    ['1.0-beta-1', '1.0-SNAPSHOT'],
    ['1.0-SNAPSHOT', '1.0'],
    ['1.0-alpha-1-SNAPSHOT', '1.0-alpha-1'],
    ['1.0', '1.0-1'],
    ['1.0-1', '1.0-2'],
    ['1.0.0', '1.0-1'],
    ['2.0-1', '2.0.1'],
    ['2.0.1-klm', '2.0.1-lmn'],
    ['2.0.1', '2.0.1-xyz'],
    ['2.0.1', '2.0.1-123'],
    ['2.0.1-xyz', '2.0.1-123'],
    // leading zeros
    ['0.7', '2'],
    ['0.2', '1.0.7'],
    // letters and digits, case, other scripts
    ['é', '1'],
    ['\u{1D7E4}', '1'],
    ['J', '7'],
    ['c', '7'],
    ['\u0668', '1'],
    ['\u0668', '9'],
    ['aardvark', 'zebra'],
    ['zebra', 'ζέβρα'],
    // MNG-5568: transitive again
    ['6.1.0rc3', '6.1.0'],
    ['6.1.0rc3', '6.1H.5-beta'],
    ['6.1.0', '6.1H.5-beta'],
    // MNG-6572: numbers past int and long
    ['20190126.230843', '1234567890.12345'],
    ['1234567890.12345', '123456789012345.1H.5-beta'],
    ['20190126.230843', '123456789012345.1H.5-beta'],
    ['123456789012345.1H.5-beta', '12345678901234567890.1H.5-beta'],
    ['1234567890.12345', '12345678901234567890.1H.5-beta'],
    ['20190126.230843', '12345678901234567890.1H.5-beta'],
    // MNG-6964: a qualifier after -0.
    ['1-0.alpha', '1'],
    ['1-0.beta', '1'],
    ['1-0.alpha', '1-0.beta'],
    // MNG-7714: sp after final
    ['1.0.final-redhat', '1.0-sp1-redhat'],
    ['1.0.final-redhat', '1.0-sp-1-redhat'],
    ['1.0.final-redhat', '1.0-sp.1-redhat'],
  ])('%s < %s', (a, b) => {
    expect(cmp(a, b)).toBe(-1);
    expect(cmp(b, a)).toBe(1);
  });

  it('MNG-7644: 1.0.0.X1 < 1.0.0-X2, and 2-X = 2.0.X = 2.0.0.X, for every X', () => {
    for (const x of ['abc', 'alpha', 'a', 'beta', 'b', 'def', 'milestone', 'm', 'RC']) {
      expect([x, cmp(`1.0.0.${x}1`, `1.0.0-${x}2`)]).toEqual([x, -1]);
      expectSame(`2-${x}`, `2.0.${x}`);
      expectSame(`2-${x}`, `2.0.0.${x}`);
      expectSame(`2.0.${x}`, `2.0.0.${x}`);
    }
  });

  it('leading zeros do not count, whatever the length', () => {
    const ones = Array.from({ length: 19 }, (_, i) => `${'0'.repeat(i)}1`);
    const zeros = Array.from({ length: 19 }, (_, i) => '0'.repeat(i + 1));
    for (const list of [ones, zeros]) for (const v of list) expectSame(list[0]!, v);
    expect(cmp('0', '1')).toBe(-1);
  });

  it('canonical forms as Maven prints them, stable when read again (MNG-7700)', () => {
    const canon = (v: string): string => canonicalMavenVersion(parsed(v));
    expect(canon('0.x')).toBe('x');
    expect(canon('0.2')).toBe('0.2');
    expect(canon('1.0.0')).toBe('1');
    expect(canon('1.0-alpha-1')).toBe('1-alpha1');
    expect(canon('1a1')).toBe('1-alpha1');
    for (const v of [...VERSIONS_QUALIFIER, ...VERSIONS_NUMBER, '0.x', '0-x', '0.rc', '0-1', '1.0-alpha']) expect([v, canon(canon(v))]).toEqual([v, canon(v)]);
  });

  it('any string is a Maven version but the empty one and one past 256 characters', () => {
    expect(parseMavenVersion('').ok).toBe(false);
    expect(parseMavenVersion('1'.repeat(256)).ok).toBe(true);
    const long = parseMavenVersion('1'.repeat(257));
    expect(long.ok ? '' : long.problem).toMatch(/longer than 256 characters/);
  });
});
