// The fault tests' judge: what the VMs and VMIs stored in a namespace imply the controller
// must have published, compared with what the apiserver holds. Written from the documented
// contract (docs/controller.md), not from the controller's code, so a bug there is not
// copied here. Used once things have settled: a not-ready endpoint (an address lost within
// the grace period) counts as stale.
//
// Expected, for every VM (not being deleted) that carries a publication annotation:
// - a Service named by `service-name` (default the VM name): ours, headless, no selector,
//   with an owner reference to every publishing VM and to nothing else;
// - while its VMI of the same name runs (not being deleted) with an address on the network
//   named by the `interface` annotation (default `l2`): one EndpointSlice per IP family,
//   `<vm>-ipv4` / `<vm>-ipv6`, with the first address of that family (IPv6 link-local
//   ignored), ready, owned by that VM's uid alone, labelled with the Service name, pointing
//   at the VMI;
// - optionally (legacy Endpoints): an Endpoints per Service with every ready address.
// Anything else of ours in the namespace is stale, and so is a slice some other controller
// mirrored for one of our Services.
import { isIP } from 'node:net';
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1EndpointSlice, V1Endpoints, V1Service } from '@kubernetes/client-node';
import type { VirtualMachine, VirtualMachineInstance } from '../../src/controller/types.js';

const A = 'kubevirt-net-injector.io/';
const SLICE_MANAGER = 'controller.kubevirt-net-injector.io';
const MANAGED_BY = 'app.kubernetes.io/managed-by';

export interface PublishedState {
  vms: VirtualMachine[];
  vmis: VirtualMachineInstance[];
  slices: V1EndpointSlice[];
  services: V1Service[];
  endpoints: V1Endpoints[];
}

export interface CheckResult {
  /** Slices and Services that should exist. */
  expectedSlices: number;
  expectedServices: number;
  /** Expected objects the apiserver does not hold. */
  missing: string[];
  /** Objects it holds that should not exist, or that carry the wrong content. */
  stale: string[];
}

export const converged = (r: CheckResult) => r.missing.length === 0 && r.stale.length === 0;

interface ExpectedSlice {
  vm: string;
  vmUid: string;
  vmiUid: string;
  service: string;
  family: 'IPv4' | 'IPv6';
  ip: string;
}

function publishedService(vm: VirtualMachine): string | undefined {
  const a = vm.metadata.annotations ?? {};
  if (a[`${A}service-name`] === undefined && a[`${A}service-ports`] === undefined) return undefined;
  return a[`${A}service-name`]?.trim() || vm.metadata.name;
}

function firstAddresses(vmi: VirtualMachineInstance, network: string): { IPv4?: string; IPv6?: string } {
  const iface = vmi.status?.interfaces?.find((i) => i.name === network);
  const out: { IPv4?: string; IPv6?: string } = {};
  for (const raw of [iface?.ipAddress, ...(iface?.ipAddresses ?? [])]) {
    const ip = raw?.split('/')[0]?.trim().toLowerCase() ?? '';
    if (isIP(ip) === 4) out.IPv4 ??= ip;
    if (isIP(ip) === 6 && !/^fe[89ab]/.test(ip)) out.IPv6 ??= ip;
  }
  return out;
}

function expectedSlices(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): ExpectedSlice[] {
  const service = publishedService(vm);
  if (!service || !vmi || vmi.metadata.deletionTimestamp || vmi.status?.phase !== 'Running') return [];
  const network = vm.metadata.annotations?.[`${A}interface`] ?? 'l2';
  const addresses = firstAddresses(vmi, network);
  return (['IPv4', 'IPv6'] as const).flatMap((family) => {
    const ip = addresses[family];
    if (!ip) return [];
    const vmUid = vm.metadata.uid ?? '';
    return [{ vm: vm.metadata.name ?? '', vmUid, vmiUid: vmi.metadata.uid ?? '', service, family, ip }];
  });
}

function sliceProblem(want: ExpectedSlice, got: V1EndpointSlice): string | undefined {
  const e = got.endpoints?.[0];
  const owners = got.metadata?.ownerReferences ?? [];
  if (got.addressType !== want.family) return `addressType ${got.addressType}`;
  if (got.endpoints?.length !== 1 || !e) return `${got.endpoints?.length ?? 0} endpoints`;
  if (e.addresses[0] !== want.ip) return `address ${e.addresses.join(',')}, want ${want.ip}`;
  if (e.conditions?.ready !== true) return 'not ready';
  if (owners.length !== 1 || owners[0]!.uid !== want.vmUid) return 'owned by another VM (uid)';
  if (got.metadata?.labels?.['kubernetes.io/service-name'] !== want.service) return 'wrong service label';
  if (e.targetRef?.uid !== want.vmiUid) return 'targetRef is not the current VMI';
  return undefined;
}

function compareSlices(
  state: PublishedState,
  wanted: ExpectedSlice[],
  services: Set<string>,
  r: CheckResult,
) {
  const ours = new Map<string, V1EndpointSlice>();
  for (const s of state.slices) {
    const labels = s.metadata?.labels ?? {};
    if (labels['endpointslice.kubernetes.io/managed-by'] === SLICE_MANAGER)
      ours.set(s.metadata?.name ?? '', s);
    else if (services.has(labels['kubernetes.io/service-name'] ?? ''))
      r.stale.push(
        `slice ${s.metadata?.name}: a second set for our Service, by ${labels['endpointslice.kubernetes.io/managed-by']}`,
      );
  }
  for (const want of wanted) {
    const name = `${want.vm}-${want.family === 'IPv4' ? 'ipv4' : 'ipv6'}`;
    const got = ours.get(name);
    ours.delete(name);
    if (!got) r.missing.push(`slice ${name} (${want.ip})`);
    else {
      const problem = sliceProblem(want, got);
      if (problem) r.stale.push(`slice ${name}: ${problem}`);
    }
  }
  for (const name of ours.keys()) r.stale.push(`slice ${name}: no running VM/VMI implies it`);
}

function compareServices(state: PublishedState, owners: Map<string, Set<string>>, r: CheckResult) {
  const ours = new Map(
    state.services
      .filter((s) => s.metadata?.labels?.[MANAGED_BY] === 'kubevirt-net-injector')
      .map((s) => [s.metadata?.name ?? '', s]),
  );
  for (const [name, uids] of owners) {
    const got = ours.get(name);
    ours.delete(name);
    if (!got) {
      r.missing.push(`service ${name}`);
      continue;
    }
    const refs = (got.metadata?.ownerReferences ?? []).map((o) => o.uid).sort();
    if (refs.join() !== [...uids].sort().join())
      r.stale.push(`service ${name}: owners ${refs.length}, want ${uids.size}`);
    if (got.spec?.clusterIP !== 'None' || got.spec?.selector)
      r.stale.push(`service ${name}: not headless or has a selector`);
  }
  for (const name of ours.keys()) r.stale.push(`service ${name}: no VM publishes it`);
}

function compareEndpoints(
  state: PublishedState,
  wanted: ExpectedSlice[],
  services: Set<string>,
  r: CheckResult,
) {
  const ours = new Map(
    state.endpoints
      .filter((e) => e.metadata?.labels?.[MANAGED_BY] === 'kubevirt-net-injector')
      .map((e) => [e.metadata?.name ?? '', e]),
  );
  for (const name of services) {
    const got = ours.get(name);
    ours.delete(name);
    if (!got) {
      r.missing.push(`endpoints ${name}`);
      continue;
    }
    const want = wanted
      .filter((w) => w.service === name)
      .map((w) => w.ip)
      .sort()
      .join();
    const have = (got.subsets ?? [])
      .flatMap((s) => (s.addresses ?? []).map((a) => a.ip))
      .sort()
      .join();
    const notReady = (got.subsets ?? []).some((s) => (s.notReadyAddresses ?? []).length > 0);
    if (have !== want || notReady) r.stale.push(`endpoints ${name}: [${have}], want [${want}]`);
    if (got.metadata?.labels?.['endpointslice.kubernetes.io/skip-mirror'] !== 'true')
      r.stale.push(`endpoints ${name}: not skip-mirror`);
  }
  for (const name of ours.keys()) r.stale.push(`endpoints ${name}: no VM publishes it`);
}

/** Pure: the discrepancies between what the VMs and VMIs imply and what is stored. */
export function comparePublished(
  state: PublishedState,
  opts: { legacyEndpoints?: boolean } = {},
): CheckResult {
  const vmis = new Map(state.vmis.map((v) => [v.metadata.name ?? '', v]));
  const wanted: ExpectedSlice[] = [];
  const owners = new Map<string, Set<string>>();
  for (const vm of state.vms) {
    const service = publishedService(vm);
    if (!service || vm.metadata.deletionTimestamp) continue;
    if (!owners.has(service)) owners.set(service, new Set());
    owners.get(service)!.add(vm.metadata.uid ?? '');
    wanted.push(...expectedSlices(vm, vmis.get(vm.metadata.name ?? '')));
  }
  const r: CheckResult = {
    expectedSlices: wanted.length,
    expectedServices: owners.size,
    missing: [],
    stale: [],
  };
  const services = new Set(owners.keys());
  compareSlices(state, wanted, services, r);
  compareServices(state, owners, r);
  if (opts.legacyEndpoints) compareEndpoints(state, wanted, services, r);
  return r;
}

/** Reads the namespace from the apiserver and compares. */
export async function checkPublished(
  kc: KubeConfig,
  namespace: string,
  opts: { legacyEndpoints?: boolean } = {},
): Promise<CheckResult> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const list = async <T>(plural: string) =>
    (
      (await custom.listNamespacedCustomObject({
        group: 'kubevirt.io',
        version: 'v1',
        plural,
        namespace,
      })) as { items: T[] }
    ).items;
  const state: PublishedState = {
    vms: await list<VirtualMachine>('virtualmachines'),
    vmis: await list<VirtualMachineInstance>('virtualmachineinstances'),
    slices: (await kc.makeApiClient(DiscoveryV1Api).listNamespacedEndpointSlice({ namespace })).items,
    services: (await core.listNamespacedService({ namespace })).items,
    endpoints: opts.legacyEndpoints ? (await core.listNamespacedEndpoints({ namespace })).items : [],
  };
  return comparePublished(state, opts);
}

/** One line for logs and assertion messages: counts and the first few problems. */
export function describeCheck(r: CheckResult, max = 8): string {
  const head = `${r.expectedServices} services, ${r.expectedSlices} slices expected; ${r.missing.length} missing, ${r.stale.length} stale`;
  const sample = [...r.missing.map((m) => `missing ${m}`), ...r.stale.map((s) => `stale ${s}`)].slice(0, max);
  return sample.length ? `${head}: ${sample.join('; ')}` : head;
}
