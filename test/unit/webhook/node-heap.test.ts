import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../support/golden.js';
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

  it('is what the webhook Deployment starts node with', () => {
    const docs = parseAllDocuments(
      readFileSync(join(repoRoot, 'manifests/webhook-deployment.yaml'), 'utf8'),
    ).map((d) => d.toJS() as { kind: string; spec?: { template?: { spec?: { containers?: unknown[] } } } });
    const deployment = docs.find((d) => d.kind === 'Deployment');
    const containers = (deployment?.spec?.template?.spec?.containers ?? []) as {
      name: string;
      env?: { name: string; value?: string }[];
    }[];
    const webhook = containers.find((c) => c.name === 'webhook');
    const nodeOptions = webhook?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
    assert.equal(startedSemiSpaceCapMb([], nodeOptions), MAIN_SEMI_SPACE_MB);
  });
});
