import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { parse, stringify } from 'yaml';
import { mutate } from '../../src/mutate/index.js';
import { defaultContext, defaultSettings, expectedDir, goldenCases } from '../support/golden.js';

const update = process.env['UPDATE_GOLDEN'] === '1';

describe('golden files: VM in, VM and patch out', () => {
  for (const c of goldenCases()) {
    describe(c.name, () => {
      const before = structuredClone(c.input);
      const result = mutate(c.input, defaultSettings, defaultContext);
      const actual = {
        decision: result.decision,
        warnings: result.warnings,
        patch: result.patch,
        vm: result.vm,
      };
      const file = join(expectedDir, `${c.name}.yaml`);

      it('matches the expected output', () => {
        if (update) {
          mkdirSync(expectedDir, { recursive: true });
          writeFileSync(file, stringify(actual, { lineWidth: 0 }));
        }
        assert.ok(existsSync(file), `no golden file ${file}; run with UPDATE_GOLDEN=1`);
        assert.deepEqual(actual, parse(readFileSync(file, 'utf8')));
      });

      it('leaves the input object untouched', () => {
        assert.deepEqual(c.input, before);
      });

      it('produces a patch that turns the input into the output', () => {
        const patched = fastJsonPatch.applyPatch(
          structuredClone(before),
          result.patch,
          true,
          false,
        ).newDocument;
        assert.deepEqual(patched, result.vm);
      });

      it('is idempotent: its own output comes back with no patch', () => {
        const again = mutate(result.vm, defaultSettings, defaultContext);
        assert.deepEqual(again.patch, []);
        assert.equal(again.vm, result.vm);
      });
    });
  }
});
