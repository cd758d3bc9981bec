// `kubevirt-net-injector explain`: what would happen to these VirtualMachines if they were
// created now, and why (like `istioctl x check-inject`). The namespace, policies and NADs
// come from files (offline) or from a cluster; the decision is the webhooks' own code
// (src/policy/explain.ts). Exit 0: allowed or warned; 1: a VM would be denied; 2: bad input,
// bad flags, or a cluster that cannot be read.
import { stderr, stdout } from 'node:process';
import {
  EXPLAIN_USAGE,
  ExplainConfigError,
  parseExplainArgs,
  type ExplainConfig,
} from '../config/explain.js';
import { InvalidObjectError } from '../mutate/types.js';
import { isObj } from '../mutate/vm.js';
import { explainVm, type ExplainSource } from '../policy/explain.js';
import { InputError, readDocuments, type InputDocument } from './documents.js';
import { overall, renderJson, renderText, type Explained } from './explain-render.js';

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseExplainArgs(args);
  } catch (err) {
    if (!(err instanceof ExplainConfigError)) throw err;
    stderr.write(`kubevirt-net-injector explain: ${err.message}\n\n${EXPLAIN_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    stdout.write(EXPLAIN_USAGE);
    return 0;
  }
  const config = parsed.config;
  try {
    const { results, notes } = await explainAll(config);
    stdout.write(config.output === 'json' ? renderJson(results, notes) : renderText(results, notes));
    return overall(results) === 'denied' ? 1 : 0;
  } catch (err) {
    if (!(err instanceof InputError) && (err as Error).name !== 'ClusterError') throw err;
    stderr.write(`kubevirt-net-injector explain: ${(err as Error).message}\n`);
    return 2;
  }
}

const isVm = (o: Record<string, unknown>) =>
  o['kind'] === 'VirtualMachine' && String(o['apiVersion']).startsWith('kubevirt.io/');

/** --namespace, else the VM's own, else `default`; a VM in another namespace than --namespace is an error, as kubectl says. */
function namespaceOf(doc: InputDocument, flag: string | undefined): string {
  const meta = isObj(doc.object['metadata']) ? doc.object['metadata'] : {};
  const own =
    typeof meta['namespace'] === 'string' && meta['namespace'] !== '' ? meta['namespace'] : undefined;
  if (flag !== undefined && own !== undefined && own !== flag)
    throw new InputError(`${doc.where}: its namespace ${own} is not --namespace ${flag}`);
  return flag ?? own ?? 'default';
}

async function sourceFor(
  config: ExplainConfig,
  now: Date,
): Promise<{ source: ExplainSource; notes: string[] }> {
  if (config.kubeconfig === undefined) {
    const { offlineSource } = await import('./explain-offline.js');
    return offlineSource(config.policyFiles, config.namespace ?? 'default', config.defaults, now);
  }
  // Loaded only against a cluster, so offline use never pays for the Kubernetes client.
  const { clusterSource } = await import('./explain-cluster.js');
  return clusterSource(config.kubeconfig, config.defaults, now);
}

async function explainAll(config: ExplainConfig): Promise<{ results: Explained[]; notes: string[] }> {
  const docs = await readDocuments(config.file);
  const vms = docs.filter((d) => isVm(d.object));
  if (vms.length === 0)
    throw new InputError(`no kubevirt.io VirtualMachine in ${config.file === '-' ? 'stdin' : config.file}`);
  const namespaces = vms.map((d) => namespaceOf(d, config.namespace));
  const { source, notes } = await sourceFor(config, new Date());
  const skipped = docs.filter((d) => !isVm(d.object)).map((d) => `ignored ${d.where}: not a VirtualMachine`);
  const results: Explained[] = [];
  for (const [i, doc] of vms.entries()) {
    try {
      results.push({ where: doc.at, explanation: await explainVm(doc.object, namespaces[i]!, source) });
    } catch (err) {
      if (err instanceof InvalidObjectError) throw new InputError(`${doc.where}: ${err.message}`);
      throw err;
    }
  }
  return { results, notes: [...notes, ...skipped] };
}
