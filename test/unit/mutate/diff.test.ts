import assert from 'node:assert/strict';
import fastJsonPatch from 'fast-json-patch';
import { diff } from '../../../src/mutate/diff.js';
import { Draft, type Obj } from '../../../src/mutate/vm.js';

/** A small deterministic PRNG so a failure names a seed that reproduces it. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 0x100000000;
  };
}

const KEYS = ['a', 'b', 'c/d', 'e~f', 'name', '0', ''];

function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth <= 0 || r < 0.35) {
    const p = rand();
    return p < 0.3
      ? Math.floor(rand() * 10)
      : p < 0.6
        ? `s${Math.floor(rand() * 5)}`
        : p < 0.8
          ? null
          : rand() < 0.5;
  }
  if (r < 0.65) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth - 1));
  const obj: Obj = {};
  for (const key of KEYS) if (rand() < 0.4) obj[key] = randomValue(rand, depth - 1);
  return obj;
}

function randomObject(rand: () => number): Obj {
  const v = randomValue(rand, 4);
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : { a: v };
}

/** Paths to the objects inside `root` (arrays not followed), for the draft to edit. */
function objectPaths(node: unknown, path: string[] = [], out: string[][] = []): string[][] {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return out;
  out.push(path);
  for (const [k, v] of Object.entries(node)) objectPaths(v, [...path, k], out);
  return out;
}

/** A few copy-on-write edits, the way the engine makes them: untouched subtrees stay shared. */
function randomEdit(input: Obj, rand: () => number): Obj {
  const draft = new Draft(input);
  const edits = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < edits; i++) {
    const paths = objectPaths(draft.root);
    const target = draft.at(paths[Math.floor(rand() * paths.length)]!);
    const key = KEYS[Math.floor(rand() * KEYS.length)]!;
    const action = rand();
    if (action < 0.3) delete target[key];
    else if (action < 0.6 && Array.isArray(target[key]))
      draft.list([...pathTo(draft.root, target), key]).push(randomValue(rand, 2));
    else target[key] = randomValue(rand, 2);
  }
  return draft.root;
}

function pathTo(root: Obj, target: Obj): string[] {
  return objectPaths(root).find((p) => p.reduce<unknown>((n, k) => (n as Obj)[k], root) === target)!;
}

describe("diff (the engine's JSON Patch)", () => {
  it('matches fast-json-patch compare op for op on independent random documents', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const rand = prng(seed);
      const from = randomObject(rand);
      const to = randomObject(rand);
      assert.deepEqual(diff(from, to), fastJsonPatch.compare(from, to), `seed ${seed}`);
    }
  });

  it('matches it on copy-on-write edits, and its patch turns the input into the draft', () => {
    let changed = 0;
    for (let seed = 1; seed <= 500; seed++) {
      const rand = prng(seed);
      const input = randomObject(rand);
      const before = structuredClone(input);
      const edited = randomEdit(input, rand);
      assert.deepEqual(input, before, `seed ${seed}: the input was changed`);
      const ops = diff(input, edited);
      assert.deepEqual(ops, fastJsonPatch.compare(input, edited), `seed ${seed}`);
      const applied = fastJsonPatch.applyPatch(structuredClone(input), ops, true, false).newDocument;
      assert.deepEqual(applied, JSON.parse(JSON.stringify(edited)), `seed ${seed}`);
      if (ops.length > 0) changed++;
    }
    assert.ok(changed > 300, `only ${changed} of 500 edits changed anything`);
  });

  it('escapes keys, skips shared subtrees and hands out values without copying them', () => {
    const shared = { deep: { deeper: [1, 2, 3] } };
    const value = { added: true };
    const from = { keep: shared, 'a/b~c': 1, gone: 2 };
    const to = { keep: shared, 'a/b~c': 3, value };
    const ops = diff(from, to);
    assert.deepEqual(ops, [
      { op: 'remove', path: '/gone' },
      { op: 'replace', path: '/a~1b~0c', value: 3 },
      { op: 'add', path: '/value', value: { added: true } },
    ]);
    assert.equal((ops[2] as { value: unknown }).value, value);
    assert.deepEqual(diff(from, from), []);
    // Values JSON cannot carry, in objects made in code: the same answer as fast-json-patch.
    const odd = [
      [{ a: undefined }, { a: undefined }],
      [{ a: 1 }, { a: undefined }],
      [{ a: [1, { b: 2 }] }, { a: [undefined, undefined, 3] }],
      [{ a: [undefined] }, { a: [] }],
    ] as const;
    for (const [f, t] of odd) assert.deepEqual(diff(f, t), fastJsonPatch.compare(f, t));
  });
});
