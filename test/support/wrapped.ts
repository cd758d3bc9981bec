// Reads back what the engine wrote into a cloud-init source: the user data as bytes, and our
// multipart/mixed wrapper taken apart into the user's original part (decoded) and ours. Written
// independently of src/cloudinit/userdata.ts's writer, from the format: so a writer that changes
// a byte of the user's data fails the tests that use it.
import { gunzipSync } from 'node:zlib';
import { classify } from '../../src/cloudinit/userdata.js';

type Obj = Record<string, unknown>;

/** The source's user data as bytes (plain, or base64 with any whitespace), or undefined. */
export function userDataBytes(source: Obj): Buffer | undefined {
  const plain = source['userData'];
  if (typeof plain === 'string' && plain !== '') return Buffer.from(plain, 'utf8');
  const b64 = source['userDataBase64'];
  if (typeof b64 === 'string' && b64 !== '') return Buffer.from(b64.replace(/\s+/g, ''), 'base64');
  return undefined;
}

export interface Unwrapped {
  boundary: string;
  /** The user's data, decoded from its part. */
  original: Buffer;
  /** Our part's body (the cloud-config document). */
  ours: string;
}

/**
 * Our wrapper, taken apart; undefined when `bytes` is not one. `mimeOriginal`: the user's data
 * was a MIME document, which goes in as it is (its own headers are the part's).
 */
export function unwrap(bytes: Buffer, mimeOriginal: boolean): Unwrapped | undefined {
  const plain = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  const text = plain.toString('utf8');
  const boundary = /^Content-Type: multipart\/mixed; boundary="(==kubevirt-net-injector[^"]*)"\n/.exec(
    text,
  )?.[1];
  if (!boundary) return undefined;
  const parts = text.split(`\n--${boundary}`);
  if (parts.length !== 4 || parts[3] !== '--\n') return undefined;
  const first = parts[1]!.replace(/^\n/, '');
  const second = parts[2]!.replace(/^\n/, '');
  const ours = second.slice(second.indexOf('\n\n') + 2);
  const split = first.indexOf('\n\n');
  const headers = first.slice(0, split);
  const body = first.slice(split + 2);
  let original: Buffer;
  if (mimeOriginal) original = Buffer.from(first, 'utf8');
  else if (/^Content-Transfer-Encoding: base64$/m.test(headers))
    original = Buffer.from(body.replace(/\n/g, ''), 'base64');
  else original = Buffer.from(body, 'utf8');
  return { boundary, original, ours };
}

/** Whether `original` is a MIME document (wrapped as it is, headers and all). */
export function isMimeOriginal(original: Buffer): boolean {
  return classify(original) === 'mime';
}
