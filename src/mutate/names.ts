// Validation of the names we put into a VM spec, and picking names that do not collide.

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isDnsLabel(s: string): boolean {
  return s.length > 0 && s.length <= 63 && DNS_LABEL.test(s);
}

/** A NetworkAttachmentDefinition reference: `name` or `namespace/name`, each a DNS label. */
export function parseNetworkRef(ref: string): { namespace?: string; name: string } | undefined {
  const parts = ref.split('/');
  if (parts.length === 1 && isDnsLabel(parts[0]!)) return { name: parts[0]! };
  if (parts.length === 2 && isDnsLabel(parts[0]!) && isDnsLabel(parts[1]!)) {
    return { namespace: parts[0]!, name: parts[1]! };
  }
  return undefined;
}

/** True when two references name the same NetworkAttachmentDefinition as seen from `namespace`. */
export function sameNetwork(a: string, b: string, namespace: string | undefined): boolean {
  const pa = parseNetworkRef(a.trim());
  const pb = parseNetworkRef(b.trim());
  if (!pa || !pb) return a.trim() === b.trim();
  const nsA = pa.namespace ?? namespace;
  const nsB = pb.namespace ?? namespace;
  return pa.name === pb.name && nsA === nsB;
}

/** `base`, or `base-2`, `base-3`, … : the first that is not in `taken`. */
export function freeName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) {
    const candidate = `${base}-${i}`;
    if (!taken.has(candidate)) return candidate;
  }
}
