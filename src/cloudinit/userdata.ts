// Adding our part to whatever user data the VM already has, without changing a byte of it:
// the original becomes the first part of a multipart/mixed message, ours the second.
import { isUtf8 } from 'node:buffer';
import { gunzipAtMost } from './gzip.js';

export const BOUNDARY = '==kubevirt-net-injector==';
/** Every boundary we use starts so: `boundaryFor` picks another when the user's data holds ours. */
const BOUNDARY_PREFIX = '==kubevirt-net-injector';
/** Our lists (write_files, runcmd) append to the user's instead of replacing them. */
export const MERGE_TYPE = 'list(append)+dict(no_replace,recurse_list)+str()';

export type UserDataKind = 'cloud-config' | 'script' | 'mime' | 'gzip' | 'text';

const GZIP_MAGIC = [0x1f, 0x8b];

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** What cloud-init would see. Returns undefined for binary data that is neither gzip nor text. */
export function classify(bytes: Uint8Array): UserDataKind | undefined {
  if (isGzip(bytes)) return 'gzip';
  if (!isUtf8(bytes)) return undefined;
  const head = Buffer.from(bytes.subarray(0, 256))
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  if (/^#cloud-config\s/.test(head) || head.trim() === '#cloud-config') return 'cloud-config';
  if (head.startsWith('#!')) return 'script';
  if (/^(Content-Type|MIME-Version):/im.test(head.split(/\r?\n\r?\n/, 1)[0] ?? '')) return 'mime';
  return 'text';
}

/**
 * The most gzip user data is unpacked to, to look for our wrapper. Ours unpacks to about 4 KiB;
 * KubeVirt keeps inline user data to 2 KiB packed, and deflate packs at most about 1,000 to 1,
 * so anything larger is not ours, and a bomb stops here.
 */
export const MAX_GUNZIP_BYTES = 64 * 1024;

/** Is this user data already wrapped by us (so a second pass must not wrap it again)? */
export function isOurWrapper(bytes: Uint8Array): boolean {
  const plain = isGzip(bytes) ? gunzipAtMost(bytes, MAX_GUNZIP_BYTES) : Buffer.from(bytes);
  return plain !== undefined && plain.toString('utf8').includes(`boundary="${BOUNDARY_PREFIX}`);
}

/** 7bit keeps a text original readable in the VM spec; anything else travels as base64. */
function needsBase64(bytes: Uint8Array): boolean {
  let lineLength = 0;
  for (const b of bytes) {
    if (b === 0x0a) {
      lineLength = 0;
      continue;
    }
    if (b >= 0x80 || b === 0x0d || b === 0x00 || ++lineLength > 998) return true;
  }
  return false;
}

function originalPart(bytes: Uint8Array, kind: UserDataKind): string {
  if (kind === 'mime') {
    // A MIME document is a valid part as it stands: its own headers become the part's headers.
    return Buffer.from(bytes).toString('utf8');
  }
  const type = kind === 'gzip' ? 'application/x-gzip' : 'text/plain; charset="utf-8"';
  const base64 = kind === 'gzip' || needsBase64(bytes);
  const headers = [
    `Content-Type: ${type}`,
    'MIME-Version: 1.0',
    `Content-Transfer-Encoding: ${base64 ? 'base64' : '7bit'}`,
    'Content-Disposition: attachment; filename="user-data"',
  ];
  const body = base64
    ? (Buffer.from(bytes)
        .toString('base64')
        .match(/.{1,76}/g)
        ?.join('\n') ?? '')
    : Buffer.from(bytes).toString('utf8');
  return `${headers.join('\n')}\n\n${body}`;
}

/**
 * A boundary whose delimiter line appears nowhere in the user's data (RFC 2046: else the message
 * would split inside it): ours, or `==kubevirt-net-injector-2==`, `-3`, ... when it does.
 */
export function boundaryFor(original: Uint8Array): string {
  const text = Buffer.from(original).toString('latin1');
  let boundary = BOUNDARY;
  for (let n = 2; text.includes(`--${boundary}`); n++) boundary = `${BOUNDARY_PREFIX}-${n}==`;
  return boundary;
}

/**
 * multipart/mixed up to our part's body: the user's data untouched (cloud-init detects its
 * type as it would alone, text/plain tells it to look), then our part's headers, with a
 * Merge-Type so our lists append to the user's.
 */
export function wrapHead(original: Uint8Array, kind: UserDataKind, boundary = BOUNDARY): string {
  const delimiter = `--${boundary}`;
  return [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
    delimiter,
    originalPart(original, kind),
    delimiter,
    'Content-Type: text/cloud-config; charset="utf-8"',
    'MIME-Version: 1.0',
    'Content-Transfer-Encoding: 7bit',
    `Merge-Type: ${MERGE_TYPE}`,
    'Content-Disposition: attachment; filename="kubevirt-net-injector.cfg"',
    '',
    '',
  ].join('\n');
}

/** Our part's body as it goes after wrapHead (the closing delimiter included). */
export function wrapBody(ours: string, boundary = BOUNDARY): string {
  return `${ours.replace(/\n$/, '')}\n--${boundary}--\n`;
}

/** The whole multipart/mixed message: wrapHead + wrapBody, with a boundary the original lacks. */
export function wrapUserData(original: Uint8Array, kind: UserDataKind, ours: string): string {
  const boundary = boundaryFor(original);
  return wrapHead(original, kind, boundary) + wrapBody(ours, boundary);
}
