// The VM side of the guest fix: find (or add) the cloud-init volume, add our part to its user
// data and our NIC to its network data, within KubeVirt's size limits.
import { guestFixCloudConfig, type SecondaryNic } from '../cloudinit/guestfix.js';
import { gzip, storedGzip } from '../cloudinit/gzip.js';
import { generateNetworkData, mergeNetworkData, type Nic } from '../cloudinit/networkdata.js';
import { BOUNDARY, boundaryFor, classify, isOurWrapper, wrapBody, wrapHead } from '../cloudinit/userdata.js';
import { freeName } from './names.js';
import { isObj, listAt, Paths, type Named, type Obj } from './vm.js';

/** KubeVirt rejects inline user or network data over this many bytes (decoded). */
export const KUBEVIRT_INLINE_LIMIT = 2048;
const SECONDARY_DEVICE = 'eth1';
const PRIMARY_DEVICE = 'eth0';

export interface CloudInitPlan {
  secondaryMac: string;
  /** MAC of the first interface that is not ours, if any (pinned by the caller when unset). */
  primaryMac?: string;
}

export interface CloudInitOutcome {
  warnings: string[];
  /** The primary interface MAC must be pinned in the spec (network data names it). */
  pinPrimary: boolean;
}

type SourceKey = 'cloudInitNoCloud' | 'cloudInitConfigDrive';

function findSource(volumes: Named[]): { key: SourceKey; source: Obj } | undefined {
  for (const volume of volumes) {
    for (const key of ['cloudInitNoCloud', 'cloudInitConfigDrive'] as const) {
      const source = volume[key];
      if (isObj(source)) return { key, source };
    }
  }
  return undefined;
}

/** base64 text longer than this is not decoded: 2 KiB is 2,732 characters, the rest allows for line breaks. */
const MAX_BASE64_CHARS = 4096;

function decodeBase64(value: string): Buffer | undefined {
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) return undefined;
  return Buffer.from(compact, 'base64');
}

/**
 * Inline or base64 text of a source's field pair, or why it cannot be read. Nothing over
 * KubeVirt's inline limit is read: KubeVirt refuses such a VM anyway, and it bounds every later
 * step (gunzip, YAML) by the limit.
 */
function readField(
  source: Obj,
  plain: string,
  base64: string,
): { bytes: Buffer; base64: boolean } | { absent: true } | { error: string } {
  const p = source[plain];
  const b = source[base64];
  if ((p !== undefined && typeof p !== 'string') || (b !== undefined && typeof b !== 'string')) {
    return { error: `${plain}/${base64} must be strings` };
  }
  const tooLarge = (field: string) => ({ error: `${field} is ${LIMIT_HINT} (KubeVirt refuses it as it is)` });
  if (p) {
    // Every UTF-16 unit is at least one UTF-8 byte: a longer string is over the limit.
    if (p.length > KUBEVIRT_INLINE_LIMIT) return tooLarge(plain);
    const bytes = Buffer.from(p, 'utf8');
    return bytes.length > KUBEVIRT_INLINE_LIMIT ? tooLarge(plain) : { bytes, base64: false };
  }
  if (b) {
    if (b.length > MAX_BASE64_CHARS) return tooLarge(base64);
    const bytes = decodeBase64(b);
    if (!bytes) return { error: `${base64} is not valid base64` };
    return bytes.length > KUBEVIRT_INLINE_LIMIT ? tooLarge(base64) : { bytes, base64: true };
  }
  return { absent: true };
}

/**
 * The encoding of `head + body` that fits KubeVirt's limit: plain text when it fits; else
 * gzip, as two members when the body is our shared part (head stored, body compressed once
 * when the module loaded) or as one; undefined when even that is too large.
 */
function encodeUserData(head: string, body: string): { text: string } | { gz: Buffer } | undefined {
  const text = head + body;
  if (Buffer.byteLength(text, 'utf8') <= KUBEVIRT_INLINE_LIMIT) return { text };
  if (body === SHARED_BODY) {
    const members = Buffer.concat([storedGzip(Buffer.from(head, 'utf8')), SHARED_BODY_GZ]);
    if (members.length <= KUBEVIRT_INLINE_LIMIT) return { gz: members };
  }
  const packed = gzip(Buffer.from(text, 'utf8'));
  return packed.length <= KUBEVIRT_INLINE_LIMIT ? { gz: packed } : undefined;
}

/** What becomes of the user-data field pair: one field set (the other removed), or a warning. */
type UserDataEdit =
  { set: 'userData' | 'userDataBase64'; value: string } | { warning: string } | { keep: true };

/** Plain text in the field the user used, gzip in userDataBase64. */
function asEdit(encoded: { text: string } | { gz: Buffer }, wasBase64: boolean): UserDataEdit {
  if ('gz' in encoded) return { set: 'userDataBase64', value: encoded.gz.toString('base64') };
  if (wasBase64)
    return { set: 'userDataBase64', value: Buffer.from(encoded.text, 'utf8').toString('base64') };
  return { set: 'userData', value: encoded.text };
}

/** Applies the edit to the source in place: the one field set, the other removed. */
function applyEdit(source: Obj, edit: UserDataEdit, warnings: string[]): void {
  if ('warning' in edit) warnings.push(edit.warning);
  if (!('set' in edit)) return;
  delete source[edit.set === 'userData' ? 'userDataBase64' : 'userData'];
  source[edit.set] = edit.value;
}

function writeNetworkData(source: Obj, text: string, asBase64: boolean): boolean {
  if (Buffer.byteLength(text, 'utf8') > KUBEVIRT_INLINE_LIMIT) return false;
  if (asBase64) source['networkDataBase64'] = Buffer.from(text, 'utf8').toString('base64');
  else source['networkData'] = text;
  return true;
}

// The guest fix for the NIC our network data names eth1 is the same text for every VM: its
// wrapped body and that body's gzip member are computed once, when the module loads.
const SHARED_NIC: SecondaryNic = { device: SECONDARY_DEVICE };
const SHARED_FIX = guestFixCloudConfig(SHARED_NIC);
const SHARED_BODY = wrapBody(SHARED_FIX);
const SHARED_BODY_GZ = gzip(Buffer.from(SHARED_BODY, 'utf8'));

/** The user data with our part added (or why not), from the source's user-data field pair. */
function editUserData(source: Obj, ours: string): UserDataEdit {
  const user = readField(source, 'userData', 'userDataBase64');
  if ('error' in user) return { warning: `cloud-init: user data left as is: ${user.error}` };
  if ('absent' in user) {
    const encoded = encodeUserData('', ours);
    return encoded
      ? asEdit(encoded, false)
      : { warning: `cloud-init: the guest fix alone would be ${LIMIT_HINT}` };
  }
  const kind = classify(user.bytes);
  if (kind === undefined) return { warning: 'cloud-init: user data left as is: it is binary and not gzip' };
  if (isOurWrapper(user.bytes)) return { keep: true };
  const boundary = boundaryFor(user.bytes);
  const body = ours === SHARED_FIX && boundary === BOUNDARY ? SHARED_BODY : wrapBody(ours, boundary);
  const encoded = encodeUserData(wrapHead(user.bytes, kind, boundary), body);
  return encoded
    ? asEdit(encoded, user.base64)
    : { warning: `cloud-init: user data left as is: with the guest fix it would be ${LIMIT_HINT}` };
}

/**
 * Does the VM's cloud-init user data carry our guest fix (our multipart wrapper)? Read with the
 * same limits as the injection: the policy check uses it to notice an update that drops it.
 */
export function hasGuestFix(volumes: Named[]): boolean {
  const found = findSource(volumes);
  if (!found) return false;
  const user = readField(found.source, 'userData', 'userDataBase64');
  return 'bytes' in user && isOurWrapper(user.bytes);
}

const LIMIT_HINT = `over KubeVirt's ${KUBEVIRT_INLINE_LIMIT}-byte inline limit; move it to a Secret`;

/**
 * Patches (or adds) the VM's cloud-init, in place on the engine's copy. Returns the warnings
 * for what it could not do; never changes the user's own data beyond wrapping it.
 */
export function patchCloudInit(vm: Obj, plan: CloudInitPlan): CloudInitOutcome {
  const warnings: string[] = [];
  // The copy's volumes, validated (readVm) before the copy was made.
  const volumes = listAt(vm, Paths.volumes) as Named[];
  const found = findSource(volumes);
  const primary: Nic | undefined =
    plan.primaryMac !== undefined ? { mac: plan.primaryMac, device: PRIMARY_DEVICE } : undefined;

  if (!found) {
    const source: Obj = {
      networkData: generateNetworkData(primary, { mac: plan.secondaryMac, device: SECONDARY_DEVICE }),
    };
    applyEdit(source, editUserData(source, SHARED_FIX), warnings);
    const disks = listAt(vm, Paths.disks) as Named[];
    const taken = new Set([...volumes, ...disks].map((v) => v.name));
    const name = freeName('cloudinitdisk', taken);
    volumes.push({ name, cloudInitNoCloud: source });
    disks.push({ name, disk: { bus: 'virtio' } });
    return { warnings, pinPrimary: primary !== undefined };
  }

  const { source } = found;
  let pinPrimary = false;
  // Our network data names the NIC (set-name by MAC): the guest files then match that name.
  // Anything else owns the network config: they match the MAC.
  let nic: SecondaryNic = { device: SECONDARY_DEVICE, mac: plan.secondaryMac };

  // Network data first: it decides how the guest files find the secondary NIC.
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
      writeNetworkData(
        source,
        generateNetworkData(primary, { mac: plan.secondaryMac, device: SECONDARY_DEVICE }),
        false,
      );
      pinPrimary = primary !== undefined;
      nic = SHARED_NIC;
    } else if ('error' in net) {
      warnings.push(`cloud-init: network data left as is: ${net.error}`);
    } else {
      const merged = mergeNetworkData(net.bytes.toString('utf8'), plan.secondaryMac);
      if ('text' in merged) {
        if (!writeNetworkData(source, merged.text, net.base64)) {
          warnings.push(
            `cloud-init: network data left as is: with the secondary NIC it would be ${LIMIT_HINT}`,
          );
        } else {
          nic = { device: merged.device };
          if (merged.version === 1) {
            warnings.push(
              'cloud-init: network data is version 1, which cannot drop DHCP routes and DNS; ' +
                'netplan and systemd-networkd guests keep them (use version 2)',
            );
          }
        }
      } else if (merged.alreadyPresent) {
        nic = { device: merged.device, mac: plan.secondaryMac };
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
  const ours =
    nic.mac === undefined && nic.device === SECONDARY_DEVICE ? SHARED_FIX : guestFixCloudConfig(nic);
  applyEdit(source, editUserData(source, ours), warnings);
  return { warnings, pinPrimary };
}
