// NoCloud network-config. Without any, we write version 2 describing both NICs by MAC (network
// config replaces cloud-init's fallback, so the primary must be in it too). With the user's own,
// we add one entry for the secondary NIC and keep everything else, comments included.
import { isMap, isScalar, parseDocument, Scalar, type Document } from 'yaml';

export interface Nic {
  mac: string;
  device: string;
}

const OVERRIDES = '    dhcp4-overrides:\n      use-routes: false\n      use-dns: false\n';

function ethernet(nic: Nic, secondary: boolean): string {
  return (
    `  ${nic.device}:\n` +
    `    match:\n      macaddress: '${nic.mac}'\n` +
    `    set-name: ${nic.device}\n` +
    `    dhcp4: true\n` +
    (secondary ? OVERRIDES : '')
  );
}

/** Version 2 from scratch: the primary (if known) keeps DHCP defaults; the secondary gets overrides. */
export function generateNetworkData(primary: Nic | undefined, secondary: Nic): string {
  return 'version: 2\nethernets:\n' + (primary ? ethernet(primary, false) : '') + ethernet(secondary, true);
}

export type MergeResult =
  | { text: string; device: string; version: 1 | 2 }
  | { error: string; alreadyPresent?: false }
  | { error: string; alreadyPresent: true; device: string };

/** Names the user's config already gives to devices (v2 ids and set-name, v1 names). */
function deviceNames(root: Record<string, unknown>): Set<string> {
  const names = new Set<string>();
  for (const section of ['ethernets', 'bonds', 'bridges', 'vlans', 'wifis']) {
    const entries = root[section];
    if (entries && typeof entries === 'object') {
      for (const [id, v] of Object.entries(entries as Record<string, unknown>)) {
        names.add(id);
        const setName = (v as Record<string, unknown> | null)?.['set-name'];
        if (typeof setName === 'string') names.add(setName);
      }
    }
  }
  const config = root['config'];
  if (Array.isArray(config)) {
    for (const entry of config) {
      const name = (entry as Record<string, unknown> | null)?.['name'];
      if (typeof name === 'string') names.add(name);
    }
  }
  return names;
}

function macsIn(root: Record<string, unknown>): Map<string, string> {
  const macs = new Map<string, string>();
  const eth = root['ethernets'];
  if (eth && typeof eth === 'object') {
    for (const [id, v] of Object.entries(eth as Record<string, unknown>)) {
      const m = (v as { match?: { macaddress?: unknown } } | null)?.match?.macaddress;
      if (typeof m === 'string') macs.set(m.toLowerCase(), id);
    }
  }
  const config = root['config'];
  if (Array.isArray(config)) {
    for (const entry of config as Array<Record<string, unknown>>) {
      if (typeof entry?.['mac_address'] === 'string' && typeof entry['name'] === 'string') {
        macs.set(entry['mac_address'].toLowerCase(), entry['name']);
      }
    }
  }
  return macs;
}

/** Quoted: an all-digit MAC such as 02:00:00:00:00:11 is a base-60 integer to YAML 1.1 (PyYAML). */
function quotedMac(mac: string): Scalar {
  const node = new Scalar(mac);
  node.type = Scalar.QUOTE_SINGLE;
  return node;
}

function firstFreeEth(taken: Set<string>): string {
  for (let i = 1; ; i++) if (!taken.has(`eth${i}`)) return `eth${i}`;
}

/** Alias expansions allowed when reading the user's network data (yaml's own default is 100). */
export const MAX_ALIASES = 16;

/** Adds the secondary NIC to the user's network config (v1 or v2, with or without `network:`). */
export function mergeNetworkData(text: string, mac: string): MergeResult {
  let doc: Document;
  let plain: unknown;
  try {
    doc = parseDocument(text, { uniqueKeys: true });
    const [first] = doc.errors;
    if (first) {
      // The code and line, not the message: the message quotes the text around the error.
      const line = first.linePos?.[0]?.line;
      return { error: `network data is not YAML (${first.code}${line ? ` at line ${line}` : ''})` };
    }
    // Aliases expand when the document becomes plain data: a few lines of them can stand for
    // millions of nodes. A network config has no use for more than a handful.
    plain = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch {
    return { error: 'network data is not YAML, or uses more aliases than a network config needs' };
  }
  if (!plain || typeof plain !== 'object' || Array.isArray(plain)) {
    return { error: 'network data is not a YAML mapping' };
  }
  const wrapped = 'network' in plain;
  const prefix = wrapped ? ['network'] : [];
  const root = (wrapped ? (plain as { network: unknown }).network : plain) as Record<string, unknown>;
  if (!root || typeof root !== 'object') return { error: 'network data has an empty network: key' };
  const existing = macsIn(root).get(mac);
  if (existing)
    return { error: 'network data already describes the NIC', alreadyPresent: true, device: existing };
  const device = firstFreeEth(deviceNames(root));
  const node = doc.getIn(prefix);
  if (prefix.length > 0 && !isMap(node))
    return { error: 'network data has a network: key that is not a mapping' };
  const version = root['version'];
  if (version === 2) {
    const entry = {
      match: { macaddress: quotedMac(mac) },
      'set-name': device,
      dhcp4: true,
      'dhcp4-overrides': { 'use-routes': false, 'use-dns': false },
    };
    const ethernets = doc.getIn([...prefix, 'ethernets']);
    if (ethernets !== undefined && !isMap(ethernets) && !(isScalar(ethernets) && ethernets.value === null)) {
      return { error: 'network data has ethernets: that is not a mapping' };
    }
    if (!isMap(ethernets)) doc.setIn([...prefix, 'ethernets'], doc.createNode({}));
    doc.setIn([...prefix, 'ethernets', device], doc.createNode(entry));
    return { text: doc.toString(), device, version: 2 };
  }
  if (version === 1) {
    const config = doc.getIn([...prefix, 'config']);
    if (config !== undefined && !Array.isArray((root as { config?: unknown }).config)) {
      return { error: 'network data version 1 has a config: that is not a list' };
    }
    const entry = {
      type: 'physical',
      name: device,
      mac_address: quotedMac(mac),
      subnets: [{ type: 'dhcp4' }],
    };
    if (config === undefined) doc.setIn([...prefix, 'config'], doc.createNode([entry]));
    else doc.addIn([...prefix, 'config'], doc.createNode(entry));
    return { text: doc.toString(), device, version: 1 };
  }
  return { error: `network data version ${JSON.stringify(version)} is not 1 or 2` };
}
