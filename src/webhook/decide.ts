// One review body to its answer, with nothing but computation: parse, decode, handler, answer
// text and the log line's fields. The endpoint calls it on the request's thread, or a worker
// thread does (src/webhook/workers.ts): the result is plain data that crosses threads.
import type { AdmissionHandler, ReviewOutcome } from './handler.js';
import { reviewLogFields, type ReviewLogFields } from './log-review.js';
import { reviewJson } from './response.js';
import { BadReviewError, decodeReview } from './review.js';
import { parseJson, TransportError } from './transport.js';

export type ReviewVerdict =
  /**
   * An AdmissionReview answer (HTTP 200), whatever it decided: its JSON text, or that text's
   * UTF-8 bytes (as a review worker hands it over).
   */
  | { kind: 'answered'; body: string | Uint8Array; outcome: ReviewOutcome; log: ReviewLogFields }
  /** No review to answer: an HTTP error with a message (malformed body, not a review, our failure). */
  | { kind: 'refused'; status: number; reason: string; message: string };

export function refusal(err: unknown): ReviewVerdict & { kind: 'refused' } {
  if (err instanceof TransportError) {
    return { kind: 'refused', status: err.status, reason: err.reason, message: err.message };
  }
  if (err instanceof BadReviewError) {
    return { kind: 'refused', status: 400, reason: 'bad_review', message: err.message };
  }
  // Anything else is ours; its message may quote the input, so it is not passed on.
  return { kind: 'refused', status: 500, reason: 'internal', message: 'internal error' };
}

/** Never throws: every body comes to an answer or a refusal. */
export function decide(body: Buffer, handler: AdmissionHandler, maxDepth: number): ReviewVerdict {
  try {
    const { request } = decodeReview(parseJson(body, maxDepth));
    const result = handler(request);
    const log = reviewLogFields(request, result);
    return { kind: 'answered', body: reviewJson(result.response), outcome: result.outcome, log };
  } catch (err) {
    return refusal(err);
  }
}
