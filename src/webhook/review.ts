// AdmissionReview v1: the types we read and write, and the check that a parsed body is one.
// Pure: no I/O. The answer to a body that is not a usable review is an HTTP 400 with a message.

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation | string;
  /** Who asks (not checked by decodeReview: only the policy check reads it, field by field). */
  userInfo?: unknown;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface AdmissionReviewRequest {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request: AdmissionRequest;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string };
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch document. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export const API_VERSION = 'admission.k8s.io/v1';

/** A body that is JSON but not an AdmissionReview v1 we can answer. Maps to HTTP 400. */
export class BadReviewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadReviewError';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isGroupVersion(v: unknown, field: 'kind' | 'resource'): boolean {
  return (
    isRecord(v) &&
    typeof v.group === 'string' &&
    typeof v.version === 'string' &&
    typeof v[field] === 'string'
  );
}

/** Checks the envelope and the request fields the handler relies on; the object itself is the engine's job. */
export function decodeReview(body: unknown): AdmissionReviewRequest {
  if (!isRecord(body)) throw new BadReviewError('body is not a JSON object');
  if (body.kind !== 'AdmissionReview')
    throw new BadReviewError(`kind must be AdmissionReview, got ${describe(body.kind)}`);
  if (body.apiVersion !== API_VERSION) {
    throw new BadReviewError(`apiVersion must be ${API_VERSION}, got ${describe(body.apiVersion)}`);
  }
  const request = body.request;
  if (request === undefined || request === null) throw new BadReviewError('AdmissionReview has no request');
  if (!isRecord(request)) throw new BadReviewError('request is not an object');
  if (typeof request.uid !== 'string' || request.uid === '')
    throw new BadReviewError('request.uid is missing');
  if (typeof request.operation !== 'string') throw new BadReviewError('request.operation is missing');
  if (!isGroupVersion(request.kind, 'kind'))
    throw new BadReviewError('request.kind is not a group/version/kind');
  if (!isGroupVersion(request.resource, 'resource')) {
    throw new BadReviewError('request.resource is not a group/version/resource');
  }
  for (const field of ['namespace', 'name', 'subResource'] as const) {
    if (request[field] !== undefined && typeof request[field] !== 'string') {
      throw new BadReviewError(`request.${field} is not a string`);
    }
  }
  if (request.dryRun !== undefined && typeof request.dryRun !== 'boolean') {
    throw new BadReviewError('request.dryRun is not a boolean');
  }
  return body as unknown as AdmissionReviewRequest;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}...` : v);
  return v === undefined ? 'nothing' : typeof v;
}
