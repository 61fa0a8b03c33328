import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { addUser, createToken, listTokens, removeUser, revokeToken } from '../../src/auth/accounts.js';
import { hashToken } from '../../src/auth/tokens.js';
import { NewTokenRequest, NewUserRequest, parseRequest } from '../../src/api/requests.js';
import { openDb } from '../../src/store/db.js';
import { Store } from '../../src/store/store.js';

let store: Store;
beforeEach(() => {
  store = new Store(openDb(':memory:'));
});

describe('accounts', () => {
  it('adds a user with a read,push token whose hash alone is stored', () => {
    const made = addUser(store, 'alice');
    expect(made).toMatchObject({ ok: true, name: 'alice', scopes: ['read', 'push'], token: expect.stringMatching(/^chb_/) });
    if (!made.ok) return;
    expect(store.accounts.tokenByHash(hashToken(made.token))).toMatchObject({ user: { name: 'alice' }, scopes: ['read', 'push'] });
    expect(JSON.stringify(store.db.$client.prepare('SELECT * FROM tokens').all())).not.toContain(made.token);
  });

  it('refuses a taken, reserved or invalid name, and the name of a removed user who still owns repos', () => {
    addUser(store, 'alice');
    expect(addUser(store, 'alice')).toEqual({ ok: false, kind: 'conflict', problem: 'user alice already exists' });
    expect(addUser(store, 'system')).toEqual({ ok: false, kind: 'invalid', problem: 'user name "system" is reserved' });
    expect(addUser(store, 'Bad Name')).toMatchObject({ ok: false, kind: 'invalid', problem: expect.stringContaining('is invalid') });
    store.repos.ensure('alice', 'shop');
    expect(removeUser(store, 'alice')).toEqual({ ok: true, name: 'alice' });
    expect(addUser(store, 'alice')).toEqual({
      ok: false,
      kind: 'conflict',
      problem: 'the name alice still owns the repos of a removed user; choose another name',
    });
    expect(removeUser(store, 'alice')).toEqual({ ok: false, kind: 'missing', problem: 'no user alice' });
  });

  it("reserves codehub-build and codehub-build-* (build credentials' names) for new users only", () => {
    const reserved = (name: string) =>
      `user name "${name}" is reserved: "codehub-build" and names starting with "codehub-build-" are the server's own (its builds' registry credentials)`;
    for (const name of ['codehub-build', 'codehub-build-x', 'codehub-build-12-deadbeef', 'codehub-build-registry']) {
      expect(addUser(store, name), name).toEqual({ ok: false, kind: 'invalid', problem: reserved(name) });
    }
    // Upper case and a trailing separator fail the name grammar before the rule.
    for (const name of ['CODEHUB-BUILD-x', 'Codehub-build-x', 'codehub-build-'])
      expect(addUser(store, name), name).toMatchObject({ ok: false, kind: 'invalid', problem: expect.stringContaining('is invalid') });
    for (const name of ['codehub-buildx', 'codehub-builds', 'my-codehub-build-x', 'codehub.build-x'])
      expect(addUser(store, name), name).toMatchObject({ ok: true, name });
    // A user named so before the rule keeps working, and can be removed.
    store.accounts.createUser('codehub-build-old', hashToken('chb_legacy'));
    expect(createToken(store, 'codehub-build-old', { label: 'x' })).toMatchObject({ ok: true });
    expect(listTokens(store, 'codehub-build-old')).toMatchObject({ ok: true });
    expect(removeUser(store, 'codehub-build-old')).toEqual({ ok: true, name: 'codehub-build-old' });
  });

  it('refuses to remove the last admin, or revoke the last admin token, saying to make another admin first', () => {
    store.accounts.createUser('admin', hashToken('chb_admin'), ['read', 'push', 'admin']);
    const [only] = store.accounts.listTokens(store.accounts.userByName('admin')!.id);
    const removal = removeUser(store, 'admin');
    expect(removal).toMatchObject({
      ok: false,
      kind: 'conflict',
      problem: expect.stringMatching(
        /^user admin holds the last admin token: removing it would leave no admin; make another admin first \(codehub-build token create <user> --scopes read,push,admin/,
      ),
    });
    expect(revokeToken(store, only!.id)).toMatchObject({
      ok: false,
      kind: 'conflict',
      problem: expect.stringMatching(new RegExp(`^token ${only!.id} is the last admin token: revoking it would leave no admin; make another admin first`)),
    });
    expect(store.accounts.tokenByHash(hashToken('chb_admin'))).toBeDefined();

    // A second admin token of the same user: either may go, not both.
    const second = createToken(store, 'admin', { scopes: 'admin', label: 'spare' });
    if (!second.ok) throw new Error(second.problem);
    expect(revokeToken(store, only!.id)).toEqual({ ok: true, id: only!.id });
    expect(revokeToken(store, second.id)).toMatchObject({ ok: false, kind: 'conflict' });

    // Another admin made first: then the old one may go, and the new one is the last.
    addUser(store, 'bob');
    const bobs = createToken(store, 'bob', { scopes: 'read,push,admin', label: 'admin' });
    if (!bobs.ok) throw new Error(bobs.problem);
    expect(removeUser(store, 'admin')).toEqual({ ok: true, name: 'admin' });
    expect(removeUser(store, 'bob')).toMatchObject({ ok: false, kind: 'conflict', problem: expect.stringContaining('user bob holds the last admin token') });
    // bob's other, non-admin token is not the last admin token.
    const bobsDefault = store.accounts.listTokens(store.accounts.userByName('bob')!.id).find((t) => !t.scopes.includes('admin'))!;
    expect(revokeToken(store, bobsDefault.id)).toEqual({ ok: true, id: bobsDefault.id });
  });

  it('removes users and revokes tokens as before where no admin is at stake', () => {
    // No admin at all (a database made by hand): nothing to protect, nothing refused.
    addUser(store, 'alice');
    const t = createToken(store, 'alice', { label: 'x' });
    if (!t.ok) throw new Error(t.problem);
    expect(revokeToken(store, t.id)).toEqual({ ok: true, id: t.id });
    expect(removeUser(store, 'alice')).toEqual({ ok: true, name: 'alice' });
  });

  it('keeps the last admin when two connections (the CLI beside the server) remove both admins', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'chb-accounts-')), 'codehub.db');
    const server = new Store(openDb(file));
    const cli = new Store(openDb(file));
    try {
      server.accounts.createUser('ann', hashToken('chb_ann'), ['read', 'push', 'admin']);
      server.accounts.createUser('ben', hashToken('chb_ben'), ['read', 'push', 'admin']);
      expect(server.accounts.removeUser('ann')).toBe('removed');
      expect(cli.accounts.removeUser('ben')).toBe('last_admin');
      expect(server.accounts.userByName('ben')).toBeDefined();
    } finally {
      server.db.$client.close();
      cli.db.$client.close();
    }
  });

  it('makes tokens with scopes given as a list or a comma text, in their canonical order', () => {
    addUser(store, 'alice');
    expect(createToken(store, 'alice', { label: 'cli' })).toMatchObject({ ok: true, user: 'alice', label: 'cli', scopes: ['read', 'push'] });
    expect(createToken(store, 'alice', { scopes: ['push', 'read', 'read'], label: 'a' })).toMatchObject({ ok: true, scopes: ['read', 'push'] });
    expect(createToken(store, 'alice', { scopes: ' read , admin', label: 'b' })).toMatchObject({ ok: true, scopes: ['read', 'admin'] });
    const listed = listTokens(store, 'alice');
    expect(listed.ok && listed.tokens.map((t) => [t.label, t.scopes.join(',')])).toEqual([
      ['default', 'read,push'],
      ['cli', 'read,push'],
      ['a', 'read,push'],
      ['b', 'read,admin'],
    ]);
  });

  it('names every problem with a token request at once, and checks the user last', () => {
    expect(createToken(store, 'nobody', { scopes: ['read', 'root'], label: 'x'.repeat(101) })).toEqual({
      ok: false,
      kind: 'invalid',
      problem: 'unknown scope "root": scopes are read, push, admin; label: at most 100 characters, no control characters',
    });
    expect(createToken(store, 'nobody', { scopes: [], label: 'a\nb' })).toMatchObject({
      kind: 'invalid',
      problem: expect.stringMatching(/^no scopes given.*; label:/),
    });
    expect(createToken(store, 'nobody', { label: 'ok' })).toEqual({ ok: false, kind: 'missing', problem: 'no user nobody' });
    expect(createToken(store, 'cache', { label: 'ok' })).toMatchObject({ kind: 'invalid', problem: 'user name "cache" is reserved' });
    expect(listTokens(store, 'nobody')).toMatchObject({ kind: 'missing' });
  });

  it('revokes a token by id, given as a number or as text', () => {
    addUser(store, 'alice');
    const t = createToken(store, 'alice', { label: 'x' });
    if (!t.ok) throw new Error(t.problem);
    expect(revokeToken(store, String(t.id))).toEqual({ ok: true, id: t.id });
    expect(store.accounts.tokenByHash(hashToken(t.token))).toBeUndefined();
    expect(revokeToken(store, t.id)).toEqual({ ok: false, kind: 'missing', problem: `no token ${t.id}` });
    for (const bad of ['12abc', '0', '-1', '', '1'.repeat(16)]) expect(revokeToken(store, bad), bad).toMatchObject({ ok: false, kind: 'invalid' });
  });
});

describe('admin request bodies', () => {
  it('takes {"name"} and nothing else, naming the field that is wrong', () => {
    expect(parseRequest(NewUserRequest, { name: 'alice' })).toEqual({ ok: true, value: { name: 'alice' } });
    expect(parseRequest(NewUserRequest, { name: 5 })).toEqual({ ok: false, problems: ["name must be a string (the new user's name); got 5"] });
    expect(parseRequest(NewUserRequest, {})).toEqual({ ok: false, problems: ["name must be a string (the new user's name); got nothing"] });
    expect(parseRequest(NewUserRequest, { name: 'a', admin: true })).toEqual({ ok: false, problems: ['unknown field "admin": the fields are name'] });
    expect(parseRequest(NewUserRequest, ['alice'])).toMatchObject({ ok: false, problems: [expect.stringContaining('must be a JSON object')] });
    expect(parseRequest(NewUserRequest, null)).toMatchObject({ ok: false });
  });

  it('takes {"scopes": [...], "label"}, both optional, and lists every problem', () => {
    expect(parseRequest(NewTokenRequest, {})).toEqual({ ok: true, value: { label: 'api' } }); // the label's default is the schema's
    expect(parseRequest(NewTokenRequest, { scopes: ['read'], label: 'ci' })).toEqual({ ok: true, value: { scopes: ['read'], label: 'ci' } });
    expect(parseRequest(NewTokenRequest, { scopes: 'read,push', label: 7 })).toEqual({
      ok: false,
      problems: ['scopes must be a list of scope names, e.g. ["read", "push"]; got "read,push"', 'label must be a string; got 7'],
    });
    expect(parseRequest(NewTokenRequest, { scopes: [1] })).toMatchObject({ ok: false, problems: [expect.stringMatching(/^scopes must be/)] });
    expect(parseRequest(NewTokenRequest, { expires: 1, owner: 'x' })).toEqual({
      ok: false,
      problems: [
        'unknown field "expires": the fields are scopes, label, expires_in_days',
        'unknown field "owner": the fields are scopes, label, expires_in_days',
      ],
    });
  });
});
