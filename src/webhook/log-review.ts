// The one log line per review: identifiers and the decision, never the object, the patch,
// or an exception message (any of which may quote cloud-init user data and its secrets).
import type { HandlerResult } from './handler.js';
import type { AdmissionRequest } from './review.js';

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
  /** Set by the endpoint when the answer is written. */
  durationMs?: number;
  errorName?: string;
  errorAt?: string;
}

export function reviewLogFields(request: AdmissionRequest, result: HandlerResult): ReviewLogFields {
  const fields: ReviewLogFields = {
    uid: request.uid,
    namespace: request.namespace ?? '',
    name: objectName(request),
    operation: request.operation,
    resource: `${request.resource.group}/${request.resource.resource}`,
    dryRun: request.dryRun === true,
    decision: result.outcome,
  };
  if (result.reason !== undefined) fields.reason = result.reason;
  const warnings = result.response.warnings?.length ?? 0;
  if (warnings > 0) fields.warnings = warnings;
  if (result.error) {
    fields.errorName = result.error.name;
    const at = result.error.stack?.split('\n').find((l) => l.trimStart().startsWith('at '));
    if (at !== undefined) fields.errorAt = at.trim();
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
