// Where the webhook learns whether a namespace opted in and what to inject there.
// Static (flags/config file) or a Namespace informer cache (src/kube); never an API call per review.
import type { InjectSettings } from '../mutate/types.js';

export type NamespaceVerdict =
  | { optedIn: true; settings: InjectSettings }
  /** `warning` is surfaced to the client (admission warning) when the user should know why. */
  | { optedIn: false; reason: string; warning?: string };

export interface SettingsSource {
  forNamespace(namespace: string): NamespaceVerdict;
  /** False until the source can answer (informer synced); drives /readyz. */
  ready(): boolean;
}

/**
 * Static settings, for running without a cluster: every namespace that reaches the webhook
 * counts as opted in, because the apiserver's namespaceSelector already filtered them.
 */
export function staticSettingsSource(settings: InjectSettings): SettingsSource {
  const verdict: NamespaceVerdict = { optedIn: true, settings: Object.freeze({ ...settings }) };
  return {
    forNamespace: () => verdict,
    ready: () => true,
  };
}
