// For every golden VM that gets network data from us: render it as each guest stack would with
// `cloud-init devel net-convert` of two cloud-inits (this machine's Debian 12 one, 22.4, and
// Debian 13's, 25.1, run in its tree with chroot), lay the files our user data writes over the
// result, and read back what each NIC ends up with, as the stack would pick among the files at
// every boot. eth1 (secondary): DHCP, no default route, no DNS. eth0: all.
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { mutate } from '../../src/mutate/index.js';
import { defaultContext, defaultSettings, goldenCases } from '../support/golden.js';
import {
  CLOUDINITS,
  cloudInitVersion,
  guestData,
  netConvert,
  overlay,
  parseKeyValues,
  probeUserData,
  RENDERERS,
  type GuestFile,
  type Renderer,
} from '../support/guest.js';

type Obj = Record<string, unknown>;
interface NicView {
  dhcp: boolean;
  defaultRoute: boolean;
  dns: boolean;
  /** Where the answer came from, for failure messages. */
  from: string;
}
interface Nic {
  mac?: string;
  device: string;
}

const truthy = (v: string | undefined): boolean => v !== undefined && /^(true|yes|1)$/i.test(v);
const falsy = (v: string | undefined): boolean => v !== undefined && /^(false|no|0)$/i.test(v);

/** The NIC's MAC equals `value` (a NIC described by name only has no MAC to compare). */
function macIs(nic: Nic, value: string | undefined): boolean {
  return nic.mac !== undefined && value?.toLowerCase() === nic.mac;
}

function filesUnder(files: Map<string, GuestFile>, dir: string): Array<[string, GuestFile]> {
  return [...files].filter(([p]) => p.startsWith(dir));
}

function netplanView(files: Map<string, GuestFile>, nic: Nic): NicView | undefined {
  for (const [path, f] of filesUnder(files, '/etc/netplan/')) {
    const ethernets = ((parse(f.content) as Obj)['network'] as Obj)['ethernets'] as Record<string, Obj>;
    for (const [id, e] of Object.entries(ethernets ?? {})) {
      const mac = String((e['match'] as Obj | undefined)?.['macaddress'] ?? '').toLowerCase();
      if (!(nic.mac ? mac === nic.mac : id === nic.device)) continue;
      const o = (e['dhcp4-overrides'] as Obj | undefined) ?? {};
      return {
        dhcp: e['dhcp4'] === true,
        defaultRoute: o['use-routes'] !== false,
        dns: o['use-dns'] !== false,
        from: path,
      };
    }
  }
  return undefined;
}

function networkdView(files: Map<string, GuestFile>, nic: Nic): NicView | undefined {
  for (const [path, f] of filesUnder(files, '/etc/systemd/network/').sort(([a], [b]) => a.localeCompare(b))) {
    if (!path.endsWith('.network')) continue;
    const kv = parseKeyValues(f.content, true);
    const matches = macIs(nic, kv.get('Match.MACAddress')) || kv.get('Match.Name') === nic.device;
    if (!matches) continue;
    const useRoutes = kv.get('DHCPv4.UseRoutes');
    const useGateway = kv.get('DHCPv4.UseGateway') ?? useRoutes; // systemd >= 246 default
    // Router advertisements count too: an IPv6 default route or RDNSS servers from eth1 are
    // the same hazard (networkd accepts RAs by default).
    return {
      dhcp: ['ipv4', 'yes', 'true'].includes(kv.get('Network.DHCP') ?? ''),
      defaultRoute: !falsy(useGateway) || !falsy(kv.get('IPv6AcceptRA.UseGateway')),
      dns: !falsy(kv.get('DHCPv4.UseDNS')) || !falsy(kv.get('IPv6AcceptRA.UseDNS')),
      from: path,
    };
  }
  return undefined;
}

function nmView(files: Map<string, GuestFile>, nic: Nic): NicView | undefined {
  const profiles = filesUnder(files, '/etc/NetworkManager/system-connections/')
    .map(([path, f]) => ({ path, f, kv: parseKeyValues(f.content, true) }))
    .filter(
      ({ kv }) =>
        macIs(nic, kv.get('ethernet.mac-address')) || kv.get('connection.interface-name') === nic.device,
    )
    // NetworkManager activates the matching profile with the highest autoconnect-priority.
    .sort(
      (a, b) =>
        Number(b.kv.get('connection.autoconnect-priority') ?? 0) -
        Number(a.kv.get('connection.autoconnect-priority') ?? 0),
    );
  const best = profiles[0];
  if (!best) return undefined;
  // NetworkManager ignores keyfiles that others can read.
  if (best.f.mode !== undefined) assert.equal(best.f.mode, '0600', `${best.path} must be mode 0600`);
  return {
    dhcp: best.kv.get('ipv4.method') === 'auto',
    defaultRoute: !truthy(best.kv.get('ipv4.never-default')),
    dns: !truthy(best.kv.get('ipv4.ignore-auto-dns')),
    from: best.path,
  };
}

function sysconfigView(files: Map<string, GuestFile>, nic: Nic): NicView | undefined {
  for (const [path, f] of filesUnder(files, '/etc/sysconfig/network-scripts/ifcfg-')) {
    const kv = parseKeyValues(f.content);
    const matches = macIs(nic, kv.get('HWADDR')) || kv.get('DEVICE') === nic.device;
    if (!matches) continue;
    return {
      dhcp: kv.get('BOOTPROTO') === 'dhcp',
      defaultRoute: !falsy(kv.get('DEFROUTE')),
      dns: !falsy(kv.get('PEERDNS')),
      from: path,
    };
  }
  return undefined;
}

function eniView(files: Map<string, GuestFile>, nic: Nic): NicView | undefined {
  // The device name comes from cloud-init's udev rename rule for the MAC.
  let device = nic.device;
  if (nic.mac) {
    const rules = files.get('/etc/udev/rules.d/70-persistent-net.rules')?.content ?? '';
    const m = new RegExp(`ATTR\\{address\\}=="${nic.mac}", NAME="([^"]+)"`).exec(rules);
    if (!m) return undefined;
    device = m[1]!;
  }
  const eni = files.get('/etc/network/interfaces.d/50-cloud-init')?.content ?? '';
  if (!new RegExp(`^auto ${device}$`, 'm').test(eni)) return undefined;
  // ifupdown runs whichever DHCP client the guest has: isc-dhclient (Debian 12), whose enter
  // hook decides what a lease may change (proven for real in dhclient.test.ts), or dhcpcd
  // (Debian 13), whose configuration's last block for the device does. Both must hold.
  const hook = [...files].find(([p]) => p.startsWith('/etc/dhcp/dhclient-enter-hooks.d/'))?.[1].content ?? '';
  const hooked =
    (nic.mac !== undefined && hook.includes(`= "${nic.mac}"`)) || hook.includes(`"$interface" = "${device}"`);
  const dhcpcd = dhcpcdBlock(files.get('/etc/dhcpcd.conf')?.content ?? '', device);
  return {
    dhcp: new RegExp(`^iface ${device} inet dhcp$`, 'm').test(eni),
    defaultRoute: !(hooked && /unset [^\n]*\bnew_routers\b/.test(hook) && dhcpcd.includes('nogateway')),
    dns: !(
      hooked &&
      /unset [^\n]*\bnew_domain_name_servers\b/.test(hook) &&
      dhcpcd.some((l) => /^nooption\b.*\bdomain_name_servers\b/.test(l))
    ),
    from: '/etc/network/interfaces.d/50-cloud-init, dhclient hook, /etc/dhcpcd.conf',
  };
}

/** The option lines of dhcpcd.conf's `interface <device>` blocks (a block runs to the next
 * `interface` or `ssid` line or the end of the file). */
function dhcpcdBlock(conf: string, device: string): string[] {
  const lines: string[] = [];
  let inside = false;
  for (const raw of conf.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const header = /^(interface|ssid)\s+(\S+)/.exec(line);
    if (header) inside = header[1] === 'interface' && header[2] === device;
    else if (inside && line) lines.push(line);
  }
  return lines;
}

const VIEWS: Record<Renderer['renderer'], (f: Map<string, GuestFile>, n: Nic) => NicView | undefined> = {
  netplan: netplanView,
  networkd: networkdView,
  'network-manager': nmView,
  sysconfig: sysconfigView,
  eni: eniView,
};

/** The cases where we wrote (or added to) version 2 network data. */
function casesWithNetworkData() {
  return goldenCases()
    .map((c) => ({ c, r: mutate(c.input, defaultSettings, defaultContext) }))
    .filter(({ r }) => r.decision.outcome === 'injected' && !r.decision.reason)
    .map(({ c, r }) => ({ name: c.name, vm: r.vm, data: guestData(r.vm) }))
    .filter(({ data }) => data.networkData !== undefined);
}

describe('guest network stacks (cloud-init devel net-convert + our user-data files)', function () {
  this.timeout(120000);
  for (const ci of CLOUDINITS) {
    describe(`cloud-init of ${ci.name}`, function () {
      let version = '';
      before(async function () {
        version = await cloudInitVersion(ci);
        console.log(`      cloud-init ${version}`);
      });
      for (const { name, data } of casesWithNetworkData()) {
        describe(name, () => {
          const rendered = new Map<string, Map<string, GuestFile>>();
          let cloudConfig: Obj = {};
          before(async () => {
            cloudConfig = data.userData ? (await probeUserData(data.userData)).cloudConfig : {};
            const results = await Promise.all(RENDERERS.map((r) => netConvert(data.networkData!, r, ci)));
            RENDERERS.forEach((r, i) => rendered.set(r.renderer, overlay(results[i]!, cloudConfig)));
          });
          // A primary described by name (the user's own network data) is looked up by name.
          const ownPrimary = /enp1s0/.test(data.networkData ?? '');
          const primary: Nic | undefined = ownPrimary
            ? { device: 'enp1s0' }
            : data.primaryMac
              ? { mac: data.primaryMac, device: 'eth0' }
              : undefined;
          const secondary: Nic = { mac: data.secondaryMac, device: 'eth1' };

          for (const r of RENDERERS) {
            it(`${r.renderer} (${r.distro}): the secondary NIC takes DHCP without default route or DNS`, () => {
              const view = VIEWS[r.renderer](rendered.get(r.renderer)!, secondary);
              assert.ok(view, `${r.renderer} (cloud-init ${version}): nothing configures ${secondary.mac}`);
              assert.deepEqual(
                { dhcp: view.dhcp, defaultRoute: view.defaultRoute, dns: view.dns },
                { dhcp: true, defaultRoute: false, dns: false },
                `cloud-init ${version}, from ${view.from}`,
              );
            });
            if (primary) {
              it(`${r.renderer} (${r.distro}): the primary NIC keeps DHCP, default route and DNS`, () => {
                const view = VIEWS[r.renderer](rendered.get(r.renderer)!, primary);
                assert.ok(view, `${r.renderer} (cloud-init ${version}): nothing configures the primary NIC`);
                assert.deepEqual(
                  { dhcp: view.dhcp, defaultRoute: view.defaultRoute, dns: view.dns },
                  { dhcp: true, defaultRoute: true, dns: true },
                  `cloud-init ${version}, from ${view.from}`,
                );
              });
            }
          }
        });
      }
    });
  }

  it('network data v1 keeps DHCP routes on networkd, as the warning says', async () => {
    const c = goldenCases().find((g) => g.name === 'network-data-v1')!;
    const r = mutate(c.input, defaultSettings, defaultContext);
    assert.ok(r.warnings.some((w) => w.includes('version 1')));
    const data = guestData(r.vm);
    const files = await netConvert(data.networkData!, { renderer: 'networkd', distro: 'debian' });
    const view = networkdView(files, { mac: data.secondaryMac, device: 'eth1' });
    assert.ok(view?.dhcp);
    assert.equal(view?.defaultRoute, true);
  });
});
