# Local control plane (test/controlplane, test/harness): etcd, kube-apiserver,
# kube-controller-manager and CoreDNS built from Go modules at pinned versions, KubeVirt's and
# Multus's CRDs, the integration suite against them, and make dev-up / dev-down.
.PHONY: controlplane test-integration dev-up dev-down

controlplane: ## build etcd, kube-apiserver, kube-controller-manager, CoreDNS and the CRDs (cached in .cache/controlplane)
	bash test/controlplane/build.sh

test-integration: controlplane ## integration tests against a real kube-apiserver (one control plane for the suite)
	SUITE=integration $(MOCHA) --timeout 120000 --require dist/test/integration/setup.js 'dist/test/integration/**/*.test.js'

dev-up: controlplane build ## local control plane + our webhook (registered) for people and scripts; writes .dev/env
	bash hack/dev-up.sh

dev-down: ## stop everything make dev-up started and remove .dev/
	bash hack/dev-down.sh

TEST_SUITES += test-integration
PREREQ_LISTS += controlplane
PREREQ_TARGETS += controlplane
