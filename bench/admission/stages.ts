// What one review costs in-process, stage by stage, without TLS, HTTP or a load generator:
// the same functions the endpoint calls, over the benchmark's 4,096 distinct reviews (one
// template, own names). Each stage adds one step to the previous one; CPU time per review
// is the median of five rounds. The server benchmark (run.ts) shows what the same work costs
// between TLS records and syscalls, which is several times more.
// Usage: node dist/bench/admission/stages.js [reviews-per-round=20000]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import { mutate } from '../../src/mutate/index.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createMutatingHandler } from '../../src/webhook/handler.js';
import { reviewLogFields } from '../../src/webhook/log-review.js';
import { reviewJson } from '../../src/webhook/response.js';
import { decodeReview } from '../../src/webhook/review.js';
import { staticSettingsSource } from '../../src/webhook/settings-source.js';
import { DEFAULT_LIMITS, parseJson } from '../../src/webhook/transport.js';

const PER_ROUND = Number(process.argv[2] ?? 20_000);
const ROUNDS = 5;

function bodies(count: number): Buffer[] {
  const vm = parseYaml(readFileSync(join(process.cwd(), 'test/testdata/seed/mongodb.yaml'), 'utf8')) as {
    metadata: { name: string };
  };
  return Array.from({ length: count }, (_, n) => {
    vm.metadata.name = `mongodb-${n}`;
    return Buffer.from(
      JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        request: {
          uid: `uid-${n}`,
          kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' },
          resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachines' },
          name: vm.metadata.name,
          namespace: 'vm',
          operation: 'CREATE',
          object: vm,
          dryRun: false,
        },
      }),
    );
  });
}

function cpuPerCall(inputs: Buffer[], fn: (body: Buffer) => unknown): number {
  for (let i = 0; i < 3000; i++) fn(inputs[i % inputs.length]!);
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = process.cpuUsage();
    for (let i = 0; i < PER_ROUND; i++) fn(inputs[i % inputs.length]!);
    const used = process.cpuUsage(before);
    rounds.push((used.user + used.system) / PER_ROUND);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!;
}

const inputs = bodies(4096);
const SETTINGS = { network: 'ovs-net-br1', interfaceName: 'l2', cloudInit: true };
const handler = createMutatingHandler({ mutate, settings: staticSettingsSource(SETTINGS) });
const logger = createLogger({
  destination: pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 }),
});
const depth = DEFAULT_LIMITS.maxDepth;
const stages: [string, (body: Buffer) => unknown][] = [
  ['parse (JSON.parse + depth check)', (b) => parseJson(b, depth)],
  ['+ decode the review', (b) => decodeReview(parseJson(b, depth))],
  ['+ engine (mutate)', (b) => mutate(decodeReview(parseJson(b, depth)).request.object, SETTINGS, {})],
  [
    '+ handler (namespace settings, patch encoding)',
    (b) => handler(decodeReview(parseJson(b, depth)).request),
  ],
  ['+ answer text', (b) => reviewJson(handler(decodeReview(parseJson(b, depth)).request).response)],
  [
    '+ log line',
    (b) => {
      const { request } = decodeReview(parseJson(b, depth));
      const result = handler(request);
      const text = reviewJson(result.response);
      logger.info(reviewLogFields(request, result), 'admission review');
      return text;
    },
  ],
];
const lines = ['| stage | CPU µs/review |', '|---|---:|'];
for (const [name, fn] of stages) lines.push(`| ${name} | ${cpuPerCall(inputs, fn).toFixed(1)} |`);
process.stdout.write(`${lines.join('\n')}\n`);
