import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { Access } from '../auth/access.js';
import type { ContextSource } from '../builder/driver.js';
import type { ImageConfig } from '../config/types.js';
import { submoduleResolver } from '../context/submodules.js';
import { UploadTree } from '../context/upload-tree.js';
import { gitEnv } from '../git/env.js';
import type { RepoStore } from '../git/repos.js';
import type { PushBuild, UploadBuild } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { UploadStore } from '../store/uploads.js';
import type { BlobStore } from '../uploads/blobs.js';
import { imageLabels, uploadLabels } from '../images/tags.js';

/**
 * A build's context made ready for its driver: the tar every driver can read, and the source a driver that
 * serves the context itself (a BuildKit session) reads instead, leaving the tar unread.
 */
export interface PreparedContext {
  context: Readable;
  source: ContextSource;
  labels: Record<string, string>;
  /** A line for the log of a failed build (what `git archive` said), or null. */
  failureNote(): string | null;
  /** Stops producing the tar (called once the build ended). */
  close(): void;
}

export interface ContextDeps {
  store: Store;
  repos: RepoStore;
  publicUrl: string;
  /** Where uploaded folders are; absent, an upload's build fails saying so. */
  uploads?: { store: UploadStore; blobs: BlobStore };
}

/** What a build's pusher may read, for its submodules: their own user's rights (src/auth/access.ts). */
function readerOf(store: Store): (pusher: string, owner: string, repo: string) => boolean | 'no such user' {
  const access = new Access(store);
  return (pusher, owner, repo) => access.userMayRead(pusher, owner, repo);
}

/** A pushed commit's context folder: `git archive <sha>:<context>` straight into the client, no checkout. */
export function commitContext(deps: ContextDeps, b: PushBuild, image: ImageConfig): PreparedContext {
  const [owner, repo] = b.repo.split('/') as [string, string];
  const gitDir = deps.repos.path(owner, repo);
  const treeish = image.context === '.' ? b.commitSha : `${b.commitSha}:${image.context}`;
  const archive = spawn('git', ['--git-dir', gitDir, 'archive', '--format=tar', treeish], { env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  // Piped at once into a stream the driver reads when it is ready: a small archive's git exits within
  // milliseconds, and Node then resumes (discards) a child's stdout that nothing reads yet. A driver that
  // awaits anything first (a docker config with the build's credential, a context folder) got an empty
  // context, and buildx took that for a Dockerfile ("no local sources enabled").
  const context = archive.stdout.pipe(new PassThrough());
  let stderr = '';
  archive.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return {
    context,
    // Submodules are read from this server's repos, as far as the build's pusher may read them.
    source: {
      kind: 'commit',
      gitDir,
      commit: b.commitSha,
      dir: image.context,
      repo: b.repo,
      submodules: submoduleResolver({ canRead: readerOf(deps.store), repos: deps.repos, publicUrl: deps.publicUrl }, b.pusher),
    },
    labels: imageLabels({ sha: b.commitSha, sourceUrl: `${deps.publicUrl}/git/${b.repo}.git`, refName: b.refName, buildId: b.id, created: new Date() }),
    failureNote: () => (stderr ? `git archive: ${stderr.trim()}` : null),
    close: () => {
      if (archive.exitCode === null) archive.kill();
    },
  };
}

/**
 * An uploaded folder: its manifest's entries over the owner's blob store. The session serves it under a key
 * per (owner, folder), so the builder is sent only what changed since it last built that folder; the tar of the
 * same files is made only if a driver reads it. A problem instead when the upload is no longer here.
 */
export function uploadContext(deps: ContextDeps, b: UploadBuild): PreparedContext | { problem: string } {
  const upload = deps.uploads?.store.get(b.uploadId);
  if (!deps.uploads || !upload) return { problem: `the uploaded folder ${b.uploadFolder} is no longer on the server: run codehub-build build in it again` };
  const tree = new UploadTree(deps.uploads.blobs, b.owner, { entries: upload.entries, totalBytes: upload.bytes, blobs: [] });
  const abort = new AbortController();
  const context = tree.tar(abort.signal);
  return {
    context,
    source: { kind: 'upload', tree, key: `${b.owner}:${upload.folder}`, label: `${b.owner}'s folder ${upload.folder}` },
    labels: uploadLabels({ folder: upload.folder, buildId: b.id, created: new Date() }),
    failureNote: () => null,
    close: () => {
      abort.abort();
      context.destroy();
    },
  };
}
