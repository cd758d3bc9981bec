// A KubeVirt simulator for tests: it plays virt-controller's part (a VMI for each running
// VM, owned by it, from the template's metadata and spec) and virt-handler's (the VMI's
// `status.interfaces`: name = network name, interfaceName eth0/eth1..., ipAddress,
// ipAddresses, mac, infoSource). The VMI CRD has no status subresource, so status is
// written with a plain replace of the object, as virt-handler effectively does.
// Tests change a VMI's address or stop it through this API.
import { createHash } from 'node:crypto';
import { CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import { ResilientInformer } from '../../src/kube/informer.js';
import { WorkQueue } from '../../src/controller/queue.js';
import type {
  VirtualMachine,
  VirtualMachineInstance,
  VmiInterfaceStatus,
} from '../../src/controller/types.js';

const GROUP = { group: 'kubevirt.io', version: 'v1' };

export interface SimulatorOptions {
  namespace?: string;
  /** Addresses for a VM's secondary networks when its VMI starts (undefined: none yet, as before DHCP). */
  addressFor?: (vm: VirtualMachine, networkName: string) => string[] | undefined;
  /** VMs synced at once (default 1); the queue never hands out one key twice at a time. */
  workers?: number;
}

interface DomainInterface {
  name: string;
  macAddress?: string;
}

export function isRunning(vm: VirtualMachine): boolean {
  const strategy = vm.spec?.runStrategy;
  if (strategy !== undefined) return strategy === 'Always' || strategy === 'RerunOnFailure';
  return vm.spec?.running === true;
}

function macFor(vm: VirtualMachine, network: string): string {
  const h = createHash('sha256').update(`${vm.metadata.namespace}/${vm.metadata.name}/${network}`).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

function ownedBy(vmi: VirtualMachineInstance, vm: VirtualMachine): boolean {
  return (vmi.metadata.ownerReferences ?? []).some((r) => r.uid === vm.metadata.uid);
}

function statusCode(err: unknown): number | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'number' ? c : undefined;
}

export class KubeVirtSimulator {
  private readonly api: CustomObjectsApi;
  private readonly informer: ResilientInformer<KubernetesObject>;
  private readonly queue = new WorkQueue({ backoff: { baseMs: 50, capMs: 2000, jitter: 0.2 } });
  private running = false;
  private loop: Promise<unknown> | undefined;
  private podIp = 10;

  constructor(
    kc: KubeConfig,
    private readonly options: SimulatorOptions = {},
  ) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    const ns = options.namespace;
    this.informer = new ResilientInformer({
      name: 'sim-virtualmachines',
      path: `/apis/kubevirt.io/v1${ns ? `/namespaces/${ns}` : ''}/virtualmachines`,
      list: async () =>
        (ns
          ? await this.api.listNamespacedCustomObject({ ...GROUP, plural: 'virtualmachines', namespace: ns })
          : await this.api.listClusterCustomObject({
              ...GROUP,
              plural: 'virtualmachines',
            })) as KubernetesListObject<KubernetesObject>,
      watch: new Watch(kc),
      backoff: { baseMs: 100, capMs: 2000, jitter: 0.2 },
      silenceMs: 60_000,
      relistMs: 0,
      logger: { info: () => undefined, warn: () => undefined },
    });
    const enqueue = (o: KubernetesObject) => this.queue.add(`${o.metadata?.namespace}/${o.metadata?.name}`);
    for (const verb of ['add', 'update', 'delete'] as const) this.informer.on(verb, enqueue);
  }

  async start(): Promise<void> {
    this.running = true;
    await this.informer.start();
    await this.informer.synced;
    this.loop = Promise.all(Array.from({ length: this.options.workers ?? 1 }, () => this.work()));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.queue.shutDown();
    await this.informer.stop();
    await this.loop;
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.sync(key);
        this.queue.forget(key);
      } catch {
        if (this.running) this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** virt-controller: a VMI exists exactly while the VM is running. */
  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const vm = this.informer.get(name, namespace) as VirtualMachine | undefined;
    const vmi = await this.getVmi(namespace, name);
    if (!vm || vm.metadata.deletionTimestamp || !isRunning(vm)) {
      if (vmi) await this.deleteVmi(namespace, name);
      return;
    }
    if (vmi && ownedBy(vmi, vm)) return;
    // Left by an earlier VM of the same name (deleted and created again): replaced.
    if (vmi) await this.deleteVmi(namespace, name);
    const template = vm.spec?.template ?? {};
    const body: VirtualMachineInstance = {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: {
        name,
        namespace,
        labels: { ...(template.metadata?.labels ?? {}), 'kubevirt.io/vm': name },
        annotations: { ...(template.metadata?.annotations ?? {}) },
        ownerReferences: [
          {
            apiVersion: 'kubevirt.io/v1',
            kind: 'VirtualMachine',
            name,
            uid: vm.metadata.uid ?? '',
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: structuredClone(template.spec ?? {}) as Record<string, unknown>,
    };
    const created = (await this.api.createNamespacedCustomObject({
      ...GROUP,
      plural: 'virtualmachineinstances',
      namespace,
      body,
    })) as VirtualMachineInstance;
    // virt-handler: the domain runs, interfaces reported (secondary addresses once DHCP answered).
    created.status = { phase: 'Running', nodeName: 'sim-node', interfaces: this.interfacesFor(vm) };
    await this.api.replaceNamespacedCustomObject({
      ...GROUP,
      plural: 'virtualmachineinstances',
      namespace,
      name,
      body: created,
    });
  }

  private interfacesFor(vm: VirtualMachine): VmiInterfaceStatus[] {
    const spec = vm.spec?.template?.spec ?? {};
    const networks = spec.networks ?? [{ name: 'default', pod: {} }];
    const domain = (spec as { domain?: { devices?: { interfaces?: DomainInterface[] } } }).domain;
    const ifaces = domain?.devices?.interfaces ?? [];
    return networks.map((net, index) => {
      const mac = ifaces.find((i) => i.name === net.name)?.macAddress ?? macFor(vm, net.name);
      const status: VmiInterfaceStatus = {
        name: net.name,
        interfaceName: `eth${index}`,
        mac,
        infoSource: 'domain, guest-agent',
      };
      const ips = net.pod ? [`10.244.0.${this.podIp++ % 250}`] : this.options.addressFor?.(vm, net.name);
      if (ips && ips.length > 0) {
        status.ipAddress = ips[0];
        status.ipAddresses = ips;
      }
      if (!net.pod) status.infoSource = 'domain, guest-agent, multus-status';
      return status;
    });
  }

  async getVmi(namespace: string, name: string): Promise<VirtualMachineInstance | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({
        ...GROUP,
        plural: 'virtualmachineinstances',
        namespace,
        name,
      })) as VirtualMachineInstance;
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** virt-handler reports a new address set for one network of a VMI (empty: none). */
  async setAddresses(namespace: string, name: string, networkName: string, ips: string[]): Promise<void> {
    await this.updateVmi(namespace, name, (vmi) => {
      const iface = vmi.status?.interfaces?.find((i) => i.name === networkName);
      if (!iface) throw new Error(`VMI ${namespace}/${name} has no interface for network ${networkName}`);
      if (ips.length === 0) {
        delete iface.ipAddress;
        delete iface.ipAddresses;
      } else {
        iface.ipAddress = ips[0];
        iface.ipAddresses = ips;
      }
    });
  }

  /** The guest shut down: phase Succeeded, no addresses (the VMI object stays). */
  async stopGuest(namespace: string, name: string): Promise<void> {
    await this.updateVmi(namespace, name, (vmi) => {
      vmi.status = { ...(vmi.status ?? {}), phase: 'Succeeded', interfaces: [] };
    });
  }

  async deleteVmi(namespace: string, name: string): Promise<void> {
    try {
      await this.api.deleteNamespacedCustomObject({
        ...GROUP,
        plural: 'virtualmachineinstances',
        namespace,
        name,
      });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  /** Read-modify-replace with retries on conflicts (no status subresource on the VMI CRD). */
  private async updateVmi(
    namespace: string,
    name: string,
    change: (vmi: VirtualMachineInstance) => void,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const vmi = await this.getVmi(namespace, name);
      if (!vmi) throw new Error(`no VMI ${namespace}/${name}`);
      change(vmi);
      try {
        await this.api.replaceNamespacedCustomObject({
          ...GROUP,
          plural: 'virtualmachineinstances',
          namespace,
          name,
          body: vmi,
        });
        return;
      } catch (err) {
        if (statusCode(err) !== 409 || attempt > 10) throw err;
      }
    }
  }
}
