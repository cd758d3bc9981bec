import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { generateNetworkData, mergeNetworkData } from '../../../src/cloudinit/networkdata.js';

const mac = '02:00:00:00:00:11';

describe('network data', () => {
  it('generates v2 with both NICs by MAC, overrides on the secondary only', () => {
    const v = parse(
      generateNetworkData({ mac: '02:00:00:00:00:01', device: 'eth0' }, { mac, device: 'eth1' }),
    );
    assert.equal(v.version, 2);
    assert.deepEqual(v.ethernets.eth0, {
      match: { macaddress: '02:00:00:00:00:01' },
      'set-name': 'eth0',
      dhcp4: true,
    });
    assert.deepEqual(v.ethernets.eth1['dhcp4-overrides'], { 'use-routes': false, 'use-dns': false });
  });

  it('quotes all-digit MACs so YAML 1.1 readers see a string', () => {
    const text = generateNetworkData(undefined, { mac, device: 'eth1' });
    assert.ok(text.includes(`'${mac}'`));
    const merged = mergeNetworkData('version: 2\nethernets: {}\n', mac);
    assert.ok('text' in merged && merged.text.includes(`'${mac}'`));
  });

  it('adds to v2 under a network: key and keeps comments', () => {
    const r = mergeNetworkData(
      '# mine\nnetwork:\n  version: 2\n  ethernets:\n    eth1: {dhcp4: true}\n',
      mac,
    );
    assert.ok('text' in r);
    assert.equal(r.device, 'eth2', 'eth1 is taken');
    assert.ok(r.text.startsWith('# mine'));
    const v = parse(r.text);
    assert.deepEqual(v.network.ethernets.eth1, { dhcp4: true });
    assert.equal(v.network.ethernets.eth2.match.macaddress, mac);
  });

  it('adds a physical entry to v1', () => {
    const r = mergeNetworkData('version: 1\nconfig:\n- {type: physical, name: eth0}\n', mac);
    assert.ok('text' in r && r.version === 1);
    assert.deepEqual(parse(r.text).config[1], {
      type: 'physical',
      name: 'eth1',
      mac_address: mac,
      subnets: [{ type: 'dhcp4' }],
    });
  });

  it('notices the NIC is described already', () => {
    const r = mergeNetworkData(`version: 2\nethernets:\n  l2:\n    match: {macaddress: "${mac}"}\n`, mac);
    assert.ok('error' in r && r.alreadyPresent === true && r.device === 'l2');
  });

  it('reports what it cannot merge', () => {
    for (const bad of ['version: 3\n', '[1, 2]\n', 'a: [\n', 'version: 2\nethernets: [1]\n']) {
      const r = mergeNetworkData(bad, mac);
      assert.ok('error' in r, bad);
    }
  });
});
