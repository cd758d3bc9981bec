// Review worker entry for (c1): the seed VM's patch computed once.
import { serveReviews } from '../../src/webhook/worker-loop.js';
import { fixedPatch } from './engines.js';

serveReviews(fixedPatch());
