// The buffered log destination writes to a real file: every line arrives whole, in order, as
// UTF-8, once enough has gathered, and the rest on a synchronous flush.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bufferedDestination, createLogger } from '../../../src/telemetry/logger.js';

describe('buffered log destination', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'logger-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const lines = (file: string) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { n: number; name: string; msg: string });

  it('writes lines once 4 KiB have gathered, and the rest on flushSync', async () => {
    const file = join(dir, 'log');
    const destination = bufferedDestination(file);
    const logger = createLogger({ destination });
    await sleep(20); // the file opens asynchronously
    logger.info({ n: 0, name: 'vm-é' }, 'first');
    await sleep(20);
    assert.equal(readFileSync(file, 'utf8'), '', 'one short line stays in the buffer');
    for (let n = 1; n < 100; n++) logger.info({ n, name: `vm-${n}-ü` }, 'admission review');
    // Written asynchronously: wait for it (up to 2 s on a busy machine).
    for (let i = 0; i < 100 && lines(file).length <= 1; i++) await sleep(20);
    const early = lines(file).length;
    assert.ok(early > 1, `lines written without a flush (${early})`);
    logger.info({ n: 100, name: 'last' }, 'last');
    await sleep(20);
    assert.equal(lines(file).length, early, 'a short tail waits');
    destination.flushSync();
    const all = lines(file);
    assert.deepEqual(
      all.map((l) => l.n),
      Array.from({ length: 101 }, (_, n) => n),
    );
    assert.equal(all[0]!.name, 'vm-é');
    assert.equal(all[99]!.name, 'vm-99-ü');
  });
});
