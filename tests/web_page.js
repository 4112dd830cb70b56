// tests/web_page.js — drives headless Chromium over the DevTools protocol
// for tests/it_serve.sh: loads the fleet page, reads its DOM after the
// first render, runs a command that changes an agent's status, waits for
// the page to show it without a reload, and saves a screenshot.
//
//   node --experimental-websocket tests/web_page.js URL PNG PC MARKER [-- CMD ARGS...]
//
// Prints one JSON object with what it saw. --dump-dom with
// --virtual-time-budget cannot do this: virtual time never advances while a
// fetch is pending, and the page keeps its /api/events stream open.
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [url, png, pc, marker] = process.argv.slice(2, 6);
// Without "-- CMD", only the first render is measured (bench/serve.sh).
const cmd = process.argv.indexOf('--') > 0 ? process.argv.slice(process.argv.indexOf('--') + 1) : [];
const out = {};
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kanade-chromium-'));
const chrome = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--remote-debugging-port=0',
  '--user-data-dir=' + profile, '--window-size=1400,900', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });

// Prints what was seen and ends, after Chromium has exited (it writes to
// its profile until then).
let done = false;
function finish(code) {
  if (done) return;
  done = true;
  console.log(JSON.stringify(out));
  chrome.once('exit', () => {
    try { fs.rmSync(profile, { recursive: true, force: true }); } catch (e) { /* left in tmp */ }
    process.exit(code);
  });
  chrome.kill('SIGKILL');
}
function fail(msg) {
  out.error = msg;
  finish(1);
}
setTimeout(() => fail('timed out'), 90000).unref();

function devtoolsUrl() {
  return new Promise((resolve) => {
    let buf = '';
    chrome.stderr.on('data', (d) => {
      buf += d;
      const m = buf.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
  });
}

let ws, nextId = 1;
const pending = new Map();
function send(method, params, sessionId) {
  const id = nextId++;
  ws.send(JSON.stringify({ id, method, params: params || {}, sessionId }));
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  ws = new WebSocket(await devtoolsUrl());
  await new Promise((r) => ws.addEventListener('open', r));
  ws.addEventListener('message', (ev) => {
    const m = JSON.parse(ev.data);
    if (m.id && pending.has(m.id)) {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) p.reject(new Error(m.error.message)); else p.resolve(m.result);
    }
  });
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  const evalJs = async (expr) => {
    const r = await send('Runtime.evaluate', { expression: expr, returnByValue: true }, sessionId);
    return r.result.value;
  };
  await send('Emulation.setDeviceMetricsOverride', { width: 1400, height: 900, deviceScaleFactor: 1, mobile: false }, sessionId);
  const t0 = Date.now();
  await send('Page.navigate', { url }, sessionId);
  // First render: rows in the table.
  for (;;) {
    const n = await evalJs("document.querySelectorAll('#agent-rows tr').length").catch(() => 0);
    if (n > 0) break;
    if (Date.now() - t0 > 30000) fail('no agent rows within 30 s');
    await sleep(20);
  }
  out.first_render_ms = Date.now() - t0;
  // Where the time went, in ms from the navigation's start (the page's
  // time origin): its own marks, and each request's start and end.
  out.timing = await evalJs(`(() => {
    const r = (x) => Math.round(x);
    const nav = performance.getEntriesByType('navigation')[0] || {};
    const t = { origin_after_navigate_ms: r(performance.timeOrigin - ${t0}), html: [r(nav.requestStart), r(nav.responseEnd)],
      dom_content_loaded: r(nav.domContentLoadedEventStart) };
    for (const e of performance.getEntriesByType('resource')) t[new URL(e.name).pathname] = [r(e.startTime), r(e.responseStart), r(e.responseEnd)];
    for (const m of performance.getEntriesByType('mark')) t[m.name] = r(m.startTime);
    return t;
  })()`);
  await sleep(500);
  const snap = `(() => ({
    rows: document.querySelectorAll('#agent-rows tr').length,
    first_pc: (document.querySelector('#agent-rows tr') || {}).dataset?.pc || '',
    count: document.getElementById('agent-count').textContent,
    versions: [...document.querySelectorAll('#version-legend li')].map((li) => li.textContent),
    bar_segments: document.querySelectorAll('#version-bar span').length,
    states: [...document.querySelectorAll('#state-counts li')].map((li) => li.textContent),
    rollouts: [...document.querySelectorAll('#rollouts .rollout')].map((d) => d.firstChild.textContent),
    rollout_bars: document.querySelectorAll('#rollouts .rollout .bar span').length,
    failures: document.querySelectorAll('#failures li[data-pc]').length,
    stale_rows: document.querySelectorAll('#agent-rows tr.stale').length,
    global_target: document.getElementById('global-target').textContent,
    live: document.getElementById('live').textContent,
    row_text: (document.querySelector('#agent-rows tr[data-pc="${pc}"]') || {}).textContent || '',
    halted_chip: (document.querySelector('#state-counts li[data-state="halted"]') || {}).textContent || '',
    halted_rows: [...document.querySelectorAll('#agent-rows tr.halted')].map((tr) => tr.dataset.pc),
    rollout_halts: [...document.querySelectorAll('#rollouts .rollout[data-halted]')]
      .map((d) => d.dataset.version + ' ' + d.querySelector('.halt').textContent),
    waves: [...document.querySelectorAll('#rollouts .rollout .waves li')].map((li) => li.textContent)
  }))()`;
  out.before = await evalJs(snap);
  if (!cmd.length) {
    const shot = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
    fs.writeFileSync(png, Buffer.from(shot.data, 'base64'));
    return finish(0);
  }
  // A mark that a reload would wipe.
  await evalJs('window.__kanadeNoReload = 1');
  const tc = Date.now();
  out.change_output = execFileSync(cmd[0], cmd.slice(1), { encoding: 'utf8' }).trim();
  const acked = parseInt(out.change_output.split('\n').pop(), 10);
  for (;;) {
    const t = await evalJs(`(document.querySelector('#agent-rows tr[data-pc="${pc}"]') || {}).textContent || ''`);
    if (t.includes(marker)) break;
    if (Date.now() - tc > 20000) fail('the change did not show within 20 s');
    await sleep(20);
  }
  out.change_shown_after_ack_ms = Date.now() - acked;
  out.no_reload = await evalJs('window.__kanadeNoReload === 1');
  out.after = await evalJs(snap);
  // With PAGE_RECONNECT_DIR, the test stops the server, changes a status
  // meanwhile and starts the server again on the same port: the page must
  // say the connection is lost, reconnect, and reload what it missed.
  const dir = process.env.PAGE_RECONNECT_DIR;
  if (dir) {
    const waitFor = async (expr, ms, what) => {
      const t = Date.now();
      while (!(await evalJs(expr).catch(() => false))) {
        if (Date.now() - t > ms) fail(what);
        await sleep(50);
      }
    };
    fs.writeFileSync(path.join(dir, 'ready'), '');
    await waitFor("document.getElementById('live').textContent.includes('connection lost')", 30000,
      'the page did not say the connection was lost');
    out.said_lost = true;
    fs.writeFileSync(path.join(dir, 'dropped'), '');
    await waitFor("document.getElementById('live').textContent === 'live'", 60000, 'the page did not reconnect');
    out.reconnected = true;
    const missed = process.env.PAGE_MISSED_MARKER;
    await waitFor(`((document.querySelector('#agent-rows tr[data-pc="pc-0006"]') || {}).textContent || '').includes('${missed}')`,
      20000, 'the change made while the server was down did not show');
    out.missed_change_shown = true;
    out.no_reload_after_reconnect = await evalJs('window.__kanadeNoReload === 1');
  }
  const shot = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
  fs.writeFileSync(png, Buffer.from(shot.data, 'base64'));
  out.screenshot_bytes = fs.statSync(png).size;
  finish(0);
}
main().catch((e) => fail(String(e)));
