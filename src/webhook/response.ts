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
  const base64 = Buffer.from(JSON.stringify(patch), 'utf8').toString('base64');
  return withWarnings({ uid, allowed: true, patchType: 'JSONPatch', patch: base64 }, warnings);
}

/** Refused because of the request: the object is not one we can admit. */
export function denied(uid: string, message: string, code = 400, warnings: string[] = []): AdmissionResponse {
  return withWarnings({ uid, allowed: false, status: { code, message } }, warnings);
}

/** Refused because we failed: still a well-formed review carrying the uid. */
export function errored(uid: string, message: string, code = 500): AdmissionResponse {
  return { uid, allowed: false, status: { code, message } };
}

export function toReview(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: API_VERSION, kind: 'AdmissionReview', response };
}

function withWarnings(response: AdmissionResponse, warnings: string[]): AdmissionResponse {
  if (warnings.length > 0) response.warnings = warnings;
  return response;
}
