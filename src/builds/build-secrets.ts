import type { ImageConfig } from '../config/types.js';
import type { Resolved } from './build-args.js';
import type { SecretSource } from '../secrets/source.js';
import { isPush, type Build } from '../store/schema.js';
import type { HeldSecrets } from '../uploads/held-secrets.js';

/**
 * The values of the secrets the image names: for a push from the repo's sealed secrets (secrets/vault.ts), for an
 * upload from the server's memory (they came with its request and are never stored). Not ok, saying why, when
 * one cannot be had.
 */
export function resolveSecrets(b: Build, image: ImageConfig, deps: { secrets: SecretSource; held?: HeldSecrets | undefined }): Resolved {
  if (!isPush(b)) {
    const held = deps.held?.get(b.id) ?? {};
    const lost = image.secrets.filter((name) => held[name] === undefined);
    if (lost.length)
      return {
        ok: false,
        problem: `the values of secret ${lost.join(', ')} were held in the server's memory only, and the server restarted since the build was asked for: run codehub-build build again`,
      };
    return { ok: true, values: held };
  }
  const values: Record<string, string> = {};
  for (const name of image.secrets) {
    let v: string | undefined;
    try {
      v = deps.secrets.get(b.repo, name);
    } catch (e) {
      return { ok: false, problem: (e as Error).message };
    }
    if (v === undefined) return { ok: false, problem: `secret "${name}" is not set for ${b.repo}: codehub-build secret set ${b.repo} ${name} < file` };
    values[name] = v;
  }
  return { ok: true, values };
}
