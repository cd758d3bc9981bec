// The real Namespace informer (list + watch against the apiserver), for the composition root.
import { CoreV1Api, makeInformer, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import { OPT_IN_SELECTOR, type NamespaceInformer } from './namespace-settings.js';

export function makeNamespaceInformer(kc: KubeConfig): NamespaceInformer {
  const api = kc.makeApiClient(CoreV1Api);
  return makeInformer<V1Namespace>(
    kc,
    '/api/v1/namespaces',
    () => api.listNamespace({ labelSelector: OPT_IN_SELECTOR }),
    OPT_IN_SELECTOR,
  );
}
