// `explain` against a cluster: one read of the namespace, one list of the policies, one read per
// NAD the VM names (a tenant may read the NADs of its namespace without listing every
// namespace's), and, for policies with requireUsePermission, a SelfSubjectAccessReview for
// the current user, whom a SelfSubjectReview names (for exemptions by user, group or service
// account). No informers: the command reads once and exits.
import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
} from '@kubernetes/client-node';
import { NAD_GROUP, NAD_PLURAL, NAD_VERSION } from '../kube/list-watch.js';
import type { ExplainSource, NadAnswer } from '../policy/explain.js';
import { refText, type NadRef } from '../policy/refs.js';
import type { InjectDefaults } from '../policy/settings.js';
import {
  POLICY_GROUP,
  POLICY_PLURAL,
  POLICY_VERSION,
  type NetworkAttachmentPolicy,
} from '../policy/types.js';

export class ClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterError';
  }
}

function codeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A message that names the request and the HTTP status, never the response body. */
function failure(what: string, err: unknown): ClusterError {
  const code = codeOf(err);
  const why = code === 403 ? '403 forbidden' : code !== undefined ? `HTTP ${code}` : (err as Error).message;
  return new ClusterError(`cannot ${what}: ${why}`);
}

type Strings = Record<string, string>;

export async function clusterSource(
  kubeconfig: string,
  defaults: InjectDefaults,
  now: Date,
): Promise<{ source: ExplainSource; notes: string[] }> {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(kubeconfig);
  } catch (err) {
    throw new ClusterError(`cannot load --kubeconfig ${kubeconfig}: ${(err as Error).message}`);
  }
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  let policies: Promise<NetworkAttachmentPolicy[]> | undefined;
  const user = await whoAmI(kc);
  const notes = [
    user
      ? `as ${user.username ?? 'an unnamed user'}${user.groups?.length ? ` (groups ${user.groups.join(', ')})` : ''}: exemptions and "use" checks are for this user`
      : 'who you are is not known (SelfSubjectReview refused): exemptions by user, group or service account do not apply',
  ];
  const source: ExplainSource = {
    defaults,
    now,
    ...(user ? { user } : {}),
    namespace: async (name) => {
      try {
        const ns = await core.readNamespace({ name });
        const labels = (ns.metadata?.labels ?? {}) as Strings;
        return {
          info: { name, labels, annotations: (ns.metadata?.annotations ?? {}) as Strings },
          from: 'cluster',
        };
      } catch (err) {
        if (codeOf(err) === 404) throw new ClusterError(`namespace ${name} does not exist`);
        throw failure(`read namespace ${name}`, err);
      }
    },
    policies: () =>
      (policies ??= custom
        .listClusterCustomObject({ group: POLICY_GROUP, version: POLICY_VERSION, plural: POLICY_PLURAL })
        .then((list) => (list as { items?: NetworkAttachmentPolicy[] }).items ?? [])
        .catch((err: unknown) => {
          throw failure('list NetworkAttachmentPolicies', err);
        })),
    nads: async (refs) => {
      const found = new Map<string, NadAnswer>();
      await Promise.all(refs.map(async (ref) => found.set(refText(ref), await readNad(custom, ref))));
      return (ref) => (found.has(refText(ref)) ? found.get(refText(ref)) : 'unknown');
    },
    checkUse: async (ref) => {
      try {
        const review = await authz.createSelfSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: {
              resourceAttributes: {
                group: NAD_GROUP,
                resource: NAD_PLURAL,
                verb: 'use',
                namespace: ref.namespace,
                name: ref.name,
              },
            },
          },
        });
        return review.status?.allowed === true;
      } catch {
        return 'unknown';
      }
    },
  };
  return { source, notes };
}

async function readNad(custom: CustomObjectsApi, ref: NadRef): Promise<NadAnswer> {
  try {
    const nad = (await custom.getNamespacedCustomObject({
      group: NAD_GROUP,
      version: NAD_VERSION,
      plural: NAD_PLURAL,
      namespace: ref.namespace,
      name: ref.name,
    })) as { metadata?: { labels?: Strings } };
    return { ...ref, labels: nad.metadata?.labels ?? {} };
  } catch (err) {
    if (codeOf(err) === 404) return undefined;
    if (codeOf(err) === 403) return 'unknown';
    throw failure(`read NetworkAttachmentDefinition ${refText(ref)}`, err);
  }
}

/** The current user, as the apiserver authenticates this kubeconfig; undefined if it will not say. */
async function whoAmI(kc: KubeConfig): Promise<{ username?: string; groups?: string[] } | undefined> {
  try {
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    const info = review.status?.userInfo;
    if (!info) return undefined;
    return {
      ...(info.username !== undefined ? { username: info.username } : {}),
      ...(info.groups ? { groups: info.groups } : {}),
    };
  } catch (err) {
    if (codeOf(err) === undefined) throw failure('reach the cluster', err);
    return undefined;
  }
}
