import type { Forge, ForgeName } from './forge.js';
import { gitea } from './gitea.js';
import { github } from './github.js';
import { gitlab } from './gitlab.js';

export type { Forge, ForgeEvent, ForgeName, HttpCall, ParseResult, PushEvent, StatusState, StatusUpdate, Verification, WebhookRequest } from './forge.js';

const FORGES: Record<ForgeName, Forge> = { github, gitea, gitlab };

/** The names `forge` may take in a link (`PUT /api/repos/:owner/:repo/upstream`) and in `POST /hooks/:forge`. */
export const FORGE_NAMES = Object.keys(FORGES) as ForgeName[];

export function isForgeName(name: unknown): name is ForgeName {
  return typeof name === 'string' && Object.hasOwn(FORGES, name);
}

export function forgeNamed(name: ForgeName): Forge {
  return FORGES[name];
}
