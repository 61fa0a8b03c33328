import { describe, expect, it } from 'vitest';
import { loadSettings, SettingsError } from '../../src/settings.js';
import { formatBytes, formatDuration, parseDuration, parseSize } from '../../src/units.js';

describe('sizes', () => {
  it('reads binary and decimal units, case-insensitively, and bare bytes', () => {
    expect(parseSize('10GiB')).toEqual({ ok: true, value: 10 * 1024 ** 3 });
    expect(parseSize('10 gb')).toEqual({ ok: true, value: 10e9 });
    expect(parseSize('1.5MiB')).toEqual({ ok: true, value: 1572864 });
    expect(parseSize('512m')).toEqual({ ok: true, value: 512 * 1024 ** 2 });
    expect(parseSize('1048576')).toEqual({ ok: true, value: 1048576 });
    expect(parseSize('0')).toEqual({ ok: true, value: 0 });
  });
  it('says what is wrong with a size it cannot read', () => {
    for (const bad of ['10XB', '-1GiB', 'ten', '', '1e9', '10 G iB']) {
      const r = parseSize(bad);
      expect(r.ok, bad).toBe(false);
      expect(!r.ok && r.problem).toContain(`${JSON.stringify(bad)} is not a size: write a number with a unit, e.g. 10GiB`);
    }
    expect(parseSize('2PiB')).toEqual({ ok: false, problem: '"2PiB" is not a size: write a number with a unit, e.g. 10GiB, 500MiB, 2GB or 1048576 (bytes)' });
    expect(parseSize('2000TiB')).toEqual({ ok: false, problem: '"2000TiB" is more than 1 PiB' });
  });
  it('prints bytes in powers of 1024', () => {
    expect([0, 1023, 1024, 1536, 10 * 1024 ** 3, 123.4 * 1024 ** 2].map(formatBytes)).toEqual(['0 B', '1023 B', '1 KiB', '1.5 KiB', '10 GiB', '123 MiB']);
  });
});

describe('durations', () => {
  it('reads units and sums of them', () => {
    expect(parseDuration('1h')).toEqual({ ok: true, value: 3_600_000 });
    expect(parseDuration('1h30m')).toEqual({ ok: true, value: 5_400_000 });
    expect(parseDuration('7d')).toEqual({ ok: true, value: 7 * 86_400_000 });
    expect(parseDuration('0')).toEqual({ ok: true, value: 0 });
    expect(parseDuration('500ms')).toEqual({ ok: true, value: 500 });
  });
  it('refuses what it cannot read, and what is too long', () => {
    expect(parseDuration('1 hour').ok).toBe(false);
    expect(parseDuration('-1h').ok).toBe(false);
    expect(parseDuration('40d', 30 * 86_400_000)).toEqual({ ok: false, problem: '"40d" is longer than 30d' });
  });
  it('prints durations compactly', () => {
    expect([0, 90_000, 86_400_000, 5_400_000, 1500].map(formatDuration)).toEqual(['0s', '1m30s', '1d', '1h30m', '1s500ms']);
  });
});

describe('registry operation settings', () => {
  it('has the documented defaults', () => {
    expect(loadSettings({})).toMatchObject({
      quotaBytes: 10 * 1024 ** 3,
      gcIntervalMs: 3_600_000,
      retentionKeep: 10,
      retentionDays: 30,
      retentionGraceMs: 86_400_000,
      logRetentionDays: 90,
    });
    expect(loadSettings({ CODEHUB_QUOTA: '0' }).quotaBytes).toBe(0);
    expect(loadSettings({ CODEHUB_QUOTA: 'none' }).quotaBytes).toBe(0);
  });
  it('refuses a bad value at start, naming the variable', () => {
    for (const [env, says] of [
      [{ CODEHUB_QUOTA: '10XB' }, 'CODEHUB_QUOTA: "10XB" is not a size'],
      [{ CODEHUB_GC_INTERVAL: 'hourly' }, 'CODEHUB_GC_INTERVAL: "hourly" is not a duration'],
      [{ CODEHUB_RETENTION_GRACE: '99999d' }, 'CODEHUB_RETENTION_GRACE: "99999d" is longer than 3650d'],
      [{ CODEHUB_RETENTION_KEEP: '-1' }, 'CODEHUB_RETENTION_KEEP="-1" is not a whole number from 0 to 10000'],
      [{ CODEHUB_LOG_RETENTION_DAYS: '1e9' }, 'CODEHUB_LOG_RETENTION_DAYS="1e9" is not a whole number from 0 to 3650'],
    ] as const) {
      expect(() => loadSettings(env)).toThrow(SettingsError);
      expect(() => loadSettings(env)).toThrow(says);
    }
  });
});

describe('build cache settings', () => {
  it('defaults to the registry cache on and a 20 GiB budget per dockerd builder', () => {
    expect(loadSettings({})).toMatchObject({ registryCache: 'on', builderCacheMaxBytes: 20 * 1024 ** 3 });
    expect(loadSettings({ CODEHUB_REGISTRY_CACHE: 'off', CODEHUB_BUILDER_CACHE_MAX: 'none' })).toMatchObject({ registryCache: 'off', builderCacheMaxBytes: 0 });
    expect(loadSettings({ CODEHUB_BUILDER_CACHE_MAX: '512MiB' }).builderCacheMaxBytes).toBe(512 * 1024 ** 2);
  });

  it('names the variable and what it takes when a value is wrong', () => {
    expect(() => loadSettings({ CODEHUB_REGISTRY_CACHE: 'yes' })).toThrow('CODEHUB_REGISTRY_CACHE="yes": expected one of on, off');
    expect(() => loadSettings({ CODEHUB_BUILDER_CACHE_MAX: 'lots' })).toThrow(/CODEHUB_BUILDER_CACHE_MAX: "lots" is not a size/);
  });
});
