// `explain` offline: the namespace, policies and NADs come from --policy files. A namespace the
// files do not describe counts as opted in with no other labels (said in the output); with no
// NAD in the files, whether a NAD exists is not known; `use` is never checked offline.
import { isObj } from '../mutate/vm.js';
import type { ExplainSource, NadAnswer } from '../policy/explain.js';
import { refText, type NadRef } from '../policy/refs.js';
import { INJECT_LABEL, type InjectDefaults, type NamespaceInfo } from '../policy/settings.js';
import { POLICY_GROUP, POLICY_KIND, type NadInfo, type NetworkAttachmentPolicy } from '../policy/types.js';
import { InputError, readDocuments, type InputDocument } from './documents.js';

/** Kubernetes sets this label on every Namespace; the shipped validating webhook selects on it. */
const NAME_LABEL = 'kubernetes.io/metadata.name';

interface Files {
  namespaces: Map<string, NamespaceInfo>;
  policies: NetworkAttachmentPolicy[];
  nads: Map<string, NadInfo>;
  /** Documents of other kinds, for a note. */
  ignored: string[];
}

const strings = (v: unknown): Record<string, string> =>
  isObj(v)
    ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'))
    : {};

function meta(doc: InputDocument): {
  name: string;
  namespace?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
} {
  const m = isObj(doc.object['metadata']) ? doc.object['metadata'] : {};
  if (typeof m['name'] !== 'string' || m['name'] === '')
    throw new InputError(`${doc.where}: metadata.name is missing`);
  return {
    name: m['name'],
    ...(typeof m['namespace'] === 'string' ? { namespace: m['namespace'] } : {}),
    labels: strings(m['labels']),
    annotations: strings(m['annotations']),
  };
}

function asPolicy(doc: InputDocument): NetworkAttachmentPolicy {
  const { name } = meta(doc);
  const spec = doc.object['spec'];
  if (!isObj(spec) || !isObj(spec['namespaceSelector']))
    throw new InputError(`${doc.where}: spec.namespaceSelector is missing`);
  return { ...(doc.object as unknown as NetworkAttachmentPolicy), metadata: { name } };
}

/** Sorts the --policy documents by kind. A NAD without a namespace is in `defaultNamespace`. */
export function collect(docs: InputDocument[], defaultNamespace: string): Files {
  const files: Files = { namespaces: new Map(), policies: [], nads: new Map(), ignored: [] };
  for (const doc of docs) {
    const kind = doc.object['kind'];
    const group = String(doc.object['apiVersion'] ?? '').split('/')[0];
    if (kind === 'Namespace' && doc.object['apiVersion'] === 'v1') {
      const m = meta(doc);
      const labels = { [NAME_LABEL]: m.name, ...m.labels };
      files.namespaces.set(m.name, { name: m.name, labels, annotations: m.annotations });
    } else if (kind === POLICY_KIND && group === POLICY_GROUP) {
      files.policies.push(asPolicy(doc));
    } else if (kind === 'NetworkAttachmentDefinition' && group === 'k8s.cni.cncf.io') {
      const m = meta(doc);
      const nad = { namespace: m.namespace ?? defaultNamespace, name: m.name, labels: m.labels };
      files.nads.set(refText(nad), nad);
    } else {
      files.ignored.push(doc.where);
    }
  }
  return files;
}

export async function offlineSource(
  policyFiles: string[],
  defaultNamespace: string,
  defaults: InjectDefaults,
  now: Date,
): Promise<{ source: ExplainSource; notes: string[] }> {
  const docs: InputDocument[] = [];
  for (const file of policyFiles) docs.push(...(await readDocuments(file)));
  const files = collect(docs, defaultNamespace);
  const count = (n: number, what: string) =>
    `${n} ${n === 1 ? what : what === 'policy' ? 'policies' : `${what}s`}`;
  const notes = [
    policyFiles.length === 0
      ? 'offline, no --policy file: no policy applies'
      : `offline: ${count(files.policies.length, 'policy')}, ${count(files.nads.size, 'NAD')}, ${count(files.namespaces.size, 'Namespace')} from --policy files`,
    ...(files.nads.size === 0 ? ['no NAD in the files: whether a NAD exists is not checked'] : []),
    'who creates the VM is not known offline: exemptions by user, group or service account do not apply',
    ...files.ignored.map((where) => `ignored ${where}: not a policy, NAD or Namespace`),
  ];
  const source: ExplainSource = {
    defaults,
    now,
    namespace: async (name) => {
      const info = files.namespaces.get(name);
      if (info) return { info, from: 'files' };
      return {
        info: { name, labels: { [NAME_LABEL]: name, [INJECT_LABEL]: 'enabled' }, annotations: {} },
        from: 'assumed',
      };
    },
    policies: async () => files.policies,
    nads: async () =>
      files.nads.size === 0
        ? (): NadAnswer => 'unknown'
        : (ref: NadRef): NadAnswer => files.nads.get(refText(ref)),
    checkUse: async () => undefined,
  };
  return { source, notes };
}
