import type { InsightAnswer } from '../api/answers.js';
import type { Build, BuildStep } from '../store/schema.js';
import { cacheMissSentence } from './sentence.js';
import type { StoredInsight } from './types.js';

/** A Dockerfile step as BuildKit names it: `[2/5] COPY ...`, `[build 3/4] RUN ...` (a named stage). */
const DOCKERFILE_STEP = /^\[(?:[^\]\s]+ )?(\d+)\/(\d+)\]\s/;

/** The step's number in its stage (the 4 of `[4/5]`), or null for BuildKit's own steps (`[internal] ...`, exporting). */
export function stepNumber(name: string): number | null {
  const m = DOCKERFILE_STEP.exec(name);
  return m ? Number(m[1]) : null;
}

/** The Dockerfile's steps among a build's steps, in the order BuildKit reported them. */
export function dockerfileSteps(steps: readonly BuildStep[]): BuildStep[] {
  return steps.filter((s) => stepNumber(s.name) !== null);
}

/** The stored insight, or null when there is none (before the build ended, or a shape this version does not read). */
export function storedInsight(raw: Build['insight']): StoredInsight | null {
  return raw && (raw as { v?: unknown }).v === 1 ? (raw as unknown as StoredInsight) : null;
}

/** A build's insight as the API shows it: the stored one with the build's Dockerfile steps; null when it has none. */
export function insightView(b: Pick<Build, 'steps' | 'insight'>): InsightAnswer | null {
  const s = storedInsight(b.insight);
  if (!s) return null;
  return {
    steps: dockerfileSteps(b.steps ?? []).map((st) => ({
      n: st.n,
      name: st.name,
      started_at: st.started ?? null,
      finished_at: st.completed ?? null,
      cached: st.cached,
    })),
    cache_miss: s.cache_miss && { ...s.cache_miss, sentence: cacheMissSentence(s.cache_miss) },
    layers: s.layers,
    image_bytes: s.image_bytes,
    image_bytes_delta: s.image_bytes_delta,
    previous_build: s.previous_build,
  };
}
