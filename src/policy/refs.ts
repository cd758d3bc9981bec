// NetworkAttachmentDefinition references and the patterns policies allow them by (pure).
import { parseNetworkRef } from '../mutate/names.js';

export interface NadRef {
  namespace: string;
  name: string;
}

/** `name` (in `vmNamespace`) or `namespace/name`; undefined when it is neither. */
export function resolveRef(ref: string, vmNamespace: string): NadRef | undefined {
  const parsed = parseNetworkRef(ref.trim());
  return parsed && { namespace: parsed.namespace ?? vmNamespace, name: parsed.name };
}

export function refText(ref: NadRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export function sameRef(a: NadRef, b: NadRef): boolean {
  return a.namespace === b.namespace && a.name === b.name;
}

/**
 * Does `pattern` (`namespace/name`, or `name` for the VM's namespace; `*` matches any run of
 * characters within its part) name `ref`?
 */
export function patternMatches(pattern: string, ref: NadRef, vmNamespace: string): boolean {
  const slash = pattern.indexOf('/');
  const [nsPattern, namePattern] =
    slash < 0 ? [vmNamespace, pattern] : [pattern.slice(0, slash), pattern.slice(slash + 1)];
  return wildcard(nsPattern, ref.namespace) && wildcard(namePattern, ref.name);
}

/** `*` matches any run of characters; everything else itself. Linear in practice, no regex. */
export function wildcard(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Does the pattern name one NetworkAttachmentDefinition exactly (no `*`)? */
export function isExact(pattern: string): boolean {
  return !pattern.includes('*');
}
