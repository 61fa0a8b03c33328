import type { BuildOutcome } from '../builder/driver.js';
import { escapeControls } from '../util/controls.js';

/**
 * What an attempt's end means for the build, decided without doing anything: the facts of the attempt come in,
 * a decision comes out (the closing log lines, what the store is told, whether the builder is checked again);
 * the runner carries it out (runner.ts, Runner.attempt).
 */

export interface OutcomeInput {
  /** The attempt's outcome, its problem masked already. */
  outcome: BuildOutcome;
  /** The outcome is the runner's own stop for a shutdown (the server is stopping), not the build's. */
  stopping: boolean;
  /** This attempt's number (1 for the first) and how many a build gets in all. */
  attempts: number;
  maxAttempts: number;
  /** Back-off before attempt n+1 is retryBaseMs * 2^(n-1), at most 5 minutes. */
  retryBaseMs: number;
  /**
   * Whether the registry takes pushes, asked only when `needsRegistryCheck` says so (else true); `registryDetail`
   * says why not (registry/gate.ts).
   */
  registryOpen: boolean;
  registryDetail: string;
  /** How long the attempt took, and the image references it pushed (for the success line). */
  seconds: number;
  imageRefs: readonly string[];
}

/** What the store is told at the end. */
export type StoreAction =
  /** Nothing: the build stays running in the store and the next start queues it again. */
  | { kind: 'none' }
  | { kind: 'finish'; status: 'succeeded'; digest: string }
  /** `digest`: a failed build whose image was pushed all the same (its scan blocked it). */
  | { kind: 'finish'; status: 'failed' | 'canceled'; reason: string; reasonCode: string; digest?: string }
  /** Queued again, not before `delayMs` from when the record is written; `refund`: the attempt does not count. */
  | { kind: 'requeue'; delayMs: number; reason: string; refund: boolean };

export interface OutcomeDecision {
  kind: 'stopped' | 'succeeded' | 'wait-registry' | 'canceled' | 'retry' | 'failed';
  /** The log's closing lines, in order. */
  lines: string[];
  store: StoreAction;
  /** An infrastructure error: the builder's health is checked again now. */
  recheckBuilder: boolean;
}

const MAX_DELAY_MS = 300_000;

/** Whether the decision needs to know if the registry takes pushes: only an infrastructure error asks. */
export function needsRegistryCheck(outcome: BuildOutcome, stopping: boolean): boolean {
  return !outcome.ok && !stopping && outcome.code === 'infrastructure';
}

export function decideOutcome(input: OutcomeInput): OutcomeDecision {
  const { outcome, attempts, maxAttempts } = input;
  const took = `${input.seconds.toFixed(1)}s`;
  // A problem may quote a build arg or an error's own lines: one line in the log, never a forged closing line.
  if (!outcome.ok && input.stopping) {
    return {
      kind: 'stopped',
      store: { kind: 'none' },
      recheckBuilder: false,
      lines: [`--- stopped after ${took} because the server is stopping; it runs again when the server starts`],
    };
  }
  if (outcome.ok) {
    return {
      kind: 'succeeded',
      store: { kind: 'finish', status: 'succeeded', digest: outcome.digest },
      recheckBuilder: false,
      lines: [`--- succeeded in ${took}: pushed ${input.imageRefs.join(', ')} @ ${outcome.digest}`],
    };
  }
  const problem = escapeControls(outcome.problem);
  if (outcome.code === 'infrastructure' && !input.registryOpen) {
    // The registry went away or read-only (its garbage collector) under the build: not the build's fault,
    // so the attempt does not count; it waits queued until the registry takes pushes again.
    return {
      kind: 'wait-registry',
      recheckBuilder: false,
      store: { kind: 'requeue', delayMs: 0, reason: `waiting for the registry: ${input.registryDetail}`, refund: true },
      lines: [
        `--- the registry does not take pushes (${input.registryDetail}) after ${took}: ${problem}`,
        '--- the build waits queued until the registry is back; this attempt does not count',
      ],
    };
  }
  if (outcome.code === 'canceled') {
    // The record already says canceled and why (cancel API or a newer push); the log says it too.
    return {
      kind: 'canceled',
      recheckBuilder: false,
      store: { kind: 'finish', status: 'canceled', reason: outcome.problem, reasonCode: 'canceled' },
      lines: [`--- canceled after ${took}: ${problem}`],
    };
  }
  if (outcome.code === 'infrastructure' && attempts < maxAttempts) {
    const delay = Math.min(input.retryBaseMs * 2 ** (attempts - 1), MAX_DELAY_MS);
    return {
      kind: 'retry',
      recheckBuilder: true,
      store: { kind: 'requeue', delayMs: delay, reason: `infrastructure error, retrying: ${outcome.problem}`, refund: false },
      lines: [
        `--- infrastructure error after ${took}: ${problem}`,
        `--- retrying in ${(delay / 1000).toFixed(1)}s (attempt ${attempts + 1} of ${maxAttempts})`,
      ],
    };
  }
  const kind = outcome.code === 'infrastructure' ? `infrastructure error, after ${attempts} attempt${attempts > 1 ? 's' : ''}` : outcome.code;
  return {
    kind: 'failed',
    recheckBuilder: outcome.code === 'infrastructure',
    store: { kind: 'finish', status: 'failed', reason: outcome.problem, reasonCode: outcome.code, ...(outcome.digest ? { digest: outcome.digest } : {}) },
    lines: [`--- failed after ${took} (${kind}): ${problem}`],
  };
}
