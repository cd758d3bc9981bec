// What the webhook learns from the cluster: whether a namespace opted in and what to inject
// there, and the policies that judge a VM. Static (flags only) or informer caches (src/kube);
// never an API call per review, apart from `use` checks some policies ask for.
import type { InjectSettings } from '../mutate/types.js';
import type { NadRef } from '../policy/refs.js';
import type { InjectVerdict } from '../policy/settings.js';
import type { NadInfo, NetworkAttachmentPolicy } from '../policy/types.js';

export interface SettingsSource {
  /** What to inject into a VM with these labels in this namespace, or why not. */
  forVm(namespace: string, labels: Record<string, string>): InjectVerdict;
  /** False until the source can answer (caches synced); drives /readyz. */
  ready(): boolean;
}

export interface PolicySource {
  /** Policies whose namespaceSelector matches the namespace (an opted-in one), any order. */
  policiesFor(namespace: string): readonly NetworkAttachmentPolicy[];
  nad(ref: NadRef): NadInfo | undefined;
  ready(): boolean;
}

/**
 * Static settings, for running without a cluster: every namespace that reaches the webhook
 * counts as opted in, because the apiserver's namespaceSelector already filtered them. No
 * policies.
 */
export function staticSettingsSource(settings: InjectSettings): SettingsSource & PolicySource {
  const verdict: InjectVerdict = {
    optedIn: true,
    settings: Object.freeze({ ...settings }),
    from: 'the webhook default (--network)',
  };
  return {
    forVm: () => verdict,
    policiesFor: () => [],
    nad: () => undefined,
    ready: () => true,
  };
}
