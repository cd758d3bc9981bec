// A hand-written version of the cloud-init the engine injects (DOMAIN.md, cloud-init
// section). Used with GUEST_CLOUDINIT=handwritten to check the guest mechanics apart
// from the engine: network-config v2 matching both NICs by MAC, and user data that
// makes NetworkManager and ifupdown guests keep eth1 off the default route and DNS.

export interface CloudInit {
  userData: string;
  networkData: string;
}

export function handwrittenCloudInit(
  macs: [string, string],
  markerPath: string,
  markerContent: string,
): CloudInit {
  const [primary, secondary] = macs;
  const networkData = [
    'version: 2',
    'ethernets:',
    '  eth0:',
    `    match: {macaddress: '${primary}'}`,
    '    set-name: eth0',
    '    dhcp4: true',
    '  eth1:',
    `    match: {macaddress: '${secondary}'}`,
    '    set-name: eth1',
    '    dhcp4: true',
    '    dhcp4-overrides: {use-routes: false, use-dns: false}',
    '',
  ].join('\n');

  const userPart = [
    '#cloud-config',
    'write_files:',
    `  - path: ${markerPath}`,
    `    content: "${markerContent}\\n"`,
    'runcmd:',
    `  - echo user-runcmd >> ${markerPath}`,
    '',
  ].join('\n');

  const keyfile = [
    '[connection]',
    'id=injector-eth1',
    'type=ethernet',
    // NetworkManager's maximum: cloud-init 23.2+ renders its own profile for the NIC at 120
    'autoconnect-priority=999',
    '[ethernet]',
    `mac-address=${secondary.toUpperCase()}`,
    '[ipv4]',
    'method=auto',
    'never-default=true',
    'ignore-auto-dns=true',
    '[ipv6]',
    'method=ignore',
  ];
  // Debian 13's ifupdown runs dhcpcd, not dhclient
  const dhcpcd = ['interface eth1', 'nogateway', 'nooption domain_name_servers, domain_name, domain_search'];
  const hook = [
    '# secondary NIC: address only, never the default route or DNS',
    'case "$reason" in BOUND|RENEW|REBIND|REBOOT|TIMEOUT)',
    `  if [ "$(cat /sys/class/net/$interface/address 2>/dev/null)" = "${secondary.toLowerCase()}" ]; then`,
    '    unset new_routers new_domain_name_servers new_domain_name new_domain_search',
    '  fi ;;',
    'esac',
  ];
  const fix = [
    'if command -v nmcli >/dev/null && systemctl -q is-active NetworkManager; then',
    '  nmcli connection reload && nmcli connection up injector-eth1',
    'elif systemctl -q is-active networking && ifquery --state eth1 >/dev/null 2>&1; then',
    '  ifdown eth1; ifup eth1; ifdown eth0; ifup eth0',
    'fi',
  ];
  const indent = (lines: string[], pad: string): string => lines.map((l) => pad + l).join('\n');
  const ourPart = [
    '#cloud-config',
    'write_files:',
    '  - path: /etc/NetworkManager/system-connections/injector-eth1.nmconnection',
    "    permissions: '0600'",
    '    content: |',
    indent(keyfile, '      '),
    '  - path: /etc/dhcp/dhclient-enter-hooks.d/injector-secondary',
    "    permissions: '0644'",
    '    content: |',
    indent(hook, '      '),
    '  - path: /etc/dhcpcd.conf',
    '    append: true',
    '    content: |',
    indent(dhcpcd, '      '),
    'runcmd:',
    '  - |',
    indent(fix, '    '),
    '',
  ].join('\n');

  const boundary = '==injector-handwritten==';
  const part = (body: string, extra: string[] = []): string =>
    [`--${boundary}`, 'Content-Type: text/cloud-config; charset="us-ascii"', ...extra, '', body].join('\n');
  const userData = [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    part(userPart),
    part(ourPart, ['Merge-Type: list(append)+dict(no_replace,recurse_list)+str()']),
    `--${boundary}--`,
    '',
  ].join('\n');
  return { userData, networkData };
}
