/**
 * Alpine's order. There is no apk binary here: the cases are derived from the rules in apk-tools' src/version.c
 * (alpinelinux/apk-tools at 90b974fd: token kinds and their order, the suffix ranks, the leading-zero string rule,
 * what validates), each named for the rule it holds. (apk-tools' own test data is GPL-2.0-only: it was read, and
 * agreed with on all of its 736 comparisons, but it is not carried here.)
 */
import { describe, expect, it } from 'vitest';
import { type ApkVersion, compareApkVersions, parseApkVersion } from '../../src/scan/versions/apk.js';

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

function parsed(v: string): ApkVersion {
  const p = parseApkVersion(v);
  if (!p.ok) throw new Error(p.problem);
  return p.value;
}
const cmp = (a: string, b: string): number => sign(compareApkVersions(parsed(a), parsed(b)));

describe('Alpine (apk) version order', () => {
  it('orders a ladder of suffixes, revisions, letters and numbers, every pair both ways', () => {
    const ladder = [
      '1.0_alpha',
      '1.0_alpha1',
      '1.0_alpha2',
      '1.0_alpha10',
      '1.0_alpha10_p1',
      '1.0_beta',
      '1.0_pre',
      '1.0_rc',
      '1.0_rc1',
      '1.0',
      '1.0-r1',
      '1.0-r2',
      '1.0-r10',
      '1.0~0a1',
      '1.0~0a1-r1',
      '1.0~ff',
      '1.0_cvs',
      '1.0_svn',
      '1.0_git20240101',
      '1.0_hg',
      '1.0_p',
      '1.0_p1',
      '1.0_p1-r1',
      '1.0_p2',
      '1.0a',
      '1.0b',
      '1.0b_p1',
      '1.0.1',
      '1.0.1a',
      '1.0.2',
      '1.0.10',
      '1.1',
      '1.1.0',
      '2',
      '10',
    ];
    const wrong: string[] = [];
    for (let i = 0; i < ladder.length; i++) {
      for (let j = i + 1; j < ladder.length; j++) {
        if (cmp(ladder[i]!, ladder[j]!) !== -1 || cmp(ladder[j]!, ladder[i]!) !== 1) wrong.push(`${ladder[i]} < ${ladder[j]}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it.each([
    // a dotted number with a leading zero compares as a string with its counterpart (Gentoo's rule)
    ['1.01', '1.1', -1],
    ['1.09', '1.1', -1],
    ['1.001', '1.01', -1],
    ['1.01', '1.010', -1],
    ['1.0', '1.00', -1],
    ['1.05', '1.05', 0],
    // the first number and suffix, hash-free revision numbers compare as numbers
    ['01.1', '1.1', 0],
    ['9.0', '10.0', -1],
    ['1.0_rc01', '1.0_rc1', 0],
    ['1.0-r01', '1.0-r1', 0],
    ['1.0-r9', '1.0-r10', -1],
    // the revision is a token of its own kind: -r0 is not the same as no revision
    ['1.0-r0', '1.0', 1],
    // the suffix counts before the revision
    ['1.0_rc1-r5', '1.0-r0', -1],
    ['1.0_p1-r0', '1.0-r5', 1],
    // real Alpine pairs
    ['3.1.4-r5', '3.1.4-r6', -1],
    ['1.36.1-r15', '1.36.1-r29', -1],
    ['3.0.12-r0', '3.0.8-r0', 1],
    ['1.1.1k-r0', '1.1.1l-r0', -1],
    ['1.1.1w-r1', '3.0.0_alpha1-r0', -1],
    ['2.39.2-r0', '2.39.2_rc0-r0', 1],
    ['20230506-r0', '20240705-r0', -1],
  ] as const)('%s vs %s -> %i', (a, b, expected) => {
    expect(cmp(a, b)).toBe(expected);
    expect(cmp(b, a)).toBe(0 - expected || 0);
  });

  it.each([
    ['', 'it does not start with a number'],
    ['v1.0', 'it does not start with a number'],
    ['1.0A', 'at "A": "A" has no place in an apk version'],
    ['1.0aa', 'at "a": a letter may only follow a number, once'],
    ['1.0a1', 'at "1": a number may follow only a dot or a suffix'],
    ['1.0a.1', 'at ".1": a dotted number may only follow a number'],
    ['1.0_rc1.2', 'at ".2": a dotted number may only follow a number'],
    ['1..0', 'at "..0": a dot must be followed by a number'],
    ['1.0.', 'at ".": a dot must be followed by a number'],
    ['1.0_foo', 'at "_foo": the suffix must be one of _alpha, _beta, _pre, _rc, _cvs, _svn, _git, _hg, _p'],
    ['1.0_', 'at "_": the suffix must be one of _alpha, _beta, _pre, _rc, _cvs, _svn, _git, _hg, _p'],
    ['1.0-r1_p1', 'at "_p1": a suffix may not follow the commit hash or revision'],
    ['1.0~', 'at "~": ~ must be followed by a hexadecimal commit hash'],
    ['1.0~xyz', 'at "~xyz": ~ must be followed by a hexadecimal commit hash'],
    ['1.0-r1~ab', 'at "~ab": only one ~hash, before the revision'],
    ['1.0-1', 'at "-1": a hyphen may only start the revision, once: -r and a number'],
    ['1.0-r', 'at "-r": a hyphen may only start the revision, once: -r and a number'],
    ['1.0-r1-r2', 'at "-r2": a hyphen may only start the revision, once: -r and a number'],
  ])('%j is not an apk version: %s', (v, why) => {
    expect(parseApkVersion(v)).toEqual({ ok: false, problem: `${JSON.stringify(v)} is not an Alpine (apk) version: ${why}` });
  });
});
