#!/usr/bin/env bash
# it_nats.sh — the NATS core client (nats_glue.c over Winsock) under Wine
# against real nats-server 2.9.10 instances: handshake, pub/sub with payload
# checks and reads split across socket reads, max_payload, server PINGs, our
# keepalive and stale detection, request/reply, no responders, timeouts,
# permissions, user/password and token auth, reconnect after a server
# restart, retry before the server exists, and unreachable servers.
source "$(dirname "$0")/lib.sh"
T="$BUILD/wtest/tool_nats.exe"
[ -x "$T" ] || { bad "missing $T (make units)"; t_summary; exit 1; }
wine_prefix

tool() { w "$T" "$@" 2>&1; }
# bg NAME args...: runs the tool in the background, output in $T_DIR/NAME.out
bg() { local n=$1; shift; wine "$T" "$@" >"$T_DIR/$n.out" 2>&1 & T_PIDS+=("$!"); eval "PID_$n=$!"; }
# wait_line FILE REGEX [SECONDS]: waits until FILE has a line matching REGEX
wait_line() {
    local i
    for i in $(seq 1 $((${3:-20} * 10))); do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
out() { tr -d '\r' <"$T_DIR/$1.out"; }
# start_server NAME [nats-server args...]: a new server; sets URL_NAME, PORT_NAME, PID_NAME
start_server() {
    local n=$1; shift
    NATS_PORT= NATS_SD=
    nats_start "$@" || { bad "nats-server $n did not start"; return 1; }
    eval "URL_$n=$NATS_URL PORT_$n=$NATS_PORT PID_$n=$NATS_PID SD_$n=$NATS_SD"
}
conf() { local f="$T_DIR/$1.conf"; cat >"$f"; echo "$f"; }

start_server main
S="--server $URL_main"

echo "# handshake"
o=$(tool $S conn)
check_match "connect + CONNECT/PING/PONG handshake" "$o" '^connected max_payload=1048576 gen=1$'

echo "# pub/sub round trip, payload checks, reads split across recv() calls"
o=$(tool $S --timeout 20000 roundtrip rt.one 48)
check_match "48 messages of 0..1 MiB (PUB and HPUB, every byte checked)" "$o" '^roundtrip ok 48 messages'
bg subA $S --timeout 20000 sub test.a 3
wait_line "$T_DIR/subA.out" '^ready' || bad "subscriber not ready"
o=$(tool $S pub test.a "hello world" 3)
check_eq "publisher" "$o" "published 3"
wait "$PID_subA"
check_eq "subscriber got 3 messages" "$(out subA | grep -c '^msg test.a len=11 .*data=hello world$')" 3

echo "# slow consumer bound"
o=$(tool $S --timeout 30000 slow slow.x)
check_match "queue bounded at 65536 messages" "$o" '^queued 65536 of 70000$'
check_match "slow consumer recorded" "$o" "slow consumer on 'slow.x'"
check_match "delivery resumes once drained" "$o" 'after draining rc=OK data=again'

echo "# nats_close wakes blocked calls"
o=$(tool $S closewake cw.x)
check_match "blocked sub_next returns CLOSED" "$o" 'sub_next rc=CLOSED after [0-9]+ ms'
check_match "blocked request returns CLOSED" "$o" 'request rc=CLOSED after [0-9]+ ms'
check_match "close is bounded" "$o" 'close took [0-9]{1,4} ms'
check_match "handles outlive the connection" "$o" 'after close: sub_next rc=CLOSED unsubscribe rc=OK'

echo "# max_payload"
o=$(tool $S maxpayload mp.x)
check_match "exactly max_payload is delivered" "$o" 'exact received rc=OK len=1048576'
check_match "one byte over: MAX_PAYLOAD" "$o" 'over rc=MAX_PAYLOAD error=message of 1048577 bytes .* max_payload of 1048576'
check_match "headers count toward max_payload" "$o" 'hdr over rc=MAX_PAYLOAD'
check_match "still connected afterwards, same connection" "$o" 'after rc=OK data=after connected=1 gen=1'
f=$(conf small <<'EOF'
max_payload: 65536
EOF
)
start_server small -c "$f"
o=$(tool --server "$URL_small" maxpayload mp.y)
check_match "INFO max_payload 64 KiB honoured" "$o" 'exact received rc=OK len=65536'
check_match "64 KiB + 1 refused locally" "$o" 'over rc=MAX_PAYLOAD'
o=$(tool --server "$URL_small" --timeout 20000 roundtrip rt.small 20)
check_match "round trip against a 64 KiB server" "$o" '^roundtrip ok 20 messages .* max_payload=65536'

echo "# server PING answered"
f=$(conf ping <<'EOF'
ping_interval: "1s"
ping_max: 2
EOF
)
start_server ping -c "$f" -DV
o=$(tool --server "$URL_ping" stay 5)
check_match "5 s of server PINGs: same connection" "$o" 'stayed 5 s flush=OK connected=1 gen=1'
check_nomatch "no disconnect" "$o" 'event disconnected'
tr=$(grep -E -- '->> \[PING\]|<<- \[PONG\]' "$T_DIR/nats-$PORT_ping.log")
check "server trace: it sent at least 3 PINGs" test "$(printf '%s\n' "$tr" | grep -c -- '->> \[PING\]')" -ge 3
# (the last PING may cross our close)
check "server trace: every PING got our PONG" test "$(printf '%s\n' "$tr" | grep -c -- '<<- \[PONG\]')" -ge "$(( $(printf '%s\n' "$tr" | grep -c -- '->> \[PING\]') - 1 ))"
check_match "server trace: our CONNECT" "$(grep -m1 -- '<<- \[CONNECT' "$T_DIR/nats-$PORT_ping.log")" '"verbose":false,"pedantic":false,.*"lang":"c",.*"protocol":1,"headers":true,"no_responders":true'
o=$(tool $S --ping 300 stay 2)
check_match "our keepalive PINGs (300 ms) answered by the server" "$o" 'stayed 2 s flush=OK connected=1 gen=1'

# fake_server MODE PORT: a scripted server. "silent": handshake, then no PONG
# ever; "info": handshake, an asynchronous INFO with max_payload 2048, then
# a PONG for every PING.
fake_server() {
    python3 - "$1" "$2" >>"$T_DIR/fake.log" 2>&1 <<'EOF' &
import socket, sys, threading
mode, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen(5)
INFO = b'INFO {"server_id":"FAKE","version":"2.9.10","proto":1,"headers":true,"max_payload":%d}\r\n'
def serve(c):
    c.sendall(INFO % 1048576)
    buf = b""
    while b"PING\r\n" not in buf:
        d = c.recv(4096)
        if not d: return
        buf += d
    if mode == "info":
        c.sendall(b"PONG\r\n" + INFO % 2048)
        while True:
            d = c.recv(4096)
            if not d: return
            for _ in range(d.count(b"PING\r\n")): c.sendall(b"PONG\r\n")
    c.sendall(b"PONG\r\n")
    while c.recv(4096): pass
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
    T_PIDS+=("$!")
    local i
    for i in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0; sleep 0.1; done
}

echo "# stale connection: a server that stops answering PING"
fport=$(free_port)
fake_server silent "$fport"
o=$(tool --server "nats://127.0.0.1:$fport" --ping 300 --pings-out 2 --reconnect-min 200 --reconnect-max 400 --timeout 500 stay 3)
check_match "stale detected: disconnected" "$o" 'event disconnected'
check_match "and reconnected (generation grew)" "$o" 'event reconnected'
check_match "no PONG: flush fails" "$o" 'flush=(TIMEOUT|CONN)'

echo "# asynchronous INFO"
iport=$(free_port)
fake_server info "$iport"
o=$(tool --server "nats://127.0.0.1:$iport" conn)
check_match "INFO after the handshake updates max_payload, connection kept" "$o" '^connected max_payload=2048 gen=1$'

echo "# request/reply"
bg rep $S --timeout 20000 reply svc.echo 2
wait_line "$T_DIR/rep.out" '^ready' || bad "responder not ready"
check_eq "request 1" "$(tool $S req svc.echo hello)" "reply re:hello"
check_eq "request 2" "$(tool $S req svc.echo "two words")" "reply re:two words"
wait "$PID_rep"
check_match "responder answered 2" "$(out rep)" 'answered 2'
o=$(tool $S --timeout 5000 req svc.nobody hi)
check_match "no responders: distinct error, no wait" "$o" '^error NO_RESPONDERS: no responders .*after [0-9]{1,3} ms'
bg silent $S --timeout 8000 sub svc.slow 1
wait_line "$T_DIR/silent.out" '^ready' || bad "silent subscriber not ready"
o=$(tool $S --timeout 1000 req svc.slow hi)
check_match "timeout when nobody answers" "$o" '^error TIMEOUT: request .*timed out after 1000 ms'

echo "# permissions violation"
f=$(conf perm <<'EOF'
authorization {
  users = [
    {user: a, password: b, permissions: {publish: "allowed.>", subscribe: "_INBOX.>"}}
  ]
}
EOF
)
start_server perm -c "$f"
P="--server $URL_perm --user a --pass b"
o=$(tool $P perm denied.x allowed.y)
check_match "denied publish recorded from -ERR" "$o" "denied pub rc=OK error=server error: Permissions Violation for Publish to \"denied.x\""
check_match "denied request fails promptly with PERM" "$o" 'denied req rc=PERM ms=[0-9]{1,4}$'
check_match "connection stays up" "$o" 'allowed pub rc=OK connected=1 gen=1'
o=$(tool $P --timeout 5000 sub notallowed.x 1)
check_match "refused subscription: the waiting consumer gets PERM" "$o" '^error PERM: next: .*Permissions Violation for Subscription to "notallowed.x"'

echo "# authentication"
o=$(tool --server "$URL_perm" --user a --pass wrong conn)
check_match "wrong password: AUTH with a clear message" "$o" "^error AUTH: .*authorization failed \('Authorization Violation'\): the server rejected user \"a\""
o=$(tool --server "$URL_perm" conn)
check_match "no credentials: AUTH, says credentials are needed" "$o" '^error AUTH: .*requires credentials'
o=$(tool --server "nats://a:b@127.0.0.1:$PORT_perm" conn)
check_match "user:pass in the URL" "$o" '^connected '
f=$(conf quote <<'EOF'
authorization { users = [ {user: "q", password: "pa\"ss\\wörd"} ] }
EOF
)
start_server quote -c "$f"
check_match "password with quote, backslash, non-ASCII: JSON-escaped in CONNECT" \
    "$(tool --server "$URL_quote" --user q --pass 'pa"ss\wörd' conn)" '^connected '
check_match "  and a near miss is refused" "$(tool --server "$URL_quote" --user q --pass 'pa"ss\word' conn)" '^error AUTH'
f=$(conf token <<'EOF'
authorization { token: "s3cr3t" }
EOF
)
start_server token -c "$f"
check_match "token auth" "$(tool --server "$URL_token" --token s3cr3t conn)" '^connected '
check_match "wrong token: AUTH" "$(tool --server "$URL_token" --token nope conn)" '^error AUTH: .*rejected the token'

echo "# reconnect after a server restart, resubscribe"
NATS_PORT=$PORT_main NATS_SD=$SD_main NATS_PID=$PID_main
bg watch $S --reconnect-min 200 --reconnect-max 1000 --timeout 60000 watch restart.x 2
wait_line "$T_DIR/watch.out" '^ready' || bad "watcher not ready"
check_eq "publish before restart" "$(tool $S pub restart.x before)" "published 1"
wait_line "$T_DIR/watch.out" 'data=before' 10 || bad "first message not received"
nats_restart
if wait_line "$T_DIR/watch.out" '^event reconnected' 30; then ok "reconnected after restart"; else bad "no reconnect: $(out watch | tail -3)"; fi
check_eq "publish after restart" "$(tool $S pub restart.x after)" "published 1"
wait "$PID_watch"
o=$(out watch)
check_match "event: connected" "$o" '^event connected'
check_match "event: disconnected" "$o" '^event disconnected'
check_match "message after the restart arrived (resubscribed)" "$o" 'msg restart.x len=5 .*data=after'
check_match "generation 2" "$o" '^received 2 gen=2'

echo "# no_reconnect: a lost connection is final"
bg once $S --no-reconnect --timeout 15000 watch once.x 1
wait_line "$T_DIR/once.out" '^ready' || bad "watcher not ready"
t0=$SECONDS
nats_stop
wait "$PID_once"
o=$(out once)
check_match "disconnected then closed" "$(echo $o)" 'event disconnected.*event closed'
check_match "waiting subscriber fails with CONN" "$o" '^error CONN'
check "and promptly" test $((SECONDS - t0)) -lt 10

echo "# retry_initial: the client starts before the server"
lport=$(free_port)
bg late --server "nats://127.0.0.1:$lport" --retry --reconnect-min 200 --reconnect-max 500 --timeout 20000 sub late.x 1
sleep 2
NATS_PORT=$lport NATS_SD=
nats_start
wait_line "$T_DIR/late.out" '^ready' 20 || bad "late subscriber never connected: $(out late)"
check_eq "publish to the late subscriber" "$(tool --server "nats://127.0.0.1:$lport" pub late.x hi)" "published 1"
wait "$PID_late"
check_match "late subscriber received it" "$(out late)" 'msg late.x len=2 .*data=hi'

echo "# server list and unreachable servers"
dead=$(free_port)
o=$(tool --server "nats://127.0.0.1:$dead, nats://localhost:$lport" conn)
check_match "first server down: the next one is used" "$o" '^connected '
t0=$SECONDS
o=$(tool --server "nats://127.0.0.1:$dead,nats://127.0.0.1:$((dead+1))" conn)
check_match "all down: CONN naming each server" "$o" "^error CONN: .*127.0.0.1:$dead.*refused.*; .*127.0.0.1:$((dead+1))"
check "bounded" test $((SECONDS - t0)) -lt 15
o=$(tool --server "nats://no-such-host.invalid:4222" conn)
check_match "unresolvable host: clear error" "$o" '^error CONN: .*cannot resolve host'
o=$(tool --server "http://x" conn)
check_match "bad URL refused" "$o" '^error ARG: bad server URL'

t_summary
