// An admission endpoint on node's request and response objects: reads the body with a cap,
// decodes the AdmissionReview, has the handler decide, writes the answer, logs one line.
// Never throws and always answers: a review it cannot read gets an HTTP 4xx with a message,
// a review it can read gets an AdmissionReview carrying the request's uid.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../telemetry/logger.js';
import type { WebhookMetrics } from '../telemetry/metrics.js';
import type { AdmissionHandler } from './handler.js';
import { clip, reviewLogFields } from './log-review.js';
import { toReview } from './response.js';
import { BadReviewError, decodeReview } from './review.js';
import { checkContentType, parseJson, readBody, TransportError, type TransportLimits } from './transport.js';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface EndpointDeps {
  /** For metrics and logs: `mutate` or `validate`. */
  name: string;
  handler: AdmissionHandler;
  logger: Logger;
  metrics: WebhookMetrics;
  limits: TransportLimits;
  /** True once shutdown began: answers then carry `Connection: close`. */
  draining: () => boolean;
}

/** A request that gets no AdmissionReview back: its HTTP status, metric label and message. */
interface Refusal {
  status: number;
  reason: string;
  message: string;
}

function refusal(err: unknown): Refusal {
  if (err instanceof TransportError) return { status: err.status, reason: err.reason, message: err.message };
  if (err instanceof BadReviewError) return { status: 400, reason: 'bad_review', message: err.message };
  // Anything else is ours; its message may quote the input, so it is not passed on.
  return { status: 500, reason: 'internal', message: 'internal error' };
}

export function createAdmissionEndpoint(deps: EndpointDeps): RequestListener {
  const { name, handler, logger, metrics, limits } = deps;
  const log = logger.child({ webhook: name });

  const send = (res: ServerResponse, status: number, body: string, close: boolean) => {
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    if (close || deps.draining()) headers.connection = 'close';
    res.writeHead(status, headers).end(body);
  };

  const refuse = (res: ServerResponse, start: number, err: unknown, bodyRead: boolean) => {
    const { status, reason, message } = refusal(err);
    metrics.errors.inc({ webhook: name, reason });
    // An unread body is still on the socket: do not reuse the connection.
    send(res, status, JSON.stringify({ message }), !bodyRead);
    const durationMs = elapsed(start);
    metrics.reviewDuration.observe({ webhook: name, code: String(status) }, durationMs / 1000);
    log.warn({ status, reason, message: clip(message), durationMs }, 'admission request refused');
  };

  const review = async (req: IncomingMessage, res: ServerResponse, start: number) => {
    let body: Buffer;
    try {
      checkContentType(req.headers['content-type']);
      body = await readBody(req, limits.maxBodyBytes);
    } catch (err) {
      if (err instanceof TransportError) refuse(res, start, err, false);
      else {
        metrics.errors.inc({ webhook: name, reason: 'aborted' });
        log.debug({ durationMs: elapsed(start) }, 'admission request aborted by the client');
      }
      return;
    }
    try {
      const { request } = decodeReview(parseJson(body, limits.maxDepth));
      const result = await handler(request);
      send(res, 200, JSON.stringify(toReview(result.response)), false);
      const durationMs = elapsed(start);
      metrics.reviewDuration.observe({ webhook: name, code: '200' }, durationMs / 1000);
      metrics.decisions.inc({ webhook: name, outcome: result.outcome });
      const fields = { ...reviewLogFields(request, result), durationMs };
      if (result.outcome === 'errored') log.error(fields, 'admission review failed');
      else log.info(fields, 'admission review');
    } catch (err) {
      refuse(res, start, err, true);
    }
  };

  return (req, res) => {
    void review(req, res, performance.now());
  };
}

function elapsed(start: number): number {
  return Math.round((performance.now() - start) * 1000) / 1000;
}
