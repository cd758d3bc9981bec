// Installs the generated CRDs and waits until the apiserver serves them. They are created, not
// client-side applied: KubeVirt's are too large for the last-applied annotation.
import { readFileSync } from 'node:fs';

import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  loadYaml,
  type KubeConfig,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse } from 'yaml';

import { crdPath } from './paths.js';
import { waitFor } from './wait.js';

export const CRD_FILES = ['vm', 'vmi', 'nad', 'policy'] as const;
export type CrdFile = (typeof CRD_FILES)[number];

/** The manifest exactly as generated (plain YAML keys, e.g. `x-kubernetes-int-or-string`). */
export function readCrd(name: CrdFile): V1CustomResourceDefinition {
  return parse(readFileSync(crdPath(name), 'utf8')) as V1CustomResourceDefinition;
}

function isConflict(err: unknown): boolean {
  return (err as { code?: number }).code === 409;
}

export async function installCrds(kc: KubeConfig, timeoutMs = 60_000): Promise<string[]> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const objects = kc.makeApiClient(CustomObjectsApi);
  const installed: V1CustomResourceDefinition[] = [];
  for (const file of CRD_FILES) {
    // Through client-node's model, so its serializer maps `x-kubernetes-*` keys back (a plain
    // object would lose them and the apiserver would answer 422 "type: Required value").
    const body = loadYaml<V1CustomResourceDefinition>(readFileSync(crdPath(file), 'utf8'));
    try {
      await api.createCustomResourceDefinition({ body, fieldManager: 'kubevirt-net-injector-tests' });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    installed.push(body);
  }
  for (const crd of installed) {
    const name = crd.metadata?.name ?? '';
    await waitFor(
      `CRD ${name} Established`,
      async () => {
        const got = await api.readCustomResourceDefinition({ name });
        const established = got.status?.conditions?.some(
          (c) => c.type === 'Established' && c.status === 'True',
        );
        return established ? true : undefined;
      },
      { timeoutMs },
    );
    // Discovery and the handler lag the condition a little: wait until a list is served.
    const version = crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]!.name;
    await waitFor(
      `${crd.spec.names.plural}.${crd.spec.group}/${version} served`,
      async () => {
        await objects.listClusterCustomObject({
          group: crd.spec.group,
          version,
          plural: crd.spec.names.plural,
        });
        return true;
      },
      { timeoutMs },
    );
  }
  return installed.map((crd) => crd.metadata?.name ?? '');
}
