// A checked view of the parts of a VirtualMachine the injector touches: reading validates
// shapes (and throws InvalidObjectError with the field path). The engine reads the view of its
// own deep copy of the VM and edits that copy in place (objectAt/listAt create what is missing).
import { quoted } from './annotations.js';
import { InvalidObjectError } from './types.js';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface Named extends Obj {
  name: string;
}

function objAt(parent: Obj, key: string, path: string, required: boolean): Obj | undefined {
  const v = parent[key];
  if (v === undefined || v === null) {
    if (required) throw new InvalidObjectError(`${path} is missing`);
    return undefined;
  }
  if (!isObj(v)) throw new InvalidObjectError(`${path} must be an object`);
  return v;
}

function namedList(parent: Obj | undefined, key: string, path: string): Named[] {
  const v = parent?.[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidObjectError(`${path} must be a list`);
  for (let i = 0; i < v.length; i++) {
    const item: unknown = v[i];
    if (!isObj(item) || typeof item['name'] !== 'string') {
      throw new InvalidObjectError(`${path}[${i}] must be an object with a string name`);
    }
  }
  return v as Named[];
}

function stringMap(parent: Obj | undefined, key: string, path: string): Record<string, string> {
  const v = parent?.[key];
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new InvalidObjectError(`${path} must be an object`);
  for (const k in v) {
    if (typeof v[k] !== 'string') throw new InvalidObjectError(`${path}[${quoted(k)}] must be a string`);
  }
  return v as Record<string, string>;
}

/** The VM as read: every field the injector looks at, validated. */
export interface VmView {
  namespace: string;
  name: string;
  generateName: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  networks: Named[];
  interfaces: Named[];
  disks: Named[];
  volumes: Named[];
  autoattachPodInterface: boolean;
}

/** A field's value for a message: strings quoted and cut, anything else by its type. */
function describe(v: unknown): string {
  return typeof v === 'string' ? quoted(v) : v === undefined ? 'nothing' : typeof v;
}

export function readVm(input: unknown): VmView {
  if (!isObj(input)) throw new InvalidObjectError('the object is not a JSON object');
  if (
    input['kind'] !== 'VirtualMachine' ||
    typeof input['apiVersion'] !== 'string' ||
    !input['apiVersion'].startsWith('kubevirt.io/')
  ) {
    throw new InvalidObjectError(
      `expected a kubevirt.io VirtualMachine, got ${describe(input['apiVersion'])} ${describe(input['kind'])}`,
    );
  }
  const metadata = objAt(input, 'metadata', 'metadata', false);
  const spec = objAt(input, 'spec', 'spec', true)!;
  const template = objAt(spec, 'template', 'spec.template', true)!;
  const tspec = objAt(template, 'spec', 'spec.template.spec', true)!;
  const domain = objAt(tspec, 'domain', 'spec.template.spec.domain', true)!;
  const devices = objAt(domain, 'devices', 'spec.template.spec.domain.devices', false);
  const str = (k: string): string => {
    const v = metadata?.[k];
    if (v !== undefined && typeof v !== 'string')
      throw new InvalidObjectError(`metadata.${k} must be a string`);
    return v ?? '';
  };
  const autoattach = devices?.['autoattachPodInterface'];
  return {
    namespace: str('namespace'),
    name: str('name'),
    generateName: str('generateName'),
    labels: stringMap(metadata, 'labels', 'metadata.labels'),
    annotations: stringMap(metadata, 'annotations', 'metadata.annotations'),
    networks: namedList(tspec, 'networks', 'spec.template.spec.networks'),
    interfaces: namedList(devices, 'interfaces', 'spec.template.spec.domain.devices.interfaces'),
    disks: namedList(devices, 'disks', 'spec.template.spec.domain.devices.disks'),
    volumes: namedList(tspec, 'volumes', 'spec.template.spec.volumes'),
    autoattachPodInterface: autoattach !== false,
  };
}

/** The object at `path` below `root`, created (as an empty object) where missing. */
export function objectAt(root: Obj, path: readonly string[]): Obj {
  let node = root;
  for (const key of path) {
    const child = node[key];
    if (isObj(child)) node = child;
    else node = node[key] = {};
  }
  return node;
}

/** The list at `path` below `root`, created (empty) where missing. */
export function listAt(root: Obj, path: readonly string[]): unknown[] {
  const parent = objectAt(root, path.slice(0, -1));
  const key = path[path.length - 1]!;
  const list = parent[key];
  if (Array.isArray(list)) return list;
  return (parent[key] = []);
}

export const Paths = {
  annotations: ['metadata', 'annotations'],
  tspec: ['spec', 'template', 'spec'],
  networks: ['spec', 'template', 'spec', 'networks'],
  interfaces: ['spec', 'template', 'spec', 'domain', 'devices', 'interfaces'],
  disks: ['spec', 'template', 'spec', 'domain', 'devices', 'disks'],
  volumes: ['spec', 'template', 'spec', 'volumes'],
} as const;
