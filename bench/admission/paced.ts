// An open-loop load generator for the fixed-rate phase. Requests fall due at even intervals
// (1/rate apart) and are sent on a pool of kept-alive HTTPS connections, whether or not earlier
// ones were answered. Each latency is timed from the moment the request is handed to the pool,
// so a request that waits for a free connection is charged for the wait; the generator's own
// timer lateness (node's timers fire in whole milliseconds) is not the server's and is left out.
// autocannon's rate option is a per-connection budget refilled once a second, which sends each
// second's requests back to back at its start: that measures bursts of saturation, not a rate.
import { Agent, request } from 'node:https';
import { performance } from 'node:perf_hooks';

export interface PacedOptions {
  port: number;
  path: string;
  bodies: Buffer[];
  /** Requests per second. */
  rate: number;
  /** Kept-alive connections the requests are spread over. */
  connections: number;
  /** Sent but not timed: fresh connections, handshakes. */
  rampSeconds: number;
  seconds: number;
  /** Called when the measured window opens (after the ramp). */
  onWindowOpen?: () => void;
}

export interface PacedResult {
  /** Latencies of the requests due in the measured window, in ms, sorted. */
  samples: number[];
  /** Length of the measured window in seconds. */
  windowSeconds: number;
  /** Non-200 answers and transport errors, ramp included. */
  failures: number;
}

export function paced(opts: PacedOptions): Promise<PacedResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections, rejectUnauthorized: false });
  const interval = 1000 / opts.rate;
  const total = Math.round(opts.rate * (opts.rampSeconds + opts.seconds));
  const windowFrom = Math.round(opts.rate * opts.rampSeconds);
  const samples: number[] = [];
  let failures = 0;
  let sent = 0;
  let answered = 0;
  const start = performance.now();

  return new Promise((done) => {
    const finish = () => {
      agent.destroy();
      samples.sort((a, b) => a - b);
      done({ samples, windowSeconds: opts.seconds, failures });
    };
    const send = (n: number) => {
      const sentAt = performance.now();
      const body = opts.bodies[n % opts.bodies.length]!;
      const req = request(
        {
          host: '127.0.0.1',
          port: opts.port,
          path: opts.path,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            if (res.statusCode !== 200) failures++;
            else if (n >= windowFrom) samples.push(performance.now() - sentAt);
            if (++answered === total) finish();
          });
        },
      );
      req.on('error', () => {
        failures++;
        if (++answered === total) finish();
      });
      req.end(body);
    };
    const tick = () => {
      const dueNow = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      while (sent < dueNow) {
        if (sent === windowFrom) opts.onWindowOpen?.();
        send(sent++);
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
}
