// The JSON Patch from a VM to its copy-on-write draft. It follows fast-json-patch's compare op
// for op (same order, same paths, same ops) with two differences that the draft makes safe:
// a subtree the draft did not copy is the same object on both sides and is skipped without a
// walk, and values go into the patch as they are instead of being deep-cloned (the draft is
// not changed after the patch is made). The unit tests hold it to fast-json-patch's compare.
import type { Operation } from 'fast-json-patch';

type Node = Record<string, unknown> | unknown[];

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null;
}

/** RFC 6901: `~` and `/` in a key are escaped as `~0` and `~1`. */
function escapeKey(key: string): string {
  if (!key.includes('/') && !key.includes('~')) return key;
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** One changed member: recurse into two objects or two arrays, else replace. */
function change(oldValue: unknown, newValue: unknown, at: string, ops: Operation[]): void {
  if (isNode(oldValue) && isNode(newValue) && Array.isArray(oldValue) === Array.isArray(newValue)) {
    generate(oldValue, newValue, at, ops);
  } else if (oldValue !== newValue) {
    // undefined (only possible in arrays built in code) is written as JSON writes it: null.
    ops.push({ op: 'replace', path: at, value: newValue === undefined ? null : newValue });
  }
}

/** Arrays member by member: changed indices in place, removals from the end, then additions. */
function generateArray(from: unknown[], to: unknown[], path: string, ops: Operation[]): void {
  for (let i = from.length - 1; i >= 0; i--) {
    if (i >= to.length) ops.push({ op: 'remove', path: `${path}/${i}` });
    else if (from[i] !== to[i]) change(from[i], to[i], `${path}/${i}`, ops);
  }
  for (let i = from.length; i < to.length; i++) {
    if (to[i] !== undefined) ops.push({ op: 'add', path: `${path}/${i}`, value: to[i] });
  }
}

function generate(from: Node, to: Node, path: string, ops: Operation[]): void {
  if (Array.isArray(from) && Array.isArray(to)) {
    generateArray(from, to, path, ops);
    return;
  }
  const oldKeys = Object.keys(from);
  const fromRecord = from as Record<string, unknown>;
  const toRecord = to as Record<string, unknown>;
  let deleted = false;
  for (let i = oldKeys.length - 1; i >= 0; i--) {
    const key = oldKeys[i]!;
    const oldValue = fromRecord[key];
    const newValue = toRecord[key];
    if (oldValue === newValue && newValue !== undefined) continue;
    const at = `${path}/${escapeKey(key)}`;
    if (Object.hasOwn(to, key) && !(newValue === undefined && oldValue !== undefined && !Array.isArray(to))) {
      change(oldValue, newValue, at, ops);
    } else if (Array.isArray(from) === Array.isArray(to)) {
      ops.push({ op: 'remove', path: at });
      deleted = true;
    } else {
      ops.push({ op: 'replace', path, value: to });
    }
  }
  const newKeys = Object.keys(to);
  if (!deleted && newKeys.length === oldKeys.length) return;
  for (const key of newKeys) {
    if (!Object.hasOwn(from, key) && toRecord[key] !== undefined) {
      ops.push({ op: 'add', path: `${path}/${escapeKey(key)}`, value: toRecord[key] });
    }
  }
}

/** The operations that turn `from` into `to`; unchanged (shared) subtrees cost nothing. */
export function diff(from: Node, to: Node): Operation[] {
  const ops: Operation[] = [];
  if (from !== to) generate(from, to, '', ops);
  return ops;
}
