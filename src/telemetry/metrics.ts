// Prometheus metrics of the admission webhook, registered on a Registry the caller owns
// (never prom-client's global one), so tests and benchmarks get fresh, isolated counters.
import { Counter, Histogram, type Registry } from 'prom-client';

export interface WebhookMetrics {
  /** Seconds from the request's start to the last byte of its answer, by webhook and HTTP status. */
  reviewDuration: Histogram<'webhook' | 'code'>;
  /** Answered reviews by webhook and outcome: injected, skipped, unchanged, ignored, allowed, denied, errored. */
  decisions: Counter<'webhook' | 'outcome'>;
  /** Requests refused before or while handling them, by reason (body_too_large, bad_json, ...). */
  errors: Counter<'webhook' | 'reason'>;
  /** Policy decisions on VM creates and updates, by policy, its mode and the result for it. */
  policyDecisions: Counter<'policy' | 'mode' | 'result'>;
}

export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  return {
    reviewDuration: new Histogram({
      name: 'kubevirt_net_injector_admission_review_duration_seconds',
      help: 'Time to answer an AdmissionReview, from request start to response end',
      labelNames: ['webhook', 'code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    decisions: new Counter({
      name: 'kubevirt_net_injector_admission_decisions_total',
      help: 'AdmissionReviews answered, by webhook and outcome',
      labelNames: ['webhook', 'outcome'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'kubevirt_net_injector_admission_errors_total',
      help: 'Admission requests refused or failed, by webhook and reason',
      labelNames: ['webhook', 'reason'],
      registers: [registry],
    }),
    policyDecisions: new Counter({
      name: 'kubevirt_net_injector_policy_decisions_total',
      help: 'VM creates and updates judged by a NetworkAttachmentPolicy, by policy, mode and result (allowed, warned, denied, audited)',
      labelNames: ['policy', 'mode', 'result'],
      registers: [registry],
    }),
  };
}
