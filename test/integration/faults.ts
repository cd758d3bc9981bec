// What the controller fault tests share: a namespace with a KubeVirt simulator and a seeded
// churn of publishing VMs, an in-process controller with settings that leave recovery to the
// mechanism under test (no resync, no periodic relist within a test's time), and the wait
// for "0 missing, 0 stale" judged by test/sim/published.ts.
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { startController } from '../../src/controller/controller.js';
import type { ControllerSettings, RunningController } from '../../src/controller/controller.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { Churn } from '../sim/churn.js';
import type { ChurnOptions } from '../sim/churn.js';
import { KubeVirtSimulator } from '../sim/kubevirt.js';
import { checkPublished, converged, describeCheck } from '../sim/published.js';
import { controllerTestSettings } from './kube.js';
import type { CheckResult } from '../sim/published.js';

export function faultSettings(
  namespace: string,
  overrides: Partial<ControllerSettings> = {},
): ControllerSettings {
  return controllerTestSettings(namespace, {
    workers: 4,
    // Far beyond any bound a test asserts: recovery must not come from the periodic resync.
    resyncMs: 30 * 60_000,
    identity: 'fault-test',
    ...overrides,
  });
}

export async function startTestController(
  kc: KubeConfig,
  settings: ControllerSettings,
): Promise<RunningController> {
  const controller = await startController({
    kubeConfig: kc,
    logger: createLogger({ level: process.env.CONTROLLER_LOG ?? 'silent', name: 'controller' }),
    registry: new Registry(),
    settings,
  });
  await controller.synced;
  return controller;
}

export interface FaultRig {
  namespace: string;
  sim: KubeVirtSimulator;
  churn: Churn;
  /**
   * Polls the checker until converged (and, with `minSlices`, that many slices expected: the
   * simulator has started that many VMIs); resolves with the time it happened (Date.now()).
   */
  waitConverged(
    what: string,
    deadline: number,
    minSlices?: number,
  ): Promise<{ at: number; result: CheckResult }>;
  /** The initial publication: every populated VM running with its address, converged. */
  waitPopulated(): Promise<void>;
  stop(): Promise<void>;
}

/** VMs in the storage, black-hole and leader fault tests: 100 in the suite, FAULT_VMS=1000 for the full-size run. */
export const FAULT_VMS = Number(process.env.FAULT_VMS ?? 100);

/** A fresh namespace, the simulator, and `size` running publishing VMs (not yet churning). */
export async function startFaultRig(
  kc: KubeConfig,
  opts: Omit<ChurnOptions, 'namespace'> & { prefix: string; legacyEndpoints?: boolean },
): Promise<FaultRig> {
  const namespace = `${opts.prefix}-${Math.random().toString(16).slice(2, 8)}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  // The simulator asks the churn for addresses; the churn drives the simulator.
  const holder: { churn?: Churn } = {};
  const sim = new KubeVirtSimulator(kc, {
    namespace,
    addressFor: () => holder.churn!.addressFor(),
    workers: 4,
  });
  const churn = (holder.churn = new Churn(kc, sim, { ...opts, namespace }));
  await sim.start();
  await churn.populate();
  const check = { legacyEndpoints: opts.legacyEndpoints ?? false };
  const waitConverged: FaultRig['waitConverged'] = async (what, deadline, minSlices = 0) => {
    let last: CheckResult | undefined;
    for (;;) {
      try {
        last = await checkPublished(kc, namespace, check);
        if (converged(last) && last.expectedSlices >= minSlices) return { at: Date.now(), result: last };
        if (process.env.FAULT_DEBUG) console.log(new Date().toISOString(), describeCheck(last, 3));
      } catch (err) {
        // the apiserver may still be coming back
        if (process.env.FAULT_DEBUG) console.log(new Date().toISOString(), String(err).slice(0, 200));
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${what}: not converged in time; ${last ? describeCheck(last) : 'no check completed'}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  return {
    namespace,
    sim,
    churn,
    waitConverged,
    async waitPopulated() {
      // 90 s for the suite's 100 VMs; a larger FAULT_VMS run gets proportionally longer.
      await waitConverged('initial publication', Date.now() + Math.max(90_000, opts.size * 900), opts.size);
    },
    async stop() {
      await churn.stop();
      await sim.stop();
    },
  };
}

/** A measured figure, printed with the test output (the report and bench/README.md quote them). */
export function report(line: string): void {
  console.log(`      [measured] ${line}`);
}
