/**
 * One log line with its ANSI SGR colours as HTML: text escaped, styled runs in `<span class="…">` with the
 * classes the stylesheet defines (`fg1`…`fg15`, `bg0`…`bg15`, `b` bold, `d` dim, `i` italic, `u` underline).
 * Other escape sequences (cursor moves, OSC titles) are dropped. Colours beyond the 16 named ones (38;5;n
 * above 15, 38;2;r;g;b) are read past and shown in the default colour.
 *
 * The function is self-contained on purpose: the build page's script is this function's own source
 * (`ansiToHtml.toString()`), so the lines rendered on the server and the lines that arrive live over SSE go
 * through the same code.
 */
export function ansiToHtml(line: string): string {
  const esc = (s: string) => (/[&<>"]/.test(s) ? s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;') : s);
  // Most lines have no escape at all.
  if (line.indexOf('\u001b') < 0) return esc(line);
  let fg = -1;
  let bg = -1;
  let bold = false;
  let dim = false;
  let italic = false;
  let underline = false;
  let out = '';
  const open = (text: string) => {
    if (!text) return;
    const cls: string[] = [];
    if (fg >= 0) cls.push('fg' + fg);
    if (bg >= 0) cls.push('bg' + bg);
    if (bold) cls.push('b');
    if (dim) cls.push('d');
    if (italic) cls.push('i');
    if (underline) cls.push('u');
    out += cls.length ? '<span class="' + cls.join(' ') + '">' + esc(text) + '</span>' : esc(text);
  };
  // CSI sequences (ESC [ params final), OSC sequences (ESC ] … BEL or ESC \), and lone two-byte escapes.
  const re = /\u001b\[([0-9;?]*)([@-~])|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]?/g;
  let last = 0;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    open(line.slice(last, m.index));
    last = re.lastIndex;
    if (m[2] !== 'm') continue;
    const codes = (m[1] || '0').split(';').map((p) => (p === '' ? 0 : Number(p)));
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i]!;
      if (c === 0) {
        fg = -1;
        bg = -1;
        bold = dim = italic = underline = false;
      } else if (c === 1) bold = true;
      else if (c === 2) dim = true;
      else if (c === 3) italic = true;
      else if (c === 4) underline = true;
      else if (c === 22) bold = dim = false;
      else if (c === 23) italic = false;
      else if (c === 24) underline = false;
      else if (c >= 30 && c <= 37) fg = c - 30;
      else if (c >= 90 && c <= 97) fg = c - 90 + 8;
      else if (c === 39) fg = -1;
      else if (c >= 40 && c <= 47) bg = c - 40;
      else if (c >= 100 && c <= 107) bg = c - 100 + 8;
      else if (c === 49) bg = -1;
      else if (c === 38 || c === 48) {
        // 38;5;n (256 colours: the first 16 are the named ones) or 38;2;r;g;b (true colour): read past either.
        const n = codes[i + 2];
        const named = codes[i + 1] === 5 && n !== undefined && n < 16 ? n : -1;
        if (c === 38) fg = named;
        else bg = named;
        i += codes[i + 1] === 5 ? 2 : codes[i + 1] === 2 ? 4 : 0;
      }
    }
  }
  open(line.slice(last));
  return out;
}
