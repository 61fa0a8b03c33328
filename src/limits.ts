import { escapeControls } from './util/controls.js';

/**
 * Limits both sides know: the server enforces them, the client CLI (which carries no server code) checks them
 * before it asks, so a typo is answered without a round trip.
 */
export const RETENTION_MAX_KEEP = 10_000;
export const RETENTION_MAX_DAYS = 3650;
/** Bytes of one build secret's value (a repo secret, or `codehub-build build --secret`). */
export const MAX_SECRET_BYTES = 64 * 1024;
/** A BuildKit secret id and a config `secrets:` entry: letters, digits and _, not starting with a digit. */
export const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** The shape of a platform string, os/arch[/variant] (`linux/amd64`, `linux/arm/v7`): parsePlatform then checks the parts. */
const PLATFORM_RE = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/;

/** A platform's parts, as an OCI index's `platform` object names them. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/**
 * The operating systems and architectures BuildKit's platform parser (containerd's `platforms`) accepts, with
 * the variants each architecture has: a typo such as `linux/amd46` is refused here, by name, instead of failing
 * deep inside the builder. `windows` is left out: BuildKit on Linux builds no Windows images.
 */
const PLATFORM_OSES = ['linux'];
const PLATFORM_ARCHES: Record<string, readonly string[]> = {
  amd64: ['v1', 'v2', 'v3', 'v4'],
  arm64: ['v8'],
  arm: ['v5', 'v6', 'v7'],
  '386': [],
  ppc64le: [],
  s390x: [],
  riscv64: [],
  mips64le: [],
  mips64: [],
  loong64: [],
};
/** What people write for an architecture, and the name BuildKit uses for it. */
const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', x86: '386', i386: '386', aarch64: 'arm64', armhf: 'arm', armel: 'arm' };

/**
 * Parses `os/arch[/variant]`; an error says what is wrong with it and, for a known alias (`linux/x86_64`,
 * `linux/aarch64`), which name to write instead. `arm64/v8` is arm64's only variant and is kept as written.
 */
export function parsePlatform(text: string): { ok: true; platform: Platform } | { ok: false; problem: string } {
  const quoted = JSON.stringify(text);
  if (!PLATFORM_RE.test(text)) return { ok: false, problem: `${quoted} is not a platform like linux/amd64 or linux/arm64 (os/architecture[/variant])` };
  const [os, architecture, variant] = text.split('/') as [string, string, string | undefined];
  if (!PLATFORM_OSES.includes(os))
    return { ok: false, problem: `${quoted}: the operating system ${JSON.stringify(os)} is not one BuildKit builds for here (linux)` };
  const alias = ARCH_ALIASES[architecture];
  if (alias) return { ok: false, problem: `${quoted}: write ${os}/${alias}${variant ? `/${variant}` : ''} (BuildKit's name for ${architecture})` };
  const variants = PLATFORM_ARCHES[architecture];
  if (!variants)
    return { ok: false, problem: `${quoted}: unknown architecture ${JSON.stringify(architecture)} (known: ${Object.keys(PLATFORM_ARCHES).join(', ')})` };
  if (variant !== undefined && !variants.includes(variant)) {
    return {
      ok: false,
      problem: `${quoted}: ${architecture} has ${variants.length ? `the variants ${variants.join(', ')}` : 'no variants'}, not ${JSON.stringify(variant)}`,
    };
  }
  return { ok: true, platform: { os, architecture, ...(variant ? { variant } : {}) } };
}

/** `os/arch[/variant]`, as BuildKit and `docker pull --platform` take it. */
export const formatPlatform = (p: Platform): string => [p.os, p.architecture, p.variant].filter(Boolean).join('/');

/** Variants BuildKit drops, or fills in, when it normalizes a platform (containerd's `platforms.Normalize`). */
const IMPLIED_VARIANT: Record<string, string> = { amd64: 'v1', arm64: 'v8', arm: 'v7' };

/**
 * The platform as BuildKit normalizes it: `linux/arm64/v8` is `linux/arm64`, `linux/amd64/v1` is `linux/amd64`
 * and `linux/arm` is `linux/arm/v7`. Two entries with one key would build the same image twice, so lists of
 * platforms compare by it.
 */
export function platformKey(p: Platform): string {
  const implied = IMPLIED_VARIANT[p.architecture];
  if (p.architecture === 'arm') return formatPlatform({ ...p, variant: p.variant ?? implied });
  return formatPlatform({ ...p, variant: p.variant === implied ? undefined : p.variant });
}

/**
 * What is wrong with a list of platforms, entry by entry: one BuildKit does not build for (parsePlatform's reason),
 * or a repeat as BuildKit reads them (`linux/arm64/v8` repeats `linux/arm64`), which would build the same platform
 * twice into one index; a repeat names both entries. `at(i)` names entry i as its list is written
 * (`platforms[1]`, `images[0].platforms[1]`). Empty when every entry is good.
 */
export function platformListProblems(list: readonly string[], at: (i: number) => string): { index: number; message: string }[] {
  const problems: { index: number; message: string }[] = [];
  const seen = new Map<string, number>();
  for (const [i, text] of list.entries()) {
    const parsed = parsePlatform(text);
    if (!parsed.ok) {
      problems.push({ index: i, message: `${at(i)}: ${parsed.problem}` });
      continue;
    }
    const key = platformKey(parsed.platform);
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, i);
      continue;
    }
    const again = list[first] === text ? 'is listed twice' : `is ${JSON.stringify(list[first])} again, as BuildKit reads it`;
    problems.push({ index: i, message: `${at(i)}: ${JSON.stringify(text)} ${again} (${at(first)} and ${at(i)})` });
  }
  return problems;
}

/**
 * A multi-platform image's platforms as one line's text, each with its own manifest's short digest
 * (`linux/amd64 sha256:0123456789ab…, linux/arm64 sha256:…`), control characters escaped: what `git push -o wait`
 * and the CLI print; null for an image of one platform (or an older server's answer, which has none).
 */
export function platformsText(platforms: readonly { platform: string; digest: string }[] | null | undefined): string | null {
  if (!platforms?.length) return null;
  return escapeControls(platforms.map((p) => `${p.platform} ${p.digest.slice(0, 19)}…`).join(', '));
}
