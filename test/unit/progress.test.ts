import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JsonTextSplitter, ProgressRenderer } from '../../src/builder/progress.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

/** Feeds `text` to a renderer in chunks of `size` characters, as a pipe would deliver it. */
function render(text: string, size: number) {
  const lines: string[] = [];
  const renderer = new ProgressRenderer((l) => lines.push(l));
  const splitter = new JsonTextSplitter(
    (v) => renderer.status(v as never),
    (l) => lines.push(l),
  );
  for (let i = 0; i < text.length; i += size) splitter.push(text.slice(i, i + size));
  splitter.end();
  renderer.end();
  return { lines, steps: renderer.steps };
}

describe('JsonTextSplitter', () => {
  it('separates pretty-printed JSON values from text, whatever the chunking', () => {
    const text = '{\n  "a": "x}{\\"",\n  "b": [1, {"c": 2}]\n}\nplain line with {braces}\n{"d": 3}\ntrailing';
    for (const size of [1, 3, 7, 1000]) {
      const json: unknown[] = [];
      const lines: string[] = [];
      const s = new JsonTextSplitter(
        (v) => json.push(v),
        (l) => lines.push(l),
      );
      for (let i = 0; i < text.length; i += size) s.push(text.slice(i, i + size));
      s.end();
      expect(json).toEqual([{ a: 'x}{"', b: [1, { c: 2 }] }, { d: 3 }]);
      expect(lines).toEqual(['plain line with {braces}', 'trailing']);
    }
  });
});

describe('ProgressRenderer on real buildx 0.13 rawjson output', () => {
  it('renders a successful build as #N lines with each step once', () => {
    const whole = render(fixture('buildx-rawjson-ok.txt'), 100_000);
    const chunked = render(fixture('buildx-rawjson-ok.txt'), 17);
    expect(chunked.lines).toEqual(whole.lines);
    expect(whole.lines).toContain('#5 [2/3] COPY hello.txt /hello.txt');
    expect(whole.lines).toContain('#6 [3/3] RUN cat /hello.txt && echo built');
    // The RUN step's own output, decoded from base64.
    expect(whole.lines).toContain('#6 hi');
    expect(whole.lines).toContain('#6 built');
    expect(whole.steps.map((s) => s.name)).toContain('[3/3] RUN cat /hello.txt && echo built');
    expect(whole.steps.every((s) => s.completed)).toBe(true);
  });

  it('keeps the failing command, its exit code and the error text of a failed build', () => {
    const { lines, steps } = render(fixture('buildx-rawjson-fail.txt'), 64);
    const run = steps.find((s) => s.name.includes('RUN echo'))!;
    expect(run.error).toContain('exit code: 3');
    expect(lines).toContain(`#${run.n} about to fail {x}`);
    expect(lines.at(-1)).toBe(
      'ERROR: failed to solve: process "/bin/sh -c echo \\"about to fail {x}\\" && exit 3" did not complete successfully: exit code: 3',
    );
  });
});

describe('ProgressRenderer statuses', () => {
  it('says how many bytes a finished transfer moved, once, and nothing for a status without a count', () => {
    const lines: string[] = [];
    const r = new ProgressRenderer((l) => lines.push(l));
    const v = 'sha256:ctx';
    r.status({ vertexes: [{ digest: v, name: '[internal] load build context' }] });
    r.status({ statuses: [{ id: 'transferring context:', vertex: v, current: 4096 }] });
    r.status({ statuses: [{ id: 'transferring context:', vertex: v, current: 189_000, completed: '2026-11-27T00:00:00Z' }] });
    r.status({ statuses: [{ id: 'transferring context:', vertex: v, current: 189_000, completed: '2026-11-27T00:00:00Z' }] });
    r.status({ statuses: [{ id: 'extracting', vertex: v, completed: '2026-11-27T00:00:00Z' }] });
    expect(lines.filter((l) => l.includes('transferring') || l.includes('extracting'))).toEqual([
      '#1 transferring context: 189000 bytes done',
      '#1 extracting done',
    ]);
  });
});

describe('ProgressRenderer and values from outside', () => {
  it('escapes control characters in step names, errors and warnings: a build arg never starts a line of its own', () => {
    const lines: string[] = [];
    const r = new ProgressRenderer((l) => lines.push(l));
    const name = '[2/2] RUN echo "a\nbuild #999: succeeded\r\x1b[2J\x07\u009b"';
    r.status({ vertexes: [{ digest: 'sha256:a', name, started: '2026-12-01T00:00:00Z' }] });
    r.status({
      vertexes: [{ digest: 'sha256:a', name, started: '2026-12-01T00:00:00Z', completed: '2026-12-01T00:00:01Z', error: 'bad\nbuild #999: succeeded' }],
    });
    r.status({ warnings: [{ short: Buffer.from('w\x1b[31mred') }] });
    expect(lines).toEqual([
      '#1 [2/2] RUN echo "a\\nbuild #999: succeeded\\r\\x1b[2J\\x07\\x9b"',
      '#1 ERROR: bad\\nbuild #999: succeeded',
      'WARNING: w\\x1b[31mred',
    ]);
    expect(r.steps[0]).toMatchObject({ name: '[2/2] RUN echo "a\\nbuild #999: succeeded\\r\\x1b[2J\\x07\\x9b"', error: 'bad\\nbuild #999: succeeded' });
  });

  it("keeps a step's own output as it is (colours included): only its lines are split", () => {
    const lines: string[] = [];
    const r = new ProgressRenderer((l) => lines.push(l));
    r.status({ vertexes: [{ digest: 'sha256:b', name: 'RUN x', started: '2026-12-01T00:00:00Z' }] });
    r.status({ logs: [{ vertex: 'sha256:b', data: Buffer.from('\x1b[32mok\x1b[0m\nnext\n') }] });
    expect(lines).toEqual(['#1 RUN x', '#1 \x1b[32mok\x1b[0m', '#1 next']);
  });
});

describe('ProgressRenderer and a registry cache that is not there', () => {
  it("logs a cache import's error but records no failed step: BuildKit builds on without that cache", () => {
    // buildx 0.13.1 on dockerd 26.1.5 here, `--cache-from type=registry,ref=…` naming a cache it could not read.
    const v = {
      digest: 'sha256:c6f0016781f45a2d3c6a10c6ee2eff617c5c636bfd6d218c89f4589d1675f198',
      name: 'importing cache manifest from localhost:5000/nobody/none:missing',
      started: '2026-12-07T06:28:27.781266351Z',
    };
    const error =
      'failed to configure registry cache importer: failed to authorize: failed to fetch anonymous token: Get "http://127.0.0.1:8080/registry/token?scope=repository%3Anobody%2Fnone%3Apull&service=codehub-build-registry": dial tcp 127.0.0.1:8080: connect: connection refused';
    const lines: string[] = [];
    const r = new ProgressRenderer((l) => lines.push(l));
    r.status({ vertexes: [v] });
    r.status({ vertexes: [{ ...v, completed: '2026-12-07T06:28:27.825701884Z', error }] });
    expect(lines).toEqual([
      '#1 importing cache manifest from localhost:5000/nobody/none:missing',
      `#1 no cache imported from there (the build goes on without it): ${error}`,
    ]);
    expect(r.steps).toHaveLength(1);
    expect(r.steps[0]).toMatchObject({ n: 1, name: v.name, cached: false, started: v.started, completed: '2026-12-07T06:28:27.825701884Z' });
    expect(r.steps[0]!.error).toBeUndefined();
  });
});
