/** One image to build, with every default filled in: what a build stores as its resolved config. */
export interface ImageConfig {
  name: string;
  /** Folder inside the repo, normalized, '.' for the root; never leaves the repo. */
  context: string;
  /** Path relative to `context`, normalized; never leaves the context. */
  dockerfile: string;
  target: string | null;
  args: Record<string, string>;
  secrets: string[];
  /** Globs over branch and tag names; null builds every branch and tag. */
  branches: string[] | null;
  /** Globs over changed paths; null builds whatever changed. */
  paths: string[] | null;
  tags: string[];
  platforms: string[];
  timeoutSeconds: number | null;
  /** A newer push to the same branch and image cancels this image's older queued or running build. */
  cancelSuperseded: boolean;
  /** Set on a build's copy by `git push -o no-cache`, never by the file: run every step without cache. */
  noCache?: boolean;
  /** The image's vulnerability policy (`scan:`); absent when the file has none, as on builds stored before scanning. */
  scan?: ScanConfig;
}

/** The severities a policy can fail on, worst first; `none` fails on nothing. */
export const FAIL_ON = ['critical', 'high', 'medium', 'low', 'none'] as const;
export type FailOn = (typeof FAIL_ON)[number];

/** One accepted finding: by vulnerability id (or any alias), optionally only in one package, until a day, and why. */
export interface ScanAllowance {
  id: string;
  /** The package name as findings name it (for Debian and Alpine, the source package); absent: any package. */
  package?: string;
  /** `YYYY-MM-DD`, a real calendar date; the allowance holds through the end of that day, UTC. */
  until: string;
  reason: string;
}

/** An image's `scan:` key, defaults filled in but `failOn`, which is absent when the server's default applies. */
export interface ScanConfig {
  failOn?: FailOn;
  /** Findings with no fixed version do not block. */
  ignoreUnfixed: boolean;
  allow: ScanAllowance[];
  /** OpenVEX documents, repo-relative paths normalized like `paths` (never leaving the repo). */
  vex: string[];
}

export interface BuildConfig {
  version: 1;
  images: ImageConfig[];
}

/** A problem in the config file: where it is (1-based line and column) and what was expected. */
export interface ConfigProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export type ConfigResult = { ok: true; value: BuildConfig; warnings: ConfigProblem[] } | { ok: false; errors: ConfigProblem[]; warnings: ConfigProblem[] };

export const CONFIG_FILE = 'codehub-build.yaml';
export const DEFAULT_TAGS = ['{branch}', '{sha}'];
export const TAG_PLACEHOLDERS = ['branch', 'sha', 'short_sha', 'tag', 'build'] as const;

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}`;
}
