/*
** The fleet page. Loads /api/config and /api/agents once (index.html
** preloads /api/agents, so it travels while this script loads), then follows
** /api/events (Server-Sent Events) and re-renders at most every 250 ms, so
** a burst of heartbeats from 10,000 agents costs one render. The table
** shows one page of rows at a time; everything else is counts. The halt
** verdict and wave plan of each rollout come from /api/rollouts, fetched
** again when a failure record or a scope changes (and at most every 5 s
** while statuses change, for the wave counts).
**
** Token: when the API answers 401 the page asks for the token once and
** keeps it in sessionStorage. fetch() sends it as "Authorization: Bearer";
** EventSource cannot send headers, so /api/events (only that endpoint)
** takes it as ?token=.
*/
'use strict';
(function () {
  const PAGE = 100;
  const FINAL_BAD = ['failed', 'rolled_back', 'quarantined'];
  const STATES = ['idle', 'pending', 'scheduled', 'downloading', 'verifying', 'swapping',
    'monitoring', 'done', 'halted', 'failed', 'rolled_back', 'quarantined'];
  const PARTS = ['done', 'pending', 'halted', 'failed', 'rolled_back', 'quarantined'];
  const COLORS = ['#3a7bd5', '#2e9e5b', '#e0a526', '#8e5ad6', '#d64545', '#17a2b8', '#6b7385', '#c2185b'];
  const agents = new Map();
  let rollInfo = new Map(), rollTimer = 0, rollLast = 0;
  let globalTarget = '', staleAfter = 90, sortKey = 'pc_id', sortDir = 1, page = 0;
  let renderTimer = 0, es = null, wasDown = false;
  const $ = (id) => document.getElementById(id);

  function token() { return sessionStorage.getItem('kanade_token') || ''; }

  async function api(path) {
    for (let attempt = 0; attempt < 2; attempt++) {
      const used = token();
      const h = used ? { Authorization: 'Bearer ' + used } : {};
      const r = await fetch(path, { headers: h });
      if (r.status !== 401) {
        if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
        return r.json();
      }
      /* A parallel request may have asked for the token meanwhile. */
      if (token() !== used) continue;
      const t = window.prompt('This server needs its access token (kanade serve --token):');
      if (!t) throw new Error('no token');
      sessionStorage.setItem('kanade_token', t.trim());
    }
    throw new Error('token refused');
  }

  function el(tag, props, text) {
    const e = document.createElement(tag);
    if (props) for (const k in props) e.setAttribute(k, props[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function isStale(a) { return a.stale === true; }

  function schedule() {
    if (!renderTimer) renderTimer = setTimeout(() => { renderTimer = 0; render(); }, 250);
  }

  function countBy(list, f) {
    const m = new Map();
    for (const a of list) { const k = f(a); m.set(k, (m.get(k) || 0) + 1); }
    return m;
  }

  function renderVersions(list) {
    const bar = $('version-bar'), leg = $('version-legend');
    bar.replaceChildren(); leg.replaceChildren();
    const counts = [...countBy(list, (a) => a.agent_version || '?')].sort((x, y) => y[1] - x[1]);
    counts.forEach(([v, n], i) => {
      const c = COLORS[i % COLORS.length];
      const s = el('span', { title: v + ': ' + n, 'data-version': v });
      s.style.width = (100 * n / list.length) + '%'; s.style.background = c;
      bar.append(s);
      const li = el('li', { 'data-version': v });
      const sw = el('span', { class: 'sw' }); sw.style.background = c;
      li.append(sw, document.createTextNode(v + ' (' + n + ')'));
      leg.append(li);
    });
  }

  function renderStates(list) {
    const ul = $('state-counts');
    ul.replaceChildren();
    const counts = countBy(list, (a) => a.update_state || 'idle');
    const stale = list.filter(isStale).length;
    for (const [s, n] of [...counts].sort()) {
      ul.append(el('li', s === 'halted' ? { 'data-state': s, class: 'warn' } : { 'data-state': s }, s + ': ' + n));
    }
    ul.append(el('li', { 'data-state': 'stale' }, 'stale: ' + stale));
  }

  function fmtTime(ms) { return new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC'; }

  /* The halt verdict and the waves of a rollout (from /api/rollouts). */
  function rolloutDetail(div, info) {
    if (!info) return;
    if (info.halted || info.held_back) {
      div.setAttribute('data-halted', 'true');
      div.classList.add('halted');
      div.append(el('div', { class: 'halt' }, (info.halted ? 'HALTED: ' : 'HELD BACK: ') + info.reason +
        ' (resume: kanade agent rollout resume ' + info.target_version + ')'));
    }
    if (info.halt_policy) {
      div.append(el('div', { class: 'muted policy' }, 'halt policy ' + info.halt_policy + ': ' + info.failures +
        ' failed' + (info.baseline ? ' (' + info.baseline + ' before the resume)' : '') +
        (info.threshold ? ', halts at ' + info.threshold : '')));
    }
    if (info.waves && info.waves.length) {
      const ol = el('ol', { class: 'waves' });
      for (const w of info.waves) {
        const st = info.halted || info.held_back ? 'stopped' : w.due ? 'due' : 'waiting';
        ol.append(el('li', { 'data-group': w.group }, w.group + ': starts ' + (w.start ? fmtTime(w.start_ms) : '?') +
          ', ' + st + ', ' + w.done + '/' + w.hosts + ' done'));
      }
      div.append(ol);
    }
  }

  /* A rollout is a target version some agent has not finished, or one
  ** that is halted. */
  function renderRollouts(list) {
    const box = $('rollouts');
    box.replaceChildren();
    const by = new Map();
    for (const a of list) {
      if (!a.target_version) continue;
      if (!by.has(a.target_version)) by.set(a.target_version, []);
      by.get(a.target_version).push(a);
    }
    for (const [v, info] of rollInfo) if (!by.has(v) && (info.halted || info.held_back)) by.set(v, []);
    for (const [v, as] of [...by].sort()) {
      const c = { done: 0, pending: 0, halted: 0, failed: 0, rolled_back: 0, quarantined: 0 };
      for (const a of as) {
        const s = a.update_state;
        if (s === 'done' || (a.agent_version === v && (s === 'idle' || s === 'verified'))) c.done++;
        else if (FINAL_BAD.includes(s) || s === 'halted') c[s]++;
        else c.pending++;
      }
      const info = rollInfo.get(v);
      if (c.done === as.length && !(info && (info.halted || info.held_back))) continue;
      const div = el('div', { class: 'rollout', 'data-version': v });
      div.append(el('div', null, v + ': ' + c.done + ' done, ' + c.pending + ' pending, ' + c.failed +
        ' failed, ' + c.rolled_back + ' rolled back, ' + c.quarantined + ' quarantined, ' + c.halted +
        ' halted of ' + as.length));
      const bar = el('div', { class: 'bar' });
      for (const k of PARTS) {
        if (!c[k]) continue;
        const s = el('span', { class: 's-' + k, title: k + ': ' + c[k] });
        s.style.width = (100 * c[k] / as.length) + '%';
        bar.append(s);
      }
      div.append(bar);
      rolloutDetail(div, info);
      box.append(div);
    }
    if (!box.firstChild) box.append(el('p', { class: 'muted' }, 'none'));
  }

  async function loadRollouts() {
    const r = await api('/api/rollouts');
    rollInfo = new Map(r.rollouts.map((x) => [x.target_version, x]));
    rollLast = Date.now();
    schedule();
  }

  /* soon: a record or a scope changed; otherwise at most every 5 s. */
  function scheduleRollouts(soon) {
    if (rollTimer) return;
    const wait = soon ? 300 : Math.max(300, 5000 - (Date.now() - rollLast));
    rollTimer = setTimeout(() => { rollTimer = 0; loadRollouts().catch(() => {}); }, wait);
  }

  function renderFailures(list) {
    const ul = $('failures');
    ul.replaceChildren();
    const bad = list.filter((a) => FINAL_BAD.includes(a.update_state))
      .sort((x, y) => x.pc_id < y.pc_id ? -1 : 1);
    for (const a of bad.slice(0, 200)) {
      const li = el('li', { 'data-pc': a.pc_id });
      li.append(el('b', null, a.pc_id), document.createTextNode(' ' + a.update_state + ' ' +
        (a.target_version || '') + ': ' + (a.update_error || '(no reason given)')));
      li.addEventListener('click', () => showDetail(a.pc_id));
      ul.append(li);
    }
    if (bad.length > 200) ul.append(el('li', { class: 'muted' }, '… and ' + (bad.length - 200) + ' more'));
    if (!bad.length) ul.append(el('li', { class: 'muted' }, 'none'));
  }

  function fillSelect(sel, values) {
    const cur = sel.value;
    const have = [...sel.options].map((o) => o.value).slice(1).join('\n');
    if (have === values.join('\n')) return;
    while (sel.options.length > 1) sel.remove(1);
    for (const v of values) sel.append(el('option', { value: v }, v));
    sel.value = cur;
  }

  function filtered(list) {
    const fv = $('f-version').value, fs = $('f-state').value, fg = $('f-group').value.trim();
    const fst = $('f-stale').value, ft = $('f-text').value.trim().toLowerCase();
    return list.filter((a) => (!fv || a.agent_version === fv) && (!fs || a.update_state === fs) &&
      (!fg || (a.groups || []).includes(fg)) && (!fst || String(isStale(a)) === fst) &&
      (!ft || a.pc_id.toLowerCase().includes(ft) || (a.hostname || '').toLowerCase().includes(ft)));
  }

  function cmp(a, b) {
    let x = a[sortKey], y = b[sortKey];
    if (Array.isArray(x)) x = x.join(','); if (Array.isArray(y)) y = y.join(',');
    if (x === undefined || x === null) x = ''; if (y === undefined || y === null) y = '';
    if (x < y) return -sortDir; if (x > y) return sortDir;
    return a.pc_id < b.pc_id ? -1 : 1;
  }

  function ageText(s) {
    if (s === undefined || s === null) return 'never';
    if (s < 120) return s + ' s ago';
    if (s < 7200) return Math.round(s / 60) + ' min ago';
    return Math.round(s / 3600) + ' h ago';
  }

  function renderTable(list) {
    const rows = filtered(list).sort(cmp);
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    if (page >= pages) page = pages - 1;
    const tb = $('agent-rows');
    const frag = document.createDocumentFragment();
    for (const a of rows.slice(page * PAGE, page * PAGE + PAGE)) {
      const tr = el('tr', { 'data-pc': a.pc_id, 'data-state': a.update_state || '' });
      const halted = a.update_state === 'halted';
      if (isStale(a) || halted) tr.className = (isStale(a) ? 'stale ' : '') + (halted ? 'halted' : '');
      const state = el('td', null, a.update_state || '');
      if (halted) state.append(el('span', { class: 'tag halt-tag' }, 'halted'));
      const host = el('td');
      host.append(document.createTextNode(a.hostname || ''));
      if (isStale(a)) host.append(el('span', { class: 'tag' }, 'stale'));
      tr.append(el('td', null, a.pc_id), host, el('td', null, a.agent_version || ''),
        el('td', null, a.target_version || ''), state,
        el('td', null, (a.groups || []).join(', ')), el('td', { title: a.last_seen || '' }, ageText(a.age_s)),
        el('td', { class: 'err' }, a.update_error || ''));
      frag.append(tr);
    }
    tb.replaceChildren(frag);
    $('agent-count').textContent = rows.length + ' of ' + list.length;
    $('page-info').textContent = 'page ' + (page + 1) + ' of ' + pages;
    $('prev').disabled = page === 0; $('next').disabled = page >= pages - 1;
    for (const th of document.querySelectorAll('th')) {
      th.className = th.dataset.key === sortKey ? (sortDir > 0 ? 'asc' : 'desc') : '';
    }
  }

  function render() {
    const list = [...agents.values()];
    $('global-target').textContent = globalTarget || '(none)';
    fillSelect($('f-version'), [...new Set(list.map((a) => a.agent_version || '?'))].sort());
    fillSelect($('f-state'), STATES);
    renderVersions(list);
    renderStates(list);
    renderRollouts(list);
    renderFailures(list);
    renderTable(list);
  }

  async function showDetail(pc) {
    $('detail').hidden = false;
    $('detail-id').textContent = pc;
    try {
      $('detail-json').textContent = JSON.stringify(await api('/api/agents/' + encodeURIComponent(pc)), null, 2);
    } catch (e) { $('detail-json').textContent = String(e); }
  }

  function setLive(cls, text) { const l = $('live'); l.className = cls; l.textContent = text; }

  async function loadAll() {
    /* The halt details come after the first render: on a 2-core machine
    ** their request competes with /api/agents for the server's CPU. */
    const [cfg, list] = await Promise.all([api('/api/config'), api('/api/agents')]);
    performance.mark('kanade-loaded');
    globalTarget = cfg.global_target || '';
    agents.clear();
    for (const a of list.agents) agents.set(a.pc_id, a);
    if (list.stale_after_s) staleAfter = list.stale_after_s;
    render();
    performance.mark('kanade-rendered');
    await loadRollouts();
  }

  function follow() {
    const q = token() ? '?token=' + encodeURIComponent(token()) : '';
    es = new EventSource('/api/events' + q);
    es.addEventListener('open', () => {
      setLive('live-ok', 'live');
      /* After a drop, the events missed meanwhile are gone: reload once. */
      if (wasDown) { wasDown = false; loadAll().catch((e) => setLive('live-down', String(e))); }
    });
    es.addEventListener('error', () => {
      wasDown = true;
      setLive('live-down', 'connection lost, reconnecting…');
    });
    es.addEventListener('agent_status', (ev) => {
      const d = JSON.parse(ev.data);
      if (d.deleted) agents.delete(d.pc_id); else agents.set(d.pc_id, d);
      schedule();
      scheduleRollouts(false);
    });
    es.addEventListener('agent_config', (ev) => {
      const d = JSON.parse(ev.data);
      if (d.scope === 'global') { globalTarget = d.deleted ? '' : (d.target_version || ''); schedule(); }
      scheduleRollouts(true);
    });
    es.addEventListener('agent_rollouts', () => scheduleRollouts(true));
  }

  function wire() {
    for (const id of ['f-version', 'f-state', 'f-stale']) $(id).addEventListener('change', () => { page = 0; render(); });
    for (const id of ['f-group', 'f-text']) $(id).addEventListener('input', () => { page = 0; schedule(); });
    $('filters').addEventListener('submit', (e) => e.preventDefault());
    for (const th of document.querySelectorAll('th')) {
      th.addEventListener('click', () => {
        if (sortKey === th.dataset.key) sortDir = -sortDir; else { sortKey = th.dataset.key; sortDir = 1; }
        render();
      });
    }
    $('prev').addEventListener('click', () => { page--; render(); });
    $('next').addEventListener('click', () => { page++; render(); });
    $('agent-rows').addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (tr) showDetail(tr.dataset.pc);
    });
    $('detail-close').addEventListener('click', () => { $('detail').hidden = true; });
    /* Ages move on between events. */
    setInterval(() => {
      for (const a of agents.values()) if (a.age_s !== undefined) {
        a.age_s += 5; a.stale = a.age_s > staleAfter;
      }
      schedule();
    }, 5000);
  }

  document.addEventListener('DOMContentLoaded', () => {
    performance.mark('kanade-start');
    wire();
    loadAll().then(follow).catch((e) => setLive('live-down', String(e)));
  });
})();
