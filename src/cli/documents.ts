// Multi-document YAML or JSON (v1 Lists unfolded) from a file or stdin, for the CLI commands
// that read manifests. Every dimension is bounded: bytes read, documents, YAML aliases; a
// nesting too deep for the parser is an input error, not a crash.
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { parseAllDocuments } from 'yaml';
import { isObj } from '../mutate/vm.js';

export interface InputLimits {
  maxBytes: number;
  maxDocuments: number;
  maxAliases: number;
}

export const INPUT_LIMITS: InputLimits = { maxBytes: 8 * 1024 * 1024, maxDocuments: 1000, maxAliases: 100 };

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

export interface InputDocument {
  object: Record<string, unknown>;
  /** `vm.yaml document 2`, `… item 3` inside a List. */
  at: string;
  /** For messages: `at` and what it holds, `vm.yaml document 2 (VirtualMachine db)`. */
  where: string;
}

async function readBounded(path: string, stdin: Readable, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const add = (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) throw new InputError(`${label(path)} is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  };
  if (path === '-') {
    for await (const chunk of stdin) add(Buffer.from(chunk as Buffer));
  } else {
    let file;
    try {
      file = await open(path, 'r');
    } catch (err) {
      throw new InputError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    try {
      for await (const chunk of file.createReadStream({ highWaterMark: 64 * 1024 })) add(chunk as Buffer);
    } finally {
      await file.close().catch(() => undefined);
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

const label = (path: string) => (path === '-' ? 'stdin' : path);

function describe(obj: Record<string, unknown>): string {
  const meta = isObj(obj['metadata']) ? obj['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '<unnamed>';
  return `${typeof obj['kind'] === 'string' ? obj['kind'] : 'unknown kind'} ${name}`;
}

/** Every document (and every item of a v1 List), in order; empty documents are skipped. */
export async function readDocuments(
  path: string,
  limits: InputLimits = INPUT_LIMITS,
  stdin: Readable = process.stdin,
): Promise<InputDocument[]> {
  const text = await readBounded(path, stdin, limits.maxBytes);
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [];
  if (list.length > limits.maxDocuments)
    throw new InputError(`${label(path)} holds more than ${limits.maxDocuments} documents`);
  const out: InputDocument[] = [];
  list.forEach((doc, i) => {
    const at = `${label(path)} document ${i + 1}`;
    if (doc.errors.length > 0) throw new InputError(`${at}: ${doc.errors[0]!.message.split('\n')[0]}`);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: limits.maxAliases });
    } catch (err) {
      const why = err instanceof RangeError ? 'nested too deeply' : (err as Error).message.split('\n')[0];
      throw new InputError(`${at}: ${why}`);
    }
    if (value === null || value === undefined) return;
    if (!isObj(value)) throw new InputError(`${at}: not an object`);
    if (value['kind'] === 'List' && Array.isArray(value['items'])) {
      value['items'].forEach((item: unknown, j) => {
        if (!isObj(item)) throw new InputError(`${at} item ${j + 1}: not an object`);
        out.push({
          object: item,
          at: `${at} item ${j + 1}`,
          where: `${at} item ${j + 1} (${describe(item)})`,
        });
      });
      return;
    }
    out.push({ object: value, at, where: `${at} (${describe(value)})` });
  });
  if (out.length > limits.maxDocuments)
    throw new InputError(`${label(path)} holds more than ${limits.maxDocuments} objects`);
  return out;
}
