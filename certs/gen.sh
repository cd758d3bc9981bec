#!/usr/bin/env bash
# The self-signed path (no cert-manager), run by `make certs`: a CA and a serving certificate for
# the webhook's Service, written into the self-signed overlay (gitignored there):
#   ca.crt, ca.key     the CA (10 years); kept when present, so a re-run renews only the serving
#                      pair and the caBundle already registered stays valid
#   tls.crt, tls.key   the serving pair (1 year), SANs: the Service's DNS names (+ EXTRA_SAN)
#   ca-bundle.yaml     the CA, base64, as a local-config ConfigMap the overlay copies into every
#                      webhook configuration's caBundle (kustomize never emits it)
# Rotate: re-run and `kubectl apply -k` again; the webhook reloads the mounted files itself.
# usage: certs/gen.sh [OVERLAY_DIR] [EXTRA_SAN...]   e.g. IP:127.0.0.1
#        (default manifests/overlays/self-signed; SERVICE and NAMESPACE from the environment)
set -euo pipefail
dir=${1:-"$(dirname "$0")/../manifests/overlays/self-signed"}
shift $(($# > 0 ? 1 : 0))
svc=${SERVICE:-kubevirt-net-injector-webhook}
ns=${NAMESPACE:-kubevirt-net-injector}
mkdir -p "$dir"
cd "$dir"
umask 077
sans="DNS:$svc,DNS:$svc.$ns,DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local"
for extra in "$@"; do sans="$sans,$extra"; done

if [ ! -f ca.key ] || [ ! -f ca.crt ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=kubevirt-net-injector-ca" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -keyout ca.key -out ca.crt 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=$svc.$ns.svc" -keyout tls.key.new -out tls.csr 2>/dev/null
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
  -extfile <(printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' "$sans") \
  -out tls.crt.new 2>/dev/null
# Key first, then certificate: a reader that sees the new certificate also sees its key.
mv tls.key.new tls.key
mv tls.crt.new tls.crt
rm -f tls.csr
chmod 644 ca.crt tls.crt
cat >ca-bundle.yaml <<YAML
# Written by certs/gen.sh: the CA for the webhook configurations' caBundle (local config only).
apiVersion: v1
kind: ConfigMap
metadata:
  name: kubevirt-net-injector-ca-bundle
  annotations:
    config.kubernetes.io/local-config: "true"
data:
  caBundle: $(base64 -w0 <ca.crt)
YAML
echo "certs: wrote $(pwd): ca.crt ca.key tls.crt tls.key ca-bundle.yaml (SANs: $sans)"
