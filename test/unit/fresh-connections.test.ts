/**
 * The test process's fetch opens a connection per request (test/helpers/fresh-connections.ts), so no test meets
 * a pooled socket the server closed while the test's own event loop was blocked.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('fetch in the tests', () => {
  const ports = new Set<number>();
  const server = createServer((req, res) => {
    ports.add(req.socket.remotePort!);
    res.end(req.headers.connection ?? '');
  });
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('opens a new connection for every request, whatever form its headers take', async () => {
    ports.clear();
    const answers = [
      await (await fetch(url)).text(),
      await (await fetch(url, { headers: { accept: 'text/plain' } })).text(),
      await (await fetch(new Request(url, { headers: new Headers({ accept: 'text/plain' }) }))).text(),
      await (await fetch(url, { method: 'POST', body: 'x', headers: [['content-type', 'text/plain']] })).text(),
    ];
    expect(answers).toEqual(['close', 'close', 'close', 'close']);
    expect(ports.size).toBe(4);
  });

  it('keeps a connection alive when a test asks for it', async () => {
    ports.clear();
    for (let i = 0; i < 3; i++) expect(await (await fetch(url, { headers: { connection: 'keep-alive' } })).text()).toBe('keep-alive');
    // Fewer connections than requests: undici may open a second before the first is back in its pool.
    expect(ports.size).toBeLessThan(3);
  });
});
