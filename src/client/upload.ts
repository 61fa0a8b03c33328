/**
 * The workspace folder sent as a build's context: walked (context-walk.ts: .dockerignore applied, every file
 * hashed), its manifest sent (`POST /api/uploads`), only the blobs the server lacks uploaded, streamed from disk,
 * and the build asked for (`POST /api/uploads/:id/build`).
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { BuildAnswer as BuildView, UploadStartedAnswer as UploadView } from '../api/answers.js';
import { formatBytes } from '../units.js';
import { mapLimit } from '../util/map-limit.js';
import type { BuildPlan, BuildRequest } from './build-args.js';
import { Progress, type BuildIo } from './build-io.js';
import { walkContext, type WalkEntry, type WalkResult } from './context-walk.js';
import { ClientError } from './errors.js';
import { BodyError } from './http.js';
import { request, sendJson, type ClientConfig } from './rest.js';

/** Blob uploads at once: enough to hide each request's round trip, few enough not to crowd a shared server. */
const UPLOAD_CONCURRENCY = 4;

type Walked = Extract<WalkResult, { ok: true }>;

/** An upload whose blobs are all on the server, and the walk it was made from. */
export interface SentContext {
  walk: Walked;
  upload: UploadView;
  /** One path per content: what to read to upload a blob. */
  blobs: Map<string, WalkEntry>;
  root: string;
}

/** A file no longer had the content the walk hashed when it was uploaded. */
class ChangedFile extends Error {
  constructor(
    readonly path: string,
    readonly serverSaid?: string,
  ) {
    super(`${path} changed while it was uploaded`);
  }
}

/**
 * Walks the folder, sends the manifest and uploads the missing blobs. A file that changed since the walk (the
 * server's hash check, or a length that moved) costs one more walk, which the hash cache makes cheap; a second
 * change is reported, since something keeps writing it.
 */
export async function sendContext(cfg: ClientConfig, plan: BuildPlan, io: BuildIo): Promise<SentContext> {
  for (let attempt = 1; ; attempt++) {
    const walk = await walkFolder(plan, io);
    const blobs = new Map<string, WalkEntry>();
    for (const e of walk.entries) if (e.sha256 && !blobs.has(e.sha256)) blobs.set(e.sha256, e);
    const upload = await createUpload(cfg, plan.folder, plan.request.tag, walk);
    const sent: SentContext = { walk, upload, blobs, root: plan.context };
    try {
      const bytes = await uploadBlobs(cfg, sent, upload.missing, io);
      const files = walk.entries.filter((e) => e.sha256 !== undefined).length;
      io.stderr.write(
        `context: ${files} files, ${formatBytes(walk.totalBytes)} (${formatBytes(bytes)} uploaded, ${formatBytes(Math.max(0, walk.totalBytes - bytes))} already on the server)\n`,
      );
      return sent;
    } catch (e) {
      if (!(e instanceof ChangedFile)) throw e;
      if (attempt === 2) {
        // The server's own words only when they say something else (a 400 that was not about the content).
        const said = e.serverSaid && !e.serverSaid.includes('changed') ? `\n  the server said: ${e.serverSaid}` : '';
        throw new ClientError(`${e.message}: wait for what writes it to finish (or add it to .dockerignore) and run again${said}`);
      }
      io.stderr.write(`${e.path} changed since the folder was read: reading the folder again\n`);
    }
  }
}

/** The folder as a context, with progress; its problems (a missing Dockerfile, an unreadable file) end the command. */
async function walkFolder(plan: BuildPlan, io: BuildIo): Promise<Walked> {
  const progress = new Progress(io);
  const walk = await walkContext(plan.context, {
    dockerfile: plan.dockerfile,
    ...(io.cacheDir !== undefined ? { cacheDir: io.cacheDir } : {}),
    onProgress: (files, bytes) => progress.update(`reading context: ${files} files, ${formatBytes(bytes)}`),
  });
  progress.clear();
  if (!walk.ok) throw new ClientError(walk.problem);
  if (walk.skipped.length) {
    const some = walk.skipped
      .slice(0, 3)
      .map((s) => `${s.path} (${s.kind})`)
      .join(', ');
    io.stderr.write(`left out ${walk.skipped.length} special file(s) a context cannot hold: ${some}${walk.skipped.length > 3 ? ', …' : ''}\n`);
  }
  if (walk.cacheProblem) io.stderr.write(`codehub-build: ${walk.cacheProblem} (the next build reads every file again)\n`);
  return walk;
}

/**
 * `POST /api/uploads`: the manifest exactly as walked; the answer names the blobs to upload. The tag goes too, so
 * that one the server refuses (another namespace) is refused before a file is uploaded.
 */
async function createUpload(cfg: ClientConfig, folder: string, tag: string | undefined, walk: Walked): Promise<UploadView> {
  try {
    return await sendJson<UploadView>(cfg, '/api/uploads', 'POST', { folder, ...(tag !== undefined ? { tag } : {}), entries: walk.entries });
  } catch (e) {
    throw withProblems(e);
  }
}

/** An error's `details.problems` (a manifest's bad entries, a build request's bad flags) added to its message, one a line. */
function withProblems(e: unknown): unknown {
  const problems = e instanceof ClientError ? (e.details as { problems?: unknown } | undefined)?.problems : undefined;
  if (!(e instanceof ClientError) || !Array.isArray(problems) || problems.length === 0) return e;
  const lines = problems
    .map((p) => {
      if (typeof p === 'string') return p;
      const o = p as { path?: unknown; problem?: unknown; message?: unknown };
      const what = o.problem ?? o.message;
      return typeof what === 'string' ? (typeof o.path === 'string' ? `${o.path}: ${what}` : what) : JSON.stringify(p);
    })
    .filter((l) => !e.message.includes(l)); // the message may quote the first few already
  if (lines.length === 0) return e;
  return new ClientError(`${e.message}\n${lines.map((l) => `  ${l}`).join('\n')}`, e.status, e.code, e.details);
}

/** Uploads the blobs `missing` names, UPLOAD_CONCURRENCY at a time; returns the bytes sent. */
async function uploadBlobs(cfg: ClientConfig, sent: SentContext, missing: string[], io: BuildIo): Promise<number> {
  const entries = missing.map((sha) => {
    const e = sent.blobs.get(sha);
    if (!e) throw new ClientError(`the server asked for a blob that is not in this folder (${sha}): is it a server of this version?`);
    return e;
  });
  const totalBytes = entries.reduce((n, e) => n + e.size, 0);
  const progress = new Progress(io);
  let files = 0;
  let bytes = 0;
  const show = () => progress.update(`uploading context: ${files} of ${entries.length} files, ${formatBytes(bytes)} of ${formatBytes(totalBytes)}`);
  let done = 0;
  try {
    await mapLimit(entries, UPLOAD_CONCURRENCY, async (entry) => {
      await uploadBlob(cfg, sent.upload.id, entry, join(sent.root, entry.path), (n) => {
        bytes += n;
        show();
      });
      files++;
      done += entry.size;
      show();
    });
  } finally {
    progress.clear();
  }
  return done;
}

/** `PUT /api/uploads/:id/blobs/:sha256`, the file streamed from disk. */
async function uploadBlob(cfg: ClientConfig, uploadId: string, entry: WalkEntry, abs: string, onProgress: (bytes: number) => void): Promise<void> {
  const sha = entry.sha256!;
  try {
    const res = await request(
      cfg,
      `/api/uploads/${encodeURIComponent(uploadId)}/blobs/${sha}`,
      'PUT',
      { stream: createReadStream(abs, { highWaterMark: 256 * 1024 }), length: entry.size, onProgress },
      'application/octet-stream',
    );
    await res.text(); // read the answer to its end, so the connection serves the next blob
  } catch (e) {
    if (e instanceof BodyError) {
      // Gone, shorter or longer than walked: changed. Unreadable now though it was read a moment ago: say why.
      const code = (e.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code && code !== 'ENOENT') throw new ClientError(`cannot read ${entry.path}: ${(e.cause as Error).message}`);
      throw new ChangedFile(entry.path);
    }
    // The server says the bytes are not the ones walked (hash, or more or fewer than the size): the file changed.
    // Any other refusal is its own error, said as the server said it.
    if (e instanceof ClientError && (e.code === 'content_mismatch' || e.status === 413)) throw new ChangedFile(entry.path, e.message);
    throw e;
  }
}

/**
 * `POST /api/uploads/:id/build`. A 409 naming missing blobs (the server let some go since the manifest was
 * sent) is answered by uploading them and asking once more.
 */
export async function requestBuild(cfg: ClientConfig, sent: SentContext, body: BuildRequest, io: BuildIo): Promise<BuildView> {
  const path = `/api/uploads/${encodeURIComponent(sent.upload.id)}/build`;
  try {
    return await sendJson<BuildView>(cfg, path, 'POST', body);
  } catch (e) {
    const missing = e instanceof ClientError && e.status === 409 ? (e.details as { missing?: unknown } | undefined)?.missing : undefined;
    if (!Array.isArray(missing) || !missing.every((m) => typeof m === 'string')) throw withProblems(e);
    try {
      await uploadBlobs(cfg, sent, missing, io);
    } catch (u) {
      if (u instanceof ChangedFile) throw new ClientError(`${u.message}: run again`);
      throw u;
    }
    return await sendJson<BuildView>(cfg, path, 'POST', body);
  }
}
