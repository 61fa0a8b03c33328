/** Where a value came from, so messages can say which one to fix. */
export type Source = 'setting' | 'env';

export interface Settings {
  /** The server's base URL without a trailing slash, or '' when neither the setting nor the env has one. */
  url: string;
  token: string;
  urlFrom?: Source;
  tokenFrom?: Source;
  /** What is not configured anywhere, named the way the user sets it. */
  missing: Array<'url' | 'token'>;
}

/** The setting's and env's name for each value: status texts and tooltips tell the user these. */
export const NAMES = {
  url: { setting: 'codehub-build.url', env: 'CODEHUB_URL' },
  token: { setting: 'codehub-build.token', env: 'CODEHUB_TOKEN' },
} as const;

/**
 * The URL and token to use: a setting wins when it is set (not empty); otherwise the environment a workspace
 * pod is given (CODEHUB_URL, CODEHUB_TOKEN).
 */
export function resolveSettings(configured: { url?: string; token?: string }, env: Record<string, string | undefined>): Settings {
  const pick = (setting: string | undefined, envValue: string | undefined): { value: string; from?: Source } => {
    if (setting?.trim()) return { value: setting.trim(), from: 'setting' };
    if (envValue?.trim()) return { value: envValue.trim(), from: 'env' };
    return { value: '' };
  };
  const url = pick(configured.url, env.CODEHUB_URL);
  const token = pick(configured.token, env.CODEHUB_TOKEN);
  const s: Settings = { url: url.value.replace(/\/+$/, ''), token: token.value, missing: [] };
  if (url.from) s.urlFrom = url.from;
  else s.missing.push('url');
  if (token.from) s.tokenFrom = token.from;
  else s.missing.push('token');
  return s;
}
