// The four answers an admission webhook gives (after controller-runtime's response.go).
// Every answer echoes the request uid; a patch is attached only when it changes something.
import type { Operation } from 'fast-json-patch';
import { API_VERSION, type AdmissionResponse, type AdmissionReviewResponse } from './review.js';

export function allowed(uid: string, warnings: string[] = []): AdmissionResponse {
  return withWarnings({ uid, allowed: true }, warnings);
}

/** Allowed, with the JSON Patch when it is non-empty (an empty patch is no patch). */
export function patched(uid: string, patch: Operation[], warnings: string[] = []): AdmissionResponse {
  if (patch.length === 0) return allowed(uid, warnings);
  return withWarnings({ uid, allowed: true, patchType: 'JSONPatch', patch: patchBase64(patch) }, warnings);
}

/** base64 of UTF-8 text; all-ASCII text (the usual case) is its own UTF-8, and btoa takes it as is. */
function base64(text: string): string {
  return Buffer.byteLength(text) === text.length ? btoa(text) : Buffer.from(text).toString('base64');
}

// The base64 of the JSON text of long string values seen in recent patches. The engine
// hands every VM of a template the same user-data string (see mutate/cloudinit.ts): escaping
// and encoding it are the largest part of writing the patch, and comparing with the few kept
// is far cheaper: the same string is found by identity, a different one of the same length
// usually within a few characters.
const LONG_STRING = 512;
interface LongString {
  value: string;
  /** base64 of the value's JSON text as UTF-8, padded with spaces to a multiple of 3 bytes. */
  base64: string;
}
const recent: LongString[] = [];
const RECENT_MAX = 8;

function longString(value: string): LongString {
  for (const entry of recent) if (entry.value === value) return entry;
  const json = JSON.stringify(value);
  const entry: LongString = { value, base64: base64(json + padding(Buffer.byteLength(json))) };
  if (recent.length >= RECENT_MAX) recent.pop();
  recent.unshift(entry);
  return entry;
}

/** Spaces that bring `bytes` to a multiple of 3. */
function padding(bytes: number): string {
  return ['', '  ', ' '][bytes % 3]!;
}

/**
 * base64 of the patch's JSON text, with the long string values' base64 reused (see above).
 * The base64 of a concatenation is the concatenation of the parts' base64 when every part
 * but the last is a whole number of 3-byte groups, so the text before such a value, and the
 * value's own text, are padded to one with spaces, which JSON allows between tokens.
 */
export function patchBase64(patch: readonly Operation[]): string {
  let text = '[';
  let encoded = '';
  for (let i = 0; i < patch.length; i++) {
    const op = patch[i]!;
    if (i > 0) text += ',';
    text += `{"op":${shortJson(op.op)},"path":${shortJson(op.path)}`;
    if ('from' in op) text += `,"from":${shortJson(op.from)}`;
    if ('value' in op && op.value !== undefined) {
      text += ',"value":';
      const { value } = op;
      if (typeof value !== 'string' || value.length < LONG_STRING) text += JSON.stringify(value);
      else {
        text += padding(Buffer.byteLength(text));
        encoded += base64(text) + longString(value).base64;
        text = '';
      }
    }
    text += '}';
  }
  return encoded + base64(`${text}]`);
}

// Paths made of these characters need no escaping (the usual ones: /metadata/annotations/...).
const PLAIN = /^[A-Za-z0-9/~._-]*$/;

function shortJson(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}

/** Refused because of the request: the object is not one we can admit. */
export function denied(uid: string, message: string, code = 400): AdmissionResponse {
  return { uid, allowed: false, status: { code, message } };
}

/** Refused because we failed: still a well-formed review carrying the uid. */
export function errored(uid: string, message: string, code = 500): AdmissionResponse {
  return { uid, allowed: false, status: { code, message } };
}

export function toReview(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: API_VERSION, kind: 'AdmissionReview', response };
}

const REVIEW_PREFIX = `{"apiVersion":"${API_VERSION}","kind":"AdmissionReview","response":`;

/**
 * The AdmissionReview's JSON text: JSON.stringify(toReview(response)), except that the patch
 * is spliced in rather than scanned again character by character (7 µs for the seed VM's):
 * it is base64, made by `patched` above, so it has nothing to escape.
 */
export function reviewJson(response: AdmissionResponse): string {
  const { patch } = response;
  if (patch === undefined) return REVIEW_PREFIX + JSON.stringify(response) + '}';
  let text = `{"uid":${JSON.stringify(response.uid)},"allowed":${response.allowed},"patchType":"JSONPatch","patch":"${patch}"`;
  if (response.warnings !== undefined) text += `,"warnings":${JSON.stringify(response.warnings)}`;
  return `${REVIEW_PREFIX}${text}}}`;
}

function withWarnings(response: AdmissionResponse, warnings: string[]): AdmissionResponse {
  if (warnings.length > 0) response.warnings = warnings;
  return response;
}
