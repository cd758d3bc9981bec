import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { gzip, gzipShared, storedGzip } from '../../../src/cloudinit/gzip.js';
import { isOurWrapper, wrapBody, wrapHead } from '../../../src/cloudinit/userdata.js';

describe('gzip for user data', () => {
  it('stored members unpack to the same bytes, empty and over one block included', () => {
    for (const data of [Buffer.alloc(0), Buffer.from('hello\n'), Buffer.alloc(70000, 0x61)]) {
      assert.deepEqual(gunzipSync(storedGzip(data)), data);
    }
  });

  it('a stored member followed by a shared compressed one unpacks to the whole message', () => {
    const head = wrapHead(Buffer.from('#cloud-config\nhostname: a\n'), 'cloud-config');
    const body = wrapBody('#cloud-config\nruncmd: [echo]\n');
    const members = Buffer.concat([storedGzip(Buffer.from(head)), gzipShared(body)]);
    assert.equal(gunzipSync(members).toString('utf8'), head + body);
    assert.ok(isOurWrapper(members));
    assert.equal(gzipShared(body), gzipShared(body), 'compressed once, then reused');
    assert.equal(gunzipSync(gzip(Buffer.from(body))).toString('utf8'), body);
  });
});
