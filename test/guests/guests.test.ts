// Boots a Debian 12 and a Debian 13 guest per network stack under QEMU with the cloud-init
// our engine injects (the real CLI's output for the seed's MongoDB VM,
// test/testdata/seed/mongodb.yaml), twice from the same disk, and checks what the guest did
// on each boot: eth1 gets its DHCP address but neither a default route (IPv4 or IPv6) nor
// DNS, eth0 keeps both, and the user's own user data ran on the first boot only (its runcmd
// writes /var/lib/guest-marker).
// Knobs: GUEST_SUITES=trixie, GUEST_STACKS=nm,networkd (subsets), GUEST_BOOTS (boots of
// each disk, default 2), GUEST_PARALLEL (guests at a time),
// GUEST_BOOT_TIMEOUT_MS, GUEST_VM=own (test/guests/testdata/vm.yaml: user data with
// write_files and runcmd), GUEST_CLOUDINIT=handwritten (the reference cloud-init in
// handwritten.ts instead of the engine's, to check the guest mechanics alone),
// GUEST_CONTROL=0 (no control boot without the injection), GUEST_OOPS_RETRIES (fresh boots of a
// guest whose kernel oopsed, default 1). See docs/guests.md.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootGuest, GuestBootError, STACKS, SUITES, type GuestBoot, type Stack, type Suite } from './boot.js';
import { mutateWithCli } from './engine.js';
import { handwrittenCloudInit } from './handwritten.js';

const NETWORK = 'ovs-net-br1';
const MARKER_PATH = '/var/lib/guest-marker';
const OWN_VM = { manifest: 'test/guests/testdata/vm.yaml', marker: ['user-data-marker', 'user-runcmd'] };
const SEED_VM = { manifest: 'test/testdata/seed/mongodb.yaml', marker: ['mongodb-user-data-ran'] };
// QEMU's user network: each NIC's DHCP offers its router and DNS; its router advertisements
// (from fe80::2) a default route and its DNS (fec0:N::3).
const PRIMARY = { net: '10.0.2.', router: '10.0.2.2', dns: '10.0.2.3', dns6: 'fec0:2::3' };
const SECONDARY = { net: '10.0.3.', router: '10.0.3.2', dns: '10.0.3.3', dns6: 'fec0:3::3' };
const ROUTER6 = 'fe80::2';
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
function isSuite(name: string): name is Suite {
  if ((SUITES as readonly string[]).includes(name)) return true;
  throw new Error(`GUEST_SUITES: unknown suite ${name} (known: ${SUITES.join(', ')})`);
}
const DEBIAN: Record<Suite, string> = { bookworm: 'Debian 12', trixie: 'Debian 13' };
const HANDWRITTEN_MACS: [string, string] = ['02:6b:76:00:00:01', '02:6b:76:00:01:01'];
/** The control boot: the newest NetworkManager guest, without the injection. */
const CONTROL = { name: 'control-trixie-nm', suite: 'trixie', stack: 'nm' } as const;

const stacks = (process.env.GUEST_STACKS?.split(',') ?? [...STACKS]).map((s) => s.trim()).filter(isStack);
const suites = (process.env.GUEST_SUITES?.split(',') ?? [...SUITES]).map((s) => s.trim()).filter(isSuite);
const bootsPerGuest = Number(process.env.GUEST_BOOTS ?? 2);
// Boots are CPU-bound (QEMU's software emulation): three at a time keep both cores busy, and
// each boot's wall time stays far inside its bound even beside make test (as on CI).
const parallel = Number(process.env.GUEST_PARALLEL ?? 3);
const timeoutMs = Number(process.env.GUEST_BOOT_TIMEOUT_MS ?? 1_800_000);
const control = process.env.GUEST_CONTROL !== '0';
// A guest kernel that dies of an oops under QEMU's software emulation (seen once on CI with nine
// guests at once: a fault in slab allocation, in interrupt context) says nothing about the
// cloud-init it was given: that guest boots again from a fresh disk, this many times, and the
// oops's console is kept.
const oopsRetries = Number(process.env.GUEST_OOPS_RETRIES ?? 1);
const source = process.env.GUEST_CLOUDINIT === 'handwritten' ? 'handwritten' : 'engine';
const logDir = join(process.env.RESULTS_DIR ?? join(process.cwd(), '.test-results'), 'guests');

type Settled = { ok: true; boots: GuestBoot[] } | { ok: false; error: unknown };

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
  suite: Suite;
  stack: Stack;
  boots: number;
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
      waiters.get(job.name)?.(await bootJob(job));
    }
  };
  for (let i = 0; i < Math.max(1, limit); i++) void worker();
  return results;
}

/** Boots one job's guest; a kernel oops boots it again from a fresh disk, up to oopsRetries times. */
async function bootJob(job: Job): Promise<Settled> {
  for (let attempt = 0; ; attempt++) {
    try {
      const guest = await job.input;
      const { suite, stack, boots: count } = job;
      const boots = await bootGuest({
        suite,
        stack,
        boots: count,
        ...guest,
        markerPath: MARKER_PATH,
        timeoutMs,
      });
      return { ok: true, boots };
    } catch (error) {
      if (!(error instanceof GuestBootError && error.kernelOops && attempt < oopsRetries)) {
        return { ok: false, error };
      }
      keepOopsLog(job.name, attempt + 1, error);
    }
  }
}

/** The console of a boot whose kernel oopsed, kept beside the retry's logs and named in the output. */
function keepOopsLog(name: string, attempt: number, error: GuestBootError): void {
  mkdirSync(logDir, { recursive: true });
  const file = join(logDir, `${name}.oops${attempt}.console.log`);
  writeFileSync(file, error.serialLog);
  const boot = error.earlier.length + 1;
  console.log(
    `      ${name}: the guest kernel oopsed on boot ${boot} (${file}); booting the guest again from a fresh disk`,
  );
}

async function settledBoots(boots: Map<string, Promise<Settled>>, name: string): Promise<GuestBoot[]> {
  const settled = await (boots.get(name) ?? Promise.reject(new Error(`no boot for ${name}`)));
  saveLogs(name, settled);
  if (!settled.ok) throw settled.error;
  return settled.boots;
}

/** `<name>.boot<N>.console.log` and `.probe.json` per boot in the results folder. */
function saveLogs(name: string, settled: Settled): void {
  mkdirSync(logDir, { recursive: true });
  const error = settled.ok ? undefined : settled.error;
  const boots = settled.ok ? settled.boots : error instanceof GuestBootError ? error.earlier : [];
  boots.forEach(({ serialLog, ...probe }, i) => {
    writeFileSync(join(logDir, `${name}.boot${i + 1}.console.log`), serialLog);
    writeFileSync(join(logDir, `${name}.boot${i + 1}.probe.json`), JSON.stringify(probe, null, 2) + '\n');
  });
  if (error !== undefined) {
    const log = error instanceof GuestBootError ? error.serialLog : String(error);
    writeFileSync(join(logDir, `${name}.boot${boots.length + 1}.console.log`), log);
  }
}

/** What `cloud-init status --long` lists under `key:` (`[]`/`{}` on the same line: nothing). */
function listedAfter(status: string, key: string): string[] {
  const lines = status.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`${key}:`));
  if (at < 0) return [];
  const rest = lines[at]!.slice(key.length + 1).trim();
  if (rest === '[]' || rest === '{}') return [];
  const items = [];
  for (const line of lines.slice(at + 1)) {
    if (!/^\s/.test(line) && !/^[A-Z]+:$/.test(line)) break;
    items.push(line.trim());
  }
  return rest ? [rest, ...items] : items;
}

/** Every way out of the default routes, as sorted `via dev` strings (a multipath route counts each hop). */
function defaultHops(routes: GuestBoot['routes']): string[] {
  const hops = routes.filter((r) => r.dst === 'default').flatMap((r) => r.nexthops);
  return [...new Set(hops.map((h) => `${h.via ?? '-'} ${h.dev ?? '-'}`))].sort();
}

function nicByMac(boot: GuestBoot, mac: string): string {
  return (
    Object.entries(boot.macs).find(([, m]) => m === mac.toLowerCase())?.[0] ?? `<no NIC with MAC ${mac}>`
  );
}

describe(`guest boots under QEMU (cloud-init from the ${source}, ${bootsPerGuest} boots each)`, function () {
  let boots: Map<string, Promise<Settled>>;
  let input: Promise<GuestInput>;
  const guests = suites.flatMap((suite) =>
    stacks.map((stack) => ({ name: `${suite}-${stack}`, suite, stack })),
  );

  before(function () {
    input = guestInput();
    input.catch(() => undefined); // reported by every guest's before hook
    const jobs: Job[] = guests.map((g) => ({ ...g, boots: bootsPerGuest, input }));
    if (control) jobs.push({ ...CONTROL, boots: 1, input: uninjectedInput() });
    boots = bootAll(jobs, parallel);
  });

  for (const { name, suite, stack } of guests) {
    for (let n = 1; n <= bootsPerGuest; n++) {
      describe(`${DEBIAN[suite]} ${stack} guest, boot ${n}${n > 1 ? ' (same disk, same instance)' : ''}`, function () {
        let boot: GuestBoot;
        let macs: [string, string];
        let marker: string[];
        let eth0: string;
        let eth1: string;

        before(async function () {
          const all = await settledBoots(boots, name);
          boot = all[n - 1]!;
          ({ macs, marker } = await input);
          eth0 = nicByMac(boot, macs[0]);
          eth1 = nicByMac(boot, macs[1]);
          console.log(
            `      ${name} boot ${n}: ${Math.round(boot.durationMs / 1000)} s; ` +
              `${eth0}=${macs[0]} ${eth1}=${macs[1]}\n` +
              boot.routes.map((r) => `        route ${r.raw}\n`).join('') +
              boot.routes6
                .filter((r) => r.dst === 'default')
                .map((r) => `        route -6 ${r.raw}\n`)
                .join('') +
              boot.nameservers.map((ns) => `        nameserver ${ns}\n`).join('') +
              (boot.nmActive ? `        nm active: ${boot.nmActive.split('\n').join(', ')}\n` : '') +
              (boot.networkdFiles ? `        networkd: ${boot.networkdFiles.split('\n').join(', ')}\n` : ''),
          );
        });

        it(`is boot ${n} of the disk`, function () {
          assert.equal(boot.probeRuns, n, 'the probe counts its runs on the disk');
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

        it('has one IPv4 default route: via eth0 (10.0.2.2), none via eth1', function () {
          const table = boot.routes.map((r) => r.raw).join('\n');
          assert.deepEqual(defaultHops(boot.routes), [`${PRIMARY.router} ${eth0}`], table);
          const viaEth1 = boot.routes.flatMap((r) => r.nexthops).filter((h) => h.via === SECONDARY.router);
          assert.deepEqual(viaEth1, [], `a route via eth1's router:\n${table}`);
        });

        it('has one IPv6 default route: via eth0 (fe80::2), none from router advertisements on eth1', function () {
          const table = boot.routes6.map((r) => r.raw).join('\n');
          assert.deepEqual(defaultHops(boot.routes6), [`${ROUTER6} ${eth0}`], table);
        });

        it("resolves with eth0's DNS (10.0.2.3) and never eth1's (10.0.3.3, fec0:3::3), per link too", function () {
          assert.ok(boot.nameservers.includes(PRIMARY.dns), `resolv.conf:\n${boot.resolvConf}`);
          for (const server of [SECONDARY.dns, SECONDARY.dns6]) {
            assert.ok(!boot.nameservers.includes(server), `resolv.conf:\n${boot.resolvConf}`);
            assert.ok(!boot.resolvectl.includes(server), `resolvectl dns:\n${boot.resolvectl}`);
            assert.ok(!boot.nmDns.includes(server), `nmcli device show:\n${boot.nmDns}`);
          }
        });

        it(
          n === 1
            ? "runs the user's own user data (the marker file it writes)"
            : "keeps what the user's user data wrote, and does not run it again",
          function () {
            assert.ok(boot.marker.present, `${MARKER_PATH} is missing`);
            assert.deepEqual(boot.marker.content.split('\n').filter(Boolean), marker);
            if (n > 1) assert.ok(boot.marker.beforeThisBoot, `${MARKER_PATH} was written during boot ${n}`);
          },
        );

        if (stack === 'nm') {
          it("guards every NetworkManager profile for eth1, cloud-init's too (a fallback is safe)", function () {
            const forEth1 = boot.nmProfiles.filter((p) => p.interfaceName === eth1 || p.mac === macs[1]);
            const table = JSON.stringify(boot.nmProfiles, null, 1);
            assert.ok(forEth1.length > 0, `no profile for ${eth1}: ${table}`);
            assert.deepEqual(
              forEth1.filter((p) => !p.guarded).map((p) => p.id),
              [],
              table,
            );
          });
        }

        it(`is managed by its own network stack alone (${stack})`, function () {
          const active = Object.entries(boot.services)
            .filter(([, state]) => state === 'active')
            .map(([unit]) => unit)
            .sort();
          assert.deepEqual(active, STACK_SERVICES[stack]);
        });

        it('has cloud-init done without errors or warnings', function () {
          const status = boot.cloudInitStatus;
          assert.match(status, /^status: done$/m, status);
          // cloud-init 23.4+ always prints `errors: []` and `recoverable_errors: {}` (warnings);
          // 22.4 prints an errors line only when there are some.
          assert.deepEqual(listedAfter(status, 'errors'), [], status);
          assert.deepEqual(listedAfter(status, 'recoverable_errors'), [], status);
        });
      });
    }
  }

  if (control) {
    // Proves the setup reproduces the hazard, so the passing checks above mean something:
    // without the injection NetworkManager gives eth1 a profile of its own ("Wired
    // connection 2") whose DHCP lease brings a default route and DNS.
    describe(`control: ${DEBIAN[CONTROL.suite]} nm guest without the injection`, function () {
      let boot: GuestBoot;
      let eth1: string;
      before(async function () {
        boot = (await settledBoots(boots, CONTROL.name))[0]!;
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
      suite: SUITES[0],
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
