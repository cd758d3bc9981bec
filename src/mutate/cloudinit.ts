// The VM side of the guest fix: find (or add) the cloud-init volume, add our part to its user
// data and our NIC to its network data, within KubeVirt's size limits.
import { gzipSync } from 'node:zlib';
import { guestFixCloudConfig } from '../cloudinit/guestfix.js';
import { generateNetworkData, mergeNetworkData, type Nic } from '../cloudinit/networkdata.js';
import { classify, isOurWrapper, wrapUserData } from '../cloudinit/userdata.js';
import { freeName } from './names.js';
import { isObj, Paths, type Draft, type Named, type Obj, type VmView } from './vm.js';

/** KubeVirt rejects inline user or network data over this many bytes (decoded). */
export const KUBEVIRT_INLINE_LIMIT = 2048;
const SECONDARY_DEVICE = 'eth1';
const PRIMARY_DEVICE = 'eth0';

export interface CloudInitPlan {
  secondaryMac: string;
  /** The first interface that is not ours, if any, with its MAC (pinned by the caller when unset). */
  primary?: { index: number; mac: string };
}

export interface CloudInitOutcome {
  warnings: string[];
  /** The primary interface MAC must be pinned in the spec (network data names it). */
  pinPrimary: boolean;
}

type SourceKey = 'cloudInitNoCloud' | 'cloudInitConfigDrive';

function findSource(volumes: Named[]): { index: number; key: SourceKey; source: Obj } | undefined {
  for (let index = 0; index < volumes.length; index++) {
    const v = volumes[index]!;
    for (const key of ['cloudInitNoCloud', 'cloudInitConfigDrive'] as const) {
      const source = v[key];
      if (isObj(source)) return { index, key, source };
    }
  }
  return undefined;
}

function decodeBase64(value: string): Buffer | undefined {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, 'base64');
}

/** Inline or base64 text of a source's field pair, or why it cannot be read. */
function readField(
  source: Obj,
  plain: string,
  base64: string,
): { bytes: Buffer; base64: boolean } | { absent: true } | { error: string } {
  const p = source[plain];
  const b = source[base64];
  if (typeof p === 'string' && p !== '') return { bytes: Buffer.from(p, 'utf8'), base64: false };
  if (typeof b === 'string' && b !== '') {
    const bytes = decodeBase64(b);
    return bytes ? { bytes, base64: true } : { error: `${base64} is not valid base64` };
  }
  if ((p !== undefined && typeof p !== 'string') || (b !== undefined && typeof b !== 'string')) {
    return { error: `${plain}/${base64} must be strings` };
  }
  return { absent: true };
}

/** Sets the field pair to `text`: plain when it fits, else gzip+base64 (cloud-init unpacks it). */
function writeUserData(source: Obj, text: string, wasBase64: boolean): boolean {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= KUBEVIRT_INLINE_LIMIT) {
    if (wasBase64) source['userDataBase64'] = bytes.toString('base64');
    else source['userData'] = text;
    if (wasBase64) delete source['userData'];
    else delete source['userDataBase64'];
    return true;
  }
  // A 4 KiB window covers what fits in 2 KiB compressed and keeps zlib's per-call setup small;
  // level 6 compresses this text within a few bytes of level 9 at two thirds of the time.
  const packed = gzipSync(bytes, { level: 6, windowBits: 12, memLevel: 5 });
  if (packed.length > KUBEVIRT_INLINE_LIMIT) return false;
  source['userDataBase64'] = packed.toString('base64');
  delete source['userData'];
  return true;
}

function writeNetworkData(source: Obj, text: string, asBase64: boolean): boolean {
  if (Buffer.byteLength(text, 'utf8') > KUBEVIRT_INLINE_LIMIT) return false;
  if (asBase64) source['networkDataBase64'] = Buffer.from(text, 'utf8').toString('base64');
  else source['networkData'] = text;
  return true;
}

const LIMIT_HINT = `over KubeVirt's ${KUBEVIRT_INLINE_LIMIT}-byte inline limit; move it to a Secret`;

/**
 * Patches (or adds) the VM's cloud-init. Returns the warnings for what it could not do; never
 * changes the user's own data beyond wrapping it.
 */
export function patchCloudInit(view: VmView, draft: Draft, plan: CloudInitPlan): CloudInitOutcome {
  const warnings: string[] = [];
  const found = findSource(view.volumes);
  const ours = (device: string): string => guestFixCloudConfig({ mac: plan.secondaryMac, device });

  if (!found) {
    const primary: Nic | undefined = plan.primary && { mac: plan.primary.mac, device: PRIMARY_DEVICE };
    const secondary: Nic = { mac: plan.secondaryMac, device: SECONDARY_DEVICE };
    const taken = new Set([...view.volumes, ...view.disks].map((v) => v.name));
    const name = freeName('cloudinitdisk', taken);
    draft.list(Paths.volumes).push({
      name,
      cloudInitNoCloud: {
        userData: ours(SECONDARY_DEVICE),
        networkData: generateNetworkData(primary, secondary),
      },
    });
    draft.list(Paths.disks).push({ name, disk: { bus: 'virtio' } });
    return { warnings, pinPrimary: primary !== undefined };
  }

  const source = draft.item(Paths.volumes, found.index)[found.key] as Obj;
  const copy: Obj = { ...source };
  draft.item(Paths.volumes, found.index)[found.key] = copy;
  let pinPrimary = false;
  let device = SECONDARY_DEVICE;

  // Network data first: it decides the secondary NIC's device name.
  if (found.key === 'cloudInitConfigDrive') {
    warnings.push(
      'cloud-init: ConfigDrive network data (OpenStack format) cannot say "no default route, no DNS"; ' +
        'only the user-data fix applies, which covers NetworkManager, ifcfg and ifupdown guests',
    );
  } else if (isObj(source['networkDataSecretRef'])) {
    warnings.push(
      'cloud-init: network data comes from a Secret the injector does not read; ' +
        'netplan and systemd-networkd guests need the secondary NIC in it with dhcp4-overrides',
    );
  } else {
    const net = readField(source, 'networkData', 'networkDataBase64');
    if ('absent' in net) {
      const primary: Nic | undefined = plan.primary && { mac: plan.primary.mac, device: PRIMARY_DEVICE };
      const text = generateNetworkData(primary, { mac: plan.secondaryMac, device });
      writeNetworkData(copy, text, false);
      pinPrimary = primary !== undefined;
    } else if ('error' in net) {
      warnings.push(`cloud-init: network data left as is: ${net.error}`);
    } else {
      const merged = mergeNetworkData(net.bytes.toString('utf8'), plan.secondaryMac);
      if ('text' in merged) {
        device = merged.device;
        if (!writeNetworkData(copy, merged.text, net.base64)) {
          warnings.push(
            `cloud-init: network data left as is: with the secondary NIC it would be ${LIMIT_HINT}`,
          );
        } else if (merged.version === 1) {
          warnings.push(
            'cloud-init: network data is version 1, which cannot drop DHCP routes and DNS; ' +
              'netplan and systemd-networkd guests keep them (use version 2)',
          );
        }
      } else if (merged.alreadyPresent) {
        device = merged.device;
      } else {
        warnings.push(`cloud-init: network data left as is: ${merged.error}`);
      }
    }
  }

  if (isObj(source['secretRef'])) {
    warnings.push(
      'cloud-init: user data comes from a Secret the injector does not read; ' +
        'NetworkManager, ifcfg and ifupdown guests will take the default route and DNS from the secondary NIC',
    );
    return { warnings, pinPrimary };
  }
  const user = readField(source, 'userData', 'userDataBase64');
  if ('error' in user) {
    warnings.push(`cloud-init: user data left as is: ${user.error}`);
  } else if ('absent' in user) {
    writeUserData(copy, ours(device), false);
  } else {
    const kind = classify(user.bytes);
    if (kind === undefined) {
      warnings.push('cloud-init: user data left as is: it is binary and not gzip');
    } else if (!isOurWrapper(user.bytes)) {
      if (!writeUserData(copy, wrapUserData(user.bytes, kind, ours(device)), user.base64)) {
        warnings.push(`cloud-init: user data left as is: with the guest fix it would be ${LIMIT_HINT}`);
      }
    }
  }
  return { warnings, pinPrimary };
}
