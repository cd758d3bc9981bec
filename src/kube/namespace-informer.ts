// The Namespace cache's list and watch against the apiserver, for the composition root.
import { CoreV1Api, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { InformerSourceOptions } from './namespace-settings.js';
import { OPT_IN_SELECTOR } from './namespace-settings.js';

export function namespaceListWatch(kc: KubeConfig): Pick<InformerSourceOptions, 'list' | 'watch'> {
  const api = kc.makeApiClient(CoreV1Api);
  return {
    list: () => api.listNamespace({ labelSelector: OPT_IN_SELECTOR }),
    watch: new Watch(kc),
  };
}
