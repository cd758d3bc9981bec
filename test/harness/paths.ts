// Where the control plane's build output lives. Tests and scripts run from the repository root.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root: the working directory of `make` and mocha. */
export function repoRoot(): string {
  return process.cwd();
}

/** The folder test/controlplane/build.sh writes into (`CONTROLPLANE_DIR` overrides it). */
export function controlPlaneDir(): string {
  return resolve(process.env.CONTROLPLANE_DIR ?? join(repoRoot(), '.cache', 'controlplane'));
}

export function binaryPath(name: string): string {
  const path = join(controlPlaneDir(), 'bin', name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run 'make controlplane' (test/controlplane/build.sh) first`);
  }
  return path;
}

/** The project's own CRD, as shipped in manifests/. */
export const POLICY_CRD = join('manifests', 'base', 'crds', 'networkattachmentpolicies.yaml');

/** The generated CRDs (vm.yaml, vmi.yaml and nad.yaml), and our NetworkAttachmentPolicy CRD. */
export function crdPath(name: 'vm' | 'vmi' | 'nad' | 'policy'): string {
  if (name === 'policy') return join(repoRoot(), POLICY_CRD);
  const path = join(controlPlaneDir(), 'crds', `${name}.yaml`);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run 'make controlplane' (test/controlplane/build.sh) first`);
  }
  return path;
}
