// Installs the generated CRDs and waits until the apiserver serves them. They are created, not
// client-side applied: KubeVirt's are too large for the last-applied annotation.
import { readFileSync } from 'node:fs';

import {
  ApiextensionsV1Api,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse } from 'yaml';

import { crdPath } from './paths.js';
import { waitFor } from './wait.js';

export const CRD_FILES = ['vm', 'vmi', 'nad'] as const;

export function readCrd(name: (typeof CRD_FILES)[number]): V1CustomResourceDefinition {
  return parse(readFileSync(crdPath(name), 'utf8')) as V1CustomResourceDefinition;
}

function isConflict(err: unknown): boolean {
  return (err as { code?: number }).code === 409;
}

export async function installCrds(kc: KubeConfig, timeoutMs = 60_000): Promise<string[]> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const names: string[] = [];
  for (const file of CRD_FILES) {
    const body = readCrd(file);
    try {
      await api.createCustomResourceDefinition({ body, fieldManager: 'kubevirt-net-injector-tests' });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    names.push(body.metadata?.name ?? file);
  }
  for (const name of names) {
    await waitFor(
      `CRD ${name} Established`,
      async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        const established = crd.status?.conditions?.some(
          (c) => c.type === 'Established' && c.status === 'True',
        );
        return established ? true : undefined;
      },
      { timeoutMs },
    );
  }
  return names;
}
