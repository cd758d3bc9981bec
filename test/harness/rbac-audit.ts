// RBAC as shipped against what our processes asked for: the grants a ServiceAccount gets from
// the rendered manifests (its bindings' roles, one verb on one resource each), and the requests
// the apiserver's audit log recorded for it, with the authorizer's decision.
import { readFileSync } from 'node:fs';

import type { Manifest } from './install.js';

export interface Grant {
  group: string;
  resource: string;
  verb: string;
  /** Set for a Role's grant: only in this namespace. */
  namespace?: string;
  /** resourceNames, when the rule has them. */
  names?: string[];
  /** The role that grants it, for messages. */
  role: string;
}

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

interface Binding extends Manifest {
  roleRef: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** Every (group, resource, verb) the ServiceAccount `namespace/name` is granted by `docs`. */
export function grantsOf(docs: Manifest[], namespace: string, name: string): Grant[] {
  const grants: Grant[] = [];
  const bindings = docs.filter(
    (d): d is Binding =>
      (d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding') &&
      ((d as Binding).subjects ?? []).some(
        (s) =>
          s.kind === 'ServiceAccount' &&
          s.name === name &&
          (s.namespace ?? d.metadata.namespace) === namespace,
      ),
  );
  for (const b of bindings) {
    const role = docs.find(
      (d) =>
        d.kind === b.roleRef.kind &&
        d.metadata.name === b.roleRef.name &&
        (d.kind === 'ClusterRole' || d.metadata.namespace === b.metadata.namespace),
    ) as (Manifest & { rules?: Rule[] }) | undefined;
    if (!role) throw new Error(`${b.kind} ${b.metadata.name} refers to a missing ${b.roleRef.kind}`);
    for (const rule of role.rules ?? []) {
      for (const group of rule.apiGroups ?? [])
        for (const resource of rule.resources ?? [])
          for (const verb of rule.verbs ?? []) {
            const g: Grant = { group, resource, verb, role: `${role.kind}/${role.metadata.name}` };
            if (b.kind === 'RoleBinding') g.namespace = b.metadata.namespace;
            if (rule.resourceNames?.length) g.names = rule.resourceNames;
            grants.push(g);
          }
    }
  }
  return grants;
}

export interface AuditRecord {
  user: string;
  userAgent: string;
  verb: string;
  group: string;
  /** resource, or resource/subresource. */
  resource: string;
  namespace?: string;
  name?: string;
  decision: string;
  code?: number;
  uri: string;
}

interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user?: { username?: string };
  userAgent?: string;
  objectRef?: {
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
  };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}

/** The audit log's resource requests made by `user` (one record per request). */
export function readAudit(path: string, user: string): AuditRecord[] {
  const records = new Map<string, AuditRecord>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as AuditEvent & { auditID: string };
    if (e.user?.username !== user || !e.objectRef?.resource) continue;
    const ref = e.objectRef;
    const record: AuditRecord = {
      user,
      userAgent: e.userAgent ?? '',
      verb: e.verb,
      group: ref.apiGroup ?? '',
      resource: ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource!,
      decision: e.annotations?.['authorization.k8s.io/decision'] ?? '',
      uri: e.requestURI,
    };
    if (ref.namespace) record.namespace = ref.namespace;
    if (ref.name) record.name = ref.name;
    if (e.responseStatus?.code !== undefined) record.code = e.responseStatus.code;
    // A watch logs ResponseStarted and later ResponseComplete: one request.
    records.set(e.auditID, { ...records.get(e.auditID), ...record });
  }
  return [...records.values()];
}

export function covers(grant: Grant, r: AuditRecord): boolean {
  return (
    grant.group === r.group &&
    grant.resource === r.resource &&
    grant.verb === r.verb &&
    (grant.namespace === undefined || grant.namespace === r.namespace) &&
    (grant.names === undefined || (r.name !== undefined && grant.names.includes(r.name)))
  );
}

export const describeGrant = (g: Grant): string =>
  `${g.verb} ${g.group || 'core'}/${g.resource}${g.names ? ` [${g.names.join(',')}]` : ''}${g.namespace ? ` in ${g.namespace}` : ''} (${g.role})`;

export const describeRecord = (r: AuditRecord): string =>
  `${r.verb} ${r.group || 'core'}/${r.resource}${r.name ? `/${r.name}` : ''}${r.namespace ? ` in ${r.namespace}` : ''} -> ${r.code ?? '?'} ${r.decision}`;
