// Boots a Debian 12 guest per network stack under QEMU with the cloud-init our engine
// injects (the real CLI's output for the seed's MongoDB VM, test/testdata/seed/mongodb.yaml)
// and checks what the guest did: eth1 gets its DHCP address but neither the default route
// nor DNS, eth0 keeps both, and the user's own user data still ran (its runcmd writes
// /var/lib/guest-marker).
// Knobs: GUEST_STACKS=nm,networkd (subset), GUEST_PARALLEL (boots at a time),
// GUEST_BOOT_TIMEOUT_MS, GUEST_VM=own (test/guests/testdata/vm.yaml: user data with
// write_files and runcmd), GUEST_CLOUDINIT=handwritten (the reference cloud-init in
// handwritten.ts instead of the engine's, to check the guest mechanics alone),
// GUEST_CONTROL=0 (no control boot without the injection). See docs/guests.md.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootGuest, GuestBootError, STACKS, type GuestBoot, type Stack } from './boot.js';
import { mutateWithCli } from './engine.js';
import { handwrittenCloudInit } from './handwritten.js';

const NETWORK = 'ovs-net-br1';
const MARKER_PATH = '/var/lib/guest-marker';
const OWN_VM = { manifest: 'test/guests/testdata/vm.yaml', marker: ['user-data-marker', 'user-runcmd'] };
const SEED_VM = { manifest: 'test/testdata/seed/mongodb.yaml', marker: ['mongodb-user-data-ran'] };
const PRIMARY = { net: '10.0.2.', router: '10.0.2.2', dns: '10.0.2.3' };
const SECONDARY = { net: '10.0.3.', router: '10.0.3.2', dns: '10.0.3.3' };
/** the network services the probe finds active on each image */
const STACK_SERVICES: Record<Stack, string[]> = {
  nm: ['NetworkManager'],
  networkd: ['systemd-networkd', 'systemd-resolved'],
  netplan: ['systemd-networkd', 'systemd-resolved'],
  ifupdown: ['networking'],
};
function isStack(name: string): name is Stack {
  if ((STACKS as readonly string[]).includes(name)) return true;
  throw new Error(`GUEST_STACKS: unknown stack ${name} (known: ${STACKS.join(', ')})`);
}
const HANDWRITTEN_MACS: [string, string] = ['02:6b:76:00:00:01', '02:6b:76:00:01:01'];

const stacks = (process.env.GUEST_STACKS?.split(',') ?? [...STACKS]).map((s) => s.trim()).filter(isStack);
const parallel = Number(process.env.GUEST_PARALLEL ?? 5);
const timeoutMs = Number(process.env.GUEST_BOOT_TIMEOUT_MS ?? 720_000);
const control = process.env.GUEST_CONTROL !== '0';
const source = process.env.GUEST_CLOUDINIT === 'handwritten' ? 'handwritten' : 'engine';
const logDir = join(process.env.RESULTS_DIR ?? join(process.cwd(), '.test-results'), 'guests');

type Settled = { ok: true; boot: GuestBoot } | { ok: false; error: unknown };

interface GuestInput {
  userData: Buffer | string;
  networkData?: Buffer | string;
  macs: [string, string];
  /** lines the user's own user data leaves in the marker file */
  marker: string[];
}

async function guestInput(): Promise<GuestInput> {
  if (source === 'handwritten') {
    const cloudInit = handwrittenCloudInit(HANDWRITTEN_MACS, MARKER_PATH, OWN_VM.marker[0] ?? '');
    return { ...cloudInit, macs: HANDWRITTEN_MACS, marker: OWN_VM.marker };
  }
  const vm = process.env.GUEST_VM === 'own' ? OWN_VM : SEED_VM;
  // the CLI of the same build as this test: <out>/test/guests/ -> <out>/src/cli/main.js
  const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const manifest = join(process.cwd(), vm.manifest);
  if (!existsSync(cli)) throw new Error(`CLI ${cli} not built`);
  const injected = await mutateWithCli(cli, manifest, NETWORK);
  mkdirSync(logDir, { recursive: true });
  writeFileSync(join(logDir, 'mutated-vm.yaml'), injected.vmYaml);
  return { ...injected, marker: vm.marker };
}

interface Job {
  name: string;
  stack: Stack;
  input: Promise<GuestInput>;
}

/** The user's VM as it is without our injection: its own user data, no network-config. */
function uninjectedInput(): Promise<GuestInput> {
  const userData = ['#cloud-config', 'runcmd:', `  - echo uninjected > ${MARKER_PATH}`, ''].join('\n');
  return Promise.resolve({ userData, macs: HANDWRITTEN_MACS, marker: ['uninjected'] });
}

/** Runs the boots, `limit` at a time, each settled so none rejects unobserved. */
function bootAll(jobs: Job[], limit: number): Map<string, Promise<Settled>> {
  const queue = [...jobs];
  const results = new Map<string, Promise<Settled>>();
  const waiters = new Map<string, (s: Settled) => void>();
  for (const job of jobs) results.set(job.name, new Promise((done) => waiters.set(job.name, done)));
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const done = waiters.get(job.name);
      try {
        const guest = await job.input;
        const boot = await bootGuest({ stack: job.stack, ...guest, markerPath: MARKER_PATH, timeoutMs });
        done?.({ ok: true, boot });
      } catch (error) {
        done?.({ ok: false, error });
      }
    }
  };
  for (let i = 0; i < Math.max(1, limit); i++) void worker();
  return results;
}

async function settledBoot(boots: Map<string, Promise<Settled>>, name: string): Promise<GuestBoot> {
  const settled = await (boots.get(name) ?? Promise.reject(new Error(`no boot for ${name}`)));
  saveLogs(name, settled);
  if (!settled.ok) throw settled.error;
  return settled.boot;
}

function saveLogs(name: string, settled: Settled): void {
  mkdirSync(logDir, { recursive: true });
  if (settled.ok) {
    const { serialLog, ...probe } = settled.boot;
    writeFileSync(join(logDir, `${name}.console.log`), serialLog);
    writeFileSync(join(logDir, `${name}.probe.json`), JSON.stringify(probe, null, 2) + '\n');
  } else {
    const error = settled.error;
    const log = error instanceof Error && 'serialLog' in error ? String(error.serialLog) : String(error);
    writeFileSync(join(logDir, `${name}.console.log`), log);
  }
}

function nicByMac(boot: GuestBoot, mac: string): string {
  return (
    Object.entries(boot.macs).find(([, m]) => m === mac.toLowerCase())?.[0] ?? `<no NIC with MAC ${mac}>`
  );
}

describe(`guest boots under QEMU (Debian 12, cloud-init from the ${source})`, function () {
  let boots: Map<string, Promise<Settled>>;
  let input: Promise<GuestInput>;

  before(function () {
    input = guestInput();
    input.catch(() => undefined); // reported by every stack's before hook
    const jobs: Job[] = stacks.map((stack) => ({ name: stack, stack, input }));
    if (control) jobs.push({ name: 'control-nm', stack: 'nm', input: uninjectedInput() });
    boots = bootAll(jobs, parallel);
  });

  for (const stack of stacks) {
    describe(`${stack} guest`, function () {
      let boot: GuestBoot;
      let macs: [string, string];
      let marker: string[];
      let eth0: string;
      let eth1: string;

      before(async function () {
        boot = await settledBoot(boots, stack);
        ({ macs, marker } = await input);
        eth0 = nicByMac(boot, macs[0]);
        eth1 = nicByMac(boot, macs[1]);
        console.log(
          `      ${stack}: booted in ${Math.round(boot.durationMs / 1000)} s; ` +
            `${eth0}=${macs[0]} ${eth1}=${macs[1]}\n` +
            boot.routes.map((r) => `        route ${r.raw}\n`).join('') +
            boot.routes6
              .filter((r) => r.dst === 'default')
              .map((r) => `        route -6 ${r.raw}\n`)
              .join('') +
            boot.nameservers.map((n) => `        nameserver ${n}\n`).join(''),
        );
      });

      it('gives the secondary NIC (found by MAC) an address in 10.0.3.0/24', function () {
        const addrs = boot.addresses.filter((a) => a.ifname === eth1).map((a) => a.address);
        assert.ok(
          addrs.some((a) => a.startsWith(SECONDARY.net)),
          `${eth1} has ${JSON.stringify(addrs)}; all: ${JSON.stringify(boot.addresses)}`,
        );
      });

      it('keeps the primary NIC its address in 10.0.2.0/24', function () {
        const addrs = boot.addresses.filter((a) => a.ifname === eth0).map((a) => a.address);
        assert.ok(
          addrs.some((a) => a.startsWith(PRIMARY.net)),
          `${eth0} has ${JSON.stringify(addrs)}`,
        );
      });

      it('routes the IPv4 default via eth0 (10.0.2.2) only, never via eth1', function () {
        const defaults = boot.routes.filter((r) => r.dst === 'default');
        const table = boot.routes.map((r) => r.raw).join('\n');
        assert.ok(defaults.length > 0, `no IPv4 default route:\n${table}`);
        for (const hop of defaults.flatMap((r) => r.nexthops)) {
          assert.equal(hop.dev, eth0, `a default route not on ${eth0}:\n${table}`);
          assert.equal(hop.via, PRIMARY.router, `a default route not via ${PRIMARY.router}:\n${table}`);
        }
        const viaEth1 = boot.routes.flatMap((r) => r.nexthops).filter((h) => h.via === SECONDARY.router);
        assert.deepEqual(viaEth1, [], `a route via eth1's router:\n${table}`);
      });

      it('takes no IPv6 default route from router advertisements on eth1', function () {
        // QEMU's user network advertises a router (fec0:3::2) and its DNS (fec0:3::3) on eth1 too.
        const table = boot.routes6.map((r) => r.raw).join('\n');
        const viaEth1 = boot.routes6
          .filter((r) => r.dst === 'default')
          .flatMap((r) => r.nexthops)
          .filter((h) => h.dev === eth1);
        assert.deepEqual(viaEth1, [], `an IPv6 default route on ${eth1}:\n${table}`);
        assert.ok(!boot.nameservers.includes('fec0:3::3'), `resolv.conf:\n${boot.resolvConf}`);
      });

      it("resolves with eth0's DNS (10.0.2.3) and never eth1's (10.0.3.3)", function () {
        assert.ok(boot.nameservers.includes(PRIMARY.dns), `resolv.conf:\n${boot.resolvConf}`);
        assert.ok(!boot.nameservers.includes(SECONDARY.dns), `resolv.conf:\n${boot.resolvConf}`);
        assert.ok(!boot.resolvectl.includes(SECONDARY.dns), `resolvectl dns:\n${boot.resolvectl}`);
      });

      it("still runs the user's own user data (the marker file it writes)", function () {
        assert.ok(boot.marker.present, `${MARKER_PATH} is missing`);
        assert.deepEqual(boot.marker.content.split('\n').filter(Boolean), marker);
      });

      it(`is managed by its own network stack alone (${stack})`, function () {
        const active = Object.entries(boot.services)
          .filter(([, state]) => state === 'active')
          .map(([unit]) => unit)
          .sort();
        assert.deepEqual(active, STACK_SERVICES[stack]);
      });

      it('has cloud-init done without errors', function () {
        assert.match(boot.cloudInitStatus, /^status: done$/m, boot.cloudInitStatus);
        assert.doesNotMatch(boot.cloudInitStatus, /^\s*errors?:\s*\S.*$/m, boot.cloudInitStatus);
      });
    });
  }

  if (control) {
    // Proves the setup reproduces the hazard, so the passing checks above mean something:
    // without the injection NetworkManager gives eth1 a profile of its own ("Wired
    // connection 2") whose DHCP lease brings a default route and DNS.
    describe('control: nm guest without the injection', function () {
      let boot: GuestBoot;
      let eth1: string;
      before(async function () {
        boot = await settledBoot(boots, 'control-nm');
        eth1 = nicByMac(boot, HANDWRITTEN_MACS[1]);
      });

      it("lets eth1's DHCP bring a default route or DNS (the seed's problem)", function () {
        assert.ok(boot.addresses.some((a) => a.ifname === eth1 && a.address.startsWith(SECONDARY.net)));
        const viaEth1 = boot.routes
          .filter((r) => r.dst === 'default')
          .flatMap((r) => r.nexthops)
          .some((h) => h.dev === eth1 || h.via === SECONDARY.router);
        const dnsEth1 = boot.nameservers.includes(SECONDARY.dns);
        assert.ok(
          viaEth1 || dnsEth1,
          `no hazard seen:\n${boot.routes.map((r) => r.raw).join('\n')}\n${boot.resolvConf}`,
        );
      });
    });
  }
});

describe('bootGuest', function () {
  it('kills QEMU when the guest does not power off in time, and says so', async function () {
    const started = Date.now();
    const error: unknown = await bootGuest({
      stack: STACKS[0],
      userData: '#cloud-config\n',
      macs: HANDWRITTEN_MACS,
      timeoutMs: 3000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof GuestBootError, `expected a GuestBootError, got ${String(error)}`);
    assert.match(error.message, /did not power off within 3000 ms/);
    assert.ok(Date.now() - started < 60_000, 'the timeout was not enforced');
    const pid = error.pid ?? -1;
    assert.ok(pid > 0);
    assert.throws(() => process.kill(pid, 0), /ESRCH/, `QEMU (pid ${pid}) still runs`);
  });
});
