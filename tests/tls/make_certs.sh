#!/usr/bin/env bash
# Throw-away certificates for the TLS tests, made at test time:
#   ca.pem/ca.key           the test CA
#   other_ca.pem            an unrelated CA (wrong-CA case)
#   server.pem/server.key   CN=localhost, SAN DNS:localhost,
#                           DNS:*.test.example.com, IP:127.0.0.1, IP:::1
#   expired.pem/expired.key the same names, validity over in 2020
#   client.pem/client.key   CN=test-client (mutual TLS)
# Usage: make_certs.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
q() { "$@" > /dev/null 2>&1; }

q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
  -days 30 -subj "/CN=tern test CA"
q openssl req -x509 -newkey rsa:2048 -nodes -keyout other_ca.key \
  -out other_ca.pem -days 30 -subj "/CN=some other CA"

cat > server.ext <<'X'
subjectAltName = DNS:localhost, DNS:*.test.example.com, IP:127.0.0.1, IP:::1
X
q openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
  -subj "/CN=localhost"
q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
  -CAcreateserial -out server.pem -days 30 -extfile server.ext

q openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
  -subj "/CN=test-client"
q openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key \
  -CAcreateserial -out client.pem -days 30

# An expired certificate needs explicit dates: `openssl ca` sets them.
mkdir -p cadb
: > cadb/index.txt
echo 1000 > cadb/serial
cat > ca.cnf <<X
[ca]
default_ca = test
[test]
dir = $PWD/cadb
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $PWD/ca.pem
private_key = $PWD/ca.key
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
X
q openssl req -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr \
  -subj "/CN=localhost"
q openssl ca -batch -config ca.cnf -in expired.csr -out expired.pem \
  -startdate 20200101000000Z -enddate 20200102000000Z -extfile server.ext
echo "certificates in $dir"
