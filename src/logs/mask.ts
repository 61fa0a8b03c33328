/** Build-arg names whose values are treated as secrets in logs, though args should never carry secrets. */
const SECRET_NAME = /(TOKEN|SECRET|PASSW(OR)?D|PASS|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH)/i;

/** Values shorter than this are not masked: they would blank out ordinary words and numbers. */
const MIN_MASKED = 4;

export const MASK = '***';

/** The values of a build that must not reach its log: secret values, and build args with secret-like names. */
export function secretValues(secrets: Record<string, string>, args: Record<string, string>): string[] {
  const argValues = Object.entries(args).filter(([k]) => SECRET_NAME.test(k)).map(([, v]) => v);
  return [...Object.values(secrets), ...argValues];
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
  }
  const list = [...forms].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (t) => t;
  return (text) => {
    let out = text;
    for (const f of list) if (out.includes(f)) out = out.split(f).join(MASK);
    return out;
  };
}
