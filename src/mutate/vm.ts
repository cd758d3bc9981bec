// A checked, copy-on-write view of the parts of a VirtualMachine the injector touches. Reading
// validates shapes (and throws InvalidObjectError with the field path); writing copies only
// the objects on the path to a change, so the input stays untouched and unchanged subtrees
// stay shared (which also keeps the JSON Patch diff cheap).
import { InvalidObjectError } from './types.js';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A shallow copy to be written to. Not `{ ...o }`: V8 gives a spread copy that then gains a
 * property a new hidden class every time (one per review, each with its descriptors and enum
 * cache, all left for the major GC; 0.65 against 0.09 µs a copy). But Object.assign sets
 * properties, and an own "__proto__" key (JSON.parse makes one) would set the copy's
 * prototype: such an object is copied with spread, which defines it as a plain property.
 */
export function copyOf(o: Obj): Obj {
  return Object.hasOwn(o, '__proto__') ? { ...o } : Object.assign({}, o);
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
    if (typeof v[k] !== 'string')
      throw new InvalidObjectError(`${path}[${JSON.stringify(k)}] must be a string`);
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

export function readVm(input: unknown): VmView {
  if (!isObj(input)) throw new InvalidObjectError('the object is not a JSON object');
  if (
    input['kind'] !== 'VirtualMachine' ||
    typeof input['apiVersion'] !== 'string' ||
    !input['apiVersion'].startsWith('kubevirt.io/')
  ) {
    throw new InvalidObjectError(
      `expected a kubevirt.io VirtualMachine, got ${String(input['apiVersion'])} ${String(input['kind'])}`,
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

/** Writes through a chain of shallow copies: `draft.at(['spec','template'])` is safe to mutate. */
export class Draft {
  readonly root: Obj;
  private readonly copied = new Set<unknown>();

  constructor(input: Obj) {
    this.root = copyOf(input);
    this.copied.add(this.root);
  }

  /** The object at `path` (its first `depth` keys), copied (created when absent) to be mutated. */
  at(path: readonly string[], depth = path.length): Obj {
    let node = this.root;
    for (let i = 0; i < depth; i++) {
      const key = path[i]!;
      const child = node[key];
      let copy: Obj;
      if (this.copied.has(child)) copy = child as Obj;
      else {
        copy = isObj(child) ? copyOf(child) : {};
        this.copied.add(copy);
        node[key] = copy;
      }
      node = copy;
    }
    return node;
  }

  /** A copied list at `path` (created when absent), its items still shared until replaced. */
  list(path: readonly string[]): unknown[] {
    const parent = this.at(path, path.length - 1);
    const key = path[path.length - 1]!;
    const current = parent[key];
    if (this.copied.has(current)) return current as unknown[];
    const copy = Array.isArray(current) ? [...current] : [];
    this.copied.add(copy);
    parent[key] = copy;
    return copy;
  }

  /**
   * Appends an object built by the caller to the list at `path`. It is the draft's own, so a
   * later write to it is made in place, not on a copy.
   */
  push(path: readonly string[], item: Obj): void {
    this.list(path).push(item);
    this.copied.add(item);
  }

  /** Replaces item `index` of the list at `path` by a copy and returns it for mutation. */
  item(path: readonly string[], index: number): Obj {
    const list = this.list(path);
    const current = list[index];
    if (this.copied.has(current)) return current as Obj;
    const copy = copyOf(current as Obj);
    this.copied.add(copy);
    list[index] = copy;
    return copy;
  }
}

export const Paths = {
  annotations: ['metadata', 'annotations'],
  tspec: ['spec', 'template', 'spec'],
  networks: ['spec', 'template', 'spec', 'networks'],
  interfaces: ['spec', 'template', 'spec', 'domain', 'devices', 'interfaces'],
  disks: ['spec', 'template', 'spec', 'domain', 'devices', 'disks'],
  volumes: ['spec', 'template', 'spec', 'volumes'],
} as const;
