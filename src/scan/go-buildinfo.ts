/**
 * The modules a Go binary was built from, read from the build info the Go linker embeds (Go 1.18 and later).
 * The format, as Go's own reader (debug/buildinfo) decodes it: a 32-byte header at a 16-byte aligned offset,
 * starting with the 14-byte magic `\xff Go buildinf:`, then the pointer size and a flags byte; with flag 0x2 the
 * Go version and the module info follow inline, each a varint length and its bytes. The module info is framed by
 * two 16-byte sentinels and holds tab-separated lines: `path` (the main package), `mod` (the main module), `dep`
 * (each dependency), `=>` (a replacement of the line before) and `build` (settings).
 *
 * The binary is read as a stream through a small window until the magic is found, and only the build info after
 * it is kept: a 100 MB binary costs a few KiB.
 */
import type { FileSink, SinkResult } from './layer-walk.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_BYTES = 32;
const ALIGN = 16;
const SENTINEL_BYTES = 16;
const FLAG_INLINE = 0x2;
/** Build info longer than this is not a Go linker's (thousands of modules take a few hundred KiB). */
export const MAX_BUILD_INFO_BYTES = 4 * 1024 * 1024;

export interface GoModule {
  path: string;
  /** As recorded: a module version (`v1.2.3`, a pseudo-version), `(devel)` for a main module built from a checkout, '' for a local replacement. */
  version: string;
  /** The module go.mod required, when a `replace` directive swapped it for this one. */
  replaced?: { path: string; version: string };
}

export interface GoBuildInfo {
  /** The toolchain that built the binary, as Go prints it: `go1.23.12`. */
  goVersion: string;
  /** The main package's import path ('' when the binary was built outside module mode). */
  path: string;
  /** The main module, null when built outside module mode. */
  main: GoModule | null;
  /** Every module the build took packages from, as built: a replaced module is given as its replacement. */
  deps: GoModule[];
}

/**
 * A sink for layer-walk.ts: feed it an executable's bytes. It finds nothing in a file that is not ELF (`\x7fELF`)
 * or holds no build info; a binary from Go before 1.18 (build info by address, which needs the whole file) and a
 * malformed build info are problems.
 */
export function goBuildInfoSink(): FileSink<GoBuildInfo> {
  const scanner = new BuildInfoScanner();
  return { write: (chunk) => scanner.push(chunk), end: () => scanner.result() };
}

/** The build info of the binary `bytes` streams (a file read with createReadStream): as the sink answers. */
export async function readGoBuildInfo(bytes: AsyncIterable<Buffer>): Promise<SinkResult<GoBuildInfo>> {
  const scanner = new BuildInfoScanner();
  for await (const chunk of bytes) {
    if (scanner.push(chunk)) break;
  }
  return scanner.result();
}

type State =
  | { step: 'elf'; head: Buffer }
  /** Looking for the magic: `tail` is the end of what was read (too short to hold it), `at` its offset in the file. */
  | { step: 'seek'; tail: Buffer; at: number }
  /** A magic was found at offset `at`: `info` holds the file from it on, until the build info is whole. */
  | { step: 'collect'; info: Buffer; at: number }
  | { step: 'done'; result: SinkResult<GoBuildInfo> };

const PRE_118 = 'built by Go before 1.18 (its build info is held by address, which a streamed read cannot follow): not read';

class BuildInfoScanner {
  private state: State = { step: 'elf', head: Buffer.alloc(0) };
  /** A header of the pre-1.18 form was seen: said at the end if no 1.18 one follows. */
  private sawPre118 = false;

  /** Takes the next bytes; true once the answer is known. */
  push(chunk: Buffer): boolean {
    const s = this.state;
    if (s.step === 'done') return true;
    if (s.step === 'elf') {
      const head = Buffer.concat([s.head, chunk]);
      if (head.length < 4) {
        this.state = { step: 'elf', head };
        return false;
      }
      if (head[0] !== 0x7f || head.toString('latin1', 1, 4) !== 'ELF') return this.finish(null, []);
      this.state = { step: 'seek', tail: Buffer.alloc(0), at: 0 };
      return this.push(head);
    }
    if (s.step === 'seek') {
      const window = s.tail.length > 0 ? Buffer.concat([s.tail, chunk]) : chunk;
      for (let i = window.indexOf(MAGIC); i >= 0; i = window.indexOf(MAGIC, i + 1)) {
        // Go's linker aligns the build info to 16 bytes, and an ELF segment's file offsets keep its addresses'
        // alignment; the same bytes elsewhere (a string in the data) are not it.
        if ((s.at + i) % ALIGN === 0) {
          this.state = { step: 'collect', info: Buffer.from(window.subarray(i)), at: s.at + i };
          return this.decode();
        }
      }
      // Keep a copy of the last bytes that could start the magic, not the chunk they came in.
      const keep = Math.min(window.length, MAGIC.length - 1);
      this.state = { step: 'seek', tail: Buffer.from(window.subarray(window.length - keep)), at: s.at + window.length - keep };
      return false;
    }
    this.state = { step: 'collect', info: Buffer.concat([s.info, chunk]), at: s.at };
    return this.decode();
  }

  result(): SinkResult<GoBuildInfo> {
    const s = this.state;
    if (s.step === 'done') return s.result;
    if (s.step === 'collect' && s.info.length >= HEADER_BYTES) {
      return { found: null, problems: [`its Go build info is cut short: the file ends ${s.info.length} bytes after its start`] };
    }
    return { found: null, problems: this.sawPre118 ? [PRE_118] : [] };
  }

  /** Decodes the build info once whole; true when done (found, or a problem). */
  private decode(): boolean {
    if (this.state.step !== 'collect') return true;
    const { info, at } = this.state;
    if (info.length < HEADER_BYTES) return false;
    const ptrSize = info[14];
    const flags = info[15]!;
    const inline = (flags & FLAG_INLINE) !== 0;
    // The magic also sits in the rodata of a binary that reads build info itself (the go command, scanners):
    // there it is followed by other strings, not a header with a pointer size, two flag bits and, inline, zeros.
    const header = (ptrSize === 4 || ptrSize === 8) && (flags & ~0x3) === 0 && (!inline || info.subarray(16, HEADER_BYTES).every((b) => b === 0));
    if (!header || !inline) {
      if (header) this.sawPre118 = true;
      this.state = { step: 'seek', tail: Buffer.alloc(0), at: at + 1 };
      return this.push(info.subarray(1));
    }
    const version = inlineString(info, HEADER_BYTES);
    if (version === 'short') return this.needMore(info);
    if (version === 'bad') return this.finish(null, ['its Go build info has a malformed length']);
    const mod = inlineString(info, version.end);
    if (mod === 'short') return this.needMore(info);
    if (mod === 'bad') return this.finish(null, ['its Go build info has a malformed length']);
    const goVersion = info.toString('utf8', version.start, version.end);
    if (goVersion === '') return this.finish(null, ['its Go build info names no Go version']);
    const parsed = parseModInfo(withoutSentinels(info.subarray(mod.start, mod.end)));
    if (!parsed.ok) return this.finish(null, [`its Go module info does not parse: ${parsed.problem}`]);
    return this.finish({ goVersion, ...parsed.value }, []);
  }

  private needMore(info: Buffer): boolean {
    if (info.length <= MAX_BUILD_INFO_BYTES) return false;
    return this.finish(null, [`its Go build info is longer than ${MAX_BUILD_INFO_BYTES} bytes: not read`]);
  }

  private finish(found: GoBuildInfo | null, problems: string[]): true {
    this.state = { step: 'done', result: { found, problems } };
    return true;
  }
}

/**
 * Where the varint-length string at `at` lies (`start` to `end`, the next one starting at `end`); 'short' when
 * more bytes are needed, 'bad' for a varint longer than 64 bits or a length past the limit.
 */
function inlineString(buf: Buffer, at: number): { start: number; end: number } | 'short' | 'bad' {
  let length = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    if (i >= buf.length) return 'short';
    const b = buf[i++]!;
    // Multiplying, not shifting: a length past 2^31 would wrap with `<<`.
    length += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
    shift += 7;
    if (shift >= 64) return 'bad';
  }
  if (length > MAX_BUILD_INFO_BYTES) return 'bad';
  if (buf.length < i + length) return 'short';
  return { start: i, end: i + length };
}

/**
 * The module info's text without its two 16-byte sentinels; '' when it has none (a binary built outside module
 * mode). On bytes: the sentinels are not UTF-8, and decoding them first would change the lengths Go checks.
 */
function withoutSentinels(mod: Buffer): string {
  // As Go checks it: the end sentinel follows the last line's newline.
  if (mod.length >= 2 * SENTINEL_BYTES + 1 && mod[mod.length - SENTINEL_BYTES - 1] === 0x0a) {
    return mod.toString('utf8', SENTINEL_BYTES, mod.length - SENTINEL_BYTES);
  }
  return '';
}

type ModInfo = Omit<GoBuildInfo, 'goVersion'>;

/**
 * The module info's lines (Go's runtime/debug.ParseBuildInfo format) as the main module and its dependencies.
 * A `mod` or `dep` line has 2 or 3 tab-separated columns (path, version, sum), a `=>` line 3; other lines
 * (`build` settings, ones a later Go adds) are passed over.
 */
export function parseModInfo(text: string): { ok: true; value: ModInfo } | { ok: false; problem: string } {
  const out: ModInfo = { path: '', main: null, deps: [] };
  let last: GoModule | null = null;
  const lines = text.split('\n');
  // Go reads only newline-terminated lines: whatever follows the last newline is not a line.
  lines.pop();
  for (const [n, line] of lines.entries()) {
    const [word, ...cols] = line.split('\t');
    if (word === 'path' && cols.length >= 1) {
      out.path = cols.join('\t');
    } else if (word === 'mod' || word === 'dep') {
      if (cols.length !== 2 && cols.length !== 3) return { ok: false, problem: `line ${n + 1}: a ${word} line has ${cols.length} columns, not 2 or 3` };
      last = { path: cols[0]!, version: cols[1]! };
      if (word === 'mod') out.main = last;
      else out.deps.push(last);
    } else if (word === '=>') {
      if (cols.length !== 3) return { ok: false, problem: `line ${n + 1}: a replacement has ${cols.length} columns, not 3` };
      if (last === null) return { ok: false, problem: `line ${n + 1}: a replacement follows no module` };
      last.replaced = { path: last.path, version: last.version };
      last.path = cols[0]!;
      last.version = cols[1]!;
      last = null;
    }
  }
  return { ok: true, value: out };
}
