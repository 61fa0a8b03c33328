import { describe, expect, it } from 'vitest';
import { pkt, PushCommandReader, writePushRefusal } from '../../src/http/git-refusal.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

/** What writePushRefusal sends, caught from a minimal response. */
function refusal(commands: { refs: string[]; capabilities: string[] }, lines: string[]): { status: number; headers: Record<string, string>; body: Buffer } {
  const out = { status: 0, headers: {} as Record<string, string>, body: Buffer.alloc(0) as Buffer };
  writePushRefusal(
    {
      writeHead: (status: number, headers: Record<string, string>) => {
        out.status = status;
        out.headers = headers;
      },
      end: (b: Buffer) => {
        out.body = b;
      },
    } as never,
    commands,
    'low on space',
    lines,
  );
  return out;
}

describe("refusing a push in git's protocol", () => {
  it('reads the refs and capabilities of a receive-pack request, split anywhere, and stops at its flush', () => {
    const body = Buffer.concat([
      pkt(`${A} ${B} refs/heads/main\0report-status side-band-64k agent=git/2.39\n`),
      pkt(`${'0'.repeat(40)} ${B} refs/tags/v1\n`),
      Buffer.from('0000'),
      Buffer.from('PACK\0\0\0\x02 not pkt-lines'),
    ]);
    const r = new PushCommandReader();
    for (let i = 0; i < body.length; i += 7) r.push(body.subarray(i, i + 7));
    expect(r.commands).toEqual({ refs: ['refs/heads/main', 'refs/tags/v1'], capabilities: ['report-status', 'side-band-64k', 'agent=git/2.39'] });
  });

  it('takes garbage as no command rather than throwing', () => {
    const r = new PushCommandReader();
    r.push(Buffer.from('zzzz not a pkt-line at all'));
    expect(r.commands).toEqual({ refs: [], capabilities: [] });
  });

  it('answers with the lines on side band 2 and every ref rejected in a report on side band 1', () => {
    const { status, headers, body } = refusal({ refs: ['refs/heads/main'], capabilities: ['report-status', 'side-band-64k'] }, ['codehub-build: full']);
    expect(status).toBe(200);
    expect(headers['content-type']).toBe('application/x-git-receive-pack-result');
    const report = Buffer.concat([pkt('unpack ok\n'), pkt('ng refs/heads/main low on space\n'), Buffer.from('0000')]);
    expect(
      body.equals(Buffer.concat([pkt(Buffer.from('\x02codehub-build: full\n')), pkt(Buffer.concat([Buffer.from([1]), report])), Buffer.from('0000')])),
    ).toBe(true);
    expect(Number(headers['content-length'])).toBe(body.length);
  });

  it('without a side band sends the report alone', () => {
    const { body } = refusal({ refs: ['refs/heads/a', 'refs/heads/b'], capabilities: ['report-status'] }, ['not shown']);
    expect(body.toString()).toBe(`${pkt('unpack ok\n')}${pkt('ng refs/heads/a low on space\n')}${pkt('ng refs/heads/b low on space\n')}0000`);
  });
});
