// The injection engine: a pure function from a VirtualMachine and settings to the mutated copy,
// the JSON Patch between them, warnings and the decision. Shared by the CLI and the webhook.
import { Keys, parseSwitch, quoted, STATUS_INJECTED } from './annotations.js';
import fastJsonPatch from 'fast-json-patch';
import { patchCloudInit } from './cloudinit.js';
import { deriveMac, normalizeMac } from './mac.js';
import { freeName, isDnsLabel, parseNetworkRef, sameNetwork } from './names.js';
import { type Decision, type InjectSettings, type MutateContext, type MutateResult } from './types.js';
import { isObj, listAt, objectAt, Paths, readVm, type Obj, type VmView } from './vm.js';

export * from './types.js';
export { Keys, STATUS_INJECTED } from './annotations.js';

export const DEFAULT_INTERFACE_NAME = 'l2';

type Resolved = InjectSettings | { error: string };

/** Per-VM annotations override the caller's settings; invalid values are reported, not guessed. */
export function resolveSettings(view: VmView, base: InjectSettings): Resolved {
  const a = view.annotations;
  const network = (a[Keys.network] ?? base.network).trim();
  if (!parseNetworkRef(network)) {
    return {
      error: `network ${quoted(network)} is not a NetworkAttachmentDefinition name or namespace/name`,
    };
  }
  const interfaceName = (a[Keys.interface] ?? base.interfaceName).trim();
  if (!isDnsLabel(interfaceName)) {
    return { error: `interface name ${quoted(interfaceName)} is not a DNS label` };
  }
  const cloudInit = parseSwitch(a[Keys.cloudInit], Keys.cloudInit);
  if (typeof cloudInit === 'object') return { error: cloudInit.error };
  return { network, interfaceName, cloudInit: cloudInit ?? base.cloudInit };
}

/** Opted out with `kubevirt-net-injector.io/inject: disabled` (label or annotation)? */
function optOut(view: VmView): { off: boolean; error?: string } {
  for (const source of [view.labels, view.annotations]) {
    const s = parseSwitch(source[Keys.inject], Keys.inject);
    if (s === false) return { off: true };
    if (typeof s === 'object') return { off: false, error: s.error };
  }
  return { off: false };
}

function macSeed(view: VmView, ctx: MutateContext): string {
  if (view.name) return `${view.namespace}/${view.name}`;
  return ctx.seed ?? `${view.namespace}/${view.generateName}`;
}

/** No edit: the input itself, no patch. */
function unchanged(input: Obj, warnings: string[], decision: Decision): MutateResult {
  return { vm: input, patch: [], warnings, decision };
}

/** The edited copy and the JSON Patch from the input to it (fast-json-patch's compare). */
function edited(input: Obj, vm: Obj, warnings: string[], decision: Decision): MutateResult {
  const patch = fastJsonPatch.compare(input, vm);
  return { vm: patch.length ? vm : input, patch, warnings, decision };
}

/** Skipped, and says so in the status annotation (once). */
function skip(input: Obj, view: VmView, reason: string, warnings: string[] = []): MutateResult {
  const status = `skipped: ${reason}`;
  const decision: Decision = { outcome: 'skipped', reason };
  if (view.annotations[Keys.status] === status) return unchanged(input, warnings, decision);
  const vm = copy(input);
  objectAt(vm, Paths.annotations)[Keys.status] = status;
  return edited(input, vm, warnings, decision);
}

/**
 * Every edit is made on a deep copy; the patch is the difference. The VM is JSON data, so a
 * JSON round trip copies it (faster than structuredClone) and keeps an own "__proto__" key
 * as a plain property, as JSON.parse made it.
 */
function copy(input: Obj): Obj {
  return JSON.parse(JSON.stringify(input)) as Obj;
}

/**
 * KubeVirt refuses VMs with more entries than this in any of these lists (arrayLenMax); the
 * injection may add one to each, so a list already this long has no room.
 */
export const KUBEVIRT_MAX_LIST = 256;
/** Kubernetes refuses objects whose annotations (keys and values) exceed this many bytes. */
export const KUBERNETES_MAX_ANNOTATIONS = 256 * 1024;

/**
 * Why the VM is beyond what Kubernetes or KubeVirt accept (they refuse it after admission
 * anyway), or undefined. Such a VM is not copied or compared: its size bounds nothing else.
 */
function beyondLimits(view: VmView): string | undefined {
  for (const [list, items] of [
    ['spec.template.spec.networks', view.networks],
    ['spec.template.spec.domain.devices.interfaces', view.interfaces],
    ['spec.template.spec.domain.devices.disks', view.disks],
    ['spec.template.spec.volumes', view.volumes],
  ] as const) {
    if (items.length >= KUBEVIRT_MAX_LIST) {
      return `${list} has ${items.length} entries; with one more KubeVirt's limit of ${KUBEVIRT_MAX_LIST} would be passed`;
    }
  }
  let bytes = 0;
  for (const [key, value] of Object.entries(view.annotations)) bytes += key.length + value.length;
  if (bytes > KUBERNETES_MAX_ANNOTATIONS) {
    return `annotations take ${bytes} bytes; Kubernetes accepts at most ${KUBERNETES_MAX_ANNOTATIONS}`;
  }
  return undefined;
}

/**
 * Injects the L2 network into a VirtualMachine. Never modifies `input`. Throws
 * InvalidObjectError when the object is not a VirtualMachine it can read.
 */
export function mutate(input: unknown, base: InjectSettings, ctx: MutateContext = {}): MutateResult {
  const view = readVm(input);
  const original = input as Obj;
  const beyond = beyondLimits(view);
  if (beyond) return unchanged(original, [`not injected: ${beyond}`], { outcome: 'skipped', reason: beyond });
  const opt = optOut(view);
  if (opt.off) return unchanged(original, [], { outcome: 'skipped', reason: `disabled by ${Keys.inject}` });
  if (opt.error) return skip(original, view, opt.error, [`not injected: ${opt.error}`]);

  const settings = resolveSettings(view, base);
  if ('error' in settings) return skip(original, view, settings.error, [`not injected: ${settings.error}`]);

  const present = view.networks.find((n) => {
    const ref = isObj(n['multus']) ? n['multus']['networkName'] : undefined;
    return typeof ref === 'string' && sameNetwork(ref, settings.network, view.namespace || undefined);
  });
  if (present) {
    if (view.annotations[Keys.status] === STATUS_INJECTED) {
      return unchanged(original, [], { outcome: 'unchanged', reason: 'already injected' });
    }
    return skip(original, view, `network ${settings.network} already present as ${quoted(present.name)}`);
  }
  if (view.networks.length === 0 && view.interfaces.length > 0) {
    return skip(original, view, 'interfaces are listed without networks', [
      'not injected: interfaces without networks',
    ]);
  }

  const vm = copy(original);
  const warnings: string[] = [];
  const networks = listAt(vm, Paths.networks) as Obj[];
  const interfaces = listAt(vm, Paths.interfaces) as Obj[];
  if (networks.length === 0 && view.autoattachPodInterface) {
    // Adding a Multus network stops KubeVirt from adding the pod network itself: add it first.
    networks.push({ name: 'default', pod: {} });
    interfaces.push({ name: 'default', masquerade: {} });
  }
  const taken = new Set([...networks, ...interfaces].map((n) => String(n['name'])));
  const name = freeName(settings.interfaceName, taken);
  if (name !== settings.interfaceName) {
    warnings.push(`interface name ${settings.interfaceName} is taken; the L2 network is named ${name}`);
  }
  const seed = macSeed(view, ctx);
  const macs = new Set(
    interfaces
      .map((i) => i['macAddress'])
      .filter((m): m is string => typeof m === 'string')
      .map(normalizeMac),
  );
  const secondaryMac = deriveMac(seed, name, macs);
  macs.add(secondaryMac);
  const primary = interfaces[0];
  const primaryGiven = primary?.['macAddress'];
  const primaryMac =
    primary === undefined
      ? undefined
      : typeof primaryGiven === 'string'
        ? normalizeMac(primaryGiven)
        : deriveMac(seed, String(primary['name']), macs);

  networks.push({ name, multus: { networkName: settings.network } });
  interfaces.push({ name, bridge: {}, macAddress: secondaryMac });

  let reason: string | undefined;
  if (settings.cloudInit) {
    const outcome = patchCloudInit(vm, { secondaryMac, primaryMac });
    warnings.push(...outcome.warnings);
    if (outcome.pinPrimary && typeof primaryGiven !== 'string' && primary && primaryMac !== undefined) {
      // Guest NIC order does not always follow the spec (kubevirt#16693): network data names the
      // primary NIC by MAC, so it needs one that is known now.
      primary['macAddress'] = primaryMac;
    }
    if (outcome.warnings.length > 0) reason = 'cloud-init partly patched: see warnings';
  } else {
    reason = 'cloud-init disabled';
  }

  const annotations = objectAt(vm, Paths.annotations);
  annotations[Keys.status] = STATUS_INJECTED;
  annotations[Keys.interface] = name;
  return edited(original, vm, warnings, { outcome: 'injected', ...(reason ? { reason } : {}) });
}
