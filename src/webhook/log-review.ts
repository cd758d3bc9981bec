// The one log line per review: identifiers and the decision, never the object, the patch,
// or an exception message (any of which may quote cloud-init user data and its secrets).
// Every field taken from the request is cut to MAX_FIELD characters.
import type { HandlerResult } from './handler.js';
import type { AdmissionRequest } from './review.js';

/** Longest request-derived text a log field carries (names are at most 253 characters). */
export const MAX_FIELD = 256;

export interface ReviewLogFields {
  uid: string;
  namespace: string;
  name: string;
  operation: string;
  resource: string;
  dryRun: boolean;
  decision: string;
  reason?: string;
  warnings?: number;
  durationMs?: number;
  errorName?: string;
  errorAt?: string;
}

/** `text` cut to `max` characters, with a marker when cut. */
export function clip(text: string, max = MAX_FIELD): string {
  return text.length > max ? `${text.slice(0, max)}...[${text.length - max} more]` : text;
}

export function reviewLogFields(request: AdmissionRequest, result: HandlerResult): ReviewLogFields {
  const fields: ReviewLogFields = {
    uid: clip(request.uid),
    namespace: clip(request.namespace ?? ''),
    name: clip(objectName(request)),
    operation: clip(request.operation),
    resource: clip(`${request.resource.group}/${request.resource.resource}`),
    dryRun: request.dryRun === true,
    decision: result.outcome,
  };
  if (result.reason !== undefined) fields.reason = clip(result.reason);
  const warnings = result.response.warnings?.length ?? 0;
  if (warnings > 0) fields.warnings = warnings;
  if (result.error) {
    fields.errorName = clip(result.error.name, 64);
    const at = result.error.stack?.split('\n').find((l) => l.trimStart().startsWith('at '));
    if (at !== undefined) fields.errorAt = clip(at.trim());
  }
  return fields;
}

/** The name, or `generateName` followed by `*` when the apiserver has not named it yet. */
function objectName(request: AdmissionRequest): string {
  if (request.name) return request.name;
  const object = request.object;
  if (typeof object !== 'object' || object === null) return '';
  const metadata = (object as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return '';
  const { name, generateName } = metadata as { name?: unknown; generateName?: unknown };
  if (typeof name === 'string' && name !== '') return name;
  return typeof generateName === 'string' ? `${generateName}*` : '';
}
