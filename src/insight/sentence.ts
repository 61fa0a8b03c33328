import type { CacheMiss } from './types.js';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** A step as the sentence names it: `step 4 \`COPY src/ /src/\`` (the instruction without BuildKit's `[4/5]`). */
export function stepLabel(miss: Pick<CacheMiss, 'step' | 'number'>): string {
  const instruction = miss.step.replace(/^\[[^\]]*\]\s*/, '');
  return miss.number !== null ? `step ${miss.number} \`${instruction}\`` : `\`${instruction}\``;
}

/**
 * The cache miss in one sentence, as the build page, `codehub-build explain` and `git push -o wait` say it:
 * "step 4 `COPY src/ /src/` ran because 1 file changed: src/a.txt; the 2 steps after it ran because it did".
 */
export function cacheMissSentence(miss: CacheMiss): string {
  const b = miss.because;
  const causes: string[] = [];
  if (b.base) causes.push(`its base image moved: ${b.base}`);
  if (b.files_total > 0) {
    const shown = b.files.join(', ');
    const more = b.files_total > b.files.length ? ` and ${b.files_total - b.files.length} more` : '';
    causes.push(`${plural(b.files_total, 'file')} changed: ${shown}${more}`);
  }
  if (b.build_args.length) causes.push(`build arg${b.build_args.length === 1 ? '' : 's'} ${b.build_args.join(', ')} changed`);
  const why = causes.length
    ? `ran because ${causes.join(', and ')}`
    : `ran, and why cannot be told: ${b.unknown ?? 'nothing it reads is known to have changed'}`;
  const after = miss.after === 0 ? '' : miss.after === 1 ? '; the step after it ran because it did' : `; the ${miss.after} steps after it ran because it did`;
  return `${stepLabel(miss)} ${why}${after}`;
}
