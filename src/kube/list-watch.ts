// The real list and watch functions behind the cluster state, for the composition roots.
import { CoreV1Api, CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { POLICY_GROUP, POLICY_PLURAL, POLICY_VERSION } from '../policy/types.js';
import { OPT_IN_SELECTOR, type ClusterStateOptions } from './cluster-state.js';

export const NAD_GROUP = 'k8s.cni.cncf.io';
export const NAD_VERSION = 'v1';
export const NAD_PLURAL = 'network-attachment-definitions';

export function clusterListWatch(
  kc: KubeConfig,
): Pick<ClusterStateOptions, 'namespaces' | 'policies' | 'nads' | 'watch'> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const listCustom = (group: string, version: string, plural: string) => () =>
    custom.listClusterCustomObject({ group, version, plural }) as Promise<
      KubernetesListObject<KubernetesObject>
    >;
  return {
    namespaces: {
      path: '/api/v1/namespaces',
      labelSelector: OPT_IN_SELECTOR,
      list: () => core.listNamespace({ labelSelector: OPT_IN_SELECTOR }),
    },
    policies: {
      path: `/apis/${POLICY_GROUP}/${POLICY_VERSION}/${POLICY_PLURAL}`,
      list: listCustom(POLICY_GROUP, POLICY_VERSION, POLICY_PLURAL),
    },
    nads: {
      path: `/apis/${NAD_GROUP}/${NAD_VERSION}/${NAD_PLURAL}`,
      list: listCustom(NAD_GROUP, NAD_VERSION, NAD_PLURAL),
    },
    watch: new Watch(kc),
  };
}
