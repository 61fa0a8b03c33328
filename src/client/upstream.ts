import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { UpstreamAnswer } from '../api/answers.js';
import { repoPathProblem } from '../names.js';
import { UsageError } from './errors.js';
import { clientConfig, getJson, request, sendJson } from './rest.js';

const USAGE =
  'usage: codehub-build repo upstream <owner/repo> [--url URL --forge github|gitea|gitlab [--api-url URL]] [--remove]\n' +
  '  the webhook secret comes from CODEHUB_WEBHOOK_SECRET (else one is made and printed once), the status token from CODEHUB_STATUS_TOKEN';

type LinkView = UpstreamAnswer;

/**
 * `repo upstream <owner/repo>`: show, set or remove the repo's link to a forge. Secrets come from the
 * environment, never from arguments (which `ps` and shell history keep); a webhook secret not given is made
 * here and printed once, to paste into the forge's webhook form.
 */
export async function upstreamCmd(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { url: { type: 'string' }, forge: { type: 'string' }, 'api-url': { type: 'string' }, remove: { type: 'boolean' } },
  });
  const [repo = ''] = positionals;
  const problem = repoPathProblem(repo);
  if (problem || positionals.length !== 1) throw new UsageError(`${problem ?? 'one repo, please'}\n${USAGE}`);
  const path = `/api/repos/${repo}/upstream`;
  const setting = values.url !== undefined || values.forge !== undefined || values['api-url'] !== undefined;
  if (values.remove) {
    if (setting) throw new UsageError(`--remove takes no other option\n${USAGE}`);
    await (await request(clientConfig(), path, 'DELETE')).text();
    console.log(`${repo} is no longer linked to an upstream; its forge's webhook deliveries are now ignored`);
    return 0;
  }
  if (!setting) {
    show(await getJson<LinkView>(clientConfig(), path));
    return 0;
  }
  if (values.url === undefined || values.forge === undefined) throw new UsageError(`linking needs both --url and --forge\n${USAGE}`);
  const given = process.env.CODEHUB_WEBHOOK_SECRET;
  const secret = given || randomBytes(24).toString('base64url');
  const token = process.env.CODEHUB_STATUS_TOKEN;
  const view = await sendJson<LinkView>(clientConfig(), path, 'PUT', {
    url: values.url,
    forge: values.forge,
    webhook_secret: secret,
    ...(token ? { status_token: token } : {}),
    ...(values['api-url'] ? { api_url: values['api-url'] } : {}),
  });
  show(view);
  if (!given) console.log(`webhook secret: ${secret}\n  (made now and shown only this once: paste it into the forge's webhook with the URL above)`);
  return 0;
}

function show(v: LinkView): void {
  console.log(`${v.repo} builds pushes to ${v.url} (${v.forge})`);
  console.log(`webhook URL: ${v.hook_url}   (push events; content type application/json; the link's secret)`);
  console.log(
    v.statuses ? `commit statuses: on, sent to ${v.api_url}` : 'commit statuses: off (no status token; set CODEHUB_STATUS_TOKEN and link again to send them)',
  );
  if (v.last_delivery)
    console.log(`last push delivery: ${v.last_delivery.at} ${v.last_delivery.result}${v.last_delivery.error ? `: ${v.last_delivery.error}` : ''}`);
}
