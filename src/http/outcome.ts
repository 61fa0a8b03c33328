import type { Parsed } from '../api/requests.js';
import type { Outcome, Refusal } from '../auth/outcome.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';

/** What a service did, or its refusal thrown as the HTTP error of its kind. */
export function done<T>(outcome: Outcome<T>): T {
  if (outcome.ok) return outcome;
  throw refusalError(outcome);
}

function refusalError(r: Refusal): Error {
  if (r.kind === 'conflict') return new ConflictError(r.problem);
  if (r.kind === 'missing') return new NotFoundError(r.problem);
  return new BadRequestError(r.problem);
}

/** Every problem a request's check found, each naming its field, as one 400 (the list in `details.problems`). */
export function checked<T>(result: Parsed<T>): T {
  if (result.ok) return result.value;
  throw new BadRequestError(result.problems.join('; '), { problems: result.problems });
}
