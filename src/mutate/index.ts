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

/** The VM as read, and its JSON text: what every copy is parsed from. */
interface Input {
  vm: Obj;
  view: VmView;
  json: string;
}

/**
 * Every edit is made on a deep copy; the patch is the difference. The VM is JSON data, so a
 * copy is its JSON text parsed again (faster than structuredClone), which keeps an own
 * "__proto__" key as a plain property, as JSON.parse made it.
 */
function copy(input: Input): Obj {
  return JSON.parse(input.json) as Obj;
}

/** Skipped, and says so in the status annotation (once). */
function skip(input: Input, reason: string, warnings: string[] = []): MutateResult {
  const status = `skipped: ${reason}`;
  const decision: Decision = { outcome: 'skipped', reason };
  if (input.view.annotations[Keys.status] === status) return unchanged(input.vm, warnings, decision);
  const vm = copy(input);
  objectAt(vm, Paths.annotations)[Keys.status] = status;
  return edited(input.vm, vm, warnings, decision);
}

/**
 * KubeVirt refuses VMs with more entries than this in any of these lists (arrayLenMax); the
 * injection may add one to each, so a list already this long has no room.
 */
export const KUBEVIRT_MAX_LIST = 256;
/**
 * The largest VM (its JSON, in characters) the engine copies and compares. Real VMs are a few
 * KiB: KubeVirt keeps lists to 256 entries and inline cloud-init to 2 KiB. A larger object
 * (unknown fields, which the CRD schema prunes later, can make it up to the body cap) would
 * cost time in proportion to its size on every step.
 */
export const MAX_VM_CHARS = 512 * 1024;

/**
 * Why the VM is beyond what the engine works on, or undefined. Such a VM is returned as it is,
 * with a warning, before any copy.
 */
function beyondLimits(view: VmView, json: string): string | undefined {
  if (json.length > MAX_VM_CHARS) {
    return `the VM is ${Math.ceil(json.length / 1024)} KiB of JSON; the injector works on VMs up to ${MAX_VM_CHARS / 1024} KiB`;
  }
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
  return undefined;
}

/**
 * Injects the L2 network into a VirtualMachine. Never modifies `input`. Throws
 * InvalidObjectError when the object is not a VirtualMachine it can read.
 */
export function mutate(raw: unknown, base: InjectSettings, ctx: MutateContext = {}): MutateResult {
  const input: Input = { vm: raw as Obj, view: readVm(raw), json: JSON.stringify(raw) };
  const { view } = input;
  const original = input.vm;
  const beyond = beyondLimits(view, input.json);
  if (beyond) return unchanged(original, [`not injected: ${beyond}`], { outcome: 'skipped', reason: beyond });
  const opt = optOut(view);
  if (opt.off) return unchanged(original, [], { outcome: 'skipped', reason: `disabled by ${Keys.inject}` });
  if (opt.error) return skip(input, opt.error, [`not injected: ${opt.error}`]);

  const settings = resolveSettings(view, base);
  if ('error' in settings) return skip(input, settings.error, [`not injected: ${settings.error}`]);

  const present = view.networks.find((n) => {
    const ref = isObj(n['multus']) ? n['multus']['networkName'] : undefined;
    return typeof ref === 'string' && sameNetwork(ref, settings.network, view.namespace || undefined);
  });
  if (present) {
    if (view.annotations[Keys.status] === STATUS_INJECTED) {
      return unchanged(original, [], { outcome: 'unchanged', reason: 'already injected' });
    }
    return skip(input, `network ${settings.network} already present as ${quoted(present.name)}`);
  }
  if (view.networks.length === 0 && view.interfaces.length > 0) {
    return skip(input, 'interfaces are listed without networks', [
      'not injected: interfaces without networks',
    ]);
  }

  const vm = copy(input);
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
