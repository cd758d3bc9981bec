// The user's own cloud-init must survive: cloud-init's own user-data processor must see exactly
// the parts it saw before, plus ours; after merging, every user key is kept and our lists come
// after theirs. Our part and the merged result pass `cloud-init schema`.
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { mutate } from '../../src/mutate/index.js';
import { defaultContext, defaultSettings, goldenCases } from '../support/golden.js';
import { CLOUDINITS, guestData, probeUserData, schemaCheck } from '../support/guest.js';

type Obj = Record<string, unknown>;

function originalUserData(input: Obj): Buffer | undefined {
  try {
    return guestData({
      ...input,
      metadata: { annotations: { 'kubevirt-net-injector.io/interface': 'x' } },
      spec: {
        template: {
          spec: {
            ...(((input['spec'] as Obj)['template'] as Obj)['spec'] as Obj),
            domain: { devices: { interfaces: [{ name: 'x', macAddress: '00' }] } },
          },
        },
      },
    }).userData;
  } catch {
    return undefined;
  }
}

describe('user data: the user keeps everything, cloud-init sees ours too', function () {
  this.timeout(60000);
  for (const c of goldenCases()) {
    const r = mutate(c.input, defaultSettings, defaultContext);
    if (r.decision.outcome !== 'injected' || r.decision.reason === 'cloud-init disabled') continue;
    const after = guestData(r.vm).userData;
    if (!after) continue;
    const before = originalUserData(c.input);
    const unchanged = before !== undefined && before.equals(after);

    describe(c.name, () => {
      if (unchanged) {
        it('is left byte-for-byte as it was, and a warning says why', () => {
          assert.ok(r.warnings.some((w) => w.startsWith('cloud-init: user data left as is')));
        });
        return;
      }
      it("cloud-init finds the user's parts unchanged, then ours", async () => {
        const now = await probeUserData(after);
        const last = now.parts[now.parts.length - 1]!;
        assert.equal(last.type, 'text/cloud-config');
        assert.match(last.payload, /kubevirt-net-injector/);
        if (before) {
          const then = await probeUserData(before);
          assert.deepEqual(now.parts.slice(0, -1), then.parts);
        } else {
          assert.equal(now.parts.length, 1);
        }
      });

      it("keeps every key of the user's merged cloud-config; lists gain ours after theirs", async () => {
        const now = (await probeUserData(after)).cloudConfig;
        const then: Obj = before ? (await probeUserData(before)).cloudConfig : {};
        for (const [key, value] of Object.entries(then)) {
          if (Array.isArray(value))
            assert.deepEqual((now[key] as unknown[]).slice(0, value.length), value, key);
          else assert.deepEqual(now[key], value, key);
        }
        assert.ok(Array.isArray(now['write_files']) && Array.isArray(now['runcmd']));
      });

      for (const ci of CLOUDINITS) {
        it(`passes cloud-init schema of ${ci.name}, no deprecations: our part, and the merged cloud-config`, async () => {
          const now = await probeUserData(after);
          const ours = now.parts[now.parts.length - 1]!.payload;
          const merged = `#cloud-config\n${stringify(now.cloudConfig)}`;
          for (const text of [ours, merged]) {
            // 22.4 says "Valid cloud-config", 25.1 "Valid schema"
            const out = await schemaCheck(text, ci);
            assert.match(out, /Valid (cloud-config|schema)/, out);
            assert.doesNotMatch(out, /deprecat/i, out);
          }
        });
      }
    });
  }
});
