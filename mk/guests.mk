# Guest boots (test/guests): Debian 12 and 13 images per network stack booted under QEMU with
# the injected cloud-init. Not part of TEST_SUITES: CI (.ci/run) runs `make test-guests` beside `make test`.
.PHONY: guest-images cloudinit-roots test-guests

guest-images: ## build the Debian 12 and 13 guest images (cached in .cache/guests)
	bash test/guests/build-images.sh

cloudinit-roots: ## Debian 13's tree, whose cloud-init (25.1) the renderer suite runs with chroot
	bash test/guests/build-images.sh trixie/cloudinit-root

# The renderer suite renders with Debian 13's cloud-init as well as this machine's.
test-cloudinit: cloudinit-roots

# A guest's boots are bounded by GUEST_BOOT_TIMEOUT_MS each (30 min); mocha's bound is above two of them.
test-guests: guest-images build ## boot every guest twice under QEMU with the injected cloud-init
	SUITE=guests $(MOCHA) --timeout 4000000 'dist/test/guests/**/*.test.js'
