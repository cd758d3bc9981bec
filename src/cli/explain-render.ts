// `explain` output: text for people, JSON for pipelines (the Explanation objects as they are).
import type { Explanation, Injection } from '../policy/explain.js';
import { INJECT_LABEL } from '../policy/settings.js';

export interface Explained {
  /** Where the VM was read: `vm.yaml document 1`. */
  where: string;
  explanation: Explanation;
}

export type Verdict = Explanation['verdict'];

/** The most severe verdict of all. */
export function overall(results: readonly Explained[]): Verdict {
  const verdicts = new Set(results.map((r) => r.explanation.verdict));
  return verdicts.has('denied') ? 'denied' : verdicts.has('warned') ? 'warned' : 'allowed';
}

export function renderJson(results: readonly Explained[], notes: readonly string[]): string {
  const vms = results.map((r) => ({ where: r.where, ...r.explanation }));
  return `${JSON.stringify({ verdict: overall(results), notes, vms }, null, 2)}\n`;
}

function namespaceLine(e: Explanation): string {
  const ns = e.namespace;
  if (!ns.optedIn) return `${ns.name}: not opted in (no label ${INJECT_LABEL}=enabled)`;
  if (ns.from === 'assumed')
    return `${ns.name}: not in the --policy files, so assumed opted in, with no other labels`;
  const labels = Object.entries(ns.labels)
    .filter(([k]) => k !== INJECT_LABEL && k !== 'kubernetes.io/metadata.name')
    .map(([k, v]) => `${k}=${v}`);
  return `${ns.name}: opted in${labels.length ? `, labels ${labels.join(', ')}` : ''} (from the ${ns.from})`;
}

function injectionLines(i: Injection): string[] {
  const lines: string[] = [];
  if (i.outcome === 'injected' || i.outcome === 'unchanged') {
    const what = i.outcome === 'injected' ? 'injected' : 'already injected, unchanged';
    lines.push(`${what}: network ${i.network} as ${i.interfaceName}, from ${i.from}`);
    lines.push(`cloud-init fix: ${i.cloudInit ? 'yes' : 'no'}${i.reason ? ` (${i.reason})` : ''}`);
  } else {
    lines.push(`${i.outcome}: ${i.reason ?? 'no reason given'}`);
  }
  for (const w of i.warnings) lines.push(`warning: ${w}`);
  return lines;
}

function policyLines(e: Explanation): string[] {
  if (!e.namespace.optedIn) return [];
  if (e.selecting.length === 0) return ['policies: none selects this VM'];
  const lines = e.selecting.map(
    (p) => `policy ${p.policy} (${p.mode}): ${e.applied.includes(p.policy) ? 'applies' : 'exempted'}`,
  );
  for (const x of e.exempted) lines.push(`exempted from ${x.policy} by ${x.exemption}`);
  return lines;
}

function findingLines(e: Explanation): string[] {
  if (e.selecting.length === 0) return [];
  if (e.findings.length === 0) return ['findings: none'];
  return e.findings.flatMap((f, n) => [
    `finding ${n + 1}: ${f.mode} ${f.rule} at ${f.path} (policy ${f.policy})`,
    `  ${f.message}`,
    `  fix: ${f.fix}`,
  ]);
}

export function renderText(results: readonly Explained[], notes: readonly string[]): string {
  const blocks = results.map((r) => {
    const e = r.explanation;
    const lines = [
      `namespace ${namespaceLine(e)}`,
      ...injectionLines(e.injection),
      ...policyLines(e),
      ...findingLines(e),
      ...e.notChecked.map((n) => `not checked: ${n}`),
      `verdict: ${e.verdict.toUpperCase()}`,
    ];
    return [`VirtualMachine ${e.vm.namespace}/${e.vm.name} (${r.where})`, ...lines.map((l) => `  ${l}`)].join(
      '\n',
    );
  });
  const tail = [...notes.map((n) => `note: ${n}`)];
  if (results.length > 1) {
    const count = (v: Verdict) => results.filter((r) => r.explanation.verdict === v).length;
    tail.push(
      `${results.length} VMs: ${count('allowed')} allowed, ${count('warned')} warned, ${count('denied')} denied`,
    );
  }
  return `${[...blocks, ...(tail.length ? [tail.join('\n')] : [])].join('\n\n')}\n`;
}
