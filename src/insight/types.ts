/**
 * What a build keeps of its insight (builds.insight, JSON): the API's `insight` (src/api/answers.ts BuildInsight)
 * without its steps, which come from the build's own `steps` when it is shown, plus `inputs`, what the next build
 * of the branch and image compares itself with. Never an arg's value: an HMAC of it under the server's key.
 */
import type { InsightAnswer } from '../api/answers.js';

/** As stored: the API's cache miss without its sentence, which is made when it is shown (src/insight/sentence.ts). */
export type CacheMiss = Omit<NonNullable<InsightAnswer['cache_miss']>, 'sentence'>;
export type CacheMissCause = CacheMiss['because'];
export type InsightLayer = InsightAnswer['layers'][number];

export interface InsightInputs {
  /** Each build arg's name and HMAC-SHA-256 of its value (hex, first 32), under the server's insight key. */
  args: Record<string, string>;
  /** Each base image the build resolved (`FROM ref@sha256:...` in its steps): ref -> digest. */
  bases: Record<string, string>;
  /** Each layer's blob digest, base first, for the next build's per-layer change. */
  layers: string[];
}

export interface StoredInsight {
  /** 1: this shape; a later shape may read older ones. */
  v: 1;
  cache_miss: CacheMiss | null;
  layers: InsightLayer[];
  image_bytes: number | null;
  image_bytes_delta: number | null;
  previous_build: number | null;
  inputs: InsightInputs;
}
