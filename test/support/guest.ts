// Guest-side helpers: pull the cloud-init data out of a mutated VM, and run cloud-init's own
// tools on it (the Debian package's `cloud-init` command and its Python library).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

const run = promisify(execFile);
/** Debian's python3, which has the cloudinit package (a pyenv python3 on PATH may not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

type Obj = Record<string, unknown>;

export interface GuestData {
  userData?: Buffer;
  networkData?: string;
  /** MAC of the injected (secondary) interface and of the first (primary) interface. */
  secondaryMac: string;
  primaryMac?: string;
  kind: 'cloudInitNoCloud' | 'cloudInitConfigDrive';
}

function tspec(vm: Obj): Obj {
  return ((vm['spec'] as Obj)['template'] as Obj)['spec'] as Obj;
}

export function interfacesOf(vm: Obj): Obj[] {
  const devices = ((tspec(vm)['domain'] as Obj)['devices'] as Obj | undefined) ?? {};
  return (devices['interfaces'] as Obj[] | undefined) ?? [];
}

/** The cloud-init data and MACs of a mutated VM (the injected interface is named by the status annotation). */
export function guestData(vm: Obj): GuestData {
  const annotations = ((vm['metadata'] as Obj)['annotations'] as Record<string, string>) ?? {};
  const name = annotations['kubevirt-net-injector.io/interface'];
  const ifaces = interfacesOf(vm);
  const secondary = ifaces.find((i) => i['name'] === name);
  if (!secondary) throw new Error(`no injected interface ${String(name)}`);
  const primary = ifaces.find((i) => i !== secondary);
  const volumes = (tspec(vm)['volumes'] as Obj[] | undefined) ?? [];
  for (const v of volumes) {
    for (const kind of ['cloudInitNoCloud', 'cloudInitConfigDrive'] as const) {
      const s = v[kind] as Obj | undefined;
      if (!s) continue;
      const decode = (plain: string, b64: string): Buffer | undefined =>
        typeof s[plain] === 'string'
          ? Buffer.from(s[plain] as string, 'utf8')
          : typeof s[b64] === 'string'
            ? Buffer.from(s[b64] as string, 'base64')
            : undefined;
      const net = decode('networkData', 'networkDataBase64');
      return {
        kind,
        secondaryMac: String(secondary['macAddress']).toLowerCase(),
        ...(primary?.['macAddress'] ? { primaryMac: String(primary['macAddress']).toLowerCase() } : {}),
        ...(decode('userData', 'userDataBase64') ? { userData: decode('userData', 'userDataBase64')! } : {}),
        ...(net ? { networkData: net.toString('utf8') } : {}),
      };
    }
  }
  throw new Error('the VM has no cloud-init volume');
}

export function gunzipIfNeeded(bytes: Buffer): Buffer {
  return bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
}

export interface ProbeResult {
  parts: Array<{ type: string; payload: string }>;
  cloudConfig: Obj;
}

/** What cloud-init's user-data processor makes of `bytes` (test/cloudinit/userdata_probe.py). */
export async function probeUserData(bytes: Buffer): Promise<ProbeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kni-ud-'));
  try {
    const file = join(dir, 'user-data');
    writeFileSync(file, bytes);
    const { stdout } = await run(SYSTEM_PYTHON, ['test/cloudinit/userdata_probe.py', file], {
      maxBuffer: 1 << 24,
    });
    return JSON.parse(stdout) as ProbeResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `cloud-init schema -c` of that cloud-init: resolves with its output when valid, rejects with it when not. */
export async function schemaCheck(cloudConfig: string, ci: CloudInit = CLOUDINITS[0]!): Promise<string> {
  const dir = mkdtempSync(join(ci.root === undefined ? tmpdir() : join(ci.root, 'tmp'), 'kni-schema-'));
  try {
    const file = join(dir, 'cloud-config.yaml');
    writeFileSync(file, cloudConfig);
    const seen = ci.root === undefined ? file : `/${relative(ci.root, file)}`;
    const { stdout, stderr } = await run(...inRoot(ci, 'cloud-init', ['schema', '-c', seen]));
    return stdout + stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Renderer {
  renderer: 'netplan' | 'networkd' | 'network-manager' | 'sysconfig' | 'eni';
  distro: string;
}

export const RENDERERS: Renderer[] = [
  { renderer: 'netplan', distro: 'ubuntu' },
  { renderer: 'networkd', distro: 'debian' },
  { renderer: 'network-manager', distro: 'fedora' },
  { renderer: 'sysconfig', distro: 'rhel' },
  { renderer: 'eni', distro: 'debian' },
];

export interface GuestFile {
  content: string;
  mode?: string;
}

/** A cloud-init to render with: this machine's (Debian 12: 22.4), or the one in a Debian tree
 * that `chroot` runs (test/guests/build-images.sh <suite>/cloudinit-root). */
export interface CloudInit {
  name: string;
  /** the tree to chroot into; undefined: this machine's */
  root?: string;
}

export const CLOUDINITS: CloudInit[] = [
  { name: 'Debian 12 (this machine)' },
  {
    name: 'Debian 13',
    root: resolve(
      process.env.GUEST_CACHE ?? join(process.cwd(), '.cache', 'guests'),
      'trixie',
      'cloudinit-root',
    ),
  },
];

/** `cloud-init --version` of that cloud-init; rejects when its tree has not been built. */
export async function cloudInitVersion(ci: CloudInit): Promise<string> {
  if (ci.root !== undefined && !existsSync(join(ci.root, 'usr/bin/cloud-init'))) {
    throw new Error(`${ci.root} missing: run make cloudinit-roots (root, debootstrap)`);
  }
  const { stdout, stderr } = await run(...inRoot(ci, 'cloud-init', ['--version']));
  return (stdout + stderr).trim().split(/\s+/).pop() ?? '';
}

function inRoot(ci: CloudInit, command: string, args: string[]): [string, string[]] {
  return ci.root === undefined ? [command, args] : ['chroot', [ci.root, command, ...args]];
}

/** Files rendered by `cloud-init devel net-convert`, keyed by absolute guest path. */
export async function netConvert(
  networkData: string,
  r: Renderer,
  ci: CloudInit = CLOUDINITS[0]!,
): Promise<Map<string, GuestFile>> {
  // inside the tree when chrooted: the paths cloud-init sees are under its /tmp
  const base = ci.root === undefined ? tmpdir() : join(ci.root, 'tmp');
  const dir = mkdtempSync(join(base, `kni-net-${r.renderer}-`));
  const seen = (path: string): string => (ci.root === undefined ? path : `/${relative(ci.root, path)}`);
  try {
    writeFileSync(join(dir, 'network-config.yaml'), networkData);
    const out = join(dir, 'out');
    await run(
      ...inRoot(ci, 'cloud-init', [
        'devel',
        'net-convert',
        '-p',
        seen(join(dir, 'network-config.yaml')),
        '-k',
        'yaml',
        '-D',
        r.distro,
        '-O',
        r.renderer,
        '-d',
        seen(out),
      ]),
    );
    const files = new Map<string, GuestFile>();
    const walk = (d: string): void => {
      for (const entry of readdirSync(d)) {
        const p = join(d, entry);
        if (statSync(p).isDirectory()) walk(p);
        else files.set(`/${relative(out, p)}`, { content: readFileSync(p, 'utf8') });
      }
    };
    walk(out);
    return files;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The guest after first boot's user data: `write_files` entries laid over the rendered files. */
export function overlay(rendered: Map<string, GuestFile>, cloudConfig: Obj): Map<string, GuestFile> {
  const result = new Map(rendered);
  for (const f of (cloudConfig['write_files'] as Obj[] | undefined) ?? []) {
    const path = String(f['path']);
    const before = f['append'] === true ? (result.get(path)?.content ?? '') : '';
    result.set(path, {
      content: before + String(f['content'] ?? ''),
      ...(f['permissions'] ? { mode: String(f['permissions']) } : {}),
    });
  }
  return result;
}

/** key=value lines (ifcfg, keyfile sections flattened as section.key). */
export function parseKeyValues(text: string, sections = false): Map<string, string> {
  const map = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    map.set(
      sections && section ? `${section}.${key}` : key,
      line
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1'),
    );
  }
  return map;
}
