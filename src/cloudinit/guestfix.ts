// The cloud-config part we add to a guest's user data. Network data alone fixes only netplan
// and networkd guests (DOMAIN.md: NetworkManager, ifcfg and ifupdown drop dhcp4-overrides), so
// this part writes each stack's own "address only" setting for the secondary NIC and on first
// boot makes the running stack apply it (the NICs are already up by the time user data runs).
// Files for stacks a guest does not have are inert there.
//
// Every file here must hold on every later boot too, when nothing of ours runs again (user data
// runs once per instance) and the stack starts from its files alone. NetworkManager picks the
// matching profile with the highest autoconnect-priority at each boot, and cloud-init 23.2+
// renders its own eth1 profile at 120 without our guard (its renderer drops dhcp4-overrides):
// ours takes NetworkManager's maximum.
//
// Which NIC: when our network data names it (set-name by MAC; cloud-init re-applies the name
// on every boot), the files match that name, so the part is the same for every VM and is
// rendered once (src/mutate/cloudinit.ts). When something else owns the network config (ConfigDrive,
// network data in a Secret), the files match the NIC's MAC instead.
import { hash } from 'node:crypto';

export interface SecondaryNic {
  /** Device name the network data gives the NIC (`eth1`). */
  device: string;
  /** Match by this lower-case MAC instead of by name (the NIC is not renamed by our network data). */
  mac?: string;
}

export const NM_PROFILE_PREFIX = 'kubevirt-net-injector-';
export const DHCLIENT_HOOK = '/etc/dhcp/dhclient-enter-hooks.d/kubevirt-net-injector';
export const SYSCTL_FILE = '/etc/sysctl.d/90-kubevirt-net-injector.conf';
/** dhcpcd's configuration (Debian 13's ifupdown and cloud-init use dhcpcd); our block is appended. */
export const DHCPCD_CONF = '/etc/dhcpcd.conf';
/** NetworkManager's highest autoconnect-priority: no profile cloud-init renders can outrank ours. */
export const NM_AUTOCONNECT_PRIORITY = 999;

export function nmProfileId(nic: SecondaryNic): string {
  return `${NM_PROFILE_PREFIX}${nic.device}`;
}

export function nmKeyfilePath(nic: SecondaryNic): string {
  return `/etc/NetworkManager/system-connections/${nmProfileId(nic)}.nmconnection`;
}

/** Sorts before cloud-init's and netplan's `10-*` files: networkd uses the first match. */
export function networkdPath(nic: SecondaryNic): string {
  return `/etc/systemd/network/05-kubevirt-net-injector-${nic.device}.network`;
}

export function ifcfgPath(nic: SecondaryNic): string {
  return `/etc/sysconfig/network-scripts/ifcfg-${nic.device}`;
}

/** A name-based UUID (RFC 4122 version 5 layout) so the same NIC always gets the same profile. */
function profileUuid(nic: SecondaryNic): string {
  const h = hash('sha1', `kubevirt-net-injector\u0000${nic.mac ?? nic.device}`, 'buffer');
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text
    .split('\n')
    .map((l) => (l ? pad + l : l))
    .join('\n');
}

function nmKeyfile(nic: SecondaryNic): string {
  return [
    '[connection]',
    `id=${nmProfileId(nic)}`,
    `uuid=${profileUuid(nic)}`,
    'type=ethernet',
    ...(nic.mac ? [] : [`interface-name=${nic.device}`]),
    `autoconnect-priority=${NM_AUTOCONNECT_PRIORITY}`,
    ...(nic.mac ? ['[ethernet]', `mac-address=${nic.mac.toUpperCase()}`] : []),
    '[ipv4]',
    'method=auto',
    'never-default=true',
    'ignore-auto-dns=true',
    'ignore-auto-routes=true',
    '[ipv6]',
    'method=auto',
    'never-default=true',
    'ignore-auto-dns=true',
    'ignore-auto-routes=true',
    '',
  ].join('\n');
}

function ifcfg(nic: SecondaryNic): string {
  return [
    `DEVICE=${nic.device}`,
    ...(nic.mac ? [`HWADDR=${nic.mac}`] : []),
    'TYPE=Ethernet',
    'ONBOOT=yes',
    'BOOTPROTO=dhcp',
    'DEFROUTE=no',
    'PEERDNS=no',
    'PEERROUTES=no',
    'IPV6_DEFROUTE=no',
    'IPV6_PEERDNS=no',
    '',
  ].join('\n');
}

function networkd(nic: SecondaryNic): string {
  // Also covers IPv6: router advertisements on the L2 network must not add a default route or
  // name servers either (UseGateway= in [IPv6AcceptRA] needs systemd 250; Debian 12 has 252).
  return [
    '[Match]',
    nic.mac ? `MACAddress=${nic.mac}` : `Name=${nic.device}`,
    '[Network]',
    'DHCP=ipv4',
    '[DHCPv4]',
    'UseRoutes=false',
    'UseGateway=false',
    'UseDNS=false',
    'UseDomains=false',
    '[IPv6AcceptRA]',
    'UseGateway=false',
    'UseDNS=false',
    'UseDomains=false',
    '',
  ].join('\n');
}

/** Kernel-handled router advertisements (ifupdown): keep SLAAC, drop the default router. */
function sysctl(nic: SecondaryNic): string {
  return `net.ipv6.conf.${nic.device}.accept_ra_defrtr = 0\n`;
}

/** dhcpcd: the NIC's block (appended: it ends the file's last block and starts its own): an
 * address, no default route, no name servers. dhcpcd matches interfaces by name only, so a
 * MAC-matched NIC gets the block under the name it most likely has. */
function dhcpcd(nic: SecondaryNic): string {
  return [
    `# kubevirt-net-injector: ${nic.device} takes DHCP, never the default route or DNS`,
    `interface ${nic.device}`,
    'nogateway',
    'nooption domain_name_servers, domain_name, domain_search',
    '',
  ].join('\n');
}

function dhclientHook(nic: SecondaryNic): string {
  // Sourced by dhclient-script before it configures a lease: for our NIC, forget the router,
  // static routes and name servers the DHCP server offered, keep the address.
  const test = nic.mac
    ? `"$(cat /sys/class/net/$interface/address 2>/dev/null)" = "${nic.mac}"`
    : `"$interface" = "${nic.device}"`;
  return [
    `if [ ${test} ]; then`,
    '  unset new_routers new_static_routes new_rfc3442_classless_static_routes',
    '  unset new_domain_name_servers new_domain_search new_domain_name',
    'fi',
    '',
  ].join('\n');
}

const GUARD = ['ipv4', 'ipv6']
  .flatMap((f) => [`${f}.never-default yes`, `${f}.ignore-auto-dns yes`, `${f}.ignore-auto-routes yes`])
  .join(' ');

/** First boot only: the stack already brought the NIC up with the DHCP defaults; re-apply. */
function applyScript(nic: SecondaryNic): string {
  return [
    nic.mac
      ? `d=$(grep -l '^${nic.mac}$' /sys/class/net/*/address | head -n 1 | cut -d / -f 5)`
      : `d=${nic.device}`,
    'if command -v nmcli >/dev/null 2>&1 && nmcli -t -f RUNNING general 2>/dev/null | grep -qx running; then',
    '  nmcli connection reload',
    // cloud-init's own profile for the NIC (`cloud-init <name>`, 22.4 to 25.1) gets the same
    // guard, once: should ours ever fail to activate, NetworkManager falls back to it.
    `  nmcli connection modify "cloud-init $d" ${GUARD} 2>/dev/null`,
    `  nmcli connection up ${nmProfileId(nic)}`,
    'elif command -v ifup >/dev/null 2>&1 && [ -f /etc/network/interfaces ]; then',
    '  sysctl -q -w "net.ipv6.conf.$d.accept_ra_defrtr=0"; ifdown -a --exclude=lo; ifup -a --exclude=lo',
    'elif systemctl -q is-active systemd-networkd 2>/dev/null; then',
    '  networkctl reload; networkctl reconfigure "$d"',
    'elif command -v ifup >/dev/null 2>&1 && [ -x /etc/init.d/network ]; then',
    '  /etc/init.d/network restart',
    'fi',
    '',
  ].join('\n');
}

function render(nic: SecondaryNic): string {
  return [
    '#cloud-config',
    `# kubevirt-net-injector: ${nic.device}${nic.mac ? ` (${nic.mac})` : ''} takes DHCP, never the default route or DNS`,
    'write_files:',
    `- path: ${nmKeyfilePath(nic)}`,
    "  permissions: '0600'",
    '  content: |',
    indent(nmKeyfile(nic), 4).trimEnd(),
    `- path: ${ifcfgPath(nic)}`,
    '  content: |',
    indent(ifcfg(nic), 4).trimEnd(),
    `- path: ${networkdPath(nic)}`,
    '  content: |',
    indent(networkd(nic), 4).trimEnd(),
    `- path: ${DHCLIENT_HOOK}`,
    '  content: |',
    indent(dhclientHook(nic), 4).trimEnd(),
    `- path: ${SYSCTL_FILE}`,
    '  content: |',
    indent(sysctl(nic), 4).trimEnd(),
    `- path: ${DHCPCD_CONF}`,
    '  append: true',
    '  content: |',
    indent(dhcpcd(nic), 4).trimEnd(),
    'runcmd:',
    '- - sh',
    '  - -c',
    '  - |',
    indent(applyScript(nic), 4).trimEnd(),
    '',
  ].join('\n');
}

/** The `#cloud-config` document; lists merge after the user's (see userdata.ts Merge-Type). */
export function guestFixCloudConfig(nic: SecondaryNic): string {
  return render(nic);
}
