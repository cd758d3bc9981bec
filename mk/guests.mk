# Guest boots (test/guests): Debian 12 images per network stack booted under QEMU with
# the injected cloud-init. Not part of TEST_SUITES: CI runs `make test-guests` after `make test`.
.PHONY: guest-images test-guests

guest-images: ## build the Debian 12 guest images (cached in .cache/guests)
	bash test/guests/build-images.sh

test-guests: guest-images build ## boot a guest per network stack under QEMU with the injected cloud-init
	SUITE=guests $(MOCHA) --timeout 900000 'dist/test/guests/**/*.test.js'
