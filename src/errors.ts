/**
 * Errors the server raises on purpose. Each names its HTTP status and a stable machine code; `app.ts` maps
 * them to `{ "error": { code, message, details? } }` in one place. Anything else is a 500 that logs its stack.
 */
export class AppError extends Error {
  readonly status: number = 500;
  readonly code: string = 'internal';
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends AppError {
  override readonly status = 400;
  override readonly code = 'bad_request';
}
export class UnauthorizedError extends AppError {
  override readonly status = 401;
  override readonly code = 'unauthorized';
}
export class ForbiddenError extends AppError {
  override readonly status = 403;
  override readonly code = 'forbidden';
}
export class NotFoundError extends AppError {
  override readonly status = 404;
  override readonly code = 'not_found';
}
/** More than one thing matched (e.g. a sha prefix naming several commits); `details` lists the candidates. */
export class AmbiguousError extends AppError {
  override readonly status = 409;
  override readonly code = 'ambiguous';
}
/** The request conflicts with the resource's state (e.g. canceling a build that has ended). */
export class ConflictError extends AppError {
  override readonly status = 409;
  override readonly code = 'conflict';
}
/** The thing existed and was removed on purpose (e.g. a build log past its retention); the message says when. */
export class GoneError extends AppError {
  override readonly status = 410;
  override readonly code = 'gone';
}
/** Bytes sent are not what they were announced as (an uploaded file changed after its hash was taken). */
export class ContentMismatchError extends AppError {
  override readonly status = 400;
  override readonly code = 'content_mismatch';
}
export class PayloadTooLargeError extends AppError {
  override readonly status = 413;
  override readonly code = 'payload_too_large';
}
/** A service behind this one (the registry) refused or did not answer; the message says which and why. */
export class BadGatewayError extends AppError {
  override readonly status = 502;
  override readonly code = 'bad_gateway';
}
/** Too many failed sign-ins from one address; `retryAfter` is in seconds. */
export class TooManyRequestsError extends AppError {
  override readonly status = 429;
  override readonly code = 'too_many_requests';
  constructor(
    message: string,
    readonly retryAfter: number,
  ) {
    super(message);
  }
}
