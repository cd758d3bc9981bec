// What to inject into a VM, from its namespace and the policies that select it (pure).
// Precedence, most specific first (docs/policy.md): the VM's own annotations (applied later by
// the engine), the first selecting policy's `inject` by name, the Namespace's network
// annotation, the webhook's flags.
import { Keys } from '../mutate/annotations.js';
import type { InjectSettings } from '../mutate/types.js';
import { injectionFor } from './inject.js';
import type { NetworkAttachmentPolicy } from './types.js';

export const INJECT_LABEL = Keys.inject;
export const NETWORK_ANNOTATION = Keys.network;

/** Defaults from the webhook's flags; `network` may be absent when policies or namespaces name it. */
export type InjectDefaults = Omit<InjectSettings, 'network'> & { network?: string };

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export type InjectVerdict =
  | { optedIn: true; settings: InjectSettings; /** where the network came from */ from: string }
  /** `warning` is surfaced to the client (admission warning) when the user should know why. */
  | { optedIn: false; reason: string; warning?: string };

export function isOptedIn(ns: NamespaceInfo | undefined): boolean {
  return ns?.labels[INJECT_LABEL] === 'enabled';
}

/**
 * `policies`: those whose namespaceSelector matches the namespace. Returns whether the VM is
 * injected, and with what.
 */
export function settingsFor(
  name: string,
  ns: NamespaceInfo | undefined,
  policies: readonly NetworkAttachmentPolicy[],
  vmLabels: Record<string, string>,
  defaults: InjectDefaults,
): InjectVerdict {
  if (!ns || !isOptedIn(ns)) return { optedIn: false, reason: 'namespace not opted in' };
  const fromPolicy = injectionFor(policies, { labels: vmLabels });
  if (fromPolicy) {
    const { inject } = fromPolicy;
    return {
      optedIn: true,
      from: `policy ${fromPolicy.policy}`,
      settings: {
        network: inject.network,
        interfaceName: inject.interfaceName ?? defaults.interfaceName,
        cloudInit: inject.cloudInit ?? defaults.cloudInit,
      },
    };
  }
  const annotated = ns.annotations[NETWORK_ANNOTATION];
  const network = annotated || defaults.network;
  if (!network) {
    return {
      optedIn: false,
      reason: 'no network configured',
      warning: `kubevirt-net-injector: namespace ${name} opted in but no policy, namespace annotation (${NETWORK_ANNOTATION}) or webhook default names a network; VM not injected`,
    };
  }
  return {
    optedIn: true,
    from: annotated ? `namespace annotation ${NETWORK_ANNOTATION}` : 'the webhook default (--network)',
    settings: { network, interfaceName: defaults.interfaceName, cloudInit: defaults.cloudInit },
  };
}
