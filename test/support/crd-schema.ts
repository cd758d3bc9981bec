// What the apiserver would prune or reject: walks an object against a CRD version's structural
// schema (properties, items, additionalProperties, x-kubernetes-preserve-unknown-fields, types).
type Obj = Record<string, unknown>;

export interface SchemaProblem {
  path: string;
  problem: string;
}

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function check(value: unknown, schema: Obj, path: string, out: SchemaProblem[]): void {
  if (schema['x-kubernetes-int-or-string'] === true) {
    if (!['integer', 'string'].includes(typeOf(value))) out.push({ path, problem: `expected int-or-string` });
    return;
  }
  const type = schema['type'] as string | undefined;
  const actual = typeOf(value);
  if (type && !(type === actual || (type === 'number' && actual === 'integer'))) {
    if (!(value === null && schema['nullable'] === true))
      out.push({ path, problem: `expected ${type}, got ${actual}` });
    return;
  }
  if (actual === 'object') {
    if (schema['x-kubernetes-preserve-unknown-fields'] === true && !schema['properties']) return;
    const props = (schema['properties'] as Record<string, Obj> | undefined) ?? {};
    const additional = schema['additionalProperties'];
    for (const [k, v] of Object.entries(value as Obj)) {
      const sub = props[k] ?? (typeof additional === 'object' ? (additional as Obj) : undefined);
      if (sub) check(v, sub, `${path}.${k}`, out);
      else if (additional !== true && schema['x-kubernetes-preserve-unknown-fields'] !== true) {
        out.push({ path: `${path}.${k}`, problem: 'unknown field: the apiserver prunes it' });
      }
    }
    for (const req of (schema['required'] as string[] | undefined) ?? []) {
      if (!(req in (value as Obj))) out.push({ path: `${path}.${req}`, problem: 'required field missing' });
    }
  } else if (actual === 'array' && schema['items']) {
    (value as unknown[]).forEach((item, i) => check(item, schema['items'] as Obj, `${path}[${i}]`, out));
  }
}

/** Problems of `obj` against `crd` (an apiextensions.k8s.io/v1 CRD) at its apiVersion's version. */
export function schemaProblems(crd: Obj, obj: Obj): SchemaProblem[] {
  const version = String(obj['apiVersion']).split('/')[1];
  const versions = ((crd['spec'] as Obj)['versions'] as Obj[]) ?? [];
  const v = versions.find((x) => x['name'] === version);
  if (!v) return [{ path: 'apiVersion', problem: `version ${version} not served` }];
  const schema = (v['schema'] as Obj)['openAPIV3Schema'] as Obj;
  const out: SchemaProblem[] = [];
  // metadata is ObjectMeta, validated by the apiserver itself, not by the CRD schema.
  const { metadata: _metadata, ...rest } = obj;
  check(rest, { ...schema, required: [] }, '', out);
  return out;
}
