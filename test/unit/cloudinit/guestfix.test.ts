import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { guestFixCloudConfig, nmProfileId } from '../../../src/cloudinit/guestfix.js';

type WriteFile = { path: string; content: string; permissions?: string };

function files(text: string): WriteFile[] {
  return (parse(text) as { write_files: WriteFile[] }).write_files;
}

describe('guest fix cloud-config', () => {
  it('matches the NIC by the name our network data gives it: the same text for every VM', () => {
    const text = guestFixCloudConfig({ device: 'eth1' });
    assert.equal(text, guestFixCloudConfig({ device: 'eth1' }));
    assert.doesNotMatch(text, /([0-9a-f]{2}:){5}/, 'no MAC in a name-matched part');
    const f = files(text);
    const nm = f.find((x) => x.path.endsWith('.nmconnection'))!;
    assert.match(nm.content, /^interface-name=eth1$/m);
    assert.match(nm.content, /^never-default=true$/m);
    assert.equal(nm.permissions, '0600');
    assert.match(f.find((x) => x.path.endsWith('ifcfg-eth1'))!.content, /^DEVICE=eth1$/m);
    assert.match(f.find((x) => x.path.endsWith('.network'))!.content, /^Name=eth1$/m);
    assert.match(f.find((x) => x.path.includes('dhclient'))!.content, /"\$interface" = "eth1"/);
  });

  it('matches by MAC when something else owns the network config', () => {
    const nic = { device: 'eth3', mac: '02:00:00:00:00:11' };
    const doc = parse(guestFixCloudConfig(nic)) as { write_files: WriteFile[]; runcmd: string[][] };
    const f = doc.write_files;
    const nm = f.find((x) => x.path.endsWith('.nmconnection'))!;
    assert.match(nm.content, /^mac-address=02:00:00:00:00:11$/m);
    assert.doesNotMatch(nm.content, /interface-name/);
    assert.match(nm.content, new RegExp(`^id=${nmProfileId(nic)}$`, 'm'));
    assert.match(f.find((x) => x.path.endsWith('ifcfg-eth3'))!.content, /^HWADDR=02:00:00:00:00:11$/m);
    assert.match(f.find((x) => x.path.endsWith('.network'))!.content, /^MACAddress=02:00:00:00:00:11$/m);
    assert.match(f.find((x) => x.path.includes('dhclient'))!.content, /= "02:00:00:00:00:11"/);
    assert.match(doc.runcmd[0]![2]!, /nmcli connection up kubevirt-net-injector-eth3/);
  });

  it('gives different NICs different NetworkManager profile UUIDs', () => {
    const uuid = (s: string) => /uuid=([0-9a-f-]+)/.exec(s)![1];
    const a = uuid(guestFixCloudConfig({ device: 'eth1' }));
    assert.notEqual(a, uuid(guestFixCloudConfig({ device: 'eth1', mac: '02:00:00:00:00:11' })));
    assert.match(a!, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
