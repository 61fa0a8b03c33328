import { beforeEach, describe, expect, it } from 'vitest';
import { membersOf, share, unshare } from '../../src/auth/members.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

let store: Store;
beforeEach(() => {
  store = new Store(openDb(':memory:'));
  for (const name of ['alice', 'bob', 'carol']) store.accounts.createUser(name, `hash-${name}`);
});

describe('members: sharing a repo', () => {
  // [what, user, role, the outcome]: the caller owns alice/shop (the route checked it).
  const shares: [string, string, 'read' | 'write', unknown][] = [
    ['a user', 'bob', 'read', { ok: true, user: 'bob', role: 'read' }],
    ['a user again, with another role', 'bob', 'write', { ok: true, user: 'bob', role: 'write' }],
    ['a name that can never be a user', 'Bad Name', 'read', { ok: false, kind: 'invalid', problem: expect.stringContaining('is invalid') }],
    ['nobody of that name', 'dave', 'read', { ok: false, kind: 'missing', problem: 'no user dave' }],
    ['the owner', 'alice', 'write', { ok: false, kind: 'invalid', problem: 'alice owns alice/shop already' }],
  ];
  it.each(shares)('share with %s', (_what, user, role, outcome) => {
    if (role === 'write') share(store, 'alice', 'shop', user, 'read');
    expect(share(store, 'alice', 'shop', user, role)).toEqual(outcome);
  });

  it('makes the repo when it was not pushed to yet, and lists its members by name with their role and since when', () => {
    expect(store.repos.byName('alice', 'shop')).toBeUndefined();
    expect(membersOf(store, 'alice', 'shop')).toEqual([]);
    share(store, 'alice', 'shop', 'carol', 'write');
    share(store, 'alice', 'shop', 'bob', 'read');
    expect(store.repos.byName('alice', 'shop')).toBeDefined();
    expect(membersOf(store, 'alice', 'shop')).toEqual([
      { user: 'bob', role: 'read', since: expect.any(String) },
      { user: 'carol', role: 'write', since: expect.any(String) },
    ]);
  });

  it('unshares a member; anyone else, or any repo not shared, is missing alike', () => {
    share(store, 'alice', 'shop', 'bob', 'read');
    const notShared = (user: string, repo = 'shop') => ({ ok: false, kind: 'missing', problem: `alice/${repo} is not shared with ${user}` });
    expect(unshare(store, 'alice', 'shop', 'bob')).toEqual({ ok: true, user: 'bob' });
    expect(unshare(store, 'alice', 'shop', 'bob')).toEqual(notShared('bob'));
    expect(unshare(store, 'alice', 'shop', 'carol')).toEqual(notShared('carol'));
    expect(unshare(store, 'alice', 'shop', 'dave')).toEqual(notShared('dave'));
    expect(unshare(store, 'alice', 'none', 'bob')).toEqual(notShared('bob', 'none'));
    expect(membersOf(store, 'alice', 'shop')).toEqual([]);
  });
});
