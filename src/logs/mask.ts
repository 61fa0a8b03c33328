import { escapeControls } from '../util/controls.js';

/** Build-arg names whose values are treated as secrets in logs, though args should never carry secrets. */
const SECRET_NAME = /(TOKEN|SECRET|PASSW(OR)?D|PASS|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH)/i;

/** Values shorter than this are not masked: they would blank out ordinary words and numbers. */
const MIN_MASKED = 4;

export const MASK = '***';

/** Whether a build arg's name says its value is a secret (`API_TOKEN`, `db_password`, …). */
export const isSecretArgName = (name: string): boolean => SECRET_NAME.test(name);

/** The values of a build that must not reach its log: secret values, and build args with secret-like names. */
export function secretValues(secrets: Record<string, string>, args: Record<string, string>): string[] {
  const argValues = Object.entries(args)
    .filter(([k]) => isSecretArgName(k))
    .map(([, v]) => v);
  return [...Object.values(secrets), ...argValues];
}

/**
 * Build args as they may be stored (the builds table, its WAL, backups): each non-empty value of a
 * secret-looking name replaced by `***`. The runner gets the real values back from where they live: the
 * commit's codehub-build.yaml for a push, the server's memory for an upload (as `--secret` values are held).
 */
export function storableArgs(args: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, isSecretArgName(k) && v !== '' ? MASK : v]));
}

/** The names of `args` whose values `storableArgs` replaced: the ones a runner must get back. */
export function maskedArgNames(args: Record<string, string>): string[] {
  return Object.entries(args)
    .filter(([k, v]) => isSecretArgName(k) && v === MASK)
    .map(([k]) => k);
}

/**
 * A function that replaces every occurrence of the values in a line with `***`. Longer values go first, so
 * a value containing another is masked whole; base64 forms are masked too, since build tools print them.
 */
export function masker(values: string[]): (text: string) => string {
  const forms = new Set<string>();
  for (const v of values) {
    if (v.length < MIN_MASKED) continue;
    forms.add(v);
    forms.add(Buffer.from(v).toString('base64').replace(/=+$/, ''));
    // Step names and errors reach the log with their control characters escaped (util/controls.ts).
    forms.add(escapeControls(v));
  }
  const list = [...forms].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (t) => t;
  return (text) => {
    let out = text;
    for (const f of list) if (out.includes(f)) out = out.split(f).join(MASK);
    return out;
  };
}

/** A build's resolved image config as it may be stored: its `args` through `storableArgs`. */
export function storableConfig(config: Record<string, unknown>): Record<string, unknown> {
  const args = config.args as Record<string, string> | undefined;
  return args && typeof args === 'object' ? { ...config, args: storableArgs(args) } : config;
}
