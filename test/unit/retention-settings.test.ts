import { beforeEach, describe, expect, it } from 'vitest';
import { retentionOf, setRetention, type PolicyOverride } from '../../src/registry/retention-settings.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

const defaults = { keep: 10, days: 30 };
let store: Store;
beforeEach(() => {
  store = new Store(openDb(':memory:'));
});

describe('retention settings of a repo', () => {
  it('has the defaults until its owner sets an override, also before the repo exists', () => {
    const none = { keep: 10, days: 30, override: { keep: null, days: null }, defaults };
    expect(retentionOf(store, defaults, 'alice', 'shop')).toEqual(none);
    store.repos.ensure('alice', 'shop');
    expect(retentionOf(store, defaults, 'alice', 'shop')).toEqual(none);
  });

  // [what, the override before, the change, the settings after]: a field the change leaves out stays as it was.
  const changes: [string, [number | null, number | null], PolicyOverride, unknown][] = [
    ['both set', [null, null], { keep: 3, days: 0 }, { keep: 3, days: 0, override: { keep: 3, days: 0 } }],
    ['keep alone: days stays', [5, 7], { keep: 2 }, { keep: 2, days: 7, override: { keep: 2, days: 7 } }],
    ['days alone: keep stays', [5, 7], { days: 1 }, { keep: 5, days: 1, override: { keep: 5, days: 1 } }],
    ['keep back to the default', [5, 7], { keep: null }, { keep: 10, days: 7, override: { keep: null, days: 7 } }],
    ['both back to the default', [5, 7], { keep: null, days: null }, { keep: 10, days: 30, override: { keep: null, days: null } }],
  ];
  it.each(changes)('%s', (_what, [keep, days], change, after) => {
    store.repos.setRetention(store.repos.ensure('alice', 'shop').id, keep, days);
    const expected = { ok: true, defaults, ...(after as object) };
    expect(setRetention(store, defaults, 'alice', 'shop', change)).toEqual(expected);
    const { ok: _, ...stored } = expected;
    expect(retentionOf(store, defaults, 'alice', 'shop')).toEqual(stored);
  });

  it('is missing for a repo not pushed to yet, and makes none', () => {
    expect(setRetention(store, defaults, 'alice', 'shop', { keep: 1 })).toEqual({
      ok: false,
      kind: 'missing',
      problem: 'no repository alice/shop: push to it first',
    });
    expect(store.repos.byName('alice', 'shop')).toBeUndefined();
  });
});
