import type { BuildStep } from '../store/schema.js';
import { escapeControls } from '../util/controls.js';

/**
 * Turns buildx `--progress=rawjson` output into the build log. buildx 0.13 writes pretty-printed JSON
 * values spanning several lines (newer ones write one per line) and, on failure, plain text after them, so
 * the stream is split into whole JSON values and text lines rather than read line by line.
 *
 * Why rawjson and not `--progress=plain`: the same stream yields both a readable text log (rendered here in
 * the familiar `#N` style of plain progress) and structured steps (name, cached, times, error) that the API
 * and the web page need, and step output arrives decoded, so it can be masked before it is stored.
 */

/** Splits a byte stream into complete top-level JSON objects and the text lines between them. */
export class JsonTextSplitter {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;

  constructor(
    private onJson: (value: unknown) => void,
    private onText: (line: string) => void,
  ) {}

  push(chunk: string): void {
    this.buf += chunk;
    let i = this.start >= 0 ? this.scanFrom : 0;
    let lineStart = 0;
    for (; i < this.buf.length; i++) {
      const ch = this.buf[i]!;
      if (this.depth > 0) {
        if (this.inString) {
          if (this.escaped) this.escaped = false;
          else if (ch === '\\') this.escaped = true;
          else if (ch === '"') this.inString = false;
        } else if (ch === '"') this.inString = true;
        else if (ch === '{' || ch === '[') this.depth++;
        else if (ch === '}' || ch === ']') {
          if (--this.depth === 0) {
            const text = this.buf.slice(this.start, i + 1);
            this.start = -1;
            lineStart = i + 1;
            try {
              this.onJson(JSON.parse(text));
            } catch {
              this.onText(text);
            }
          }
        }
        continue;
      }
      // At top level a '{' opens a JSON value only at the start of a line; braces inside an error text stay text.
      if (ch === '{' && this.buf.slice(lineStart, i).trim() === '') {
        this.depth = 1;
        this.start = i;
        continue;
      }
      if (ch === '\n') {
        const line = this.buf.slice(lineStart, i).replace(/\r$/, '');
        if (line.trim() !== '') this.onText(line);
        lineStart = i + 1;
      }
    }
    // Keep what is not finished yet: an open JSON value, or a partial text line.
    const keepFrom = this.start >= 0 ? Math.min(this.start, lineStart) : lineStart;
    this.buf = this.buf.slice(keepFrom);
    if (this.start >= 0) this.start -= keepFrom;
    this.scanFrom = this.buf.length;
  }

  private scanFrom = 0;

  end(): void {
    const rest = this.buf.trim();
    if (rest) for (const line of rest.split('\n')) if (line.trim()) this.onText(line);
    this.buf = '';
  }
}

/** One BuildKit step (vertex) as the log and the API show it; `n` is its number in `#N`, in order of appearance. */
export type Step = BuildStep;

interface Vertex {
  digest: string;
  name?: string;
  started?: string;
  completed?: string;
  cached?: boolean;
  error?: string;
}
/** `current`: bytes (or items) done so far, e.g. of `transferring context:` (a folder context sent through buildx's session). */
interface VertexStatus {
  id: string;
  vertex: string;
  current?: number;
  completed?: string;
}
/** `data` is base64 in buildx's rawjson and raw bytes when decoded from dockerd's protobuf (solve-status.ts). */
interface VertexLog {
  vertex: string;
  data: string | Buffer;
  timestamp?: string;
}
/** One BuildKit progress update (moby.buildkit.v1.StatusResponse) in rawjson's shape. */
export interface SolveStatus {
  vertexes?: Vertex[];
  statuses?: VertexStatus[];
  logs?: VertexLog[];
  warnings?: { short?: string | Buffer }[];
}

const decoded = (v: string | Buffer): string => (typeof v === 'string' ? Buffer.from(v, 'base64') : v).toString('utf8');

/** Renders SolveStatus values as plain-progress-style lines and keeps the list of steps. */
export class ProgressRenderer {
  readonly steps: Step[] = [];
  private byDigest = new Map<string, Step & { announced: boolean; done: boolean; partial: string }>();
  private doneStatuses = new Set<string>();

  constructor(private emit: (line: string) => void) {}

  private step(digest: string, raw?: string) {
    // BuildKit names steps with build args expanded: a value holding a line break or ESC would otherwise
    // start a line of its own in the log (a forged `--- succeeded`) or drive the reader's terminal.
    const name = raw === undefined ? undefined : escapeControls(raw);
    let s = this.byDigest.get(digest);
    if (!s) {
      s = { n: this.steps.length + 1, name: name ?? digest, cached: false, announced: false, done: false, partial: '' };
      this.byDigest.set(digest, s);
      this.steps.push(s);
    } else if (name) s.name = name;
    if (!s.announced) {
      s.announced = true;
      this.emit(`#${s.n} ${s.name}`);
    }
    return s;
  }

  status(st: SolveStatus): void {
    for (const v of st.vertexes ?? []) {
      if (!v.started && !v.cached && !v.completed) continue; // not begun yet: announce when it starts
      const s = this.step(v.digest, v.name);
      if (v.started) s.started = v.started;
      if (v.cached && !s.cached && !s.done) {
        s.cached = true;
        this.emit(`#${s.n} CACHED`);
      }
      if (v.completed && !s.done) {
        s.done = true;
        s.completed = v.completed;
        this.flush(s);
        if (v.error && isCacheImport(s.name)) this.emit(`#${s.n} no cache imported from there (the build goes on without it): ${escapeControls(v.error)}`);
        else if (v.error) {
          s.error = escapeControls(v.error);
          this.emit(`#${s.n} ERROR: ${s.error}`);
        } else if (!s.cached) this.emit(`#${s.n} DONE ${seconds(s.started, s.completed)}`);
      }
    }
    for (const l of st.logs ?? []) {
      const s = this.step(l.vertex);
      const text = s.partial + decoded(l.data);
      const lines = text.split(/\r?\n/);
      s.partial = lines.pop() ?? '';
      for (const line of lines) this.emit(`#${s.n} ${line}`);
    }
    for (const x of st.statuses ?? []) {
      if (!x.completed || this.doneStatuses.has(x.vertex + x.id)) continue;
      this.doneStatuses.add(x.vertex + x.id);
      // What a transfer moved is what an incremental context saves: say it, as BuildKit's plain progress does.
      this.emit(`#${this.step(x.vertex).n} ${x.id}${x.current ? ` ${x.current} bytes` : ''} done`);
    }
    for (const w of st.warnings ?? []) if (w.short) this.emit(`WARNING: ${escapeControls(decoded(w.short))}`);
  }

  private flush(s: { n: number; partial: string }) {
    if (s.partial) {
      this.emit(`#${s.n} ${s.partial}`);
      s.partial = '';
    }
  }

  end(): void {
    for (const s of this.byDigest.values()) this.flush(s);
  }
}

/**
 * BuildKit's step for reading a cache to import (solver/llbsolver/bridge.go). Its error is only a miss (a
 * branch's first build: the reference does not exist yet) or an unreadable cache: BuildKit goes on without it,
 * so the step is no failure of the build's, and is not recorded as one.
 */
const isCacheImport = (name: string): boolean => name.startsWith('importing cache manifest from ');

function seconds(start?: string, end?: string): string {
  if (!start || !end) return '';
  return ((Date.parse(end) - Date.parse(start)) / 1000).toFixed(1) + 's';
}
