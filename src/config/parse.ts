import { posix } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { platformListProblems } from '../limits.js';
import { nameProblem } from '../names.js';
import {
  CONFIG_FILE,
  DEFAULT_TAGS,
  FAIL_ON,
  type FailOn,
  TAG_PLACEHOLDERS,
  type BuildConfig,
  type ConfigProblem,
  type ConfigResult,
  type ImageConfig,
  type ScanAllowance,
  type ScanConfig,
} from './types.js';

export const MAX_CONFIG_BYTES = 64 * 1024;
const MAX_IMAGES = 32;
const IMAGE_KEYS = [
  'name',
  'context',
  'dockerfile',
  'target',
  'args',
  'secrets',
  'branches',
  'paths',
  'tags',
  'platforms',
  'timeout',
  'cancel_superseded',
  'scan',
];
const SCAN_KEYS = ['fail_on', 'ignore_unfixed', 'allow', 'vex'];
const ALLOW_KEYS = ['id', 'package', 'until', 'reason'];
const MAX_ALLOWANCES = 256;
const MAX_VEX_DOCUMENTS = 32;
const ARG_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TARGET_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const MAX_TIMEOUT_S = 24 * 3600;

/**
 * Parses and validates codehub-build.yaml. Never throws: every problem found is returned with its line and
 * column, so one push reports all of them at once. `repoName` is the default image name.
 */
export function parseConfig(text: string, repoName: string, file = CONFIG_FILE): ConfigResult {
  const errors: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    return { ok: false, errors: [{ file, line: 1, column: 1, message: `file is larger than ${MAX_CONFIG_BYTES} bytes` }], warnings };
  }
  const lc = new LineCounter();
  // The AST is walked as it is and aliases are never expanded, so an alias bomb costs nothing: an alias
  // where a value belongs is reported as the wrong type.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined, message: string): ConfigProblem => {
    const pos = lc.linePos(offset ?? 0);
    return { file, line: pos.line, column: pos.col, message };
  };
  for (const e of doc.errors) errors.push(at(e.pos[0], e.message.split('\n')[0]!));
  for (const w of doc.warnings) warnings.push(at(w.pos[0], w.message.split('\n')[0]!));
  if (errors.length) return { ok: false, errors, warnings };

  const v = new Validator(at, errors);
  const root = doc.contents;
  if (!isMap(root)) {
    errors.push(at(root?.range?.[0], 'expected a mapping with keys "version" and "images"'));
    return { ok: false, errors, warnings };
  }
  v.unknownKeys(root, ['version', 'images'], 'top level');
  const version = root.get('version', true) as Node | undefined;
  if (version === undefined) errors.push(at(root.range?.[0], 'missing key "version" (expected: version: 1)'));
  else if (!isScalar(version) || version.value !== 1) errors.push(at(version.range?.[0], 'expected version: 1'));

  const imagesNode = root.get('images', true) as Node | undefined;
  const images: ImageConfig[] = [];
  if (imagesNode === undefined) errors.push(at(root.range?.[0], 'missing key "images" (expected a list of images)'));
  else if (!isSeq(imagesNode) || imagesNode.items.length === 0) errors.push(at(imagesNode.range?.[0], 'expected "images" to be a non-empty list'));
  else if (imagesNode.items.length > MAX_IMAGES) errors.push(at(imagesNode.range?.[0], `at most ${MAX_IMAGES} images`));
  else {
    const seen = new Map<string, number>();
    imagesNode.items.forEach((item, i) => {
      const img = v.image(item as Node, i, repoName);
      if (!img) return;
      if (seen.has(img.name)) {
        errors.push(at((item as Node).range?.[0], `image name "${img.name}" is used twice (images ${seen.get(img.name)! + 1} and ${i + 1})`));
      }
      seen.set(img.name, i);
      images.push(img);
    });
  }
  if (errors.length) return { ok: false, errors, warnings };
  const value: BuildConfig = { version: 1, images };
  return { ok: true, value, warnings };
}

/** The resolved config for a repo without codehub-build.yaml: the root Dockerfile as image `<repo>`. */
export function defaultConfig(repoName: string): BuildConfig {
  return { version: 1, images: [defaultImage(repoName)] };
}

function defaultImage(name: string): ImageConfig {
  return {
    name,
    context: '.',
    dockerfile: 'Dockerfile',
    target: null,
    args: {},
    secrets: [],
    branches: null,
    paths: null,
    tags: [...DEFAULT_TAGS],
    platforms: [],
    timeoutSeconds: null,
    cancelSuperseded: true,
  };
}

type At = (offset: number | undefined, message: string) => ConfigProblem;

class Validator {
  constructor(
    private at: At,
    private errors: ConfigProblem[],
  ) {}

  private err(node: Node | undefined | null, message: string): undefined {
    this.errors.push(this.at(node?.range?.[0], message));
    return undefined;
  }

  unknownKeys(map: YAMLMap, allowed: string[], where: string): void {
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined || !allowed.includes(key)) {
        this.err(pair.key as Node, `unknown key ${JSON.stringify(key ?? '?')} at ${where} (expected one of: ${allowed.join(', ')})`);
      }
    }
  }

  image(node: Node, i: number, repoName: string): ImageConfig | undefined {
    const where = `images[${i}]`;
    if (!isMap(node)) return this.err(node, `${where}: expected a mapping (e.g. "- dockerfile: Dockerfile")`);
    this.unknownKeys(node, IMAGE_KEYS, where);
    const before = this.errors.length;
    const get = (k: string) => node.get(k, true) as Node | undefined;
    const img = defaultImage(repoName);

    const name = this.string(get('name'), `${where}.name`);
    if (name !== undefined) {
      const problem = nameProblem('repo', name);
      if (problem) this.err(get('name'), `${where}.name: image ${problem.replace(/^repo /, '')}`);
      else img.name = name;
    }
    const context = this.string(get('context'), `${where}.context`);
    if (context !== undefined) {
      const c = insidePath(context);
      if (c === null) this.err(get('context'), `${where}.context: ${JSON.stringify(context)} leaves the repository; use a folder inside it`);
      else img.context = c;
    }
    const dockerfile = this.string(get('dockerfile'), `${where}.dockerfile`);
    if (dockerfile !== undefined) {
      const d = insidePath(dockerfile);
      if (d === null || d === '.') {
        this.err(
          get('dockerfile'),
          `${where}.dockerfile: ${JSON.stringify(dockerfile)} is not a file inside the context "${img.context}"; give a path relative to the context`,
        );
      } else img.dockerfile = d;
    }
    const target = this.string(get('target'), `${where}.target`);
    if (target !== undefined) {
      if (!TARGET_RE.test(target)) this.err(get('target'), `${where}.target: ${JSON.stringify(target)} is not a stage name`);
      else img.target = target;
    }
    const args = get('args');
    if (args !== undefined) {
      if (!isMap(args)) this.err(args, `${where}.args: expected a mapping of build-arg names to values`);
      else {
        for (const pair of args.items) {
          const k = isScalar(pair.key) ? String(pair.key.value) : '';
          if (!ARG_RE.test(k)) {
            this.err(pair.key as Node, `${where}.args: ${JSON.stringify(k)} is not a build-arg name (letters, digits, _)`);
            continue;
          }
          const val = pair.value as Node | null;
          if (!isScalar(val) || (val.value !== null && typeof val.value === 'object')) {
            this.err(val ?? (pair.key as Node), `${where}.args.${k}: expected a string, number or boolean`);
            continue;
          }
          img.args[k] = val.value === null ? '' : String(val.value);
        }
      }
    }
    const secrets = this.stringList(get('secrets'), `${where}.secrets`, (s) => (ARG_RE.test(s) ? null : 'is not a secret name (letters, digits, _)'));
    if (secrets) img.secrets = secrets;
    const branches = this.stringList(get('branches'), `${where}.branches`, () => null);
    if (branches) img.branches = branches;
    const paths = this.stringList(get('paths'), `${where}.paths`, (p) => (insidePath(p.replace(/\*+/g, 'x')) === null ? 'leaves the repository' : null));
    if (paths) img.paths = paths;
    const tags = this.stringList(get('tags'), `${where}.tags`, tagTemplateProblem);
    if (tags) {
      if (tags.length === 0) this.err(get('tags'), `${where}.tags: expected at least one tag`);
      else img.tags = tags;
    }
    const platforms = this.platforms(get('platforms'), `${where}.platforms`);
    if (platforms) img.platforms = platforms;
    const timeout = get('timeout');
    if (timeout !== undefined) {
      const s = isScalar(timeout) ? parseDuration(timeout.value) : null;
      if (s === null || s <= 0 || s > MAX_TIMEOUT_S) this.err(timeout, `${where}.timeout: expected a duration like 90s, 30m or 1h30m (at most 24h)`);
      else img.timeoutSeconds = s;
    }
    const cancel = get('cancel_superseded');
    if (cancel !== undefined) {
      if (!isScalar(cancel) || typeof cancel.value !== 'boolean') this.err(cancel, `${where}.cancel_superseded: expected true or false`);
      else img.cancelSuperseded = cancel.value;
    }
    const scan = get('scan');
    if (scan !== undefined) {
      const policy = this.scan(scan, `${where}.scan`);
      if (policy) img.scan = policy;
    }
    return this.errors.length === before ? img : undefined;
  }

  /** An image's `scan:` policy; undefined when anything in it is wrong (each problem is reported). */
  private scan(node: Node, where: string): ScanConfig | undefined {
    if (!isMap(node)) return this.err(node, `${where}: expected a mapping with keys ${SCAN_KEYS.join(', ')}`);
    this.unknownKeys(node, SCAN_KEYS, where);
    const before = this.errors.length;
    const get = (k: string) => node.get(k, true) as Node | undefined;
    const out: ScanConfig = { ignoreUnfixed: false, allow: [], vex: [] };

    const failOn = get('fail_on');
    if (failOn !== undefined) {
      const value = isScalar(failOn) ? failOn.value : undefined;
      if (typeof value !== 'string' || !(FAIL_ON as readonly string[]).includes(value)) {
        this.err(failOn, `${where}.fail_on: expected one of ${FAIL_ON.join(', ')}`);
      } else out.failOn = value as FailOn;
    }
    const unfixed = get('ignore_unfixed');
    if (unfixed !== undefined) {
      if (!isScalar(unfixed) || typeof unfixed.value !== 'boolean') this.err(unfixed, `${where}.ignore_unfixed: expected true or false`);
      else out.ignoreUnfixed = unfixed.value;
    }
    const allow = get('allow');
    if (allow !== undefined) {
      if (!isSeq(allow)) this.err(allow, `${where}.allow: expected a list of allowances like { id: CVE-2021-23337, until: 2027-03-31, reason: "..." }`);
      else if (allow.items.length > MAX_ALLOWANCES) this.err(allow, `${where}.allow: at most ${MAX_ALLOWANCES} allowances`);
      else
        (allow.items as Node[]).forEach((item, k) => {
          const a = this.allowance(item, `${where}.allow[${k}]`);
          if (a) out.allow.push(a);
        });
    }
    const vexNode = get('vex');
    const vex = this.stringList(vexNode, `${where}.vex`, (p) => {
      const n = insidePath(p);
      return n === null || n === '.' ? 'is not a file inside the repository' : null;
    });
    if (vex) {
      if (vex.length > MAX_VEX_DOCUMENTS) this.err(vexNode, `${where}.vex: at most ${MAX_VEX_DOCUMENTS} documents`);
      else out.vex = [...new Set(vex.map((p) => insidePath(p)!))];
    }
    return this.errors.length === before ? out : undefined;
  }

  /** One `allow:` entry: id, until and reason required, package optional. */
  private allowance(node: Node, where: string): ScanAllowance | undefined {
    if (!isMap(node)) return this.err(node, `${where}: expected a mapping with keys id, until, reason and optionally package`);
    this.unknownKeys(node, ALLOW_KEYS, where);
    const before = this.errors.length;
    const get = (k: string) => node.get(k, true) as Node | undefined;
    const idNode = get('id');
    const id =
      idNode === undefined
        ? this.err(node, `${where}: missing key "id" (the vulnerability's id or any of its aliases, e.g. CVE-2021-23337)`)
        : this.string(idNode, `${where}.id`);
    const pkg = this.string(get('package'), `${where}.package`);
    const untilNode = get('until');
    let until: string | undefined;
    if (untilNode === undefined) this.err(node, `${where}: missing key "until" (each allowance expires: a date like 2027-03-31)`);
    else {
      // An unquoted 2027-03-31 is a string under YAML 1.2's core schema (the yaml package's default): no Date to undo.
      const text = isScalar(untilNode) && typeof untilNode.value === 'string' ? untilNode.value : undefined;
      if (text === undefined || calendarDate(text) === null) this.err(untilNode, `${where}.until: expected a calendar date YYYY-MM-DD`);
      else until = text;
    }
    const reasonNode = get('reason');
    let reason: string | undefined;
    if (reasonNode === undefined) this.err(node, `${where}: missing key "reason" (each allowance names why)`);
    else {
      const text = isScalar(reasonNode) && typeof reasonNode.value === 'string' ? reasonNode.value.trim() : '';
      if (text === '') this.err(reasonNode, `${where}.reason: expected a non-empty sentence saying why (each allowance names why)`);
      else reason = text;
    }
    if (this.errors.length !== before || id === undefined || until === undefined || reason === undefined) return undefined;
    return pkg === undefined ? { id, until, reason } : { id, package: pkg, until, reason };
  }

  /**
   * `platforms:` in the order written, each one BuildKit builds for. A repeat is refused, naming both entries, as a
   * repeated image name is: it would build the same platform twice into one index (`linux/arm64/v8` repeats
   * `linux/arm64`, as BuildKit reads them).
   */
  private platforms(node: Node | undefined, where: string): string[] | undefined {
    const list = this.stringList(node, where, () => null);
    if (!list || !isSeq(node)) return list;
    const items = node.items as Node[];
    const problems = platformListProblems(list, (k) => `${where}[${k}]`);
    for (const p of problems) this.err(items[p.index], p.message);
    return problems.length ? undefined : list;
  }

  private string(node: Node | undefined, where: string): string | undefined {
    if (node === undefined) return undefined;
    if (!isScalar(node) || typeof node.value !== 'string' || node.value === '') return this.err(node, `${where}: expected a non-empty string`);
    return node.value;
  }

  private stringList(node: Node | undefined, where: string, check: (s: string) => string | null): string[] | undefined {
    if (node === undefined) return undefined;
    if (!isSeq(node)) return this.err(node, `${where}: expected a list of strings`);
    const out: string[] = [];
    let ok = true;
    for (const item of node.items as Node[]) {
      if (!isScalar(item) || typeof item.value !== 'string' || item.value === '') {
        this.err(item, `${where}: expected a non-empty string`);
        ok = false;
        continue;
      }
      const problem = check(item.value);
      if (problem) {
        this.err(item, `${where}: ${JSON.stringify(item.value)} ${problem}`);
        ok = false;
        continue;
      }
      out.push(item.value);
    }
    return ok ? out : undefined;
  }
}

/** Normalizes a repo-relative path; null if it is absolute or climbs out of the folder it is relative to. */
export function insidePath(p: string): string | null {
  if (p.includes('\0') || p.startsWith('/') || p.includes('\\')) return null;
  const n = posix.normalize(p).replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../')) return null;
  return n === '' ? '.' : n;
}

function tagTemplateProblem(t: string): string | null {
  const unknown = [...t.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!).filter((p) => !(TAG_PLACEHOLDERS as readonly string[]).includes(p));
  if (unknown.length) return `uses unknown placeholder {${unknown[0]}} (known: ${TAG_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`;
  const literal = t.replace(/\{[a-z_]+\}/g, 'x');
  if (!/^[A-Za-z0-9_.{}-]+$/.test(literal)) return 'has characters a tag cannot hold (allowed: letters, digits, _ . -)';
  return null;
}

/** `YYYY-MM-DD` as the UTC midnight starting that day; null unless it is a real calendar date (no 2027-02-30). */
export function calendarDate(text: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  // Date.UTC rolls 02-30 over into March: a date that does not come back as written is not one.
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  return date;
}

/** `90`, `90s`, `30m`, `1h30m` to seconds; null if it is none of those. */
export function parseDuration(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v.trim());
  if (!m || v.trim() === '') return null;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}
