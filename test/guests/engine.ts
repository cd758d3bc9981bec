// Runs the real CLI (`mutate -o yaml`) on a VM manifest and takes from its output what a
// guest would get: the NoCloud user and network data, and the MACs of the pod interface
// and of the injected one.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export interface InjectedGuest {
  userData: Buffer;
  networkData: Buffer;
  /** [pod interface, injected interface] */
  macs: [string, string];
  vmYaml: string;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
const at = (v: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((cur, key) => (isObj(cur) ? cur[key] : undefined), v);

export async function mutateWithCli(cli: string, manifest: string, network: string): Promise<InjectedGuest> {
  const { stdout } = await run(
    process.execPath,
    [cli, 'mutate', '-f', manifest, '--network', network, '-o', 'yaml'],
    {
      maxBuffer: 16 << 20,
    },
  );
  return extractGuest(stdout, network);
}

export function extractGuest(vmYaml: string, network: string): InjectedGuest {
  const vm = parseAllDocuments(vmYaml)
    .map((doc) => doc.toJS() as unknown)
    .find((obj) => at(obj, 'kind') === 'VirtualMachine');
  if (!vm) throw new Error('no VirtualMachine in the CLI output');
  const spec = at(vm, 'spec', 'template', 'spec');
  const noCloud = list(at(spec, 'volumes'))
    .map((v) => v['cloudInitNoCloud'])
    .find(isObj);
  if (!noCloud) throw new Error('the mutated VM has no cloudInitNoCloud volume');
  const userData = inline(noCloud, 'userData');
  const networkData = inline(noCloud, 'networkData');

  const networks = list(at(spec, 'networks'));
  const pod = networks.find((n) => isObj(n['pod']));
  const injected = networks.find((n) => {
    const name = at(n, 'multus', 'networkName');
    return typeof name === 'string' && (name === network || name.endsWith(`/${network}`));
  });
  if (!pod || !injected) throw new Error('the mutated VM lacks the pod network or the injected network');
  const interfaces = list(at(spec, 'domain', 'devices', 'interfaces'));
  const macOf = (net: Obj): string => {
    const iface = interfaces.find((i) => i['name'] === net['name']);
    const mac = iface?.['macAddress'];
    if (typeof mac !== 'string') throw new Error(`interface ${String(net['name'])} has no macAddress`);
    return mac.toLowerCase();
  };
  return { userData, networkData, macs: [macOf(pod), macOf(injected)], vmYaml };
}

/** The bytes the guest reads (base64 data may be gzip: kept as bytes). */
function inline(noCloud: Obj, key: 'userData' | 'networkData'): Buffer {
  const plain = noCloud[key];
  if (typeof plain === 'string') return Buffer.from(plain, 'utf8');
  const b64 = noCloud[`${key}Base64`];
  if (typeof b64 === 'string') return Buffer.from(b64, 'base64');
  throw new Error(`cloudInitNoCloud has neither ${key} nor ${key}Base64`);
}
