import { parseConfig } from '../config/parse.js';
import { CONFIG_FILE, type ImageConfig } from '../config/types.js';
import { CommitReader } from '../git/read.js';
import type { RepoStore } from '../git/repos.js';
import { maskedArgNames } from '../logs/mask.js';
import { isPush, type Build } from '../store/schema.js';
import type { HeldSecrets } from '../uploads/held-secrets.js';

/** A build's arguments or secrets by name, or the one problem that stops the build (said to the pusher). */
export type Resolved = { ok: true; values: Record<string, string> } | { ok: false; problem: string };

/**
 * A build's args with the values its stored config holds as `***` (mask.ts storableArgs) put back: for a
 * push from the commit's own codehub-build.yaml (where they are committed; the same commit parses the same),
 * for an upload from the server's memory (held with its secrets). Not ok, saying why, when they cannot be had.
 */
export async function resolveArgs(b: Build, image: ImageConfig, deps: { repos: RepoStore; held?: HeldSecrets | undefined }): Promise<Resolved> {
  const masked = maskedArgNames(image.args);
  if (masked.length === 0) return { ok: true, values: image.args };
  let source: Record<string, string> | undefined;
  if (isPush(b)) {
    const at = `${CONFIG_FILE} at ${b.commitSha.slice(0, 12)}`;
    source = await committedArgs(b.repo, b.commitSha, image.name, deps.repos);
    const lost = masked.filter((k) => source?.[k] === undefined);
    if (lost.length)
      return {
        ok: false,
        problem: `the value of build arg ${lost.join(', ')} is not stored by the server (its name looks secret), and ${at} no longer gives it for image ${image.name}`,
      };
  } else {
    source = deps.held?.args(b.id);
    const lost = masked.filter((k) => source?.[k] === undefined);
    if (lost.length)
      return {
        ok: false,
        problem: `the value of build arg ${lost.join(', ')} was held in the server's memory only (its name looks secret), and the server restarted since the build was asked for: run codehub-build build again`,
      };
  }
  return { ok: true, values: { ...image.args, ...Object.fromEntries(masked.map((k) => [k, source![k]!])) } };
}

/** The args `image` has in the commit's codehub-build.yaml, or undefined when the file or the image is not there. */
async function committedArgs(repo: string, sha: string, imageName: string, repos: RepoStore): Promise<Record<string, string> | undefined> {
  const [owner = '', name = ''] = repo.split('/');
  const reader = new CommitReader(repos.path(owner, name));
  try {
    const file = await reader.readFile(sha, CONFIG_FILE);
    if (!file) return undefined;
    const parsed = parseConfig(file.toString('utf8'), name);
    return parsed.ok ? parsed.value.images.find((i) => i.name === imageName)?.args : undefined;
  } finally {
    reader.close();
  }
}
