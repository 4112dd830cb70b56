#!/usr/bin/env bash
# it_tls.sh — TLS (tls.c over BearSSL) under Wine against nats-server 2.9.10
# with certificates made here by Debian's openssl: a good chain by IP and by
# name, an EC chain, a CA bundle, an unknown CA, a name mismatch, an expired
# certificate, and mutual TLS (verify: true) with EC and RSA (PKCS#8) keys.
source "$(dirname "$0")/lib.sh"
T="$BUILD/wtest/tool_nats.exe"
[ -x "$T" ] || { bad "missing $T (make units)"; t_summary; exit 1; }

# ---- a private PKI ------------------------------------------------------
P="$T_DIR/pki"
mkdir -p "$P/newcerts"
(
    set -e
    cd "$P"
    q() { "$@" >/dev/null 2>&1; }
    ca_ext="-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
    q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 -subj "/CN=Kanade Test CA" $ca_ext
    q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca2.key -out ca2.pem -days 3650 -subj "/CN=Unrelated EC CA" $ca_ext
    cat ca2.pem ca.pem > bundle.pem
    printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' > srv.ext
    printf 'subjectAltName=DNS:nats.example\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' > other.ext
    printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n' > cli.ext
    # server (RSA), the same name-less one, an EC server under the EC CA
    q openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=nats-test"
    q openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 30 -extfile srv.ext
    q openssl req -newkey rsa:2048 -nodes -keyout other.key -out other.csr -subj "/CN=nats-other"
    q openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out other.pem -days 30 -extfile other.ext
    q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srvec.key -out srvec.csr -subj "/CN=nats-ec"
    q openssl x509 -req -in srvec.csr -CA ca2.pem -CAkey ca2.key -CAcreateserial -out srvec.pem -days 30 -extfile srv.ext
    # expired: valid 2020-01-01 .. 2020-01-02 (openssl ca takes explicit dates)
    : > index.txt; echo 1000 > serial
    printf '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=newcerts\nserial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n' > ca.cnf
    q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in srv.csr -out expired.pem \
        -startdate 200101000000Z -enddate 200102000000Z -extfile srv.ext -notext
    # clients: EC key (SEC1 "EC PRIVATE KEY"), RSA key (PKCS#8 "PRIVATE KEY")
    q openssl ecparam -name prime256v1 -genkey -noout -out cli-ec.key
    q openssl req -new -key cli-ec.key -out cli-ec.csr -subj "/CN=client-ec"
    q openssl x509 -req -in cli-ec.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli-ec.pem -days 30 -extfile cli.ext
    q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out cli-rsa.key
    q openssl req -new -key cli-rsa.key -out cli-rsa.csr -subj "/CN=client-rsa"
    q openssl x509 -req -in cli-rsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cli-rsa.pem -days 30 -extfile cli.ext
    # a client certificate from the unrelated CA (the server must refuse it)
    q openssl req -new -key cli-ec.key -out cli-bad.csr -subj "/CN=client-bad"
    q openssl x509 -req -in cli-bad.csr -CA ca2.pem -CAkey ca2.key -CAcreateserial -out cli-bad.pem -days 30 -extfile cli.ext
) || { bad "openssl could not build the test PKI"; t_summary; exit 1; }
check_match "expired certificate has 2020 dates" "$(openssl x509 -in "$P/expired.pem" -noout -enddate)" 'Jan  2 00:00:00 2020'
check_match "EC client key is SEC1" "$(head -1 "$P/cli-ec.key")" 'BEGIN EC PRIVATE KEY'
check_match "RSA client key is PKCS#8" "$(head -1 "$P/cli-rsa.key")" 'BEGIN PRIVATE KEY'

wine_prefix
tool() { w "$T" "$@" 2>&1; }
wait_line() {
    local i
    for i in $(seq 1 $((${3:-20} * 10))); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
# tls_server NAME CERT KEY [extra tls lines]: sets URL port PORT_NAME
tls_server() {
    local n=$1 cert=$2 key=$3 extra=${4:-}
    cat >"$T_DIR/$n.conf" <<EOF
tls {
  cert_file: "$P/$cert"
  key_file: "$P/$key"
  timeout: 5
  $extra
}
EOF
    NATS_PORT= NATS_SD=
    nats_start -c "$T_DIR/$n.conf" || { bad "nats-server $n did not start"; return 1; }
    eval "PORT_$n=$NATS_PORT PID_$n=$NATS_PID SD_$n=$NATS_SD"
}

tls_server good srv.pem srv.key
tls_server other other.pem other.key
tls_server expired expired.pem srv.key
tls_server mtls srv.pem srv.key "ca_file: \"$P/ca.pem\"
  verify: true"
tls_server ec srvec.pem srvec.key
# Servers that offer only suites the client leaves out: static RSA key
# exchange, and ECDHE with CBC.
tls_server staticrsa srv.pem srv.key "cipher_suites: [\"TLS_RSA_WITH_AES_128_CBC_SHA\", \"TLS_RSA_WITH_AES_256_CBC_SHA\"]"
tls_server cbc srv.pem srv.key "cipher_suites: [\"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\"]"
tls_server chacha srv.pem srv.key "cipher_suites: [\"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305\"]"
NATS_PORT= NATS_SD=
nats_start
PLAIN=$NATS_PORT

# the good server once more, on the IPv6 loopback
V6=$(free_port)
nats-server -p "$V6" -a ::1 -c "$T_DIR/good.conf" >>"$T_DIR/nats-v6.log" 2>&1 &
T_PIDS+=("$!")
for i in $(seq 1 50); do (exec 3<>"/dev/tcp/::1/$V6") 2>/dev/null && break; sleep 0.1; done

G="tls://127.0.0.1:$PORT_good"
echo "# good chain and name"
check_match "tls:// by IP (iPAddress SAN)" "$(tool --server "$G" --ca "$P/ca.pem" conn)" '^connected max_payload=1048576'
check_match "tls:// by DNS name (dNSName SAN)" "$(tool --server "tls://localhost:$PORT_good" --ca "$P/ca.pem" conn)" '^connected '
check_match "nats:// upgraded because the server requires TLS" "$(tool --server "nats://127.0.0.1:$PORT_good" --ca "$P/ca.pem" conn)" '^connected '
check_match "tls://[::1] (IPv6 iPAddress SAN)" "$(tool --server "tls://[::1]:$V6" --ca "$P/ca.pem" conn)" '^connected '
check_match "CA bundle with an unrelated CA first" "$(tool --server "$G" --ca "$P/bundle.pem" conn)" '^connected '
check_match "EC server chain under an EC trust anchor" "$(tool --server "tls://127.0.0.1:$PORT_ec" --ca "$P/ca2.pem" conn)" '^connected '
o=$(tool --server "$G" --ca "$P/ca.pem" --timeout 20000 roundtrip tls.rt 32)
check_match "pub/sub over TLS: 32 messages up to 1 MiB, every byte checked" "$o" '^roundtrip ok 32 messages'
wine "$T" --server "$G" --ca "$P/ca.pem" --timeout 20000 reply tls.svc 3 >"$T_DIR/rep.out" 2>&1 &
T_PIDS+=("$!"); rp=$!
wait_line "$T_DIR/rep.out" '^ready' || bad "TLS responder not ready"
for i in 1 2 3; do
    check_eq "request/reply over TLS ($i)" "$(tool --server "$G" --ca "$P/ca.pem" req tls.svc "q$i")" "reply re:q$i"
done
wait "$rp"

echo "# refusals, with the cause named"
o=$(tool --server "$G" --ca "$P/ca2.pem" conn)
check_match "unknown CA refused" "$o" '^error TLS: .*certificate not trusted \(unknown CA\)'
o=$(tool --server "tls://127.0.0.1:$PORT_other" --ca "$P/ca.pem" conn)
check_match "IP not in the certificate: name mismatch" "$o" "^error TLS: .*name mismatch.*not valid for host '127.0.0.1'"
o=$(tool --server "tls://localhost:$PORT_other" --ca "$P/ca.pem" conn)
check_match "DNS name not in the certificate: name mismatch" "$o" "^error TLS: .*name mismatch.*not valid for host 'localhost'"
o=$(tool --server "tls://127.0.0.1:$PORT_expired" --ca "$P/ca.pem" conn)
check_match "expired certificate refused" "$o" '^error TLS: .*certificate expired or not yet valid'
o=$(tool --server "nats://127.0.0.1:$PORT_good" conn)
check_match "server requires TLS, no CA configured" "$o" '^error TLS: .*requires TLS but no CA file'
o=$(tool --server "tls://127.0.0.1:$PLAIN" --ca "$P/ca.pem" conn)
check_match "tls:// to a server without TLS" "$o" '^error TLS: .*does not offer TLS'
o=$(tool --server "tls://127.0.0.1:$PORT_staticrsa" --ca "$P/ca.pem" conn)
check_match "a server offering only static-RSA suites is refused" "$o" '^error TLS: .*(no common cipher suite|alert 40 \(handshake_failure\); no common cipher suite)'
o=$(tool --server "tls://127.0.0.1:$PORT_cbc" --ca "$P/ca.pem" conn)
check_match "a server offering only ECDHE with CBC is refused" "$o" '^error TLS: .*(no common cipher suite|alert 40 \(handshake_failure\); no common cipher suite)'
check_match "ECDHE-RSA with ChaCha20-Poly1305 is accepted" "$(tool --server "tls://127.0.0.1:$PORT_chacha" --ca "$P/ca.pem" conn)" '^connected '
o=$(tool --server "$G" --ca "$P/missing.pem" conn)
check_match "missing CA file" "$o" "^error TLS: cannot read CA file '.*missing.pem'"
o=$(tool --server "$G" --ca "$P/srv.ext" conn)
check_match "CA file without certificates" "$o" '^error TLS: CA file .* contains no certificate'
o=$(tool --server "$G" --ca "$P/ca.pem" --cert "$P/cli-ec.pem" conn)
check_match "cert without key refused" "$o" '^error TLS: a client certificate needs both'

echo "# mutual TLS (verify: true)"
M="tls://127.0.0.1:$PORT_mtls"
o=$(tool --server "$M" --ca "$P/ca.pem" conn)
check_match "no client certificate: refused" "$o" '^error TLS: .*(refused the handshake|closed the connection during the TLS handshake)'
check_match "  and the message points at the client certificate" "$o" 'client certificate'
o=$(tool --server "$M" --ca "$P/ca.pem" --cert "$P/cli-bad.pem" --key "$P/cli-ec.key" conn)
check_match "client certificate from an unknown CA: refused" "$o" '^error TLS: .*(alert 42 \(bad_certificate\)|refused the client certificate)'
o=$(tool --server "$M" --ca "$P/ca.pem" --cert "$P/cli-ec.pem" --key "$P/cli-ec.key" conn)
check_match "EC client certificate accepted" "$o" '^connected '
o=$(tool --server "$M" --ca "$P/ca.pem" --cert "$P/cli-rsa.pem" --key "$P/cli-rsa.key" --timeout 20000 roundtrip mtls.rt 8)
check_match "RSA (PKCS#8) client certificate accepted, traffic flows" "$o" '^roundtrip ok 8 messages'
o=$(tool --server "$M" --ca "$P/ca.pem" --cert "$P/cli-ec.pem" --key "$P/cli-rsa.key" conn)
check_match "certificate and key that do not match: refused" "$o" '^error TLS: .*(alert 51 \(decrypt_error\); the client key may not match|refused the client certificate)'

echo "# reconnect over TLS"
wine "$T" --server "$G" --ca "$P/ca.pem" --reconnect-min 200 --reconnect-max 1000 --timeout 60000 watch tls.re 2 >"$T_DIR/watch.out" 2>&1 &
T_PIDS+=("$!"); wp=$!
wait_line "$T_DIR/watch.out" '^ready' || bad "TLS watcher not ready"
check_eq "publish before restart" "$(tool --server "$G" --ca "$P/ca.pem" pub tls.re one)" "published 1"
wait_line "$T_DIR/watch.out" 'data=one' 10 || bad "first message missing"
NATS_PORT=$PORT_good NATS_SD=$SD_good NATS_PID=$PID_good
nats_restart -c "$T_DIR/good.conf"
if wait_line "$T_DIR/watch.out" '^event reconnected' 30; then ok "TLS connection re-established"; else bad "no TLS reconnect: $(tail -3 "$T_DIR/watch.out")"; fi
check_eq "publish after restart" "$(tool --server "$G" --ca "$P/ca.pem" pub tls.re two)" "published 1"
wait "$wp"
check_match "message after the restart arrived" "$(tr -d '\r' <"$T_DIR/watch.out")" 'received 2 gen=2'

t_summary
