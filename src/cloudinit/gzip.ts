// gzip for cloud-init user data. cloud-init unpacks gzip user data with Python's gzip module,
// which reads every member of a multi-member file, so a message can be sent as members: the
// parts that change per VM stored as they are (no compressor to set up), the part that is the
// same for every VM compressed once and reused.
import { crc32, gzipSync } from 'node:zlib';

// A 4 KiB window covers what fits in 2 KiB compressed and keeps zlib's per-call setup small;
// level 6 compresses this text within a few bytes of level 9 at two thirds of the time.
const OPTIONS = { level: 6, windowBits: 12, memLevel: 5 } as const;

export function gzip(data: Buffer): Buffer {
  return gzipSync(data, OPTIONS);
}

const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);
const MAX_STORED = 0xffff;

/** One gzip member whose deflate stream is stored blocks: valid gzip, no compression. */
export function storedGzip(data: Buffer): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / MAX_STORED));
  const out = Buffer.allocUnsafe(HEADER.length + blocks * 5 + data.length + 8);
  let at = HEADER.copy(out, 0);
  for (let i = 0; i < blocks; i++) {
    const chunk = data.subarray(i * MAX_STORED, (i + 1) * MAX_STORED);
    out[at++] = i === blocks - 1 ? 1 : 0; // BFINAL on the last block, BTYPE 00 (stored)
    out.writeUInt16LE(chunk.length, at);
    out.writeUInt16LE(~chunk.length & 0xffff, at + 2);
    at += 4;
    at += chunk.copy(out, at);
  }
  out.writeUInt32LE(crc32(data), at);
  out.writeUInt32LE(data.length % 0x100000000, at + 4);
  return out;
}

const compressedOnce = new Map<string, Buffer>();

/** gzip of a text that is the same for many VMs, compressed the first time only. */
export function gzipShared(text: string): Buffer {
  let member = compressedOnce.get(text);
  if (member === undefined) {
    member = gzip(Buffer.from(text, 'utf8'));
    if (compressedOnce.size < 64) compressedOnce.set(text, member);
  }
  return member;
}
