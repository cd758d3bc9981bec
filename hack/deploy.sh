#!/usr/bin/env bash
# make manifests / deploy / undeploy: renders manifests/overlays/OVERLAY with the image set, then
# prints it, applies it (server-side) or deletes it. KUBECTL picks the kubectl (default: kubectl).
# usage: hack/deploy.sh render|apply|delete OVERLAY IMAGE
set -euo pipefail
cd "$(dirname "$0")/.."
action=$1 overlay=$2 image=$3
kubectl=(${KUBECTL:-kubectl})
dir="manifests/overlays/$overlay"
[[ -f "$dir/kustomization.yaml" ]] || {
  echo "deploy: no overlay $dir (overlays: $(ls manifests/overlays | tr '\n' ' '))" >&2
  exit 2
}
if [[ "$overlay" == self-signed && ! -f "$dir/ca-bundle.yaml" ]]; then
  echo "deploy: the self-signed overlay has no certificates yet; run: make certs" >&2
  exit 2
fi
# The image is set on a copy of the overlay, so the repository's files stay as they are.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work" "$dir")
images:
  - name: kubevirt-net-injector
    newName: ${image%:*}
    newTag: ${image##*:}
YAML
[[ "$image" == *:* && "${image##*:}" != */* ]] || {
  echo "deploy: IMAGE must be name:tag, got '$image'" >&2
  exit 2
}
case "$action" in
render) "${kubectl[@]}" kustomize --load-restrictor LoadRestrictionsNone "$work" ;;
apply)
  "${kubectl[@]}" kustomize --load-restrictor LoadRestrictionsNone "$work" >"$work/all.yaml"
  "${kubectl[@]}" apply --server-side --field-manager kubevirt-net-injector-deploy -f "$work/all.yaml"
  "${kubectl[@]}" -n kubevirt-net-injector rollout status deployment --timeout 180s
  ;;
delete)
  "${kubectl[@]}" kustomize --load-restrictor LoadRestrictionsNone "$work" >"$work/all.yaml"
  "${kubectl[@]}" delete --ignore-not-found -f "$work/all.yaml"
  ;;
*)
  echo "usage: hack/deploy.sh render|apply|delete OVERLAY IMAGE" >&2
  exit 2
  ;;
esac
