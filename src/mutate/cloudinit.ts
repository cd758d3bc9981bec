// The VM side of the guest fix: find (or add) the cloud-init volume, add our part to its user
// data and our NIC to its network data, within KubeVirt's size limits.
import { guestFixCloudConfig, type SecondaryNic } from '../cloudinit/guestfix.js';
import { gzip, gzipShared, storedGzip } from '../cloudinit/gzip.js';
import { generateNetworkData, mergeNetworkData, type Nic } from '../cloudinit/networkdata.js';
import { classify, isOurWrapper, wrapBody, wrapHead } from '../cloudinit/userdata.js';
import { freeName } from './names.js';
import { copyOf, isObj, Paths, type Draft, type Named, type Obj, type VmView } from './vm.js';

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

/**
 * The encoding of `head + body` that fits KubeVirt's limit: plain text when it fits; else
 * gzip, as two members when the body is shared (head stored, body compressed once) or as one;
 * undefined when even that is too large.
 */
function encodeUserData(
  head: string,
  body: string,
  shared: boolean,
): { text: string } | { gz: Buffer } | undefined {
  const text = head + body;
  if (Buffer.byteLength(text, 'utf8') <= KUBEVIRT_INLINE_LIMIT) return { text };
  if (shared) {
    const members = Buffer.concat([storedGzip(Buffer.from(head, 'utf8')), gzipShared(body)]);
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

/** The source with the edit applied (the one field set, the other left out), and its warning. */
function applyEdit(source: Obj, edit: UserDataEdit, warnings: string[]): Obj {
  if ('warning' in edit) warnings.push(edit.warning);
  if (!('set' in edit)) return source;
  const other = edit.set === 'userData' ? 'userDataBase64' : 'userData';
  if (!Object.hasOwn(source, other)) {
    source[edit.set] = edit.value;
    return source;
  }
  // Rebuilt rather than `delete`d from: a deletion turns an object into a slow dictionary.
  const out: Obj = {};
  for (const key of Object.keys(source)) if (key !== other) out[key] = source[key];
  out[edit.set] = edit.value;
  return out;
}

function writeNetworkData(source: Obj, text: string, asBase64: boolean): boolean {
  if (Buffer.byteLength(text, 'utf8') > KUBEVIRT_INLINE_LIMIT) return false;
  if (asBase64) source['networkDataBase64'] = Buffer.from(text, 'utf8').toString('base64');
  else source['networkData'] = text;
  return true;
}

// Our part's wrapped body per guest-fix text, when that text is the same for many VMs: the same
// string instance each time lets gzipShared find its compressed member without rehashing it.
const sharedBodies = new Map<string, string>();

function bodyOf(ours: string, shared: boolean): string {
  if (!shared) return wrapBody(ours);
  let body = sharedBodies.get(ours);
  if (body === undefined) {
    body = wrapBody(ours);
    if (sharedBodies.size < 64) sharedBodies.set(ours, body);
  }
  return body;
}

/** The user data with our part added (or why not), from the source's user-data field pair. */
function editUserData(source: Obj, ours: string, shared: boolean): UserDataEdit {
  const user = readField(source, 'userData', 'userDataBase64');
  if ('error' in user) return { warning: `cloud-init: user data left as is: ${user.error}` };
  if ('absent' in user) {
    const encoded = encodeUserData('', ours, shared);
    return encoded
      ? asEdit(encoded, false)
      : { warning: `cloud-init: the guest fix alone would be ${LIMIT_HINT}` };
  }
  const kind = classify(user.bytes);
  if (kind === undefined) return { warning: 'cloud-init: user data left as is: it is binary and not gzip' };
  if (isOurWrapper(user.bytes)) return { keep: true };
  const encoded = encodeUserData(wrapHead(user.bytes, kind), bodyOf(ours, shared), shared);
  return encoded
    ? asEdit(encoded, user.base64)
    : { warning: `cloud-init: user data left as is: with the guest fix it would be ${LIMIT_HINT}` };
}

// VMs created from one template carry the same user data, and when our part does not name a
// MAC (the common case) they get the same result: it is kept, per field and text, for the next
// VM. Bounded: at most USER_DATA_ENTRIES texts of at most USER_DATA_KEY_MAX characters (a text
// that large could never fit KubeVirt's limit once wrapped anyway), oldest dropped first.
const USER_DATA_ENTRIES = 128;
const USER_DATA_KEY_MAX = 32 * 1024;
const editsByField = {
  userData: new Map<string, { ours: string; edit: UserDataEdit }>(),
  userDataBase64: new Map<string, { ours: string; edit: UserDataEdit }>(),
};

// A text is kept only when it comes back while still among the last SEEN_ONCE texts that
// missed. A template's VMs repeat theirs at once; user data of its own in every VM never
// comes back, and keeping it filled the old generation with texts nobody asked for again
// (every VM its own user data, in-process: 0.9 MB promoted a scavenge instead of 0.06, and
// four times the major GCs). Compared by identity first: both strings' hashes are known
// after the lookup above, so two different texts of equal length differ at once.
const SEEN_ONCE = 32;
const seenOnce: (string | undefined)[] = new Array<string | undefined>(SEEN_ONCE);
let seenNext = 0;

function seenBefore(text: string): boolean {
  for (let i = 0; i < SEEN_ONCE; i++) if (seenOnce[i] === text) return true;
  seenOnce[seenNext] = text;
  seenNext = (seenNext + 1) % SEEN_ONCE;
  return false;
}

/** editUserData for a guest fix shared by many VMs, from the cache when this text was seen. */
function editUserDataOnce(source: Obj, ours: string): UserDataEdit {
  const plain = source['userData'];
  const field = typeof plain === 'string' && plain !== '' ? 'userData' : 'userDataBase64';
  const text = source[field];
  if (typeof text !== 'string' || text === '' || text.length > USER_DATA_KEY_MAX) {
    return editUserData(source, ours, true);
  }
  const edits = editsByField[field];
  const hit = edits.get(text);
  if (hit !== undefined && hit.ours === ours) return hit.edit;
  const edit = editUserData(source, ours, true);
  if (hit === undefined && !seenBefore(text)) return edit;
  if (edits.size >= USER_DATA_ENTRIES) edits.delete(edits.keys().next().value!);
  edits.set(text, { ours, edit });
  return edit;
}

/** Forgets the cached user-data results (tests compare cached and fresh results with it). */
export function clearUserDataCache(): void {
  editsByField.userData.clear();
  editsByField.userDataBase64.clear();
  seenOnce.fill(undefined);
  seenNext = 0;
}

/** How many user-data texts are kept (for tests). */
export function userDataCacheSize(): number {
  return editsByField.userData.size + editsByField.userDataBase64.size;
}

const LIMIT_HINT = `over KubeVirt's ${KUBEVIRT_INLINE_LIMIT}-byte inline limit; move it to a Secret`;

/**
 * Patches (or adds) the VM's cloud-init. Returns the warnings for what it could not do; never
 * changes the user's own data beyond wrapping it.
 */
export function patchCloudInit(view: VmView, draft: Draft, plan: CloudInitPlan): CloudInitOutcome {
  const warnings: string[] = [];
  const found = findSource(view.volumes);
  const primary: Nic | undefined =
    plan.primaryMac !== undefined ? { mac: plan.primaryMac, device: PRIMARY_DEVICE } : undefined;

  if (!found) {
    const nic: SecondaryNic = { device: SECONDARY_DEVICE };
    const source: Obj = { networkData: generateNetworkData(primary, { mac: plan.secondaryMac, ...nic }) };
    const withUserData = applyEdit(source, editUserData(source, guestFixCloudConfig(nic), true), warnings);
    const taken = new Set([...view.volumes, ...view.disks].map((v) => v.name));
    const name = freeName('cloudinitdisk', taken);
    draft.push(Paths.volumes, { name, cloudInitNoCloud: withUserData });
    draft.push(Paths.disks, { name, disk: { bus: 'virtio' } });
    return { warnings, pinPrimary: primary !== undefined };
  }

  const volume = draft.item(Paths.volumes, found.index);
  const source = volume[found.key] as Obj;
  const copy = copyOf(source);
  volume[found.key] = copy;
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
        copy,
        generateNetworkData(primary, { mac: plan.secondaryMac, device: SECONDARY_DEVICE }),
        false,
      );
      pinPrimary = primary !== undefined;
      nic = { device: SECONDARY_DEVICE };
    } else if ('error' in net) {
      warnings.push(`cloud-init: network data left as is: ${net.error}`);
    } else {
      const merged = mergeNetworkData(net.bytes.toString('utf8'), plan.secondaryMac);
      if ('text' in merged) {
        if (!writeNetworkData(copy, merged.text, net.base64)) {
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
  const ours = guestFixCloudConfig(nic);
  const shared = nic.mac === undefined;
  const edit = shared ? editUserDataOnce(source, ours) : editUserData(source, ours, false);
  volume[found.key] = applyEdit(copy, edit, warnings);
  return { warnings, pinPrimary };
}
