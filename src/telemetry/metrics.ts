// Prometheus metrics of the admission webhook, registered on a Registry the caller owns
// (never prom-client's global one), so tests and benchmarks get fresh, isolated counters.
import { Counter, Histogram, type Registry } from 'prom-client';

export interface WebhookMetrics {
  /** Seconds from the first byte of a review to the last byte of its answer, by HTTP status class. */
  reviewDuration: Histogram<'code'>;
  /** Answered reviews by outcome: injected, skipped, unchanged, ignored (not ours), denied, errored. */
  decisions: Counter<'outcome'>;
  /** Requests refused before or while handling them, by reason (body_too_large, bad_json, exception, ...). */
  errors: Counter<'reason'>;
}

export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  return {
    reviewDuration: new Histogram({
      name: 'kubevirt_net_injector_admission_review_duration_seconds',
      help: 'Time to answer an AdmissionReview, from request start to response end',
      labelNames: ['code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    decisions: new Counter({
      name: 'kubevirt_net_injector_admission_decisions_total',
      help: 'AdmissionReviews answered, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'kubevirt_net_injector_admission_errors_total',
      help: 'Admission requests refused or failed, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
