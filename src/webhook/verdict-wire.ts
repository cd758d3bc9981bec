// How a batch of verdicts crosses from a review worker to the main thread: the answers' text
// as UTF-8 in one buffer, moved rather than copied, and everything else (outcome, log fields,
// refusals) as one flat array of strings, numbers and booleans. The structured clone copies
// such an array about four times faster than the same data as one object per verdict
// (measured: 0.7 against 3.0 µs a verdict, sent and received), and that copy is paid on both
// threads for every review.
import type { ReviewOutcome } from './handler.js';
import type { ReviewVerdict } from './decide.js';
import type { ReviewLogFields } from './log-review.js';

export type WireValue = string | number | boolean | null;

export interface VerdictBatch {
  /** Every answer's text, one after the other. */
  bytes: ArrayBuffer;
  /** Per verdict: an answer's length in `bytes` and its fields, or a refusal (negative status first). */
  fields: WireValue[];
}

/** Fields an answered verdict takes in `fields`, its byte length included. */
const ANSWERED = 13;

// The answers are written here first (each string once, without measuring it beforehand),
// then copied out in one piece: this thread's own, grown when a batch needs more.
let scratch = Buffer.allocUnsafeSlow(256 * 1024);

function room(at: number, needed: number): void {
  if (at + needed <= scratch.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(2 * scratch.length, at + needed));
  scratch.copy(bigger, 0, 0, at);
  scratch = bigger;
}

export function encodeVerdicts(verdicts: readonly ReviewVerdict[]): VerdictBatch {
  const fields: WireValue[] = [];
  let at = 0;
  for (const v of verdicts) {
    if (v.kind === 'refused') {
      fields.push(-v.status, v.reason, v.message);
      continue;
    }
    const start = at;
    if (typeof v.body === 'string') {
      // A UTF-16 code unit takes at most 3 bytes of UTF-8.
      room(at, 3 * v.body.length);
      at += scratch.write(v.body, at);
    } else {
      room(at, v.body.byteLength);
      scratch.set(v.body, at);
      at += v.body.byteLength;
    }
    const l = v.log;
    fields.push(
      at - start,
      v.outcome,
      l.uid,
      l.namespace,
      l.name,
      l.operation,
      l.resource,
      l.dryRun,
      l.decision,
      l.reason ?? null,
      l.warnings ?? null,
      l.errorName ?? null,
      l.errorAt ?? null,
    );
  }
  const bytes = new Uint8Array(at);
  bytes.set(scratch.subarray(0, at));
  return { bytes: bytes.buffer, fields };
}

/** The verdicts of a batch in order; each answer's body is a view of the batch's bytes. */
export function decodeVerdicts(batch: VerdictBatch): ReviewVerdict[] {
  const { fields } = batch;
  const verdicts: ReviewVerdict[] = [];
  let at = 0;
  for (let i = 0; i < fields.length;) {
    const head = fields[i] as number;
    if (head < 0) {
      verdicts.push({
        kind: 'refused',
        status: -head,
        reason: fields[i + 1] as string,
        message: fields[i + 2] as string,
      });
      i += 3;
      continue;
    }
    const log: ReviewLogFields = {
      uid: fields[i + 2] as string,
      namespace: fields[i + 3] as string,
      name: fields[i + 4] as string,
      operation: fields[i + 5] as string,
      resource: fields[i + 6] as string,
      dryRun: fields[i + 7] as boolean,
      decision: fields[i + 8] as string,
    };
    const reason = fields[i + 9];
    const warnings = fields[i + 10];
    const errorName = fields[i + 11];
    const errorAt = fields[i + 12];
    if (reason !== null) log.reason = reason as string;
    if (warnings !== null) log.warnings = warnings as number;
    if (errorName !== null) log.errorName = errorName as string;
    if (errorAt !== null) log.errorAt = errorAt as string;
    verdicts.push({
      kind: 'answered',
      body: new Uint8Array(batch.bytes, at, head),
      outcome: fields[i + 1] as ReviewOutcome,
      log,
    });
    at += head;
    i += ANSWERED;
  }
  return verdicts;
}
