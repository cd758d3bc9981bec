import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { guestFixCloudConfig, nmProfileId, renderGuestFix } from '../../../src/cloudinit/guestfix.js';

describe('guest fix cloud-config', () => {
  const nics = [
    { mac: 'a6:dc:4d:5b:3f:fe', device: 'eth1' },
    { mac: '02:00:00:00:00:11', device: 'eth3' },
  ];

  it('the fast template renders exactly what the direct renderer does', () => {
    for (const nic of nics) assert.equal(guestFixCloudConfig(nic), renderGuestFix(nic));
  });

  it('targets the NIC by MAC in every stack file, and is valid YAML', () => {
    const nic = nics[1]!;
    const doc = parse(guestFixCloudConfig(nic));
    const files = doc.write_files as Array<{ path: string; content: string; permissions?: string }>;
    const nm = files.find((f) => f.path.endsWith('.nmconnection'))!;
    assert.match(nm.content, /^mac-address=02:00:00:00:00:11$/m);
    assert.match(nm.content, /^never-default=true$/m);
    assert.equal(nm.permissions, '0600');
    assert.match(nm.content, new RegExp(`^id=${nmProfileId(nic)}$`, 'm'));
    assert.match(files.find((f) => f.path.endsWith('ifcfg-eth3'))!.content, /^HWADDR=02:00:00:00:00:11$/m);
    assert.match(files.find((f) => f.path.includes('dhclient'))!.content, /= "02:00:00:00:00:11"/);
    assert.match(doc.runcmd[0][2], /nmcli connection up kubevirt-net-injector-eth3/);
  });

  it('gives different NICs different NetworkManager profile UUIDs', () => {
    const uuid = (s: string) => /uuid=([0-9a-f-]+)/.exec(s)![1];
    assert.notEqual(uuid(guestFixCloudConfig(nics[0]!)), uuid(guestFixCloudConfig(nics[1]!)));
    assert.match(
      uuid(guestFixCloudConfig(nics[0]!))!,
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});
