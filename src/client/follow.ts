/**
 * Following a build asked for: its log streamed to stdout as `logs --follow` does, Ctrl-C canceling it, and its
 * end said and turned into the command's exit status.
 */
import { once } from 'node:events';
import type { BuildAnswer as BuildView } from '../api/answers.js';
import type { BuildIo } from './build-io.js';
import { platformsText } from '../limits.js';
import { getJson, postJson, request, type ClientConfig } from './rest.js';

/** Statuses after which a build's log is complete. */
const TERMINAL = ['succeeded', 'failed', 'canceled', 'skipped'];

/**
 * Ctrl-C once the build is ours: the first asks the server to cancel it (once) and the log is followed to its
 * end, so the user sees the build stop; the second leaves at once. A Ctrl-C while the build is being asked for
 * cancels it as soon as its id is known.
 */
export class Interrupts {
  /** A cancel was asked for: the exit status is 130 whatever the build became. */
  canceled = false;
  private presses = 0;
  private id: number | undefined;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly cfg: ClientConfig,
    private readonly io: BuildIo,
  ) {}

  press(): void {
    this.presses++;
    if (this.presses > 1) {
      this.io.stderr.write(this.id === undefined ? '\n' : `\nleft build #${this.id} to the server (follow it: codehub-build logs ${this.id} --follow)\n`);
      this.io.exit(130);
      return;
    }
    if (this.id !== undefined) this.cancel(this.id);
  }

  started(id: number): void {
    this.id = id;
    if (this.presses > 0) this.cancel(id);
  }

  /** Waits for the cancel request, if one was sent, so the build's status read next reflects it. */
  settled(): Promise<void> {
    return this.pending;
  }

  private cancel(id: number): void {
    if (this.canceled) return;
    this.canceled = true;
    this.io.stderr.write(`canceling build #${id}…\n`);
    this.pending = postJson(this.cfg, `/api/builds/${id}/cancel`).then(
      () => undefined,
      (e: unknown) => {
        this.io.stderr.write(`codehub-build: could not cancel build #${id}: ${(e as Error).message}\n`);
      },
    );
  }
}

/**
 * The build's log to stdout until the build ends, as `logs --follow` streams it (waiting for stdout when it is
 * slower than the log). A broken stream is not an error here: the build's status, read next, says what happened.
 */
export async function followLog(cfg: ClientConfig, id: number, io: BuildIo): Promise<void> {
  const res = await request(cfg, `/api/builds/${id}/log?follow=1`);
  try {
    for await (const chunk of res.body) {
      if (!io.stdout.write(chunk as Buffer)) await once(io.stdout, 'drain');
    }
  } catch {
    res.body.destroy();
  }
}

/** The build's end as an exit status, and what to say about it: the image's reference and digest on success. */
export async function outcome(cfg: ClientConfig, id: number, canceled: boolean, io: BuildIo): Promise<number> {
  const b = await getJson<BuildView>(cfg, `/api/builds/${id}`);
  const reason = b.reason ? `: ${b.reason}` : '';
  let code = 1;
  if (b.status === 'succeeded') {
    const ref = b.image_refs[0] ?? b.image;
    const platforms = platformsText(b.platforms);
    // Before the reference, which stays stdout's last line for scripts to take.
    if (platforms) io.stdout.write(`platforms: ${platforms}\n`);
    io.stdout.write(`${b.digest ? `${ref}@${b.digest}` : ref}\n`);
    code = 0;
  } else if (b.status === 'failed') {
    io.stderr.write(`build #${id} failed${reason}\n`);
  } else if (b.status === 'canceled') {
    io.stderr.write(`build #${id} canceled${reason}\n`);
  } else if (!TERMINAL.includes(b.status)) {
    io.stderr.write(`the log of build #${id} ended while the build is ${b.status}: follow it with codehub-build logs ${id} --follow\n`);
  } else {
    io.stderr.write(`build #${id} ${b.status}${reason}\n`);
  }
  // The user interrupted: the shell's status for it, whatever the build became meanwhile.
  return canceled ? 130 : code;
}
