// Review worker entry for (c0): the no-op engine.
import { serveReviews } from '../../src/webhook/worker-loop.js';
import { noop } from './engines.js';

serveReviews(noop);
