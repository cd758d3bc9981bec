// Mocha root hooks for the integration suite (`--require dist/test/integration/setup.js`): one
// control plane (etcd, kube-apiserver, kube-controller-manager, the CRDs) for the whole run, torn
// down at the end, and by the harness's exit hooks and watchdog if the run dies. Tests get it with
// `await controlPlane()`, which also starts it on demand when the root hook was not loaded.
// CONTROLPLANE_KCM=0 leaves kube-controller-manager out (its tests then skip).
import { startControlPlane, type ControlPlane } from '../harness/index.js';
import { INSTALL_NAMESPACE } from '../harness/install.js';

interface Holder {
  started?: Promise<ControlPlane>;
}

// On globalThis, so every import of this module (whatever its URL) shares the same control plane.
const holder: Holder = ((globalThis as Record<symbol, Holder | undefined>)[
  Symbol.for('kubevirt-net-injector.integration.controlPlane')
] ??= {});

export function controllerManagerEnabled(): boolean {
  return process.env.CONTROLPLANE_KCM !== '0';
}

export function controlPlane(): Promise<ControlPlane> {
  holder.started ??= startControlPlane({
    controllerManager: controllerManagerEnabled(),
    // What our ServiceAccounts ask the apiserver for (rbac.test.ts checks it against the RBAC).
    auditUserGroups: [`system:serviceaccounts:${INSTALL_NAMESPACE}`],
    log: (message) => console.log(`    [control plane] ${message}`),
  });
  return holder.started;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(240_000);
    const cp = await controlPlane();
    console.log(`    [control plane] KUBECONFIG=${cp.kubeconfigPath}`);
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    const started = holder.started;
    holder.started = undefined;
    if (started) await (await started).stop();
  },
};
