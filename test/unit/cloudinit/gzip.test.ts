import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { gunzipAtMost, gzip, storedGzip } from '../../../src/cloudinit/gzip.js';
import { isOurWrapper, MAX_GUNZIP_BYTES, wrapBody, wrapHead } from '../../../src/cloudinit/userdata.js';

describe('gzip for user data', () => {
  it('stored members unpack to the same bytes, and store them as they are', () => {
    for (const data of [Buffer.alloc(0), Buffer.from('hello\n'), Buffer.alloc(70000, 0x61)]) {
      const member = storedGzip(data);
      assert.deepEqual(gunzipSync(member), data);
      assert.ok(member.length >= data.length, 'level 0 does not compress');
    }
  });

  it('a stored member followed by a compressed one unpacks to the whole message', () => {
    const head = wrapHead(Buffer.from('#cloud-config\nhostname: a\n'), 'cloud-config');
    const body = wrapBody('#cloud-config\nruncmd: [echo]\n');
    const members = Buffer.concat([storedGzip(Buffer.from(head)), gzip(Buffer.from(body))]);
    assert.equal(gunzipSync(members).toString('utf8'), head + body);
    assert.ok(isOurWrapper(members));
  });

  it('unpacks no more than it is allowed to: a bomb is refused, not inflated', () => {
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    assert.ok(bomb.length < 10 * 1024, `${bomb.length} bytes of gzip`);
    assert.equal(gunzipAtMost(bomb, MAX_GUNZIP_BYTES), undefined);
    assert.equal(gunzipAtMost(Buffer.from('not gzip'), MAX_GUNZIP_BYTES), undefined);
    assert.deepEqual(gunzipAtMost(gzipSync(Buffer.from('small')), MAX_GUNZIP_BYTES), Buffer.from('small'));
  });

  it('user data that unpacks past the limit is not taken for ours, whatever it holds', () => {
    const ours = wrapHead(Buffer.from('#cloud-config\n'), 'cloud-config') + wrapBody('#cloud-config\n');
    const padded = Buffer.concat([Buffer.from(ours), Buffer.alloc(MAX_GUNZIP_BYTES)]);
    assert.ok(isOurWrapper(gzipSync(Buffer.from(ours))));
    assert.equal(isOurWrapper(gzipSync(padded)), false);
  });
});
