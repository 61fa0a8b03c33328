/** The extension's event-stream parser: the server's log stream, cut into chunks anywhere. */
import { describe, expect, it } from 'vitest';
import { readSse, SseParser, type SseEvent } from '../../extensions/vscode/src/sse.js';

const STREAM =
  'id: 1\ndata: #1 [internal] load build definition\n\n: keep-alive\n\nid: 2\ndata: #5 marker ü\n\n' +
  'event: end\ndata: {"status":"succeeded","reason":null,"digest":"sha256:ab"}\n\n';
const EXPECTED: SseEvent[] = [
  { event: 'message', id: '1', data: '#1 [internal] load build definition' },
  { event: 'message', id: '2', data: '#5 marker ü' },
  { event: 'end', id: '2', data: '{"status":"succeeded","reason":null,"digest":"sha256:ab"}' },
];

describe('SseParser', () => {
  it('parses events, drops comments, and keeps the last id', () => {
    expect(new SseParser().feed(STREAM)).toEqual(EXPECTED);
  });

  it('gives the same events however the stream is cut into chunks', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const text = STREAM.replaceAll('\n', eol);
      for (let cut = 0; cut <= text.length; cut++) {
        const p = new SseParser();
        expect([...p.feed(text.slice(0, cut)), ...p.feed(text.slice(cut)), ...p.end()], `${JSON.stringify(eol)} cut at ${cut}`).toEqual(EXPECTED);
      }
      const p = new SseParser();
      expect([...[...text].flatMap((c) => p.feed(c)), ...p.end()]).toEqual(EXPECTED);
    }
  });

  it('joins data lines with \\n, takes a field without a colon as empty, and skips events without data', () => {
    const p = new SseParser();
    expect(p.feed('\ufeffdata: a\ndata:b\ndata\n\nevent: nothing\n\ndata:  two spaces\n\n')).toEqual([
      { event: 'message', data: 'a\nb\n' },
      { event: 'message', data: ' two spaces' },
    ]);
  });

  it('holds back an event until its blank line arrives', () => {
    const p = new SseParser();
    expect(p.feed('data: half')).toEqual([]);
    expect(p.feed('\n')).toEqual([]);
    expect(p.feed('\n')).toEqual([{ event: 'message', data: 'half' }]);
  });
});

describe('readSse', () => {
  const body = (chunks: Array<string | Uint8Array>) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const s of chunks) c.enqueue(typeof s === 'string' ? new TextEncoder().encode(s) : s);
        c.close();
      },
    });

  it('decodes UTF-8 split across chunks and drops an event the stream ends inside', async () => {
    const bytes = new TextEncoder().encode('data: ü\n\ndata: cut');
    // The first chunk ends inside the two bytes of ü.
    const seen: SseEvent[] = [];
    await readSse(body([bytes.slice(0, 7), bytes.slice(7)]), (e) => {
      seen.push(e);
    });
    expect(seen).toEqual([{ event: 'message', data: 'ü' }]);
  });

  it('stops when the callback says so', async () => {
    const seen: string[] = [];
    await readSse(body(['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n']), (e) => {
      seen.push(e.data);
      return e.data === '2';
    });
    expect(seen).toEqual(['1', '2']);
  });
});
