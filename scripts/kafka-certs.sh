#!/usr/bin/env bash
# The throwaway CA and certificates of the secured broker (KAFKA_SECURITY=1,
# docs/security.md), made with openssl into .kafka/secure (git-ignored). Made
# once and reused; if any file is missing, the whole set is made again (a new
# CA, so clients must reload ca.pem). kafka-start.sh runs this; run it alone to
# make them without a broker. `scripts/kafka-certs.sh --force` remakes them.
#
# For development only: the keys are unencrypted PEM, or sit in the broker's
# PKCS12 stores under the fixed password of lib.sh (KD_STORE_PASSWORD, also in
# config/server-secure.properties). EC P-256 keys: they take no time to make,
# and Java, librdkafka (kcat) and rustls all accept them.
#
#   ca.pem, ca-key.pem               the CA (CN=kafkademo dev CA), 10 years
#   broker.p12                       the broker's key, certificate and CA (PKCS12):
#   broker.pem, broker-key.pem         CN=kafkademo-broker, SAN IP:127.0.0.1 only,
#                                      so a client that connects as "localhost"
#                                      fails host name verification
#   broker-expired.p12               the EXPIRED listener's store (PKCS12):
#   broker-expired.pem, -key.pem       same CA and SAN, valid from 30 days ago
#                                      to 1 day ago (when it was made)
#   alice.pem, alice-key.pem         client certificate CN=alice,O=kafkademo
#                                      (User:alice on the SSL listener) and its
#                                      unencrypted PKCS#8 key
#   alice-keystore.pem               alice-key.pem and alice.pem in one file,
#                                      the Java client's PEM keystore
#                                      (config/secure/alice-ssl.properties)
#   other-ca.pem, other-ca-key.pem   an unrelated CA: trusting it instead of
#                                      ca.pem must fail
#   other-alice.pem, -key.pem        CN=alice signed by other-ca: the broker
#                                      must refuse it on the SSL listener
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

force=0
case ${1:-} in
'') ;;
--force) force=1 ;;
*) die "usage: ${0##*/} [--force]" ;;
esac

dir=$KD_SECURE_DIR
files=(ca.pem ca-key.pem broker.p12 broker.pem broker-key.pem broker-expired.p12
  broker-expired.pem broker-expired-key.pem alice.pem alice-key.pem alice-keystore.pem
  other-ca.pem other-ca-key.pem other-alice.pem other-alice-key.pem)
if ((!force)); then
  missing=0
  for f in "${files[@]}"; do [[ -s $dir/$f ]] || missing=1; done
  if ((!missing)); then
    say "Certificates in .kafka/secure already made (CA $(openssl x509 -noout -enddate -in "$dir/ca.pem" | sed 's/notAfter=/valid until /'))"
    exit 0
  fi
fi
command -v openssl >/dev/null || die "openssl not found (it makes the secured broker's certificates)"
# A running broker keeps the certificates it read: new ones would not match.
if pid=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN") && [[ $(running_security) == 1 ]]; then
  die "the secured broker runs (pid $pid) with the certificates in .kafka/secure: stop it first (make kafka-down) to make new ones"
fi

start=$(now_ms)
work=$(mktemp -d "${TMPDIR:-/tmp}/kafkademo-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# One config for `openssl req` and `openssl ca`: independent of the system's
# openssl.cnf. `openssl ca` rather than `openssl x509 -req`, because OpenSSL
# 3.0's x509 cannot set a start date in the past (-not_before came in 3.4), and
# the expired certificate needs one.
cat >openssl.cnf <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
default_ca = kd_ca
[ kd_ca ]
database = index.txt
# Read even with -rand_serial (random serials, as a reused CA needs).
serial = serial
new_certs_dir = .
default_md = sha256
policy = kd_policy
unique_subject = no
[ kd_policy ]
commonName = supplied
organizationName = optional
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
# An IP address only, no DNS name: see the header.
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
: >index.txt
echo 01 >serial

ssl() { # quiet openssl; its output only when it fails
  local out
  out=$(openssl "$@" 2>&1) || die "openssl $1 failed: $out"
}
newkey() { ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
# new_ca NAME SUBJECT
new_ca() {
  newkey "$1-key.pem"
  ssl req -config openssl.cnf -x509 -new -key "$1-key.pem" -subj "$2" \
    -extensions v3_ca -days 3650 -sha256 -out "$1.pem"
}
# sign CA NAME SUBJECT EXTENSIONS DATES...: NAME.pem and NAME-key.pem, signed by CA.
sign() {
  local ca=$1 name=$2 subject=$3 ext=$4
  shift 4
  newkey "$name-key.pem"
  ssl req -config openssl.cnf -new -key "$name-key.pem" -subj "$subject" -out "$name.csr"
  # -preserveDN: the subject in the request's order, O then CN (else the
  # policy's). Java names it in RFC 2253 order, last first: "CN=alice,O=kafkademo",
  # which the broker's ssl.principal.mapping.rules turns into User:alice.
  ssl ca -batch -config openssl.cnf -cert "$ca.pem" -keyfile "$ca-key.pem" -rand_serial \
    -preserveDN -extensions "$ext" -notext -in "$name.csr" -out "$name.pem" "$@"
}
# p12 NAME: NAME.p12 with NAME's key, certificate and the CA, for the broker.
p12() {
  ssl pkcs12 -export -in "$1.pem" -inkey "$1-key.pem" -certfile ca.pem -name "$1" \
    -passout "pass:$KD_STORE_PASSWORD" -out "$1.p12"
}
utc() { date -u -d "$1" +%Y%m%d%H%M%SZ; }

new_ca ca '/O=kafkademo/CN=kafkademo dev CA'
sign ca broker /O=kafkademo/CN=kafkademo-broker v3_server -days 825
# CN is not "localhost" either: Java falls back to the CN when a certificate
# has no DNS name, and the localhost test would then pass.
sign ca broker-expired /O=kafkademo/CN=kafkademo-broker-expired v3_server \
  -startdate "$(utc '-30 days')" -enddate "$(utc '-1 day')"
sign ca alice /O=kafkademo/CN=alice v3_client -days 825
p12 broker
p12 broker-expired
# The Java client's PEM keystore file (ssl.keystore.location): key and
# certificate in one file. Unencrypted: Kafka 3.9 and 4.4 read an encrypted one
# (openssl's PBES2) with "PBES2 SecretKeyFactory not available" on Java 17.
cat alice-key.pem alice.pem >alice-keystore.pem
new_ca other-ca '/O=elsewhere/CN=kafkademo other CA'
sign other-ca other-alice /O=kafkademo/CN=alice v3_client -days 825

mkdir -p "$dir"
chmod 700 "$dir"
for f in "${files[@]}"; do
  [[ -s $f ]] || die "openssl made no $f"
  install -m 600 "$f" "$dir/$f"
done
say "Made a CA and certificates in .kafka/secure ($(elapsed "$start")): CA ca.pem, broker SAN IP:127.0.0.1, expired broker certificate (until $(openssl x509 -noout -enddate -in broker-expired.pem | sed 's/notAfter=//')), client alice, untrusted other-ca"
