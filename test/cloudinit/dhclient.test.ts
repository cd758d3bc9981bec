// ifupdown guests (Debian 12): run Debian's real dhclient-script with our enter hook, in
// throw-away network and mount namespaces, for two NICs whose leases both offer a router and a
// name server. eth1 keeps its address; the default route and resolv.conf stay eth0's.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mutate } from '../../src/mutate/index.js';
import { DHCLIENT_HOOK } from '../../src/cloudinit/guestfix.js';
import { defaultContext, defaultSettings, goldenCases } from '../support/golden.js';
import { guestData, probeUserData } from '../support/guest.js';

const run = promisify(execFile);

interface Outcome {
  routes: string;
  addresses: string;
  resolvConf: string;
}

async function dhcpRound(
  primary: string,
  secondary: string,
  hook?: string,
  order?: string,
): Promise<Outcome> {
  const dir = mkdtempSync(join(tmpdir(), 'kni-dhclient-'));
  try {
    const args = ['-m', '-n', 'sh', 'test/cloudinit/dhclient.sh', primary, secondary];
    if (hook !== undefined) {
      writeFileSync(join(dir, 'hook'), hook);
      args.push(join(dir, 'hook'));
      if (order) args.push(order);
    }
    const { stdout } = await run('unshare', args);
    const section = (name: string): string => stdout.split(`--- ${name}\n`)[1]?.split('\n--- ')[0] ?? '';
    return { routes: section('routes'), addresses: section('addresses'), resolvConf: section('resolv.conf') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('ifupdown guest: dhclient-script with our enter hook', function () {
  this.timeout(30000);
  const seed = goldenCases().find((c) => c.name === 'seed-mongodb')!;
  const data = guestData(mutate(seed.input, defaultSettings, defaultContext).vm);
  let hook = '';
  before(async () => {
    const cc = (await probeUserData(data.userData!)).cloudConfig;
    const file = (cc['write_files'] as Array<Record<string, string>>).find(
      (f) => f['path'] === DHCLIENT_HOOK,
    );
    assert.ok(file, 'user data writes the dhclient enter hook');
    hook = file['content']!;
  });

  for (const order of ['primary-first', 'secondary-first']) {
    it(`keeps eth0's default route and DNS, eth1 its address (${order})`, async () => {
      const out = await dhcpRound(data.primaryMac!, data.secondaryMac, hook, order);
      assert.match(out.routes, /^default via 10\.0\.2\.2 dev eth0/m);
      assert.doesNotMatch(out.routes, /default via 10\.0\.3\.2/);
      assert.match(out.addresses, /eth1\s+inet 10\.0\.3\.15\/24/);
      assert.match(out.addresses, /eth0\s+inet 10\.0\.2\.15\/24/);
      assert.match(out.resolvConf, /^nameserver 10\.0\.2\.3$/m);
      assert.doesNotMatch(out.resolvConf, /10\.0\.3\.3/);
    });
  }

  it('control: without the hook, eth1 takes over resolv.conf (the problem we fix)', async () => {
    const out = await dhcpRound(data.primaryMac!, data.secondaryMac);
    assert.match(out.resolvConf, /^nameserver 10\.0\.3\.3$/m);
  });
});
