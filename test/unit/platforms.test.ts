import { describe, expect, it } from 'vitest';
import { formatPlatform, parsePlatform, platformKey, type Platform } from '../../src/limits.js';

const parsed = (text: string): Platform => {
  const r = parsePlatform(text);
  if (!r.ok) throw new Error(r.problem);
  return r.platform;
};
const problem = (text: string): string => {
  const r = parsePlatform(text);
  if (r.ok) throw new Error(`expected a problem, got ${JSON.stringify(r.platform)}`);
  return r.problem;
};

describe('parsePlatform', () => {
  it.each([
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm64', { os: 'linux', architecture: 'arm64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['linux/amd64/v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }],
    ['linux/386', { os: 'linux', architecture: '386' }],
    ['linux/riscv64', { os: 'linux', architecture: 'riscv64' }],
  ])('reads %s into its parts, and formats them back as written', (text, platform) => {
    // toStrictEqual: no variant key at all when none was written (an OCI index's platform has none).
    expect(parsed(text)).toStrictEqual(platform);
    expect(formatPlatform(parsed(text))).toBe(text);
  });

  it.each([
    ['linux/amd46', '"linux/amd46": unknown architecture "amd46" (known: 386, amd64, arm64, arm, ppc64le, s390x, riscv64, mips64le, mips64, loong64)'],
    ['linux/x86_64', '"linux/x86_64": write linux/amd64 (BuildKit\'s name for x86_64)'],
    ['linux/aarch64', '"linux/aarch64": write linux/arm64 (BuildKit\'s name for aarch64)'],
    ['linux/aarch64/v8', '"linux/aarch64/v8": write linux/arm64/v8 (BuildKit\'s name for aarch64)'],
    ['windows/amd64', '"windows/amd64": the operating system "windows" is not one BuildKit builds for here (linux)'],
    ['darwin/arm64', '"darwin/arm64": the operating system "darwin" is not one BuildKit builds for here (linux)'],
    ['linux/arm/v9', '"linux/arm/v9": arm has the variants v5, v6, v7, not "v9"'],
    ['linux/arm64/v7', '"linux/arm64/v7": arm64 has the variants v8, not "v7"'],
    ['linux/386/v1', '"linux/386/v1": 386 has no variants, not "v1"'],
    ['linux', '"linux" is not a platform like linux/amd64 or linux/arm64 (os/architecture[/variant])'],
    ['', '"" is not a platform like linux/amd64 or linux/arm64 (os/architecture[/variant])'],
    ['Linux/AMD64', '"Linux/AMD64" is not a platform like linux/amd64 or linux/arm64 (os/architecture[/variant])'],
    ['linux/amd64/v2/x', '"linux/amd64/v2/x" is not a platform like linux/amd64 or linux/arm64 (os/architecture[/variant])'],
    [' linux/amd64', '" linux/amd64" is not a platform like linux/amd64 or linux/arm64 (os/architecture[/variant])'],
  ])('refuses %j, saying why', (text, why) => {
    expect(problem(text)).toBe(why);
  });
});

describe('platformKey', () => {
  it('reads two spellings of one platform as BuildKit normalizes them', () => {
    const key = (text: string) => platformKey(parsed(text));
    expect(key('linux/arm64/v8')).toBe('linux/arm64');
    expect(key('linux/amd64/v1')).toBe('linux/amd64');
    expect(key('linux/arm')).toBe('linux/arm/v7');
    expect(key('linux/arm/v7')).toBe('linux/arm/v7');
  });

  it('keeps platforms that differ apart', () => {
    const keys = ['linux/amd64', 'linux/amd64/v2', 'linux/arm64', 'linux/arm/v6', 'linux/arm/v7', 'linux/386'].map((t) => platformKey(parsed(t)));
    expect(new Set(keys).size).toBe(keys.length);
  });
});
