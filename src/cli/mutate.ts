// `kubevirt-net-injector mutate`: the injection offline, like `istioctl kube-inject -f`. Reads
// multi-document YAML or JSON (and v1 Lists), mutates each VirtualMachine with the same engine
// the webhook uses, passes every other document through in order. Output is all-or-nothing:
// on any error nothing reaches stdout.
import { readFileSync } from 'node:fs';
import { stderr, stdin, stdout } from 'node:process';
import { parseArgs } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import {
  DEFAULT_INTERFACE_NAME,
  InvalidObjectError,
  mutate,
  type InjectSettings,
  type MutateResult,
} from '../mutate/index.js';
import { isObj } from '../mutate/vm.js';

const HELP = `usage: kubevirt-net-injector mutate -f <file|-> --network <nad> [flags]

Injects the L2 network (and the guest cloud-init fix) into every VirtualMachine in the input.

flags:
  -f, --filename FILE    input file, or - for stdin (YAML or JSON, several documents, v1 List)
      --network NAD      NetworkAttachmentDefinition: name or namespace/name (required)
      --interface NAME   network/interface name in the VM spec (default ${DEFAULT_INTERFACE_NAME})
      --no-cloud-init    do not patch the guest's cloud-init
  -o, --output FORMAT    yaml (default), json, or patch (one JSON Patch per VM, a line each)
  -h, --help             this help
`;

class UsageError extends Error {}

interface Options {
  file: string;
  output: 'yaml' | 'json' | 'patch';
  settings: InjectSettings;
}

function parseOptions(args: string[]): Options | 'help' {
  const { values, positionals } = parseArgs({
    args,
    options: {
      filename: { type: 'string', short: 'f' },
      network: { type: 'string' },
      interface: { type: 'string' },
      'no-cloud-init': { type: 'boolean' },
      output: { type: 'string', short: 'o' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  if (!values.filename) throw new UsageError('-f is required (a file, or - for stdin)');
  if (!values.network) throw new UsageError('--network is required');
  const output = values.output ?? 'yaml';
  if (output !== 'yaml' && output !== 'json' && output !== 'patch') {
    throw new UsageError(`-o must be yaml, json or patch, not ${output}`);
  }
  return {
    file: values.filename,
    output,
    settings: {
      network: values.network,
      interfaceName: values.interface ?? DEFAULT_INTERFACE_NAME,
      cloudInit: !values['no-cloud-init'],
    },
  };
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFileSync(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function describe(obj: unknown, index: number): string {
  if (!isObj(obj)) return `document ${index + 1}`;
  const meta = isObj(obj['metadata']) ? obj['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '<unnamed>';
  return `document ${index + 1} (${String(obj['kind'] ?? 'unknown kind')} ${name})`;
}

function isVm(obj: unknown): boolean {
  return (
    isObj(obj) && obj['kind'] === 'VirtualMachine' && String(obj['apiVersion']).startsWith('kubevirt.io/')
  );
}

interface Processed {
  object: unknown;
  /** The source text of a document we did not change, to pass it through as written. */
  source?: string;
  results: MutateResult[];
}

function mutateOne(
  obj: unknown,
  where: string,
  settings: InjectSettings,
  warn: (m: string) => void,
): MutateResult {
  try {
    const r = mutate(obj, settings);
    for (const w of r.warnings) warn(`${where}: warning: ${w}`);
    return r;
  } catch (e) {
    if (e instanceof InvalidObjectError) throw new Error(`${where}: ${e.message}`);
    throw e;
  }
}

function processDocument(
  obj: unknown,
  where: string,
  settings: InjectSettings,
  warn: (m: string) => void,
): Processed {
  if (isVm(obj)) {
    const r = mutateOne(obj, where, settings, warn);
    return { object: r.vm, results: [r] };
  }
  if (isObj(obj) && obj['kind'] === 'List' && Array.isArray(obj['items'])) {
    const results: MutateResult[] = [];
    const items = obj['items'].map((item, i) => {
      if (!isVm(item)) return item;
      const r = mutateOne(item, `${where} item ${i + 1}`, settings, warn);
      results.push(r);
      return r.vm;
    });
    return { object: results.some((r) => r.patch.length) ? { ...obj, items } : obj, results };
  }
  return { object: obj, results: [] };
}

export async function run(args: string[]): Promise<number> {
  let options: Options | 'help';
  try {
    options = parseOptions(args);
  } catch (e) {
    stderr.write(`kubevirt-net-injector mutate: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (options === 'help') {
    stdout.write(HELP);
    return 0;
  }
  const warnings: string[] = [];
  try {
    const text = await readInput(options.file);
    const docs = parseAllDocuments(text, { prettyErrors: true });
    if (!Array.isArray(docs)) throw new Error('input is not YAML or JSON');
    const processed: Processed[] = [];
    docs.forEach((doc, index) => {
      if (doc.errors.length > 0) throw new Error(`document ${index + 1}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS({ maxAliasCount: 100 }) as unknown;
      if (obj === null || obj === undefined) return; // an empty document between separators
      const p = processDocument(obj, describe(obj, index), options.settings, (m) => warnings.push(m));
      if (p.object === obj) p.source = doc.toString().replace(/^---[ \t]*\n/, '');
      processed.push(p);
    });
    stdout.write(render(processed, options.output));
    for (const w of warnings) stderr.write(`${w}\n`);
    return 0;
  } catch (e) {
    stderr.write(`kubevirt-net-injector mutate: ${(e as Error).message}\n`);
    return 1;
  }
}

function render(processed: Processed[], output: Options['output']): string {
  if (output === 'patch') {
    return processed
      .flatMap((p) => p.results)
      .map((r) => `${JSON.stringify(r.patch)}\n`)
      .join('');
  }
  if (output === 'json') {
    const objects = processed.map((p) => p.object);
    const value = objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects };
    return `${JSON.stringify(value, null, 2)}\n`;
  }
  return processed
    .map((p) => p.source ?? stringify(p.object, { lineWidth: 0 }))
    .map((s) => (s.endsWith('\n') ? s : `${s}\n`))
    .join('---\n');
}
