// A review worker thread's entry (see workers.ts and worker-loop.ts): the real engine.
import { mutate } from '../mutate/index.js';
import { serveReviews } from './worker-loop.js';

serveReviews(mutate);
