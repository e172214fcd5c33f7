#!/usr/bin/env bash
# Makes what the secured compose profile (docker-compose.secured.yml) mounts as secrets, into compose/secured/secrets/
# (git-ignored): a CA and, signed by it, the broker's and the registry's TLS certificates; a password per Kafka user;
# the registry accounts' passwords; the management ports' admin token; the model signing key pair. Needs a JDK's
# keytool and openssl. Files that exist are kept, so running it again changes nothing; to start over, delete the
# folder and the profile's volumes (docker compose -f docker-compose.secured.yml down -v): the broker stores the
# users' credentials when its volume is first formatted.
#
#   compose/secured/prepare.sh && docker compose -f docker-compose.secured.yml up --build
set -euo pipefail

out="${1:-$(cd "$(dirname "$0")" && pwd)/secrets}"
# the Kafka users (the same principals as k8s/kafka-users.yaml) and the registry accounts
kafka_users=(admin duoguard-streams duoguard-trainer duoguard-operator duoguard-viewer duoguard-chat duoguard-feedback)
registry_users=(registry-reader registry-writer)
days=825

for tool in keytool openssl; do
  command -v "$tool" >/dev/null || { echo "prepare.sh needs $tool on the PATH" >&2; exit 1; }
done
mkdir -p "$out"
# the folder is the owner's alone; the files in it are world-readable so that the containers' own users (uid 10001,
# the broker's and the registry's) can read them through compose's bind-mounted secrets
chmod 700 "$out"
cd "$out"
umask 022

secret() { # a random secret (letters and digits only: safe in a JAAS line and a command line), written once
  [[ -f "$1" ]] || openssl rand -hex 24 | tr -d '\n' > "$1"
}

for u in "${kafka_users[@]}"; do secret "kafka-$u.password"; done
for u in "${registry_users[@]}"; do secret "$u.password"; done
secret admin-token
secret ca.password
secret kafka-keystore.password
secret registry-keystore.password

if [[ ! -f ca.p12 ]]; then
  keytool -genkeypair -alias ca -dname "CN=duoguard-compose-ca" -ext bc:c -keyalg EC -groupname secp256r1 \
    -validity "$days" -keystore ca.p12 -storetype PKCS12 -storepass:file ca.password
  rm -f ca.crt
fi
[[ -f ca.crt ]] || keytool -exportcert -rfc -alias ca -keystore ca.p12 -storepass:file ca.password -file ca.crt

# a server certificate signed by the CA, for the host names the clients use (the service name, and localhost for
# the ports published on the host), in a PKCS12 keystore with its chain
server_cert() { # NAME DNS-NAMES...
  local name="$1" san="" store="$1-keystore.p12" pw="$1-keystore.password"
  shift
  for d in "$@"; do san="${san:+$san,}dns:$d"; done
  [[ -f "$store" ]] && return
  keytool -genkeypair -alias "$name" -dname "CN=$name" -keyalg EC -groupname secp256r1 -validity "$days" \
    -keystore "$store" -storetype PKCS12 -storepass:file "$pw"
  keytool -certreq -alias "$name" -keystore "$store" -storepass:file "$pw" -file "$name.csr"
  keytool -gencert -alias ca -keystore ca.p12 -storepass:file ca.password -infile "$name.csr" -outfile "$name.crt" \
    -rfc -validity "$days" -ext "SAN=$san" -ext KU=digitalSignature -ext EKU=serverAuth
  keytool -importcert -noprompt -alias ca -file ca.crt -keystore "$store" -storepass:file "$pw"
  keytool -importcert -alias "$name" -file "$name.crt" -keystore "$store" -storepass:file "$pw"
  rm -f "$name.csr"
}
server_cert kafka kafka localhost
server_cert registry registry localhost
# the registry (Quarkus) reads its certificate and key as PEM files
if [[ ! -f registry.key ]]; then
  openssl pkcs12 -in registry-keystore.p12 -passin file:registry-keystore.password -nocerts -nodes 2>/dev/null \
    | openssl pkey -out registry.key
fi

# the model signing key pair: Ed25519, the private key PKCS#8 PEM, the public key X.509 PEM (what
# ./duoguard models keygen writes); only the trainer gets duoguard.key
if [[ ! -f duoguard.key ]]; then
  openssl genpkey -algorithm ed25519 -out duoguard.key
  rm -f duoguard.pub
fi
[[ -f duoguard.pub ]] || openssl pkey -in duoguard.key -pubout -out duoguard.pub

chmod 644 ./*
chmod 600 ca.p12 ca.password # the CA's key is mounted nowhere
echo "secured profile secrets in $out"
