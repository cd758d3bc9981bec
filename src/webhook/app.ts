// The express application: everything except the admission hot path (health, readiness,
// metrics, and a 404 for the rest). POST /mutate never reaches it (see server.ts).
import express, { type Express } from 'express';
import type { Registry } from 'prom-client';

export interface AppDeps {
  registry: Registry;
  /** Ready to serve reviews: certificates loaded, settings source synced, not shutting down. */
  ready: () => boolean;
}

export function createApp({ registry, ready }: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    const ok = ready();
    res
      .status(ok ? 200 : 503)
      .type('text/plain')
      .send(ok ? 'ok\n' : 'not ready\n');
  });
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('not found\n');
  });
  return app;
}
