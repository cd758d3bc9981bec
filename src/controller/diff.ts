// Pure comparison of a desired object with the stored one: what to send, if anything.
// Updates start from the stored object and overwrite only the fields we own, so fields
// set by others (and defaults the apiserver filled in) survive a replace.
import { ANN_NOT_READY_SINCE } from './types.js';
import type { Endpoints, EndpointSlice, ObjectMeta, Service } from './types.js';

type Managed = Service | EndpointSlice | Endpoints;

function stable(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

function ownedMeta(desired: ObjectMeta, stored: ObjectMeta): ObjectMeta {
  const labels = { ...(stored.labels ?? {}), ...(desired.labels ?? {}) };
  const annotations = { ...(stored.annotations ?? {}) };
  // The not-ready marker is ours: present exactly when desired says so.
  delete annotations[ANN_NOT_READY_SINCE];
  Object.assign(annotations, desired.annotations ?? {});
  return {
    ...stored,
    labels,
    annotations,
    ownerReferences: desired.ownerReferences ?? [],
  };
}

function normalizePorts(ports: unknown): unknown {
  return ((ports as { name?: string; port?: number; protocol?: string }[] | undefined) ?? []).map((p) => ({
    name: p.name ?? '',
    port: p.port,
    protocol: p.protocol ?? 'TCP',
  }));
}

/** The stored object with our fields replaced by the desired ones. */
export function merged<T extends Managed>(stored: T, desired: T): T {
  const meta = ownedMeta(desired.metadata, stored.metadata);
  if ((desired.kind ?? stored.kind) === 'EndpointSlice') {
    const d = desired as EndpointSlice;
    return { ...stored, metadata: meta, endpoints: d.endpoints, ports: d.ports } as T;
  }
  if ((desired.kind ?? stored.kind) === 'Endpoints') {
    return { ...stored, metadata: meta, subsets: (desired as Endpoints).subsets } as T;
  }
  const s = stored as Service;
  const d = desired as Service;
  const spec = { ...(s.spec ?? {}), ports: d.spec?.ports ?? [] };
  delete spec.selector;
  return { ...stored, metadata: meta, spec } as T;
}

function projection(obj: Managed): unknown {
  const meta = {
    labels: obj.metadata.labels ?? {},
    notReadySince: obj.metadata.annotations?.[ANN_NOT_READY_SINCE] ?? null,
    owners: (obj.metadata.ownerReferences ?? []).map((r) => ({
      uid: r.uid,
      controller: r.controller === true,
    })),
  };
  if (obj.kind === 'EndpointSlice') {
    const s = obj as EndpointSlice;
    return {
      meta,
      endpoints: (s.endpoints ?? []).map((e) => ({
        addresses: e.addresses,
        ready: e.conditions?.ready ?? null,
        serving: e.conditions?.serving ?? null,
        terminating: e.conditions?.terminating ?? null,
        hostname: e.hostname ?? null,
        nodeName: e.nodeName ?? null,
        target: e.targetRef?.uid ?? null,
      })),
      ports: normalizePorts(s.ports),
    };
  }
  if (obj.kind === 'Endpoints') return { meta, subsets: (obj as Endpoints).subsets ?? [] };
  const svc = obj as Service;
  return {
    meta,
    selector: svc.spec?.selector ?? {},
    ports: normalizePorts(svc.spec?.ports),
  };
}

/** True when writing `merged(stored, desired)` would change something we own. */
export function needsUpdate<T extends Managed>(stored: T, desired: T): boolean {
  const candidate = merged(stored, desired);
  return (
    stable(projection({ ...candidate, kind: desired.kind })) !==
    stable(projection({ ...stored, kind: desired.kind }))
  );
}
