// VirtualMachines as the webhook leaves them (the seed's shape): pod network first, the
// injected Multus network `l2` on ovs-net-br1 with a bridge interface, and the status and
// interface annotations the engine records. Tests add the publication annotations.
import type { VirtualMachine } from '../../src/controller/types.js';

export function seedVm(
  name: string,
  namespace: string,
  annotations: Record<string, string> = {},
): VirtualMachine {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      namespace,
      annotations: {
        'kubevirt-net-injector.io/status': 'injected',
        'kubevirt-net-injector.io/interface': 'l2',
        ...annotations,
      },
    },
    spec: {
      running: true,
      template: {
        metadata: { labels: { 'kubevirt.io/domain': name } },
        spec: {
          domain: {
            devices: {
              disks: [{ name: 'containerdisk', disk: { bus: 'virtio' } }],
              interfaces: [
                { name: 'default', masquerade: {} },
                { name: 'l2', bridge: {} },
              ],
            },
            resources: { requests: { memory: '1Gi' } },
          },
          networks: [
            { name: 'default', pod: {} },
            { name: 'l2', multus: { networkName: 'ovs-net-br1' } },
          ],
          volumes: [
            {
              name: 'containerdisk',
              containerDisk: { image: 'quay.io/kubevirt/fedora-cloud-container-disk-demo' },
            },
          ],
        },
      },
    },
  };
}
