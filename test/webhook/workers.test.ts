// Review worker threads: failures of a worker, and settings changes reaching it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ReviewVerdict } from '../../src/webhook/decide.js';
import {
  snapshotSource,
  staticSettingsSource,
  type NamespaceVerdict,
  type SettingsSnapshot,
  type SettingsSource,
} from '../../src/webhook/settings-source.js';
import { MAIN_HEAP_FLAG, MAIN_SEMI_SPACE_MB } from '../../src/config/node-heap.js';
import { createWorkerPool, WORKER_SEMI_SPACE_MB, type WorkerPool } from '../../src/webhook/workers.js';
import { quiet, SETTINGS, startHarness } from './harness.js';
import { loadVm, patchOf, review, send } from './support.js';

const MISBEHAVING = new URL('./fixtures/misbehaving-worker.js', import.meta.url);
const CAPPED_POOL = fileURLToPath(new URL('./fixtures/capped-pool.js', import.meta.url));

function ask(pool: WorkerPool, text: string): Promise<{ verdict: ReviewVerdict; ms: number }> {
  const start = Date.now();
  return new Promise((resolve) =>
    pool.decide(Buffer.from(text), (verdict) => resolve({ verdict, ms: Date.now() - start })),
  );
}

describe('review worker pool', () => {
  let pool: WorkerPool;
  beforeEach(async () => {
    pool = createWorkerPool({
      size: 1,
      settings: staticSettingsSource(SETTINGS),
      maxDepth: 64,
      timeoutMs: 300,
      logger: quiet,
      entry: MISBEHAVING,
    });
    await pool.ready;
  });
  afterEach(() => pool.close());

  it('refuses the reviews of a worker that hangs, within the timeout, and replaces it', async () => {
    const [hung, queued] = await Promise.all([ask(pool, 'hang'), ask(pool, 'queued behind it')]);
    for (const { verdict, ms } of [hung, queued]) {
      assert.equal(verdict.kind, 'refused');
      assert.equal(verdict.kind === 'refused' && verdict.status, 500);
      assert.ok(ms < 2000, `${ms} ms`);
    }
    assert.equal(pool.replaced(), 1);
    const after = await ask(pool, 'still there?');
    assert.deepEqual(after.verdict, {
      kind: 'refused',
      status: 418,
      reason: 'echo',
      message: 'still there?',
    });
  });

  it('gives a worker its young generation at full size from the start', async () => {
    const { verdict } = await ask(pool, 'heap');
    assert.equal(verdict.kind, 'refused');
    const bytes = Number(verdict.kind === 'refused' && verdict.message);
    assert.ok(bytes >= WORKER_SEMI_SPACE_MB * 1024 * 1024, `new space ${bytes} bytes`);
  });

  it("keeps the workers' young generation at full size when the main thread's is capped", () => {
    // The main thread's cap is a process-wide flag; the pool raises the maximum for its workers.
    const out = execFileSync(process.execPath, [MAIN_HEAP_FLAG, CAPPED_POOL], { encoding: 'utf8' });
    const { worker, main } = JSON.parse(out) as { worker: number; main: number };
    assert.ok(worker >= WORKER_SEMI_SPACE_MB * 1024 * 1024, `worker new space ${worker} bytes`);
    // new_space counts both semispaces; the main thread stays within its cap after the pool
    // has set the flags.
    assert.ok(main <= 2 * MAIN_SEMI_SPACE_MB * 1024 * 1024, `main new space ${main} bytes`);
  });

  it('refuses the reviews of a worker that crashes, and replaces it', async () => {
    const crashed = await ask(pool, 'crash');
    assert.equal(crashed.verdict.kind === 'refused' && crashed.verdict.reason, 'worker_failed');
    assert.equal(pool.replaced(), 1);
    const after = await ask(pool, 'next');
    assert.equal(after.verdict.kind === 'refused' && after.verdict.message, 'next');
  });

  it('fails to start when the worker script cannot load', async () => {
    const broken = createWorkerPool({
      size: 1,
      settings: staticSettingsSource(SETTINGS),
      maxDepth: 64,
      timeoutMs: 300,
      logger: quiet,
      entry: new URL('./fixtures/no-such-worker.js', import.meta.url),
    });
    await assert.rejects(broken.ready);
    await broken.close();
  });
});

describe('review worker threads: settings', () => {
  it('decide with a copy of the settings that follows every change', async () => {
    // A source whose one namespace is opted in or not, as the test says.
    const listeners: (() => void)[] = [];
    let optedIn = false;
    const verdict = (): NamespaceVerdict =>
      optedIn ? { optedIn: true, settings: SETTINGS } : { optedIn: false, reason: 'namespace not opted in' };
    const snapshot = (): SettingsSnapshot => ({
      ready: true,
      namespaces: { vm: verdict() },
      otherwise: { optedIn: false, reason: 'namespace not opted in' },
    });
    const source: SettingsSource = {
      forNamespace: (ns) => snapshotSource(snapshot()).forNamespace(ns),
      ready: () => true,
      snapshot,
      onChange: (l) => listeners.push(l),
    };
    const h = await startHarness({ workers: 1, workerWhenIdle: true }, source);
    try {
      const post = async (uid: string) => {
        const reply = await send(h.port, JSON.stringify(review(loadVm(), { uid })), { ca: h.certs.cert });
        assert.equal(reply.status, 200);
        return reply;
      };
      assert.equal(patchOf((await post('before')).json()).length, 0);
      optedIn = true;
      for (const l of listeners) l();
      // The snapshot goes out on the next turn of the event loop; the worker reads it first.
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(patchOf((await post('after')).json()).length > 0);
    } finally {
      await h.webhook.stop(1000);
      rmSync(h.dir, { recursive: true, force: true });
    }
  });
});

describe('review worker threads: a review that finds them idle', () => {
  // The worker here answers every body with HTTP 418: a real answer came from the main thread.
  for (const workerWhenIdle of [false, true]) {
    it(
      workerWhenIdle ? 'goes to the worker when told to' : 'is decided on the main thread at once',
      async () => {
        const h = await startHarness({ workers: 1, workerEntry: MISBEHAVING, workerWhenIdle });
        try {
          const reply = await send(h.port, JSON.stringify(review(loadVm(), { uid: 'lone' })), {
            ca: h.certs.cert,
          });
          if (workerWhenIdle) {
            assert.equal(reply.status, 418);
          } else {
            assert.equal(reply.status, 200);
            assert.ok(patchOf(reply.json()).length > 0);
          }
        } finally {
          await h.webhook.stop(1000);
          rmSync(h.dir, { recursive: true, force: true });
        }
      },
    );
  }
});
