// The injection engine: a pure function from a VirtualMachine and settings to the mutated copy,
// the JSON Patch between them, warnings and the decision. Shared by the CLI and the webhook.
import { Keys, parseSwitch, STATUS_INJECTED } from './annotations.js';
import { patchCloudInit } from './cloudinit.js';
import { diff } from './diff.js';
import { deriveMac, normalizeMac } from './mac.js';
import { freeName, isDnsLabel, parseNetworkRef, sameNetwork } from './names.js';
import { type Decision, type InjectSettings, type MutateContext, type MutateResult } from './types.js';
import { Draft, isObj, Paths, readVm, type Obj, type VmView } from './vm.js';

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
      error: `network ${JSON.stringify(network)} is not a NetworkAttachmentDefinition name or namespace/name`,
    };
  }
  const interfaceName = (a[Keys.interface] ?? base.interfaceName).trim();
  if (!isDnsLabel(interfaceName)) {
    return { error: `interface name ${JSON.stringify(interfaceName)} is not a DNS label` };
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

function result(input: Obj, draft: Draft | undefined, warnings: string[], decision: Decision): MutateResult {
  const vm = draft ? draft.root : input;
  const patch = draft ? diff(input, vm) : [];
  return { vm: patch.length ? vm : input, patch, warnings, decision };
}

function skip(input: Obj, view: VmView, reason: string, warnings: string[] = []): MutateResult {
  const status = `skipped: ${reason}`;
  if (view.annotations[Keys.status] === status)
    return result(input, undefined, warnings, { outcome: 'skipped', reason });
  const draft = new Draft(input);
  draft.at(Paths.annotations)[Keys.status] = status;
  return result(input, draft, warnings, { outcome: 'skipped', reason });
}

/**
 * Injects the L2 network into a VirtualMachine. Never modifies `input`. Throws
 * InvalidObjectError when the object is not a VirtualMachine it can read.
 */
export function mutate(input: unknown, base: InjectSettings, ctx: MutateContext = {}): MutateResult {
  const view = readVm(input);
  const vm = input as Obj;
  const opt = optOut(view);
  if (opt.off) return result(vm, undefined, [], { outcome: 'skipped', reason: `disabled by ${Keys.inject}` });
  if (opt.error) return skip(vm, view, opt.error, [`not injected: ${opt.error}`]);

  const settings = resolveSettings(view, base);
  if ('error' in settings) return skip(vm, view, settings.error, [`not injected: ${settings.error}`]);

  const present = view.networks.find((n) => {
    const ref = isObj(n['multus']) ? n['multus']['networkName'] : undefined;
    return typeof ref === 'string' && sameNetwork(ref, settings.network, view.namespace || undefined);
  });
  if (present) {
    if (view.annotations[Keys.status] === STATUS_INJECTED) {
      return result(vm, undefined, [], { outcome: 'unchanged', reason: 'already injected' });
    }
    return skip(vm, view, `network ${settings.network} already present as ${present.name}`);
  }
  if (view.networks.length === 0 && view.interfaces.length > 0) {
    return skip(vm, view, 'interfaces are listed without networks', [
      'not injected: interfaces without networks',
    ]);
  }

  const draft = new Draft(vm);
  const warnings: string[] = [];
  if (view.networks.length === 0 && view.autoattachPodInterface) {
    // Adding a Multus network stops KubeVirt from adding the pod network itself: add it first.
    draft.push(Paths.networks, { name: 'default', pod: {} });
    draft.push(Paths.interfaces, { name: 'default', masquerade: {} });
  }
  const interfaces = draft.list(Paths.interfaces) as Obj[];
  const taken = new Set([...view.networks, ...interfaces].map((n) => String(n['name'])));
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
  const primaryIndex = interfaces.length > 0 ? 0 : -1;
  const primaryGiven = primaryIndex >= 0 ? interfaces[0]!['macAddress'] : undefined;
  const primaryMac =
    primaryIndex < 0
      ? undefined
      : typeof primaryGiven === 'string'
        ? normalizeMac(primaryGiven)
        : deriveMac(seed, String(interfaces[0]!['name']), macs);

  draft.push(Paths.networks, { name, multus: { networkName: settings.network } });
  draft.push(Paths.interfaces, { name, bridge: {}, macAddress: secondaryMac });

  let reason: string | undefined;
  if (settings.cloudInit) {
    const outcome = patchCloudInit(view, draft, { secondaryMac, primaryMac });
    warnings.push(...outcome.warnings);
    if (outcome.pinPrimary && typeof primaryGiven !== 'string' && primaryMac !== undefined) {
      // Guest NIC order does not always follow the spec (kubevirt#16693): network data names the
      // primary NIC by MAC, so it needs one that is known now.
      draft.item(Paths.interfaces, primaryIndex)['macAddress'] = primaryMac;
    }
    if (outcome.warnings.length > 0) reason = 'cloud-init partly patched: see warnings';
  } else {
    reason = 'cloud-init disabled';
  }

  const annotations = draft.at(Paths.annotations);
  annotations[Keys.status] = STATUS_INJECTED;
  annotations[Keys.interface] = name;
  return result(vm, draft, warnings, { outcome: 'injected', ...(reason ? { reason } : {}) });
}
