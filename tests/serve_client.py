# tests/serve_client.py — the client side of tests/it_serve.sh: plain
# sockets (so hostile requests go out byte for byte), an SSE reader and the
# field-by-field checks of the API against what tool_statusfill wrote.
# Each check prints "OK <what>" or "BAD <what>"; it_serve.sh counts them.
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time

HOST = '127.0.0.1'


def say(good, what):
    print(('OK ' if good else 'BAD ') + what, flush=True)


def eq(what, got, want):
    say(got == want, what if got == want else '%s: got %r, expected %r' % (what, got, want))


def raw(port, data, timeout=15.0, chunks=None):
    """Sends data (or chunks with pauses), returns (status, headers, body) of the answer."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        if chunks:
            for c, pause in chunks:
                try:
                    s.sendall(c)
                except OSError:
                    break           # the server gave up on us: read its answer
                time.sleep(pause)
        else:
            s.sendall(data)
        buf = b''
        while True:
            try:
                d = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not d:
                break
            buf += d
            if b'\r\n\r\n' in buf:
                head, _, body = buf.partition(b'\r\n\r\n')
                clen = [int(l.split(b':')[1]) for l in head.split(b'\r\n') if l.lower().startswith(b'content-length:')]
                if clen and len(body) >= clen[0]:
                    break
        return parse(buf)
    finally:
        s.close()


def parse(buf):
    if b'\r\n\r\n' not in buf:
        return 0, {}, buf
    head, _, body = buf.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(':')
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def get(port, path, token=None, method='GET'):
    auth = 'Authorization: Bearer %s\r\n' % token if token else ''
    return raw(port, ('%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n' % (method, path, auth)).encode())


def get_json(port, path, token=None):
    st, h, b = get(port, path, token)
    return st, json.loads(b) if b else None


def load_fill(path):
    fleet = {}
    with open(path) as f:
        for line in f:
            pc, doc, groups = line.rstrip('\n').split('\t')
            fleet[pc] = (json.loads(doc), json.loads(groups)['groups'] if groups else [])
    return fleet


def expected(doc, groups, stale_s):
    at = doc.get('at')
    stale = at == 'not-a-time' or doc['pc_id'] in OLD
    e = {
        'pc_id': doc['pc_id'], 'hostname': doc['hostname'], 'agent_version': doc['agent_version'],
        'target_version': doc.get('target_version', ''), 'target_scope': doc.get('target_scope', ''),
        'update_state': doc['update_state'], 'update_error': doc.get('update_error', ''),
        'groups': groups, 'quarantined_versions': doc.get('quarantined_versions', []),
        'last_seen': None if at == 'not-a-time' else at, 'stale': stale,
        'exe_sha256': doc['exe_sha256'],
        'release_keys': doc.get('release_keys'), 'target_error': doc.get('target_error', ''),
    }
    if 'update_percent' in doc:
        e['update_percent'] = doc['update_percent']
    return e


OLD = set()


def check_agents(port, fleet_path):
    fleet = load_fill(fleet_path)
    for pc, (doc, _) in fleet.items():
        if int(pc[3:]) % 10 == 0:
            OLD.add(pc)
    st, d = get_json(port, '/api/agents')
    eq('/api/agents answers 200', st, 200)
    agents = d['agents']
    eq('/api/agents lists every agent written', len(agents), len(fleet))
    eq('/api/agents count', d['count'], len(fleet))
    eq('/api/agents is in pc_id order', [a['pc_id'] for a in agents], sorted(fleet))
    eq('stale_after_s is the --stale duration', d['stale_after_s'], 600)
    bad = []
    now = time.time()
    for a in agents:
        doc, groups = fleet[a['pc_id']]
        want = expected(doc, groups, 600)
        for k, v in want.items():
            if a.get(k) != v:
                bad.append('%s.%s=%r want %r' % (a['pc_id'], k, a.get(k), v))
        if want['last_seen'] is None:
            if a['age_s'] is not None:
                bad.append('%s.age_s=%r want null' % (a['pc_id'], a['age_s']))
        else:
            t = time.mktime(time.strptime(want['last_seen'][:19], '%Y-%m-%dT%H:%M:%S')) - time.timezone
            if not (isinstance(a['age_s'], int) and abs(a['age_s'] - (now - t)) <= 120):
                bad.append('%s.age_s=%r, heartbeat %.0f s ago' % (a['pc_id'], a['age_s'], now - t))
        extra = set(a) - set(want) - {'age_s', 'update_percent'}
        if extra:
            bad.append('%s has unexpected fields %s' % (a['pc_id'], sorted(extra)))
    say(not bad, 'every field of all %d agents matches what was written%s' % (len(agents), '' if not bad else ': ' + '; '.join(bad[:5])))
    vals = lambda f: [pc for pc, (doc, g) in sorted(fleet.items()) if f(doc, g)]
    for q, f in [('version=0.2.0', lambda d, g: d['agent_version'] == '0.2.0'),
                 ('state=quarantined', lambda d, g: d['update_state'] == 'quarantined'),
                 ('state=failed', lambda d, g: d['update_state'] == 'failed'),
                 ('group=canary', lambda d, g: 'canary' in g),
                 ('stale=true', lambda d, g: d['pc_id'] in OLD or d['at'] == 'not-a-time'),
                 ('stale=false', lambda d, g: not (d['pc_id'] in OLD or d['at'] == 'not-a-time')),
                 ('version=0.1.0&state=rolled_back&group=office',
                  lambda d, g: d['agent_version'] == '0.1.0' and d['update_state'] == 'rolled_back' and 'office' in g),
                 ('version=nosuch', lambda d, g: False)]:
        st, d = get_json(port, '/api/agents?' + q)
        want = vals(f)
        eq('/api/agents?%s selects the %d matching agents' % (q, len(want)), [a['pc_id'] for a in d['agents']], want)
    st, d = get_json(port, '/api/agents?stale=maybe')
    eq('/api/agents?stale=maybe is a 400 with a JSON error', (st, 'error' in d), (400, True))
    st, d = get_json(port, '/api/agents/pc-0003')
    doc, groups = fleet['pc-0003']
    eq('/api/agents/pc-0003 is the same object plus the status document',
       (st, {k: d.get(k) for k in expected(doc, groups, 600)}, d.get('status')),
       (200, expected(doc, groups, 600), doc))
    st, d = get_json(port, '/api/agents/pc-9999')
    eq('/api/agents/<unknown> is a 404 with a JSON error', (st, d.get('error', '')[:11]), (404, 'no agent \'p'))
    # rollouts
    st, d = get_json(port, '/api/rollouts')
    targets = {}
    for pc, (doc, g) in fleet.items():
        t = doc.get('target_version')
        if not t:
            continue
        r = targets.setdefault(t, {'agents': 0, 'states': {}, 'failing': [], 'on_target': 0})
        r['agents'] += 1
        r['on_target'] += doc['agent_version'] == t
        r['states'][doc['update_state']] = r['states'].get(doc['update_state'], 0) + 1
        if doc['update_state'] in ('failed', 'rolled_back', 'quarantined'):
            r['failing'].append({'pc_id': pc, 'hostname': doc['hostname'], 'update_state': doc['update_state'],
                                 'reason': doc['update_error']})
    got = {r['target_version']: {'agents': r['agents'], 'states': r['states'], 'on_target': r['on_target'],
                                 'failing': r['failing']} for r in d['rollouts']}
    for r in targets.values():
        r['failing'].sort(key=lambda x: x['pc_id'])
    eq('/api/rollouts: per target, agents per state and each failing host with its reason', got, targets)


def sse_latency(port, tool_cmd, want_event, want_text, token=None):
    """Connects to /api/events, runs tool_cmd (which prints the ack time in
    unix ms), returns ms from the ack to the event's arrival, or None."""
    q = '?token=' + token if token else ''
    s = socket.create_connection((HOST, port), timeout=20)
    s.sendall(('GET /api/events%s HTTP/1.1\r\nHost: x\r\n\r\n' % q).encode())
    buf = b''
    while b': connected' not in buf:
        d = s.recv(4096)
        if not d:
            return None, buf
        buf += d
    # tool_statusfill prints when the broker acknowledged the put; for
    # other commands the moment they return is the (later) bound.
    res = subprocess.run(tool_cmd, capture_output=True, text=True).stdout.strip().splitlines()
    ack = int(res[-1]) if res and res[-1].isdigit() else time.time() * 1000
    got = b''
    deadline = time.time() + 15
    while time.time() < deadline:
        d = s.recv(65536)
        if not d:
            break
        got += d
        for ev in got.split(b'\n\n'):
            if ('event: ' + want_event).encode() in ev and want_text.encode() in ev:
                arrived = time.time() * 1000
                s.close()
                return arrived - ack, ev
    s.close()
    return None, got


def flood(port, n):
    """n connections at once, sending nothing; returns (answered 503, still
    open after 8 s, opened) and closes them. The accept thread answers the
    503s one after another, so a loaded machine gets time for all of them."""
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection((HOST, port), timeout=10))
        except OSError:
            pass
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    busy = closed = 0
    deadline = time.time() + 8
    while time.time() < deadline and busy + closed < len(socks):
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                d = s.recv(4096)
            except OSError:
                d = b''
            if d.startswith(b'HTTP/1.1 503'):
                busy += 1
            else:
                closed += 1
            sel.unregister(s)
    held = len(socks) - busy - closed
    for s in socks:
        s.close()
    return busy, held, len(socks)


def hostile(port):
    for path, what in [('/../etc/passwd', '..'), ('/%2e%2e/%2e%2e/windows/win.ini', '%2e%2e'),
                       ('/a\\..\\b', 'backslash'), ('/index.html%00.js', 'NUL')]:
        st, h, b = raw(port, ('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
        eq('path with %s is a 400' % what, st, 400)
        eq('a normal request right after the %s path answers' % what, get(port, '/healthz')[0], 200)
    st, h, b = raw(port, b'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 9000 + b'\r\n\r\n')
    eq('a 9 KB header is a 431', st, 431)
    eq('a normal request after the oversized header answers', get(port, '/healthz')[0], 200)
    t0 = time.time()
    st, h, b = raw(port, None, timeout=30, chunks=[(b'GET / HTTP/1.1\r\n', 1.5)] + [(b'X-Slow: 1\r\n', 1.5)] * 12)
    took = time.time() - t0
    say(st == 408 and 9 <= took <= 20, 'a slowloris client gets a 408 after the 10 s head limit (status %d after %.1f s)' % (st, took))
    eq('a normal request after the slowloris answers', get(port, '/healthz')[0], 200)
    st, h, b = raw(port, os.urandom(3000) + b'\r\n\r\n')
    eq('garbage bytes get a 400', st, 400)
    eq('a normal request after the garbage answers', get(port, '/healthz')[0], 200)
    st, h, b = get(port, '/api/agents', method='POST')
    eq('POST is a 405', st, 405)
    st, h, b = get(port, '/', method='DELETE')
    eq('DELETE is a 405', st, 405)
    busy, held, opened = flood(port, 200)
    say(opened == 200 and busy >= 100 and held <= 64,
        '200 parallel connections: %d answered 503 at once, %d held (at most 64)' % (busy, held))
    time.sleep(1)
    eq('a normal request after the flood answers', get(port, '/api/agents/pc-0002')[0], 200)


def keepalive(port):
    s = socket.create_connection((HOST, port), timeout=10)
    s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    buf = b''
    deadline = time.time() + 10
    while buf.count(b'ok\n') < 2 and time.time() < deadline:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    s.close()
    eq('two pipelined requests on one keep-alive connection both answer', buf.count(b'HTTP/1.1 200 OK'), 2)


if __name__ == '__main__':
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == 'agents':
        check_agents(port, sys.argv[3])
    elif cmd == 'hostile':
        hostile(port)
        keepalive(port)
    elif cmd == 'sse':
        ms, ev = sse_latency(port, sys.argv[6:], sys.argv[3], sys.argv[4], sys.argv[5] or None)
        say(ms is not None and ms < 1000, '%s change reaches an SSE client in under 1 s (%s ms)' %
            (sys.argv[3], 'never' if ms is None else '%.0f' % ms))
        if ms is not None:
            print('MEASURE sse_ms %.0f' % ms)
        if ev:
            print('EVENT ' + ev.decode('utf-8', 'replace').replace('\n', ' | ')[:600])
