// Small helpers the integration tests share.
import { randomBytes } from 'node:crypto';

import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ControllerSettings } from '../../src/controller/controller.js';

/** HTTP status of a client-node ApiException, or undefined. */
export function statusOf(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/** Creates a namespace with a unique name (and `labels`); returns its name. */
export async function createNamespace(
  kc: KubeConfig,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name, labels } } });
  return name;
}

/** A minimal VirtualMachine that the KubeVirt CRD schema accepts. */
export function virtualMachine(namespace: string, name: string, templateSpec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace },
    spec: {
      runStrategy: 'Halted',
      template: {
        spec: {
          domain: { devices: {}, resources: { requests: { memory: '64Mi' } } },
          ...templateSpec,
        },
      },
    },
  };
}

export const VM = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' } as const;

/**
 * Controller settings for a test in `namespace`: short grace, no periodic relist, leader
 * election off (a test that wants it, or other values, passes overrides).
 */
export function controllerTestSettings(
  namespace: string,
  overrides: Partial<ControllerSettings> = {},
): ControllerSettings {
  return {
    namespace,
    graceMs: 1000,
    legacyEndpoints: false,
    workers: 2,
    resyncMs: 60_000,
    watchSilenceMs: 15_000,
    relistMs: 0,
    leaderElection: {
      enabled: false,
      namespace,
      name: 'kni-controller',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    },
    identity: 'test',
    ...overrides,
  };
}
