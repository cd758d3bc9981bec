// Boots a Debian guest image (test/guests/build-images.sh) under QEMU with a NoCloud seed
// and reads back what the guest did: the image's probe service prints addresses, routes,
// resolver configuration, NIC MACs, cloud-init's status and a marker file on the second
// serial port, then powers the guest off. `boots: 2` boots the same disk (qcow2 overlay)
// again with the same seed and instance-id, as a VM restarted by its user.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const STACKS = ['nm', 'networkd', 'netplan', 'ifupdown'] as const;
export type Stack = (typeof STACKS)[number];
/** Debian 12 (cloud-init 22.4) and Debian 13 (cloud-init 25.1). */
export const SUITES = ['bookworm', 'trixie'] as const;
export type Suite = (typeof SUITES)[number];

export interface BootOptions {
  suite: Suite;
  stack: Stack;
  /** Boots of the same disk, one after the other (default 1). */
  boots?: number;
  userData: string | Buffer;
  /** NoCloud network-config; without it cloud-init falls back to DHCP on the first NIC */
  networkData?: string | Buffer;
  /** NoCloud meta-data; default: a fresh instance-id and a hostname per stack. */
  metaData?: string;
  /** Guest MACs in QEMU's NIC order: [primary (pod network, 10.0.2.0/24), secondary (10.0.3.0/24)]. */
  macs: [string, string];
  timeoutMs: number;
  /** File the user data writes; the probe prints it. */
  markerPath?: string;
  /** Seconds the probe waits after cloud-init is done, for the network stack to settle. */
  settleSeconds?: number;
  memoryMb?: number;
  /** Folder holding <suite>/<stack>/{rootfs.raw,vmlinuz,initrd.img}; default $GUEST_CACHE or .cache/guests. */
  imageDir?: string;
}

export interface GuestAddress {
  ifname: string;
  address: string;
  prefixLength: number;
}

export interface NextHop {
  via?: string;
  dev?: string;
}

export interface GuestRoute extends NextHop {
  /** `default` or a prefix */
  dst: string;
  /** every way out: the route's own via/dev, or each `nexthop` of a multipath route */
  nexthops: NextHop[];
  raw: string;
}

export interface NmProfile {
  id: string;
  priority: number;
  interfaceName: string;
  /** lower case, '' when the profile matches no MAC */
  mac: string;
  /** never-default and ignore-auto-dns, IPv4 and IPv6 */
  guarded: boolean;
}

export interface GuestBoot {
  addresses: GuestAddress[];
  routes: GuestRoute[];
  routes6: GuestRoute[];
  resolvConf: string;
  nameservers: string[];
  /** `resolvectl dns` where systemd-resolved runs, else empty */
  resolvectl: string;
  /** interface name -> MAC (lower case) */
  macs: Record<string, string>;
  /** the marker file: present, its content, and whether it is older than this boot */
  marker: { present: boolean; content: string; beforeThisBoot: boolean };
  /** how many times the probe ran on this disk, this boot included */
  probeRuns: number;
  /** NetworkManager's active profiles: `name:device` lines (empty elsewhere) */
  nmActive: string;
  /** NetworkManager's ethernet profiles (empty elsewhere) */
  nmProfiles: NmProfile[];
  /** NetworkManager's name servers per link (`nmcli device show` DNS lines; empty elsewhere) */
  nmDns: string;
  /** networkd's .network file per link: `link file` lines (empty elsewhere) */
  networkdFiles: string;
  cloudInitStatus: string;
  /** unit -> `systemctl is-active` */
  services: Record<string, string>;
  journalErrors: string;
  serialLog: string;
  durationMs: number;
}

export class GuestBootError extends Error {
  /** the guest kernel died of an oops (a fault in the kernel or the emulator, not in what the
   * guest was given: a user space that kills init panics differently) */
  readonly kernelOops: boolean;

  constructor(
    message: string,
    readonly serialLog: string,
    /** QEMU's pid (already reaped) */
    readonly pid?: number,
    /** the boots of this disk that finished before this one failed */
    readonly earlier: GuestBoot[] = [],
  ) {
    super(`${message}\n--- last lines of the serial console ---\n${tail(serialLog, 40)}`);
    this.name = 'GuestBootError';
    this.kernelOops = kernelOopsed(serialLog);
  }
}

/** Whether the console shows the guest kernel panicking on an oops (`Fatal exception`, `Fatal
 * exception in interrupt`). With `panic=-1` and `-no-reboot` QEMU then exits cleanly, without
 * probe output. */
export function kernelOopsed(serialLog: string): boolean {
  return /Kernel panic - not syncing: Fatal exception/.test(serialLog);
}

const PROBE_BEGIN = '@@probe:begin@@';
const PROBE_END = '@@probe:end@@';
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Boots one guest (`boots` times, same disk and seed) and returns what its probe read each time;
 * rejects when a boot does not finish in time. */
export async function bootGuest(opts: BootOptions): Promise<GuestBoot[]> {
  const name = `${opts.suite}/${opts.stack}`;
  const images = resolve(
    opts.imageDir ?? process.env.GUEST_CACHE ?? join(process.cwd(), '.cache', 'guests'),
    opts.suite,
    opts.stack,
  );
  for (const file of ['rootfs.raw', 'vmlinuz', 'initrd.img']) {
    if (!existsSync(join(images, file))) {
      throw new Error(`guest image ${join(images, file)} missing: run make guest-images`);
    }
  }
  const work = await mkdtemp(join(tmpdir(), `guest-${opts.suite}-${opts.stack}-`));
  try {
    const overlay = join(work, 'overlay.qcow2');
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      'raw',
      '-b',
      join(images, 'rootfs.raw'),
      overlay,
    ]);
    const seed = await makeSeed(work, opts);
    const boots: GuestBoot[] = [];
    for (let n = 1; n <= (opts.boots ?? 1); n++) {
      const what = n === 1 ? `${name} guest` : `${name} guest (boot ${n})`;
      const consoleLog = join(work, `console.${n}.log`);
      const probeLog = join(work, `probe.${n}.log`);
      const started = Date.now();
      const args = qemuArgs(opts, images, overlay, seed, consoleLog, probeLog);
      const { outcome, pid } = await runQemu(args, opts.timeoutMs);
      const serialLog = await readIfExists(consoleLog);
      const probe = await readIfExists(probeLog);
      if (outcome !== 'exited') {
        const message = `${what} did not power off within ${opts.timeoutMs} ms (killed)`;
        throw new GuestBootError(message, serialLog, pid, boots);
      }
      const sections = parseProbe(probe);
      if (!sections) {
        const why = kernelOopsed(serialLog)
          ? 'its kernel panicked on an oops'
          : 'powered off without probe output';
        throw new GuestBootError(`${what}: ${why}`, serialLog, pid, boots);
      }
      boots.push({ ...interpret(sections), serialLog, durationMs: Date.now() - started });
    }
    return boots;
  } finally {
    if (!process.env.GUEST_KEEP_WORKDIR) await rm(work, { recursive: true, force: true });
  }
}

async function makeSeed(work: string, opts: BootOptions): Promise<string> {
  const dir = join(work, 'seed');
  // one seed for every boot of the disk: the same instance-id, so cloud-init sees a reboot
  const instanceId = `guest-${opts.suite}-${opts.stack}-${Date.now().toString(36)}`;
  const metaData = opts.metaData ?? `instance-id: ${instanceId}\nlocal-hostname: guest-${opts.stack}\n`;
  await run('mkdir', ['-p', dir]);
  await writeFile(join(dir, 'user-data'), opts.userData);
  const files = ['user-data', 'meta-data'];
  if (opts.networkData !== undefined) {
    await writeFile(join(dir, 'network-config'), opts.networkData);
    files.push('network-config');
  }
  await writeFile(join(dir, 'meta-data'), metaData);
  const iso = join(work, 'seed.iso');
  await run('genisoimage', [
    '-quiet',
    '-output',
    iso,
    '-volid',
    'cidata',
    '-joliet',
    '-rock',
    ...files.map((f) => join(dir, f)),
  ]);
  return iso;
}

function qemuArgs(
  opts: BootOptions,
  images: string,
  overlay: string,
  seed: string,
  consoleLog: string,
  probeLog: string,
): string[] {
  const cmdline = [
    'root=/dev/vda',
    'rw',
    'console=ttyS0,115200',
    'panic=-1',
    // The kernel checks at boot that the IO-APIC timer ticks within a few milliseconds; an
    // emulated CPU that loses the host's cores for that long fails the check and panics ("IO-APIC
    // + timer doesn't work", seen on CI with guests beside make test). QEMU's timer works: skip
    // the check, as cloud images for virtual machines do.
    'no_timer_check',
    `guest.marker=${opts.markerPath ?? '/var/lib/guest-marker'}`,
    `guest.settle=${opts.settleSeconds ?? 10}`,
  ];
  const [primary, secondary] = opts.macs;
  return [
    '-n',
    '10',
    'qemu-system-x86_64',
    '-accel',
    process.env.GUEST_ACCEL ?? 'tcg',
    '-machine',
    'q35',
    '-cpu',
    'qemu64',
    '-smp',
    '1',
    '-m',
    String(opts.memoryMb ?? 512),
    '-nodefaults',
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
    '-kernel',
    join(images, 'vmlinuz'),
    '-initrd',
    join(images, 'initrd.img'),
    '-append',
    cmdline.join(' '),
    '-drive',
    `file=${overlay},format=qcow2,if=virtio`,
    '-drive',
    `file=${seed},format=raw,if=virtio,readonly=on`,
    '-netdev',
    'user,id=n0,net=10.0.2.0/24,ipv6-net=fec0:2::/64',
    '-device',
    `virtio-net-pci,netdev=n0,mac=${primary}`,
    '-netdev',
    'user,id=n1,net=10.0.3.0/24,ipv6-net=fec0:3::/64',
    '-device',
    `virtio-net-pci,netdev=n1,mac=${secondary}`,
    '-serial',
    `file:${consoleLog}`,
    '-serial',
    `file:${probeLog}`,
  ];
}

/** Runs QEMU (under nice) until it exits or the deadline passes; never leaves it running. */
function runQemu(args: string[], timeoutMs: number): Promise<{ outcome: 'exited' | 'timeout'; pid: number }> {
  installExitHook();
  return new Promise((done, fail) => {
    let stderr = '';
    const child = spawn('nice', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    running.add(child);
    child.stderr?.on('data', (chunk: Buffer) => (stderr = tail(stderr + chunk.toString(), 20)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      fail(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const pid = child.pid ?? -1;
      if (timedOut) done({ outcome: 'timeout', pid });
      else if (code === 0) done({ outcome: 'exited', pid });
      else fail(new Error(`qemu exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const child of running) child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

async function readIfExists(path: string): Promise<string> {
  // no carriage returns (serial line discipline) nor colour codes (systemd tools)
  // eslint-disable-next-line no-control-regex
  const noise = /\r|\x1b\[[0-9;]*m/g;
  return existsSync(path) ? (await readFile(path, 'utf8')).replace(noise, '') : '';
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Splits the probe output into its sections; undefined when the probe did not finish. */
export function parseProbe(text: string): Map<string, string> | undefined {
  const clean = text.replace(/\r/g, '');
  const begin = clean.lastIndexOf(PROBE_BEGIN);
  const end = clean.indexOf(PROBE_END, begin);
  if (begin < 0 || end < 0) return undefined;
  const sections = new Map<string, string>();
  let name = '';
  let lines: string[] = [];
  for (const line of clean.slice(begin + PROBE_BEGIN.length, end).split('\n')) {
    const header = /^@@probe:([a-z0-9-]+)@@$/.exec(line.trim());
    if (header?.[1]) {
      if (name) sections.set(name, lines.join('\n').trim());
      name = header[1];
      lines = [];
    } else if (name) lines.push(line);
  }
  if (name) sections.set(name, lines.join('\n').trim());
  return sections;
}

function interpret(sections: Map<string, string>): Omit<GuestBoot, 'serialLog' | 'durationMs'> {
  const get = (name: string): string => sections.get(name) ?? '';
  const markerLines = get('marker').split('\n');
  const [markerTime, bootTime] = get('marker-age').split(/\s+/).map(Number);
  return {
    addresses: parseAddresses(get('addr4')),
    routes: parseRoutes(get('route4')),
    routes6: parseRoutes(get('route6')),
    resolvConf: get('resolv'),
    nameservers: [...get('resolv').matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1] ?? ''),
    resolvectl: get('resolvectl'),
    macs: Object.fromEntries(
      get('links')
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((f): f is [string, string] => f.length === 2)
        .map(([dev, mac]) => [dev, mac.toLowerCase()]),
    ),
    marker: {
      present: markerLines[0] === 'present',
      content: markerLines.slice(1).join('\n'),
      beforeThisBoot: markerTime !== undefined && bootTime !== undefined && markerTime < bootTime,
    },
    probeRuns: Number(get('probe-runs')) || 0,
    nmActive: get('nm-active'),
    nmDns: get('nm-dns'),
    nmProfiles: get('nm-profiles')
      .split('\n')
      .map((line) => line.split('|'))
      .filter((f) => f.length === 8)
      .map(([id, priority, interfaceName, mac, ...guard]) => ({
        id: id ?? '',
        priority: Number(priority),
        interfaceName: interfaceName ?? '',
        mac: (mac ?? '').toLowerCase(),
        guarded: guard.every((v) => v === 'yes'),
      })),
    networkdFiles: get('networkd-files'),
    cloudInitStatus: get('cloudinit'),
    services: Object.fromEntries(
      get('stack')
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((f) => f.length >= 1 && f[0])
        .map((f) => [f[0] ?? '', f[1] ?? '']),
    ),
    journalErrors: get('journal-errors'),
  };
}

/** `ip -4 -o addr` lines: `2: eth0    inet 10.0.2.15/24 brd ... scope global eth0` */
export function parseAddresses(text: string): GuestAddress[] {
  const out: GuestAddress[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet6?\s+([0-9a-f.:]+)\/(\d+)/.exec(line.trim());
    if (m?.[1] && m[2] && m[3]) out.push({ ifname: m[1], address: m[2], prefixLength: Number(m[3]) });
  }
  return out;
}

/** `ip route` lines: `default via 10.0.2.2 dev eth0 proto dhcp src 10.0.2.15 metric 100`; the
 * `nexthop via ... dev ...` lines of a multipath route belong to the route above them. */
export function parseRoutes(text: string): GuestRoute[] {
  const routes: GuestRoute[] = [];
  for (const line of text.split('\n')) {
    const raw = line.trim();
    if (!raw) continue;
    const words = raw.split(/\s+/);
    const after = (key: string): string | undefined => {
      const i = words.indexOf(key);
      return i >= 0 ? words[i + 1] : undefined;
    };
    const hop: NextHop = {};
    const via = after('via');
    const dev = after('dev');
    if (via) hop.via = via;
    if (dev) hop.dev = dev;
    const last = routes[routes.length - 1];
    if (words[0] === 'nexthop' && last) {
      last.raw += ` ${raw}`;
      last.nexthops.push(hop);
    } else {
      routes.push({ dst: words[0] ?? '', ...hop, nexthops: hop.dev || hop.via ? [hop] : [], raw });
    }
  }
  return routes;
}
