// The MutatingWebhookConfiguration that sends VirtualMachine creates in opted-in namespaces to our
// webhook, at a URL (no in-cluster Service when the webhook runs locally). CREATE only by default:
// injection is a create-time decision, and a running VM's spec must not change under it on an
// unrelated update. `operations` can still add UPDATE.
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { INJECT_LABEL } from '../../src/policy/settings.js';

export const WEBHOOK_CONFIGURATION_NAME = 'kubevirt-net-injector';
export { INJECT_LABEL };

export interface WebhookRegistration {
  /** https://127.0.0.1:PORT/mutate */
  url: string;
  /** The CA that signed the webhook's serving certificate, PEM. */
  caPem: string;
  name?: string;
  failurePolicy?: 'Fail' | 'Ignore';
  operations?: ('CREATE' | 'UPDATE')[];
  timeoutSeconds?: number;
}

export function mutatingWebhookConfiguration(reg: WebhookRegistration): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: reg.name ?? WEBHOOK_CONFIGURATION_NAME },
    webhooks: [
      {
        name: 'vm.kubevirt-net-injector.io',
        clientConfig: { url: reg.url, caBundle: Buffer.from(reg.caPem).toString('base64') },
        rules: [
          {
            apiGroups: ['kubevirt.io'],
            apiVersions: ['v1'],
            operations: reg.operations ?? ['CREATE'],
            resources: ['virtualmachines'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: { matchLabels: { [INJECT_LABEL]: 'enabled' } },
        failurePolicy: reg.failurePolicy ?? 'Fail',
        sideEffects: 'None',
        reinvocationPolicy: 'IfNeeded',
        admissionReviewVersions: ['v1'],
        matchPolicy: 'Equivalent',
        timeoutSeconds: reg.timeoutSeconds ?? 5,
      },
    ],
  };
}

/** Creates the configuration, or replaces the one of the same name. */
export async function registerWebhook(kc: KubeConfig, reg: WebhookRegistration): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const body = mutatingWebhookConfiguration(reg);
  const name = body.metadata!.name!;
  try {
    const existing = await api.readMutatingWebhookConfiguration({ name });
    body.metadata!.resourceVersion = existing.metadata?.resourceVersion;
    await api.replaceMutatingWebhookConfiguration({ name, body });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await api.createMutatingWebhookConfiguration({ body });
  }
}
