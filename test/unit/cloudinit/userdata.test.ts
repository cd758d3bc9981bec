import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import {
  BOUNDARY,
  classify,
  isOurWrapper,
  MERGE_TYPE,
  wrapUserData,
} from '../../../src/cloudinit/userdata.js';

const ours = '#cloud-config\nruncmd:\n- echo ours\n';

describe('user data classification', () => {
  const cases: Array<[string, Buffer, ReturnType<typeof classify>]> = [
    ['cloud-config', Buffer.from('#cloud-config\na: 1\n'), 'cloud-config'],
    ['script', Buffer.from('#!/bin/sh\necho hi\n'), 'script'],
    [
      'mime',
      Buffer.from('Content-Type: multipart/mixed; boundary="x"\nMIME-Version: 1.0\n\n--x--\n'),
      'mime',
    ],
    ['gzip', gzipSync('#cloud-config\n'), 'gzip'],
    ['include', Buffer.from('#include\nhttp://x\n'), 'text'],
    ['binary', Buffer.from([0xff, 0xfe, 0x00, 0x01]), undefined],
  ];
  for (const [name, bytes, kind] of cases) it(name, () => assert.equal(classify(bytes), kind));
});

describe('wrapping user data', () => {
  it('keeps a text original byte for byte as the first part (trailing newline included)', () => {
    const original = Buffer.from('#cloud-config\nhostname: a\n');
    const text = wrapUserData(original, 'cloud-config', ours);
    assert.ok(text.startsWith(`Content-Type: multipart/mixed; boundary="${BOUNDARY}"`));
    assert.ok(
      text.includes(
        'Content-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename="user-data"\n\n#cloud-config\nhostname: a\n\n--',
      ),
    );
    assert.ok(text.includes(`Merge-Type: ${MERGE_TYPE}`));
    assert.ok(text.trimEnd().endsWith(`--${BOUNDARY}--`));
  });

  it('sends non-ASCII and gzip originals as base64', () => {
    const utf8 = wrapUserData(Buffer.from('#cloud-config\nmotd: "héllo"\n'), 'cloud-config', ours);
    assert.ok(utf8.includes(Buffer.from('#cloud-config\nmotd: "héllo"\n').toString('base64')));
    const gz = gzipSync('#cloud-config\n');
    const wrapped = wrapUserData(gz, 'gzip', ours);
    assert.ok(wrapped.includes('Content-Type: application/x-gzip'));
    assert.ok(wrapped.includes(gz.toString('base64')));
  });

  it('picks another boundary when the original holds ours, so the parts split where they should', () => {
    const original = Buffer.from(`#!/bin/sh\necho '--${BOUNDARY}'\necho '--==kubevirt-net-injector-2=='\n`);
    const text = wrapUserData(original, 'script', ours);
    assert.ok(text.startsWith('Content-Type: multipart/mixed; boundary="==kubevirt-net-injector-3=="'));
    const parts = text.split('\n--==kubevirt-net-injector-3==');
    assert.equal(parts.length, 4, 'preamble, the original part, our part, the closing --');
    assert.equal(parts[3], '--\n');
    assert.ok(parts[1]!.endsWith(`\n\n${original.toString()}`), 'the original, whole, in its own part');
    assert.ok(isOurWrapper(Buffer.from(text)), 'still recognised as ours');
  });

  it('recognises its own wrapper, plain or gzipped', () => {
    const w = wrapUserData(Buffer.from('#!/bin/sh\n'), 'script', ours);
    assert.ok(isOurWrapper(Buffer.from(w)));
    assert.ok(isOurWrapper(gzipSync(w)));
    assert.ok(!isOurWrapper(Buffer.from('#cloud-config\n')));
  });
});
