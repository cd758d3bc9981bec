// How the guest-boot suite reads a guest's serial console (test/guests/boot.ts): which deaths it
// boots again (a kernel oops) and which it reports as they are.
import { strict as assert } from 'node:assert';
import { GuestBootError, kernelOopsed } from '../../guests/boot.js';

const OOPS = [
  '[  661.953580] ---[ end trace 0000000000000000 ]---',
  '[  661.953766] RIP: 0010:kmem_cache_alloc_node_noprof+0x110/0x310',
  '[  661.964167] Kernel panic - not syncing: Fatal exception in interrupt',
  '[  661.965267] Kernel Offset: 0x17a00000 from 0xffffffff81000000',
].join('\n');

describe('guest console: kernel oops', function () {
  it('recognises a panic on an oops, in interrupt context or not', function () {
    assert.equal(kernelOopsed(OOPS), true);
    assert.equal(kernelOopsed('[ 12.3] Kernel panic - not syncing: Fatal exception'), true);
  });

  it('does not take a panic the guest itself can cause, or a normal boot, for one', function () {
    // user space (cloud-init included) that kills init, and a root that does not mount
    assert.equal(
      kernelOopsed('[ 9.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b'),
      false,
    );
    assert.equal(kernelOopsed('[ 2.0] Kernel panic - not syncing: VFS: Unable to mount root fs'), false);
    assert.equal(kernelOopsed('[ 180.46] reboot: Power down'), false);
  });

  it('marks the boot error, so the suite boots that guest again', function () {
    assert.equal(
      new GuestBootError('trixie/nm guest: its kernel panicked on an oops', OOPS).kernelOops,
      true,
    );
    assert.equal(new GuestBootError('trixie/nm guest did not power off', 'login:').kernelOops, false);
  });
});
