import { ClientError, UsageError } from './errors.js';

/**
 * Runs a CLI's main and turns what it throws into a message and an exit status: 1 for a usage or client error
 * (4 when the server said 404: nothing found), 70 for a bug (with its stack). `known` lets the server's CLI add
 * its own error classes and a hint for each.
 */
export function runMain(main: () => Promise<number>, known: (e: unknown) => { hint: string } | undefined = () => undefined): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      // node:util parseArgs says what was wrong with the flags (unknown option, missing value): a usage error.
      if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) e = new UsageError((e as Error).message);
      const extra = known(e);
      if (e instanceof UsageError || e instanceof ClientError || extra) {
        process.stderr.write(`codehub-build: ${(e as Error).message}${extra?.hint ?? ''}\n`);
        if (e instanceof UsageError) process.stderr.write('run `codehub-build help` for usage\n');
        process.exitCode = e instanceof ClientError && e.status === 404 ? 4 : 1;
      } else {
        process.stderr.write(`codehub-build: unexpected error: ${(e as Error).stack ?? e}\n`);
        process.exitCode = 70;
      }
    },
  );
}
