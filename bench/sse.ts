/**
 * Line latency to an SSE client: a real build prints 200 lines 20 ms apart; for each line, the time from
 * the server reading it from BuildKit's client (the line's stored time) to the SSE client receiving it.
 */
import type { TestServer } from '../test/helpers/server.js';
import { WorkRepo } from '../test/helpers/git.js';
import { Scratch } from './lib/scratch.js';
import { stats, type Stats } from './lib/stats.js';

export async function sseLatency(server: TestServer, owner: string, token: string): Promise<Stats> {
  const tmp = new Scratch();
  try {
    return await latency(server, owner, token, tmp);
  } finally {
    tmp.remove();
  }
}

async function latency(server: TestServer, owner: string, token: string, tmp: Scratch): Promise<Stats> {
  const repo = tmp.repo(
    await WorkRepo.create({ Dockerfile: `FROM localhost:5000/cache/busybox:latest\nRUN for i in $(seq 1 200); do echo ${owner}-$i; usleep 20000; done\n` }),
  );
  const sha = (await repo.git.revparse(['HEAD'])).trim();
  await repo.push(server.gitUrl(owner, token, owner, 'sse'), ['main']);
  const { body } = await server.api<{ builds: { id: number }[] }>(`/api/builds?commit=${sha}`, token);
  const id = body.builds[0]!.id;
  const res = await fetch(`${server.url}/api/builds/${id}/log`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } });
  const received = new Map<number, number>();
  let buf = '';
  for await (const chunk of res.body!) {
    const now = Date.now();
    buf += Buffer.from(chunk as Uint8Array).toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const n = /^id: (\d+)$/m.exec(block)?.[1];
      if (n && block.includes(`${owner}-`)) received.set(Number(n), now);
    }
  }
  const lines = await (await fetch(`${server.url}/api/builds/${id}/log?timestamps=1`, { headers: { authorization: `Bearer ${token}` } })).text();
  const latency: number[] = [];
  lines.split('\n').forEach((l, idx) => {
    const got = received.get(idx + 1);
    if (got && l.includes(`${owner}-`)) latency.push(got - Date.parse(l.slice(0, 24)));
  });
  if (latency.length < 150) throw new Error(`the SSE client saw only ${latency.length} of 200 lines`);
  return stats(latency);
}
