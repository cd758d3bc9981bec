// The admission hot path: POST /mutate handled on node's request/response objects, outside
// express (whose per-request machinery costs more than the whole review). Reads the body by
// hand with a cap, parses, decodes, runs the handler, writes the answer, logs one line.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../telemetry/logger.js';
import type { WebhookMetrics } from '../telemetry/metrics.js';
import type { AdmissionHandler } from './handler.js';
import { reviewLogFields } from './log-review.js';
import { reviewJson } from './response.js';
import { BadReviewError, decodeReview } from './review.js';
import {
  checkContentType,
  parseJson,
  readBodyThen,
  TransportError,
  type TransportLimits,
} from './transport.js';

export interface EndpointDeps {
  handler: AdmissionHandler;
  logger: Logger;
  metrics: WebhookMetrics;
  limits: TransportLimits;
  /** True once shutdown began: answers then carry `Connection: close`. */
  draining?: () => boolean;
}

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export function createAdmissionEndpoint(deps: EndpointDeps): RequestListener {
  const { logger, metrics, limits } = deps;
  // Label children bound once: observe/inc on a child skips hashing the label set per review.
  const ok = metrics.reviewDuration.labels('200');
  const byOutcome = new Map<string, ReturnType<typeof metrics.decisions.labels>>();
  const decided = (outcome: string) => {
    let child = byOutcome.get(outcome);
    if (!child) byOutcome.set(outcome, (child = metrics.decisions.labels(outcome)));
    child.inc();
  };
  const refuse = (res: ServerResponse, start: number, err: unknown, bodyRead: boolean) => {
    const known = err instanceof TransportError || err instanceof BadReviewError;
    const status = err instanceof TransportError ? err.status : known ? 400 : 500;
    const reason = err instanceof TransportError ? err.reason : known ? 'bad_review' : 'internal';
    const message = err instanceof Error && known ? err.message : 'internal error';
    metrics.errors.inc({ reason });
    // An unread body is still on the socket: do not reuse the connection.
    send(res, status, JSON.stringify({ message }), !bodyRead || deps.draining?.() === true);
    const durationMs = performance.now() - start;
    metrics.reviewDuration.observe({ code: String(status) }, durationMs / 1000);
    logger.warn({ status, reason, message, durationMs: round(durationMs) }, 'admission request refused');
  };

  const answer = (res: ServerResponse, start: number, body: Buffer) => {
    let review;
    try {
      review = decodeReview(parseJson(body, limits.maxDepth));
    } catch (err) {
      refuse(res, start, err, true);
      return;
    }
    const result = deps.handler(review.request);
    send(res, 200, reviewJson(result.response), deps.draining?.() === true);
    const durationMs = performance.now() - start;
    ok.observe(durationMs / 1000);
    decided(result.outcome);
    const fields = reviewLogFields(review.request, result, durationMs);
    if (result.outcome === 'errored') logger.error(fields, 'admission review failed');
    else logger.info(fields, 'admission review');
  };

  return (req, res) => {
    const start = performance.now();
    try {
      checkContentType(req.headers['content-type']);
    } catch (err) {
      refuse(res, start, err, false);
      return;
    }
    readBodyThen(
      req,
      limits.maxBodyBytes,
      (body) => {
        try {
          answer(res, start, body);
        } catch (err) {
          refuse(res, start, err, true);
        }
      },
      (err: unknown) => {
        if (err instanceof TransportError) {
          refuse(res, start, err, false);
          return;
        }
        metrics.errors.inc({ reason: 'aborted' });
        logger.debug(
          { durationMs: round(performance.now() - start) },
          'admission request aborted by the client',
        );
        res.destroy();
      },
    );
  };
}

function send(res: ServerResponse, status: number, body: string, close: boolean): void {
  if (res.headersSent) return;
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
