import assert from 'node:assert/strict';
import { MAIN_HEAP_FLAG, MAIN_SEMI_SPACE_MB, startedSemiSpaceCapMb } from '../../../src/config/node-heap.js';

describe("main thread's young-generation cap", () => {
  it('reads --max-semi-space-size from the command line and NODE_OPTIONS, the command line last', () => {
    assert.equal(startedSemiSpaceCapMb([], ''), undefined);
    assert.equal(
      startedSemiSpaceCapMb(['--max-old-space-size=200', '--enable-source-maps'], '--inspect'),
      undefined,
    );
    assert.equal(startedSemiSpaceCapMb([], MAIN_HEAP_FLAG), MAIN_SEMI_SPACE_MB);
    assert.equal(startedSemiSpaceCapMb([MAIN_HEAP_FLAG], ''), MAIN_SEMI_SPACE_MB);
    assert.equal(startedSemiSpaceCapMb(['--max-semi-space-size=8'], `--trace-gc  ${MAIN_HEAP_FLAG} `), 8);
    assert.equal(startedSemiSpaceCapMb([], '--max_semi_space_size=2'), 2);
    assert.equal(startedSemiSpaceCapMb(['--max-semi-space-size', '6'], ''), 6);
    // Not a cap: a bad value, or the workers' minimum.
    assert.equal(
      startedSemiSpaceCapMb(['--max-semi-space-size=lots', '--min-semi-space-size=16'], ''),
      undefined,
    );
  });
});
