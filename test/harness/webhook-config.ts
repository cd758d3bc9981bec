// The MutatingWebhookConfiguration that sends VirtualMachine creates in opted-in namespaces to our
// webhook, at a URL (no in-cluster Service when the webhook runs locally). CREATE only by default:
// injection is a create-time decision, and a running VM's spec must not change under it on an
// unrelated update. `operations` can still add UPDATE.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AdmissionregistrationV1Api,
  type KubeConfig,
  type V1MutatingWebhookConfiguration,
  type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { repoRoot } from './paths.js';
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

/**
 * The shipped ValidatingWebhookConfiguration (manifests/base/validating-webhook.yaml: rules,
 * namespaceSelector and match condition as users get them), pointed at a URL instead of the
 * Service.
 */
export function validatingWebhookConfiguration(url: string, caPem: string): V1ValidatingWebhookConfiguration {
  const shipped = parse(
    readFileSync(join(repoRoot(), 'manifests', 'base', 'validating-webhook.yaml'), 'utf8'),
  ) as V1ValidatingWebhookConfiguration;
  for (const webhook of shipped.webhooks ?? []) {
    webhook.clientConfig = { url, caBundle: Buffer.from(caPem).toString('base64') };
  }
  return shipped;
}

/** Creates the shipped validating configuration at `url`, or replaces it. */
export async function registerValidatingWebhook(kc: KubeConfig, url: string, caPem: string): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const body = validatingWebhookConfiguration(url, caPem);
  const name = body.metadata!.name!;
  try {
    const existing = await api.readValidatingWebhookConfiguration({ name });
    body.metadata!.resourceVersion = existing.metadata?.resourceVersion;
    await api.replaceValidatingWebhookConfiguration({ name, body });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await api.createValidatingWebhookConfiguration({ body });
  }
}

/** Removes the validating configuration, if there is one. */
export async function unregisterValidatingWebhook(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const name = validatingWebhookConfiguration('https://unused', '').metadata!.name!;
  try {
    await api.deleteValidatingWebhookConfiguration({ name });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
  }
}
