// A leaf with no imports: the API's answer shapes name the actions, and the code-server extension type-checks
// those shapes without the store below auth/audit.ts.

/**
 * What the audit log records (DESIGN.md, "Identity and access"). One name per kind of event, so a filter by
 * action finds all of them whichever door (CLI, API, web page) the event came through.
 */
export const AUDIT_ACTIONS = [
  'sign_in',
  'sign_out',
  'user.create',
  'user.remove',
  'token.create',
  'token.revoke',
  'pull_token.create',
  'pull_token.revoke',
  'secret.set',
  'secret.remove',
  'repo.share',
  'repo.unshare',
  'repo.retention',
  'user.quota',
  'repo.upstream.link',
  'repo.upstream.unlink',
  'image.remove',
  'gc.remove',
  'build.cancel',
  'build.rebuild',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
