/**
 * `codehub-build explain <commit|build-id>`: a build's insight (the API's `insight`) in the terminal, as the
 * build page draws it: why it missed the cache in one sentence, its steps as a timeline of block characters, its
 * layers and the image's size against the previous build. Text from the server is printed with its control
 * characters escaped: step names, file names and layer instructions come from the pushed repo.
 */
import { parseArgs } from 'node:util';
import type { BuildAnswer, InsightAnswer } from '../api/answers.js';
import { formatBytes, formatBytesDelta, formatDuration } from '../units.js';
import { escapeControls } from '../util/controls.js';
import { platformsText } from '../limits.js';
import { resolveBuilds } from './builds.js';
import { UsageError } from './errors.js';
import { clientConfig } from './rest.js';
import { printTable } from './table.js';

/** The terminal width every line is made to fit (a step's name is cut to fit, the cache sentence is not). */
export const WIDTH = 80;
/** The columns of the longest step's bar; shorter steps get their share of it. */
export const BAR_WIDTH = 30;
/** The widest layer instruction shown: the table then stays within WIDTH. */
const INSTRUCTION_WIDTH = 44;
/** The widest step label (`[build 3/4]`): a long stage name is cut rather than pushing the bars right. */
const LABEL_WIDTH = 14;

const STATUSES_ENDED = ['succeeded', 'failed', 'canceled', 'skipped'];

type Step = InsightAnswer['steps'][number];

/**
 * `explain <commit|build-id> [--json]`. Exit 0 when every build had its insight; 4 (nothing found, as for an
 * unknown build) when one had none yet or never will; errors of the lookup as `logs` and `vulns` give them.
 */
export async function explainCmd(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args, strict: true, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length !== 1) throw new UsageError('usage: codehub-build explain <commit|build-id> [--json]');
  const builds = await resolveBuilds(clientConfig(), positionals[0]!);
  if (values.json) {
    const insights = builds.map((b) => b.insight);
    console.log(JSON.stringify(insights.length === 1 ? insights[0] : insights, null, 2));
  } else {
    for (const [i, b] of builds.entries()) {
      if (i) console.log('');
      printExplanation(b);
    }
  }
  return builds.every((b) => b.insight) ? 0 : 4;
}

/** One build's explanation on stdout: its header, then its insight or why it has none and what to do. */
export function printExplanation(b: BuildAnswer): void {
  const ms = between(b.started_at, b.finished_at);
  const origin = b.ref_name ?? (b.upload ? `upload ${b.upload.folder}` : '-');
  console.log(`build #${b.id} ${inert(b.image)} @ ${inert(origin)}: ${b.status}${ms === null ? '' : ` in ${seconds(ms)}`}`);
  const insight = b.insight;
  if (!insight) {
    console.log(
      STATUSES_ENDED.includes(b.status)
        ? `  no insight: the build ended without one (it ran before this server kept insight, or ended before building); \`codehub-build rebuild ${b.id}\` makes a build that has it`
        : `  no insight yet: it is made when the build ends; wait for it with \`codehub-build logs -f ${b.id}\`, then run \`codehub-build explain ${b.id}\` again`,
    );
    return;
  }
  console.log(`  cache: ${insight.cache_miss ? inert(insight.cache_miss.sentence) : 'every step came from the cache'}`);
  if (insight.steps.length) {
    console.log('  steps (█ ran, ░ cached):');
    for (const line of timeline(insight.steps)) console.log(line);
  }
  if (insight.layers.length) {
    console.log('  layers, base first:');
    // The empty first column indents the table by printTable's column gap. A layer whose image config names no
    // instruction (an imported base's history) is `-`.
    printTable([
      ['', 'INSTRUCTION', 'SIZE', 'CHANGE'],
      ...insight.layers.map((l) => [
        '',
        clip(inert(l.instruction), INSTRUCTION_WIDTH) || '-',
        formatBytes(l.bytes),
        change(l.bytes_delta, insight.previous_build),
      ]),
    ]);
  }
  console.log(`  image: ${imageLine(insight)}`);
  const platforms = platformsText(b.platforms);
  if (platforms) console.log(`  platforms: ${platforms}`);
}

/**
 * The steps as lines of at most WIDTH columns: label, bar, duration, `ran` or `cached` in words (the bar's
 * shade says it too, but not to a reader without it), then as much of the instruction as fits.
 */
export function timeline(steps: readonly Step[]): string[] {
  const times = steps.map((s) => between(s.started_at, s.finished_at));
  const longest = Math.max(0, ...times.map((t) => t ?? 0));
  const labels = steps.map((s) => clip(inert(/^\[[^\]]*\]/.exec(s.name)?.[0] ?? ''), LABEL_WIDTH));
  const labelWidth = Math.max(...labels.map((l) => l.length));
  return steps.map((s, i) => {
    const t = times[i]!;
    const head = `  ${labels[i]!.padEnd(labelWidth)}  ${bar(t, longest, s.cached ? '░' : '█').padEnd(BAR_WIDTH)}  ${(t === null ? '-' : seconds(t)).padStart(6)}  ${(s.cached ? 'cached' : 'ran').padEnd(6)}  `;
    const instruction = inert(s.name.replace(/^\[[^\]]*\]\s*/, ''));
    return head + clip(instruction, Math.max(8, WIDTH - head.length));
  });
}

/**
 * A bar of `ms` against the longest step: the longest fills BAR_WIDTH columns, the others their share (rounded,
 * but at least one column for a step that took any time at all, so no step that ran looks instant); none when
 * the time is unknown.
 */
export function bar(ms: number | null, longest: number, block = '█'): string {
  if (ms === null || ms <= 0 || longest <= 0) return '';
  return block.repeat(Math.min(BAR_WIDTH, Math.max(1, Math.round((ms / longest) * BAR_WIDTH))));
}

/** The image's size and its change: against the previous build when there is one. */
function imageLine(i: InsightAnswer): string {
  if (i.image_bytes === null) return 'nothing was pushed';
  if (i.image_bytes_delta === null || i.previous_build === null)
    return `${formatBytes(i.image_bytes)} (no earlier build of this branch and image to compare with)`;
  return `${formatBytes(i.image_bytes)}, ${formatBytesDelta(i.image_bytes_delta)} against build #${i.previous_build}`;
}

/** A layer's change as the build page gives it: signed bytes; `new` when the previous build had no such layer, `-` when there is no previous build. */
function change(delta: number | null, previous: number | null): string {
  if (delta === null) return previous === null ? '-' : 'new';
  return formatBytesDelta(delta);
}

/** `0.4s`, `12.3s` under a minute (a step's tenths matter), then `1m30s`. */
function seconds(ms: number): string {
  return ms < 59_950 ? `${(ms / 1000).toFixed(1)}s` : formatDuration(Math.round(ms / 1000) * 1000);
}

function between(from: string | null, to: string | null): number | null {
  if (!from || !to) return null;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? Math.max(0, ms) : null;
}

const inert = escapeControls;
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
