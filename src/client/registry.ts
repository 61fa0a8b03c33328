import { parseArgs } from 'node:util';
import type { UsageAnswer as UsageView } from '../api/answers.js';
import { nameProblem, repoPathProblem } from '../names.js';
import { formatBytes } from '../units.js';
import { UsageError } from './errors.js';
import { clientConfig, getJson, request } from './rest.js';
import { printTable } from './table.js';

/** `usage [owner] [--json]`: an owner's registry usage (the caller's by default) against their quota, per image. */
export async function usageCmd(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length > 1) throw new UsageError('usage: codehub-build usage [owner] [--json]');
  const owner = positionals[0];
  const problem = owner === undefined ? null : nameProblem('user', owner);
  if (problem) throw new UsageError(problem);
  const u = await getJson<UsageView>(clientConfig(), owner ? `/api/users/${owner}/usage` : '/api/usage');
  if (values.json) {
    console.log(JSON.stringify(u, null, 2));
    return 0;
  }
  const quota = u.quota === null ? 'no quota' : `of a ${formatBytes(u.quota)} quota (${Math.floor((u.bytes / u.quota) * 100)} %)`;
  console.log(`${u.owner}: ${formatBytes(u.bytes)} (${u.bytes} bytes) ${quota}`);
  if (u.images.length)
    printTable([
      ['IMAGE', 'TAGS', 'SIZE'],
      ...u.images.map((i) => [i.image ? `${u.owner}/${i.image}` : `${u.owner} (top level, counted as ${u.owner}'s)`, String(i.tags), formatBytes(i.bytes)]),
    ]);
  console.log("each layer counts once however many images and tags share it; an image's size counts it once within the image");
  return 0;
}

/** `image rm <owner/image:tag>`: removes one tag of your image (and its manifest when no other tag needs it). */
export async function imageCmd(args: string[]): Promise<number> {
  const usage = 'usage: codehub-build image rm <owner/image:tag>';
  const [sub, ref = '', ...rest] = args;
  const m = /^([^/:]+)\/([^/:]+):([^/:]+)$/.exec(ref);
  if (sub !== 'rm' || rest.length || !m)
    throw new UsageError(`${sub === 'rm' && ref ? `${JSON.stringify(ref)} is not owner/image:tag` : 'which tag?'}\n${usage}`);
  const [, owner, image, tag] = m as unknown as [string, string, string, string];
  const problem = repoPathProblem(`${owner}/${image}`);
  if (problem) throw new UsageError(problem);
  const res = await request(clientConfig(), `/api/images/${owner}/${image}/tags/${encodeURIComponent(tag)}`, 'DELETE');
  const r = (await res.json()) as { removed: { tag: string | null; digest: string; how: string }[]; bytes: number };
  for (const x of r.removed)
    console.log(
      `removed ${owner}/${image}${x.tag === null ? `@${x.digest}` : `:${x.tag}`}${x.how === 'tombstone' ? ' (its manifest stays for its other tags)' : ''}`,
    );
  console.log(`${owner}'s usage falls by ${formatBytes(r.bytes)}; the registry frees the disk at its next garbage collection`);
  return 0;
}
