#!/usr/bin/env bash
# Makes every Secret deploy/kubernetes needs, with fresh keys, as one manifest to apply before (or after)
# `kubectl apply -k deploy/kubernetes`:
#
#   deploy/kubernetes/make-secrets.sh OUT_DIR        # needs openssl and kubectl (no cluster: --dry-run=client)
#   kubectl apply -f OUT_DIR/secrets.yaml            # the namespace must exist: apply -k first, or create it
#
#   buildkit-daemon-certs         ca.pem cert.pem key.pem    buildkitd's server certificate, for every name in
#                                                            CODEHUB_BUILDERS (buildkitd-N.buildkitd, N < BUILDKITD_REPLICAS)
#   buildkit-client-certs         ca.pem cert.pem key.pem    codehub-build's client certificate (mounted at /certs)
#   codehub-build-registry-token  registry-token.key .crt    codehub-build signs registry tokens with the key; the
#                                                            registry trusts the certificate
#   minio                         root-user root-password    MinIO's root credentials
#   registry-s3                   access-key secret-key      the registry's own MinIO user (minio-setup creates it),
#                                 http-secret                and its http.secret
#
# The same layout as BuildKit's examples/kubernetes/create-certs.sh (which uses mkcert): its output works too.
# OUT_DIR keeps the keys (the buildkit CA key too, to sign more names later): keep it somewhere safe, or delete it
# once applied. It refuses to overwrite an existing OUT_DIR.
# Environment: NAMESPACE (codehub-build), BUILDKITD_REPLICAS (2), DAYS (825: buildkit certificates' lifetime).
set -euo pipefail
out=${1:?usage: $0 OUT_DIR}
ns=${NAMESPACE:-codehub-build}
replicas=${BUILDKITD_REPLICAS:-2}
days=${DAYS:-825}
[ -e "$out" ] && { echo "$out exists: not overwriting its keys (choose a new OUT_DIR)" >&2; exit 1; }
command -v openssl >/dev/null && command -v kubectl >/dev/null || { echo "needs openssl and kubectl" >&2; exit 1; }
umask 077
mkdir -p "$out/buildkit/daemon" "$out/buildkit/client" "$out/registry-token" "$out/minio" "$out/registry-s3"
cd "$out"

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# BuildKit's mutual TLS: one CA, a server certificate naming every buildkitd pod, a client certificate.
ec_key buildkit/ca-key.pem
openssl req -x509 -new -key buildkit/ca-key.pem -out buildkit/ca.pem -days 3650 -subj "/CN=codehub-build buildkit CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
sans=""
for ((i = 0; i < replicas; i++)); do
  for name in "buildkitd-$i.buildkitd" "buildkitd-$i.buildkitd.$ns" "buildkitd-$i.buildkitd.$ns.svc"; do
    sans="${sans:+$sans,}DNS:$name"
  done
done
leaf() { # DIR CN EXTENSIONS
  ec_key "$1/key.pem"
  openssl req -new -key "$1/key.pem" -subj "/CN=$2" -out "$1/csr.pem"
  printf '%s\n' "$3" > "$1/ext.cnf"
  openssl x509 -req -in "$1/csr.pem" -CA buildkit/ca.pem -CAkey buildkit/ca-key.pem -CAcreateserial -days "$days" \
    -extfile "$1/ext.cnf" -out "$1/cert.pem" 2>/dev/null
  rm "$1/csr.pem" "$1/ext.cnf"
  cp buildkit/ca.pem "$1/ca.pem"
}
leaf buildkit/daemon buildkitd "$(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature' "$sans")"
leaf buildkit/client codehub-build "$(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature')"

# The registry token pair (RS256 needs RSA), as codehub-build makes it on a first start without one.
openssl req -x509 -newkey rsa:2048 -nodes -keyout registry-token/registry-token.key -out registry-token/registry-token.crt \
  -days 3650 -subj /CN=codehub-build-registry-token 2>/dev/null

rand() { openssl rand -hex "$1"; }
printf 'codehub-minio-admin' > minio/root-user
rand 24 > minio/root-password
printf 'codehub-registry' > registry-s3/access-key
rand 24 > registry-s3/secret-key
rand 32 > registry-s3/http-secret

secret() { # NAME DIR KEY...
  local name=$1 dir=$2; shift 2
  local args=()
  for key in "$@"; do args+=("--from-file=$key=$dir/$key"); done
  echo "---"
  kubectl create secret generic "$name" --namespace "$ns" "${args[@]}" --dry-run=client -o yaml | grep -v '^  creationTimestamp: null$'
}
{
  secret buildkit-daemon-certs buildkit/daemon ca.pem cert.pem key.pem
  secret buildkit-client-certs buildkit/client ca.pem cert.pem key.pem
  secret codehub-build-registry-token registry-token registry-token.key registry-token.crt
  secret minio minio root-user root-password
  secret registry-s3 registry-s3 access-key secret-key http-secret
} > secrets.yaml
echo "wrote $out/secrets.yaml (namespace $ns; buildkitd names: ${sans//DNS:/})"
