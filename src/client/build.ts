/**
 * `codehub-build build [PATH] [-f FILE] [-t NAME[:TAG]] ...`: a workspace's own `docker build`, built by the
 * server (issue 16, DESIGN.md "Building a workspace folder without a commit", docs/research/upload-builds.md).
 *
 * The steps, one module each: read the flags as docker build does (build-args.ts, pure but for reading secret
 * files); describe the folder as a build context (context-walk.ts: .dockerignore applied, every file hashed),
 * send that manifest (`POST /api/uploads`) and upload, streamed from disk, only the blobs the server says it lacks,
 * then ask for the build (`POST /api/uploads/:id/build`) (upload.ts); follow its log as `logs --follow` does,
 * Ctrl-C canceling it, and exit with the build's status, the image's reference and digest on stdout's last line
 * (follow.ts). Where all of them write is build-io.ts.
 */
import { BUILD_USAGE, parseBuildArgs, type BuildPlan } from './build-args.js';
import { defaultIo, type BuildIo } from './build-io.js';
import { UsageError } from './errors.js';
import { followLog, Interrupts, outcome } from './follow.js';
import { clientConfig, type ClientConfig } from './rest.js';
import { requestBuild, sendContext } from './upload.js';

// The command's one door: what its callers and tests use is named here, wherever it lives.
export { parseBuildArgs, type BuildPlan } from './build-args.js';
export type { BuildIo } from './build-io.js';

/** `codehub-build build ...`: the exit status is the build's (0 succeeded, 1 otherwise, 130 after a Ctrl-C). */
export async function buildCmd(args: string[]): Promise<number> {
  const parsed = parseBuildArgs(args, process.env, process.cwd());
  if (!parsed.ok) throw new UsageError(`${parsed.problems.join('\n')}\n${BUILD_USAGE}`);
  return runBuild(clientConfig(), parsed.plan);
}

/** Uploads the plan's folder, builds it, follows the log; returns the exit status. */
export async function runBuild(cfg: ClientConfig, plan: BuildPlan, io: Partial<BuildIo> = {}): Promise<number> {
  const out: BuildIo = { ...defaultIo(), ...io };
  const sent = await sendContext(cfg, plan, out);
  const interrupts = new Interrupts(cfg, out);
  // Listening from before the build is asked for: a Ctrl-C while it is being queued cancels it once it has an id.
  const stopListening = out.onInterrupt(() => interrupts.press());
  try {
    const build = await requestBuild(cfg, sent, { ...plan.request, dockerfile: sent.walk.dockerfile }, out);
    out.stderr.write(`build #${build.id} queued: ${build.web_url}\n`);
    interrupts.started(build.id);
    await followLog(cfg, build.id, out);
    await interrupts.settled();
    return await outcome(cfg, build.id, interrupts.canceled, out);
  } finally {
    stopListening();
  }
}
