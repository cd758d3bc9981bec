# The container image (Dockerfile): one image, webhook and controller. Built with podman; where no
# registry is reachable (this project's machines), `image-bases` imports local stand-ins for the
# two base images under their real names and the build never pulls (IMAGE_PULL=never). Anywhere
# else: make image IMAGE_PULL=missing (or always) pulls the real bases and skips the stand-ins.
.PHONY: image image-bases test-image

IMAGE ?= localhost/kubevirt-net-injector:dev
IMAGE_PULL ?= never
# cgroups v1 without CAP_SYS_RESOURCE here: runc with cgroupfs, and limits the runtime may set.
PODMAN ?= podman --runtime runc --cgroup-manager=cgroupfs
PODMAN_LIMITS ?= --ulimit nofile=1024:1024 --ulimit nproc=4096:4096
# The npm steps reach the registry with the host's trust store (a TLS-inspecting proxy's CA
# included, where there is one); mounted for the build only, never kept in the image.
IMAGE_BUILD_CA ?= $(firstword $(wildcard $(NODE_EXTRA_CA_CERTS) /etc/ssl/certs/ca-certificates.crt))
export PODMAN PODMAN_LIMITS IMAGE

image-bases: ## import stand-ins for the Dockerfile's base images (no registry here; cached in .cache/image)
	@if [ "$(IMAGE_PULL)" = never ]; then bash hack/image/standin-bases.sh; fi

image: image-bases ## build the image with podman (IMAGE=..., IMAGE_PULL=never|missing|always)
	$(PODMAN) build --pull=$(IMAGE_PULL) --network=host $(PODMAN_LIMITS) \
	  $(if $(IMAGE_BUILD_CA),--volume $(abspath $(IMAGE_BUILD_CA)):/run/build-ca.crt:ro --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt) \
	  --tag $(IMAGE) --file Dockerfile .
	@$(PODMAN) image inspect --format 'image: $(IMAGE) {{.Size}} bytes, user {{.Config.User}}' $(IMAGE)

test-image: image controlplane build ## the image for real: webhook (non-root, read-only root) registered with the test apiserver, controller
	SUITE=image $(MOCHA) --timeout 120000 'dist/test/image/**/*.test.js'

PREREQ_LISTS += image
PREREQ_TARGETS += image-bases

TEST_SUITES += test-image
