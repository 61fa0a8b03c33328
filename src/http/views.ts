import type { Build } from '../store/schema.js';

/** A build as the API returns it (snake_case, stable field names). */
export function buildView(b: Build, publicUrl: string) {
  return {
    id: b.id,
    repo: b.repo,
    ref: b.ref,
    ref_type: b.refType,
    ref_name: b.refName,
    commit: b.commitSha,
    image: b.image,
    image_refs: b.imageRefs,
    digest: b.digest,
    status: b.status,
    reason: b.reason,
    reason_code: b.reasonCode,
    pusher: b.pusher,
    queued_at: b.queuedAt,
    started_at: b.startedAt,
    finished_at: b.finishedAt,
    attempts: b.attempts,
    builder: b.builder,
    config: b.config,
    log_url: `${publicUrl}/api/builds/${b.id}/log`,
  };
}
export type BuildView = ReturnType<typeof buildView>;
