/**
 * The environment git child processes get: PATH and HOME only, plus `extra`. A clean environment keeps the
 * server's own secrets and any GIT_* variables of the operator's shell out of git and its hooks.
 */
export function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
  return { ...env, GIT_CONFIG_NOSYSTEM: '1', ...extra };
}
