/** A command used the wrong way: the CLI prints the message and points at `help`, exit status 1. */
export class UsageError extends Error {}

/** The server answered with an error, or could not be reached: the message is a sentence for the user. */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly status = 0,
    readonly code = '',
    readonly details?: unknown,
  ) {
    super(message);
  }
}
