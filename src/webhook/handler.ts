// The mutating admission handler: decides which reviews reach the engine and turns the
// engine's result (or its failure) into an AdmissionResponse. Pure apart from the injected
// engine and settings source; never throws, always answers with the request uid.
import { Keys } from '../mutate/annotations.js';
import type { InjectSettings, MutateContext, MutateResult } from '../mutate/types.js';
import type { AdmissionRequest, AdmissionResponse } from './review.js';
import { allowed, denied, errored, patched } from './response.js';
import type { SettingsSource } from './settings-source.js';

export type MutateFn = (vm: unknown, settings: InjectSettings, ctx?: MutateContext) => MutateResult;

/**
 * injected/skipped/unchanged come from the engine; allowed/warned from the policy check;
 * ignored = not ours; denied/errored = refused.
 */
export type ReviewOutcome =
  'injected' | 'skipped' | 'unchanged' | 'allowed' | 'warned' | 'ignored' | 'denied' | 'errored';

export interface HandlerResult {
  response: AdmissionResponse;
  outcome: ReviewOutcome;
  reason?: string;
  /** The exception behind an errored outcome, for the log (its message is never logged: it may quote user data). */
  error?: Error;
}

/** Decides one review. May be asynchronous (a policy check can ask the apiserver). */
export type AdmissionHandler = (request: AdmissionRequest) => HandlerResult | Promise<HandlerResult>;

export const STATUS_ANNOTATION = Keys.status;

/**
 * The answer to a review whose handling threw: an object the engine cannot read is denied with
 * the reason; anything else is ours, answered as an error that names the exception's type but
 * not its message (which may quote the object, and so its user data).
 */
export function failedReview(uid: string, err: unknown): HandlerResult {
  if (err instanceof Error && err.name === 'InvalidObjectError') {
    return {
      response: denied(uid, `invalid VirtualMachine: ${err.message}`),
      outcome: 'denied',
      reason: 'invalid',
    };
  }
  const error = err instanceof Error ? err : new Error(String(err));
  return {
    response: errored(uid, `internal error (${error.name})`),
    outcome: 'errored',
    reason: 'exception',
    error,
  };
}

export interface HandlerDeps {
  mutate: MutateFn;
  settings: SettingsSource;
}

export function createMutatingHandler(deps: HandlerDeps): (request: AdmissionRequest) => HandlerResult {
  return (request) => {
    const uid = request.uid;
    try {
      return handle(deps, request);
    } catch (err) {
      return failedReview(uid, err);
    }
  };
}

function handle({ mutate, settings }: HandlerDeps, request: AdmissionRequest): HandlerResult {
  const uid = request.uid;
  const skip = whyNotOurs(request);
  if (skip) return { response: allowed(uid), outcome: 'ignored', reason: skip };

  const vm = request.object;
  if (typeof vm !== 'object' || vm === null || Array.isArray(vm)) {
    return {
      response: denied(uid, 'request.object is not a VirtualMachine object'),
      outcome: 'denied',
      reason: 'invalid',
    };
  }
  const metadata = asRecord((vm as Record<string, unknown>).metadata);
  if (request.operation === 'UPDATE' && asRecord(metadata?.annotations)?.[STATUS_ANNOTATION] !== undefined) {
    return { response: allowed(uid), outcome: 'ignored', reason: 'update of a VM already processed' };
  }

  const namespace = request.namespace ?? (typeof metadata?.namespace === 'string' ? metadata.namespace : '');
  const verdict = settings.forVm(namespace, stringMap(metadata?.labels));
  if (!verdict.optedIn) {
    return {
      response: allowed(uid, verdict.warning ? [verdict.warning] : []),
      outcome: 'ignored',
      reason: verdict.reason,
    };
  }

  const name = metadata?.name;
  const ctx: MutateContext = typeof name === 'string' && name !== '' ? {} : { seed: uid };
  const result = mutate(vm, verdict.settings, ctx);
  return {
    response: patched(uid, result.patch, result.warnings),
    outcome: result.decision.outcome,
    ...(result.decision.reason !== undefined ? { reason: result.decision.reason } : {}),
  };
}

/** Only CREATE (and UPDATE, see above) of kubevirt.io/v1 virtualmachines is ours; the reason otherwise. */
function whyNotOurs(request: AdmissionRequest): string | undefined {
  const { kind, resource } = request;
  if (
    resource.group !== 'kubevirt.io' ||
    resource.resource !== 'virtualmachines' ||
    kind.kind !== 'VirtualMachine'
  ) {
    return `not a VirtualMachine: ${resource.group}/${resource.resource}`;
  }
  if (request.subResource) return `subresource ${request.subResource}`;
  if (kind.version !== 'v1') return `unsupported version ${kind.version}`;
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE')
    return `operation ${request.operation}`;
  return undefined;
}

/** Labels as the policies read them: string values only (the engine rejects other shapes). */
function stringMap(v: unknown): Record<string, string> {
  const record = asRecord(v);
  if (!record) return {};
  return Object.fromEntries(
    Object.entries(record).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}
