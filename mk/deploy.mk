# Install on a real cluster with kubectl (KubeVirt, Multus and a NetworkAttachmentDefinition in
# place; cert-manager, or `make certs` first). OVERLAY picks manifests/overlays/NAME; IMAGE is the
# image reference the cluster pulls (push it there first).
.PHONY: certs deploy undeploy manifests

OVERLAY ?= cert-manager
KUBECTL ?= kubectl
DEPLOY_IMAGE ?= $(IMAGE)

certs: ## self-signed CA + serving certificate + caBundle into manifests/overlays/self-signed (gitignored)
	bash certs/gen.sh manifests/overlays/self-signed

manifests: ## print the manifests of OVERLAY with IMAGE set (what make deploy applies)
	@bash hack/deploy.sh render "$(OVERLAY)" "$(DEPLOY_IMAGE)"

deploy: ## kubectl apply OVERLAY (cert-manager|self-signed) with IMAGE=<registry/name:tag>
	bash hack/deploy.sh apply "$(OVERLAY)" "$(DEPLOY_IMAGE)"

undeploy: ## kubectl delete what make deploy applied (OVERLAY as for deploy)
	bash hack/deploy.sh delete "$(OVERLAY)" "$(DEPLOY_IMAGE)"
