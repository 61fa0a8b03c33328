import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { QuotaCheck } from '../builds/enqueue.js';
import type { ImageConfig } from '../config/types.js';
import { BadRequestError, ConflictError, ContentMismatchError, ForbiddenError, NotFoundError, PayloadTooLargeError } from '../errors.js';
import type { Logger } from '../log.js';
import { isSecretArgName } from '../logs/mask.js';
import type { LogStore } from '../logs/store.js';
import type { Build, NewBuild, UploadBuild } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { StoredUpload, UploadStore } from '../store/uploads.js';
import { formatBytes } from '../units.js';
import { BlobError, BlobHashError, BlobIncompleteError, BlobTooLargeError, type BlobStore } from './blobs.js';
import type { HeldSecrets } from './held-secrets.js';
import { validateManifest } from './manifest.js';
import { checkBuildRequest, parseTag } from './request.js';
import { KeyedLock } from '../util/keyed-lock.js';
import { CONTROL_RE } from '../util/controls.js';

/** An upload never asked to build is dropped after this long (the workspace sends its manifest again). */
export const UPLOAD_TTL_MS = 24 * 3600_000;
/**
 * Uploads one owner may have waiting for their build request: a workspace sends one and builds it at once, so
 * more are abandoned tries (a Ctrl-C during the upload); the oldest go, and their files become trimmable.
 */
export const MAX_PENDING_UPLOADS = 4;
const MAX_FOLDER_BYTES = 255;
/** Upload indexes kept in memory for the blob requests that follow a manifest (one per file, often thousands). */
const INDEX_CACHE = 32;

export interface UploadServiceDeps {
  store: Store;
  uploads: UploadStore;
  blobs: BlobStore;
  logs: LogStore;
  held: HeldSecrets;
  runner: { notify(): void };
  quota?: QuotaCheck;
  log: Logger;
  /** The registry's host, as image references name it. */
  registry: string;
  maxQueuedPerOwner: number;
  /** CODEHUB_MAX_UPLOAD_BYTES. */
  maxBytes: number;
  /** CODEHUB_UPLOAD_CACHE: blob bytes kept per owner. */
  cacheBytes: number;
  /** A build recorded as ended at once (over quota or the queue limit). */
  onEnded?: (b: Build) => void;
}

/** What `begin` answers: the upload, and the blobs the workspace must send. */
export interface UploadStarted {
  upload: StoredUpload;
  missing: string[];
  missingBytes: number;
  expiresAt: string;
}

/**
 * Builds of uploaded folders (`codehub-build build`): a manifest in, the blobs the owner's store lacks, then one
 * build recorded and queued exactly as a push's builds are (queue limit, quota, fair claiming, the runner).
 */
export class UploadService {
  constructor(private deps: UploadServiceDeps) {}

  /** Records the manifest `body` ({ folder, entries }) of `owner`'s folder; says which blobs to send. */
  async begin(owner: string, body: unknown): Promise<UploadStarted> {
    const { deps } = this;
    const folder = (body as { folder?: unknown } | null)?.folder;
    // The folder's name is echoed into the build's log and pages: no control characters, no `.` or `..`.
    if (
      typeof folder !== 'string' ||
      !folder ||
      folder === '.' ||
      folder === '..' ||
      folder.includes('/') ||
      CONTROL_RE.test(folder) ||
      Buffer.byteLength(folder) > MAX_FOLDER_BYTES
    ) {
      throw new BadRequestError(
        'folder must be the uploaded folder\'s name (its last path component, not "." or "..", no control characters, at most 255 bytes)',
      );
    }
    // The tag the build will ask for, if given now: refused before any file moves rather than after.
    const tag = (body as { tag?: unknown }).tag;
    if (tag !== undefined) {
      const parsed = typeof tag === 'string' ? parseTag(tag, { caller: owner, registry: deps.registry }) : { problem: 'tag must be a string like "web:try1"' };
      if ('problem' in parsed) throw 'forbidden' in parsed && parsed.forbidden ? new ForbiddenError(parsed.problem) : new BadRequestError(parsed.problem);
    }
    const checked = validateManifest(body, { maxBytes: deps.maxBytes, setting: 'CODEHUB_MAX_UPLOAD_BYTES' });
    if (!checked.ok) {
      const message =
        checked.problems.length === 1
          ? checked.problems[0]!
          : `${checked.problems.length} problems in the manifest: ${checked.problems.slice(0, 3).join('; ')}${checked.problems.length > 3 ? '; …' : ''}`;
      throw checked.tooLarge ? new PayloadTooLargeError(message, { problems: checked.problems }) : new BadRequestError(message, { problems: checked.problems });
    }
    deps.uploads.sweep(new Date(Date.now() - UPLOAD_TTL_MS).toISOString());
    const dropped = deps.uploads.dropPending(owner, MAX_PENDING_UPLOADS - 1);
    if (dropped) deps.log.info('abandoned uploads dropped', { owner, dropped });
    const { upload, missing } = await this.exclusive(owner, async () => {
      // Recorded before the store is asked, and never while a trim runs: from now on a trim keeps these blobs.
      const created = deps.uploads.create(randomBytes(16).toString('hex'), owner, folder, checked.manifest);
      return { upload: created, missing: await deps.blobs.missing(owner, checked.manifest.blobs) };
    });
    const sizes = this.indexOf(upload);
    const missingBytes = missing.reduce((n, sha) => n + sizes.get(sha)!.size, 0);
    deps.log.info('upload started', { owner, upload: upload.id, folder, files: upload.files, bytes: upload.bytes, missing: missing.length, missingBytes });
    // Room for what is coming, before it comes: the owner's older files beyond the budget go now.
    if (missingBytes) this.trim(owner);
    return { upload, missing, missingBytes, expiresAt: new Date(Date.parse(upload.createdAt) + UPLOAD_TTL_MS).toISOString() };
  }

  /** Stores one file of the upload from `body`, checked against its hash and size as it is written. */
  async putBlob(
    owner: string,
    id: string,
    sha256: string,
    body: Readable,
    signal?: AbortSignal,
  ): Promise<{ sha256: string; size: number; stored: 'written' | 'present' }> {
    // One request per file: the upload's index comes from memory, not from parsing its manifest each time.
    const known = /^[0-9a-f]{32}$/.test(id) ? this.deps.uploads.ownerOf(id) : undefined;
    if (!known || known.owner !== owner) throw this.noUpload(id);
    const blob = this.indexOf(id).get(sha256);
    if (!blob) throw new BadRequestError(`${sha256} is not the sha256 of a file of upload ${id}`);
    const { size, path } = blob;
    try {
      return { sha256, size, stored: await this.deps.blobs.write(owner, sha256, size, body, signal) };
    } catch (e) {
      if (e instanceof BlobTooLargeError)
        throw new PayloadTooLargeError(
          `${path}: more than the ${size} bytes the manifest gave (${formatBytes(size)}): did it change while uploading? run the build again`,
        );
      if (e instanceof BlobHashError)
        throw new ContentMismatchError(`${path} changed while it was uploaded (its bytes are not the sha256 the manifest gave): run the build again`);
      if (e instanceof BlobIncompleteError) throw new ContentMismatchError(`${path}: ${e.message.replace(/^blob \w+: /, '')}`);
      if (e instanceof BlobError) throw new BadRequestError(e.message);
      throw e;
    }
  }

  /** Records and queues the build of the upload (`body` is the request request.ts checks). */
  async build(owner: string, id: string, body: unknown): Promise<Build> {
    const { deps } = this;
    const upload = this.uploadOf(owner, id);
    if (upload.buildId !== null) throw new ConflictError(`upload ${id} was built already, as build #${upload.buildId}`);
    const checked = checkBuildRequest(body, { caller: owner, registry: deps.registry, folder: upload.folder, entries: upload.entries });
    if (!checked.ok) {
      const message = checked.problems.join('; ');
      throw checked.forbidden ? new ForbiddenError(message, { problems: checked.problems }) : new BadRequestError(message, { problems: checked.problems });
    }
    const missing = await deps.blobs.missing(owner, this.indexOf(upload).keys());
    if (missing.length)
      throw new ConflictError(
        `${missing.length} file${missing.length === 1 ? ' is' : 's are'} not uploaded yet: PUT each to /api/uploads/${id}/blobs/<sha256>`,
        { missing },
      );

    const req = checked.value;
    const image: ImageConfig = {
      name: req.name,
      context: '.',
      dockerfile: req.dockerfile,
      target: req.target,
      args: req.args,
      secrets: Object.keys(req.secrets),
      branches: null,
      paths: null,
      tags: [req.tag],
      platforms: req.platforms,
      timeoutSeconds: null,
      // Two tries of the same folder both run, as two `docker build`s would.
      cancelSuperseded: false,
      ...(req.noCache ? { noCache: true } : {}),
    };
    const repo = `${owner}/${req.name}`;
    const limit = this.limitReason(owner) ?? (await this.quotaReason(repo));
    const row: NewBuild = {
      source: 'upload',
      repo,
      owner,
      image: req.name,
      config: image as unknown as Record<string, unknown>,
      pusher: owner,
      uploadId: upload.id,
      uploadFolder: upload.folder,
      contextBytes: upload.bytes,
      ...(limit
        ? { status: limit.code === 'quota' ? 'failed' : 'skipped', reason: limit.reason, reasonCode: limit.code, finishedAt: new Date().toISOString() }
        : { status: 'queued' }),
    };
    const ref = `${deps.registry}/${repo}:${req.tag}`;
    // The build and its upload's link in one transaction: a second request for the same upload finds it built.
    // Its secrets are held before the build can be claimed (the runner may take it the moment it commits).
    let heldFor: number | null = null;
    const record = () =>
      deps.store.transaction(() => {
        const [inserted] = deps.store.builds.insert<UploadBuild>([row], () => [ref]);
        if (!deps.uploads.attach(upload.id, inserted!.id)) throw new ConflictError(`upload ${id} was built already`);
        if (!limit) deps.held.hold((heldFor = inserted!.id), req.secrets, secretArgs(req.args));
        return inserted!;
      });
    let built: UploadBuild;
    try {
      built = record();
    } catch (e) {
      if (heldFor !== null) deps.held.drop(heldFor);
      throw e;
    }
    this.index.delete(upload.id);
    await deps.logs.append(built.id, [
      `build #${built.id}: folder ${upload.folder} uploaded by ${owner} (${upload.files} file${upload.files === 1 ? '' : 's'}, ${formatBytes(upload.bytes)}) -> ${ref}`,
      ...(limit ? [limit.reason] : []),
    ]);
    deps.log.info('upload build recorded', { build: built.id, owner, upload: upload.id, image: ref, status: built.status });
    if (limit) {
      deps.onEnded?.(built);
      return built;
    }
    deps.runner.notify();
    return built;
  }

  /**
   * Trims the owner's blobs to CODEHUB_UPLOAD_CACHE, in the background, never beside a `begin` of the same owner
   * (which could be told a blob is present that the trim is about to remove). Live uploads' blobs are kept.
   */
  private trim(owner: string): void {
    const { deps } = this;
    void this.exclusive(owner, () => deps.blobs.trim(owner, deps.cacheBytes, deps.uploads.blobsInUse(owner)))
      .then((t) => {
        if (t.removed) deps.log.info('upload store trimmed', { owner, removed: t.removed, freedBytes: t.freedBytes, keptBytes: t.keptBytes });
      })
      .catch((e: Error) => deps.log.warn('trimming the upload store failed', { owner, err: e }));
  }

  /** Runs `fn` when nothing else of `owner`'s runs under this lock (each owner's blob store has one). */
  private exclusive<T>(owner: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(owner, fn);
  }

  private locks = new KeyedLock();

  /** Each file content of the upload once, with its size and a path that has it; kept for the blob requests. */
  private indexOf(upload: StoredUpload | string): Map<string, { size: number; path: string }> {
    const id = typeof upload === 'string' ? upload : upload.id;
    let index = this.index.get(id);
    if (index) return index;
    const stored = typeof upload === 'string' ? this.deps.uploads.get(id) : upload;
    index = new Map();
    for (const e of stored?.entries ?? []) if (e.sha256 !== undefined && !index.has(e.sha256)) index.set(e.sha256, { size: e.size, path: e.path });
    this.index.set(id, index);
    // Insertion order is age: the oldest index goes first (rebuilt from the database if it is asked for again).
    if (this.index.size > INDEX_CACHE) this.index.delete(this.index.keys().next().value!);
    return index;
  }

  private index = new Map<string, Map<string, { size: number; path: string }>>();

  /** The upload if `owner` sent it; another user's is not admitted to exist. */
  private uploadOf(owner: string, id: string): StoredUpload {
    const upload = /^[0-9a-f]{32}$/.test(id) ? this.deps.uploads.get(id) : undefined;
    if (!upload || upload.owner !== owner) throw this.noUpload(id);
    return upload;
  }

  private noUpload(id: string): NotFoundError {
    return new NotFoundError(
      `no upload ${id.slice(0, 64)}: it expired (a day), its build ended, it was replaced by newer ones (at most ${MAX_PENDING_UPLOADS} wait for their build), or it was never sent; run codehub-build build again`,
    );
  }

  private limitReason(owner: string): { code: string; reason: string } | null {
    const max = this.deps.maxQueuedPerOwner;
    if (this.deps.store.queue.queuedOf(owner) < max) return null;
    return {
      code: 'queue_full',
      reason: `not queued: ${owner} has ${max} builds queued already (CODEHUB_MAX_QUEUED_PER_OWNER); cancel some or build again once they ran`,
    };
  }

  private async quotaReason(repo: string): Promise<{ code: string; reason: string } | null> {
    const verdict = this.deps.quota ? await this.deps.quota.check(repo) : null;
    return verdict?.over ? { code: 'quota', reason: verdict.reason } : null;
  }
}

/** The build args whose values the database never holds (mask.ts storableArgs): held in memory instead. */
function secretArgs(args: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(args).filter(([k]) => isSecretArgName(k)));
}
