#!/usr/bin/env bash
# The self-signed path (no cert-manager): a CA and a serving certificate for the webhook
# Service, written to DIR (default certs/out, gitignored), plus the Secret manifest and the
# caBundle to put into manifests/webhook-configuration.yaml. Re-run to rotate: the webhook
# reloads the mounted files; re-apply the caBundle when the CA changes.
# usage: certs/gen.sh [DIR] [SERVICE] [NAMESPACE] [EXTRA_SAN...]   e.g. IP:127.0.0.1
set -euo pipefail
dir=${1:-"$(dirname "$0")/out"}
svc=${2:-kubevirt-net-injector-webhook}
ns=${3:-kubevirt-net-injector}
shift $(( $# > 3 ? 3 : $# ))
mkdir -p "$dir"
cd "$dir"
sans="DNS:$svc,DNS:$svc.$ns,DNS:$svc.$ns.svc"
for extra in "$@"; do sans="$sans,$extra"; done

if [ ! -f ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=kubevirt-net-injector-ca" -keyout ca.key -out ca.crt 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=$svc.$ns.svc" -keyout tls.key.new -out tls.csr 2>/dev/null
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
  -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' "$sans") \
  -out tls.crt.new 2>/dev/null
# Key first, then certificate: a reader that sees the new certificate also sees its key.
mv tls.key.new tls.key
mv tls.crt.new tls.crt
rm -f tls.csr
base64 -w0 < ca.crt > ca-bundle.b64
cat > secret.yaml <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: kubevirt-net-injector-webhook-tls
  namespace: $ns
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 < tls.crt)
  tls.key: $(base64 -w0 < tls.key)
  ca.crt: $(base64 -w0 < ca.crt)
YAML
echo "wrote $dir: ca.crt tls.crt tls.key secret.yaml ca-bundle.b64 (SANs: $sans)"
