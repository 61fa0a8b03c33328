/**
 * How bad a vulnerability is, from its OSV record: a CVSS vector scored (v4.0, else v3.1 or v3.0; the scores are
 * ae-cvss-calculator's, FIRST's formulas), rated on CVSS's own scale; else the rating the database gave in
 * `database_specific.severity` (GHSA: LOW, MODERATE, HIGH, CRITICAL); else `unknown`. A vector that does not score
 * is passed over with a problem naming it, and the next source is tried: one bad vector does not hide a
 * database's rating, and nothing throws.
 */
import cvss from 'ae-cvss-calculator';
import type { OsvRecord } from './osv.js';

/** The ratings, worst first. `none` is CVSS 0.0 (a vector that says nothing is at risk), `unknown` is no usable source. */
export const RATINGS = ['critical', 'high', 'medium', 'low', 'none', 'unknown'] as const;
export type Rating = (typeof RATINGS)[number];

/** Where a rating came from: a scored vector of that OSV severity type, the database's own word, or nothing. */
export type SeveritySource = 'CVSS_V4' | 'CVSS_V3' | 'database_specific' | null;

export type Severity = {
  rating: Rating;
  /** The CVSS score, 0.0 to 10.0 with one decimal, when a vector was scored; null for a database's rating or none. */
  score: number | null;
  source: SeveritySource;
  /** The vector scored, as the record wrote it; null when no vector was. */
  vector: string | null;
  /** Each vector or database rating that could not be read, as a sentence naming it (`severity[0]: ...`). */
  problems: string[];
};

/** A score's rating on the CVSS v3/v4 scale: 0.0 none, 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical. */
export function ratingOf(score: number): Rating {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  if (score > 0) return 'low';
  return 'none';
}

/** The metrics a vector must have for its base score to mean anything (CVSS v3.x and v4.0 specifications). */
const BASE_METRICS = {
  '3.0': ['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A'],
  '3.1': ['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A'],
  '4.0': ['AV', 'AC', 'AT', 'PR', 'UI', 'VC', 'VI', 'VA', 'SC', 'SI', 'SA'],
} as const;
type CvssVersion = keyof typeof BASE_METRICS;

const PREFIX = /^CVSS:(3\.0|3\.1|4\.0)\/(.*)$/;
// v4.0's Provider Urgency takes words (U:Red, U:Amber): values are letters of either case.
const METRIC = /^([A-Za-z]+):([A-Za-z]+)$/;

/** A vector scored: its CVSS version and score; or why it cannot be scored. */
export type ScoredVector = { ok: true; version: CvssVersion; score: number } | { ok: false; problem: string };

/**
 * A CVSS v3.0, v3.1 or v4.0 vector string scored. v3.x gives its base score (what NVD and GHSA publish; temporal and
 * environmental metrics, when present, do not change it); v4.0 gives the one score of the metrics the vector has,
 * as v4.0 defines it (CVSS-B, or CVSS-BT/BE/BTE when threat or environmental metrics are set).
 */
export function scoreVector(vector: string): ScoredVector {
  const m = PREFIX.exec(vector);
  if (m === null) return { ok: false, problem: `"${cut(vector)}" is not a CVSS v3.0, v3.1 or v4.0 vector (it must start CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/)` };
  const version = m[1] as CvssVersion;
  const seen = new Set<string>();
  for (const part of m[2]!.split('/')) {
    const metric = METRIC.exec(part);
    if (metric === null) return { ok: false, problem: `"${cut(part)}" in CVSS:${version} vector "${cut(vector)}" is not a METRIC:VALUE pair` };
    if (seen.has(metric[1]!)) return { ok: false, problem: `CVSS:${version} vector "${cut(vector)}" sets ${metric[1]} twice` };
    seen.add(metric[1]!);
  }
  const missing = BASE_METRICS[version].filter((k) => !seen.has(k));
  if (missing.length > 0)
    return { ok: false, problem: `CVSS:${version} vector "${cut(vector)}" lacks the base metric${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` };
  let score: number | undefined;
  try {
    // The calculator throws on a metric or value its version does not define; that is the vector's fault, said as such.
    if (version === '4.0') score = new cvss.Cvss4P0(vector).calculateScores().overall;
    else score = (version === '3.1' ? new cvss.Cvss3P1(vector) : new cvss.Cvss3P0(vector)).calculateScores().base;
  } catch (err) {
    return { ok: false, problem: `CVSS:${version} vector "${cut(vector)}" does not score: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 10) {
    return { ok: false, problem: `CVSS:${version} vector "${cut(vector)}" scored ${String(score)}, not a score from 0 to 10` };
  }
  return { ok: true, version, score };
}

/** A database's own rating word read on the CVSS scale's names (GHSA says MODERATE for medium); undefined when unknown. */
export function databaseRating(word: string): Rating | undefined {
  switch (word.trim().toUpperCase()) {
    case 'CRITICAL':
      return 'critical';
    case 'HIGH':
      return 'high';
    case 'MODERATE':
    case 'MEDIUM':
      return 'medium';
    case 'LOW':
      return 'low';
    default:
      return undefined;
  }
}

type Candidate = { type: 'CVSS_V4' | 'CVSS_V3'; vector: string; score: number };

/**
 * A record's severity for a package. `affectedIndexes` are the record's `affected` entries that matched the package:
 * the schema lets a record rate each package apart (`affected[].severity`) instead of as a whole (`severity`), never
 * both, so the record's own list is read first and the entries' after. Of the scored vectors, v4.0 wins over v3.x (a
 * record that carries both was assessed again under the newer standard, and GHSA lists v4.0 first); among vectors of
 * the same version the highest score wins (the worst of the record's own assessments).
 */
export function severityOf(record: Pick<OsvRecord, 'severity' | 'database_specific' | 'affected'>, affectedIndexes: readonly number[] = []): Severity {
  const problems: string[] = [];
  const entries = record.severity.map((s, i) => ({ s, where: `severity[${i}]` }));
  for (const k of affectedIndexes) entries.push(...(record.affected[k]?.severity ?? []).map((s, i) => ({ s, where: `affected[${k}].severity[${i}]` })));

  const scored: Candidate[] = [];
  for (const { s, where } of entries) {
    if (s.type !== 'CVSS_V3' && s.type !== 'CVSS_V4') continue; // CVSS_V2 and Ubuntu's words are not rated here
    const result = scoreVector(s.score);
    if (!result.ok) problems.push(`${where}: ${result.problem}`);
    else if ((s.type === 'CVSS_V4') !== (result.version === '4.0')) problems.push(`${where}: type ${s.type} holds a CVSS:${result.version} vector`);
    else scored.push({ type: s.type, vector: s.score, score: result.score });
  }
  const best = pick(scored, 'CVSS_V4') ?? pick(scored, 'CVSS_V3');
  if (best) return { rating: ratingOf(best.score), score: best.score, source: best.type, vector: best.vector, problems };

  const words = [{ value: record.database_specific?.severity, where: 'database_specific.severity' }];
  for (const k of affectedIndexes) words.push({ value: record.affected[k]?.database_specific?.severity, where: `affected[${k}].database_specific.severity` });
  for (const { value, where } of words) {
    if (value === undefined) continue;
    const rating = typeof value === 'string' ? databaseRating(value) : undefined;
    if (rating) return { rating, score: null, source: 'database_specific', vector: null, problems };
    problems.push(`${where}: ${JSON.stringify(value)} is not a rating (LOW, MODERATE, MEDIUM, HIGH or CRITICAL)`);
  }
  return { rating: 'unknown', score: null, source: null, vector: null, problems };
}

function pick(scored: Candidate[], type: Candidate['type']): Candidate | undefined {
  let best: Candidate | undefined;
  for (const c of scored) if (c.type === type && (best === undefined || c.score > best.score)) best = c;
  return best;
}

/** A vector in a problem, cut short. */
function cut(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
