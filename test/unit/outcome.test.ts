import { describe, expect, it } from 'vitest';
import type { BuildOutcome } from '../../src/builder/driver.js';
import { decideOutcome, needsRegistryCheck, type OutcomeDecision, type OutcomeInput } from '../../src/builds/outcome.js';

const ok: BuildOutcome = { ok: true, digest: 'sha256:abc', steps: [] };
const fail = (code: 'user' | 'infrastructure' | 'timeout' | 'canceled', problem = 'it broke'): BuildOutcome => ({ ok: false, code, problem, steps: [] });

function input(outcome: BuildOutcome, over: Partial<OutcomeInput> = {}): OutcomeInput {
  return {
    outcome,
    stopping: false,
    attempts: 1,
    maxAttempts: 3,
    retryBaseMs: 2000,
    registryOpen: true,
    registryDetail: '',
    seconds: 12.34,
    imageRefs: ['localhost:5000/alice/web:main', 'localhost:5000/alice/web:abc'],
    ...over,
  };
}

describe('outcome decision', () => {
  const cases: [string, OutcomeInput, OutcomeDecision][] = [
    [
      'success: finished with its digest',
      input(ok),
      {
        kind: 'succeeded',
        recheckBuilder: false,
        store: { kind: 'finish', status: 'succeeded', digest: 'sha256:abc' },
        lines: ['--- succeeded in 12.3s: pushed localhost:5000/alice/web:main, localhost:5000/alice/web:abc @ sha256:abc'],
      },
    ],
    [
      'the server stopping: nothing recorded, it runs again at the next start',
      input(fail('infrastructure', 'shutdown'), { stopping: true }),
      {
        kind: 'stopped',
        recheckBuilder: false,
        store: { kind: 'none' },
        lines: ['--- stopped after 12.3s because the server is stopping; it runs again when the server starts'],
      },
    ],
    [
      'an infrastructure error with attempts left: retried after back-off, the builder checked',
      input(fail('infrastructure'), { attempts: 2 }),
      {
        kind: 'retry',
        recheckBuilder: true,
        store: { kind: 'requeue', delayMs: 4000, reason: 'infrastructure error, retrying: it broke', refund: false },
        lines: ['--- infrastructure error after 12.3s: it broke', '--- retrying in 4.0s (attempt 3 of 3)'],
      },
    ],
    [
      'the back-off stops at 5 minutes',
      input(fail('infrastructure'), { attempts: 9, maxAttempts: 10, retryBaseMs: 10_000 }),
      {
        kind: 'retry',
        recheckBuilder: true,
        store: { kind: 'requeue', delayMs: 300_000, reason: 'infrastructure error, retrying: it broke', refund: false },
        lines: ['--- infrastructure error after 12.3s: it broke', '--- retrying in 300.0s (attempt 10 of 10)'],
      },
    ],
    [
      'an infrastructure error on the last attempt: failed, the builder checked',
      input(fail('infrastructure'), { attempts: 3 }),
      {
        kind: 'failed',
        recheckBuilder: true,
        store: { kind: 'finish', status: 'failed', reason: 'it broke', reasonCode: 'infrastructure' },
        lines: ['--- failed after 12.3s (infrastructure error, after 3 attempts): it broke'],
      },
    ],
    [
      'one attempt in all: "attempt", not "attempts"',
      input(fail('infrastructure'), { maxAttempts: 1 }),
      {
        kind: 'failed',
        recheckBuilder: true,
        store: { kind: 'finish', status: 'failed', reason: 'it broke', reasonCode: 'infrastructure' },
        lines: ['--- failed after 12.3s (infrastructure error, after 1 attempt): it broke'],
      },
    ],
    [
      'an infrastructure error while the registry takes no pushes: waits queued, the attempt refunded',
      input(fail('infrastructure'), { attempts: 3, registryOpen: false, registryDetail: 'read-only (gc)' }),
      {
        kind: 'wait-registry',
        recheckBuilder: false,
        store: { kind: 'requeue', delayMs: 0, reason: 'waiting for the registry: read-only (gc)', refund: true },
        lines: [
          '--- the registry does not take pushes (read-only (gc)) after 12.3s: it broke',
          '--- the build waits queued until the registry is back; this attempt does not count',
        ],
      },
    ],
    [
      "the user's failure: failed at once, attempts left or not",
      input(fail('user', 'RUN false')),
      {
        kind: 'failed',
        recheckBuilder: false,
        store: { kind: 'finish', status: 'failed', reason: 'RUN false', reasonCode: 'user' },
        lines: ['--- failed after 12.3s (user): RUN false'],
      },
    ],
    [
      'a timeout: failed',
      input(fail('timeout', 'over 1h')),
      {
        kind: 'failed',
        recheckBuilder: false,
        store: { kind: 'finish', status: 'failed', reason: 'over 1h', reasonCode: 'timeout' },
        lines: ['--- failed after 12.3s (timeout): over 1h'],
      },
    ],
    [
      'canceled: recorded canceled with its reason',
      input(fail('canceled', 'superseded by #9')),
      {
        kind: 'canceled',
        recheckBuilder: false,
        store: { kind: 'finish', status: 'canceled', reason: 'superseded by #9', reasonCode: 'canceled' },
        lines: ['--- canceled after 12.3s: superseded by #9'],
      },
    ],
    [
      "a reason's line breaks cannot forge a closing line; the store keeps the reason as it is",
      input(fail('user', 'x\n--- succeeded')),
      {
        kind: 'failed',
        recheckBuilder: false,
        store: { kind: 'finish', status: 'failed', reason: 'x\n--- succeeded', reasonCode: 'user' },
        lines: ['--- failed after 12.3s (user): x\\n--- succeeded'],
      },
    ],
  ];
  it.each(cases)('%s', (_, given, expected) => expect(decideOutcome(given)).toEqual(expected));

  it('a closed registry changes nothing but an infrastructure error', () => {
    for (const o of [ok, fail('user'), fail('timeout'), fail('canceled')]) {
      expect(decideOutcome(input(o, { registryOpen: false }))).toEqual(decideOutcome(input(o)));
    }
    expect(decideOutcome(input(fail('infrastructure'), { stopping: true, registryOpen: false })).kind).toBe('stopped');
  });

  it('asks whether the registry takes pushes only after an infrastructure error', () => {
    expect([ok, fail('user'), fail('timeout'), fail('canceled'), fail('infrastructure')].map((o) => needsRegistryCheck(o, false))).toEqual([
      false,
      false,
      false,
      false,
      true,
    ]);
    expect(needsRegistryCheck(fail('infrastructure'), true)).toBe(false);
  });
});
