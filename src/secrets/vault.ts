/**
 * Repo secrets: set and listed by the repo's owner, read only by the runner, which hands them to BuildKit as
 * `--secret` and masks them in the log. At rest each value is AES-256-GCM under the data dir's secrets key,
 * with the repo and name as associated data, so a sealed value copied onto another secret's row does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SecretSource } from './source.js';
import { BadRequestError, NotFoundError, PayloadTooLargeError } from '../errors.js';
import type { Store } from '../store/store.js';
import { MAX_SECRET_BYTES, SECRET_NAME_RE } from '../limits.js';

const VERSION = 'v1:';

export class SecretError extends Error {}

/** Why a secret name or value is refused, or null. Never repeats the value. */
export function secretProblem(name: string, value?: Buffer): string | null {
  if (!SECRET_NAME_RE.test(name))
    return `secret name ${JSON.stringify(name.slice(0, 80))} is not valid: use letters, digits and _ (at most 64), not starting with a digit`;
  if (value !== undefined) {
    if (value.length === 0) return `secret ${name} is empty: pass its value on stdin`;
    if (value.length > MAX_SECRET_BYTES) return `secret ${name} is ${value.length} bytes; the limit is ${MAX_SECRET_BYTES}`;
  }
  return null;
}

export function seal(key: Buffer, repo: string, name: string, value: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`${repo}\0${name}`));
  const ct = Buffer.concat([cipher.update(value), cipher.final()]);
  return VERSION + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
}

/** The value, or throws SecretError if the sealed text was not made by `seal` with this key, repo and name. */
export function open(key: Buffer, repo: string, name: string, sealed: string): Buffer {
  if (!sealed.startsWith(VERSION)) throw new SecretError(`secret ${name} of ${repo} is stored in an unknown format`);
  const raw = Buffer.from(sealed.slice(VERSION.length), 'base64');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(`${repo}\0${name}`));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
  } catch {
    throw new SecretError(`secret ${name} of ${repo} cannot be decrypted with this server's key (<data>/secrets/secrets.key); set it again`);
  }
}

export class RepoSecrets implements SecretSource {
  constructor(
    private store: Store,
    private key: Buffer,
  ) {}

  /** Creates or replaces `name` in the repo `owner/repo` (whose row is made if the repo was never pushed). */
  set(owner: string, repo: string, name: string, value: Buffer): void {
    const problem = secretProblem(name, value);
    if (problem) throw value.length > MAX_SECRET_BYTES ? new PayloadTooLargeError(problem) : new BadRequestError(problem);
    const row = this.store.repos.ensure(owner, repo);
    this.store.secrets.put(row.id, name, seal(this.key, `${owner}/${repo}`, name, value));
  }

  list(owner: string, repo: string): { name: string; createdAt: string; updatedAt: string }[] {
    const row = this.store.repos.byName(owner, repo);
    return row ? this.store.secrets.list(row.id) : [];
  }

  remove(owner: string, repo: string, name: string): void {
    const problem = secretProblem(name);
    if (problem) throw new BadRequestError(problem);
    const row = this.store.repos.byName(owner, repo);
    if (!row || !this.store.secrets.delete(row.id, name)) throw new NotFoundError(`${owner}/${repo} has no secret ${name}`);
  }

  /** For the runner: the value of `name` for `repo` (owner/name), or undefined when it is not set. */
  get(repo: string, name: string): string | undefined {
    const [owner = '', repoName = ''] = repo.split('/');
    const row = this.store.repos.byName(owner, repoName);
    const sealed = row && this.store.secrets.sealed(row.id, name);
    return sealed === undefined ? undefined : open(this.key, repo, name, sealed).toString('utf8');
  }
}
