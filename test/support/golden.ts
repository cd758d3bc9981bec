// The golden cases: VM manifests in test/golden/cases and the seed's VMs, each with its expected
// engine output in test/golden/expected/<case>.yaml. UPDATE_GOLDEN=1 rewrites the expectations.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import type { InjectSettings, MutateContext } from '../../src/mutate/index.js';

export const repoRoot = process.cwd();
export const goldenDir = join(repoRoot, 'test/golden');
export const expectedDir = join(goldenDir, 'expected');

export const defaultSettings: InjectSettings = {
  network: 'ovs-net-br1',
  interfaceName: 'l2',
  cloudInit: true,
};
export const defaultContext: MutateContext = { seed: 'admission-review-uid-0001' };

export interface GoldenCase {
  name: string;
  file: string;
  input: Record<string, unknown>;
}

export function goldenCases(): GoldenCase[] {
  const sources = [
    ...readdirSync(join(goldenDir, 'cases')).map((f) => ({
      name: basename(f, '.yaml'),
      file: join(goldenDir, 'cases', f),
    })),
    ...readdirSync(join(repoRoot, 'test/testdata/seed')).map((f) => ({
      name: `seed-${basename(f, '.yaml')}`,
      file: join(repoRoot, 'test/testdata/seed', f),
    })),
  ];
  return sources
    .filter((s) => s.file.endsWith('.yaml'))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => ({ ...s, input: parse(readFileSync(s.file, 'utf8')) as Record<string, unknown> }));
}
