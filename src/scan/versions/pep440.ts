/**
 * PyPI's version order: PEP 440, as `@renovatebot/pep440` (a port of Python's `packaging.version`) computes it.
 *
 * `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`, with PEP 440's alternative spellings (`1.0-alpha1`, `1.0c1`,
 * `1.0-1` for a post release, a leading `v`, any case). Epoch first, then the release numbers with trailing zeros
 * dropped (`1.0` is `1`), then a dev release before its pre-releases before the release before its post releases
 * (`1.0.dev0` < `1.0a1` < `1.0` < `1.0.post1`), then the local label (`1.0` < `1.0+local`). Whitespace around the
 * version is dropped, as `packaging` does. A version outside PEP 440 (`2004d`, `1.0-beta-2-x`, `latest`) is not
 * comparable: legacy versions have no order under PEP 440, and pip itself no longer accepts them.
 */
import { compare, type Pep440Version, parse } from '@renovatebot/pep440';
import type { Parsed } from '../../units.js';

export interface PypiVersion {
  /** The version as given, trimmed: the library compares strings, and this one is known to parse. */
  readonly text: string;
  readonly parts: Pep440Version;
}

/** The version's parts, or a sentence naming the version and why it is not a PEP 440 version. */
export function parsePypiVersion(text: string): Parsed<PypiVersion> {
  const trimmed = text.trim();
  const parts = parse(trimmed);
  if (!parts) {
    return { ok: false, problem: `${JSON.stringify(text)} is not a PEP 440 version (e.g. 1.2.3, 2.0rc1, 1.0.post1, 1!2.0, 1.0+local): it is not compared` };
  }
  return { ok: true, value: { text: trimmed, parts } };
}

/** Negative, zero or positive as `a` orders before, with or after `b`. */
export function comparePypiVersions(a: PypiVersion, b: PypiVersion): number {
  return compare(a.text, b.text);
}
