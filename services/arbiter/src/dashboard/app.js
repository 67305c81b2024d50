// The arbiter's dashboard: the pairs from /v1/status, kept live by /v1/feed
// (server-sent events), the timeline of the chosen instance from /v1/timeline,
// and a forced failover (POST /v1/failover) behind a confirmation. The token
// is kept in this tab's sessionStorage only and sent in the Authorization
// header, never in a URL. Text from the server is set as text, never as HTML.
'use strict';

const TOKEN_KEY = 'keepquorum.arbiter.token';
const MAX_ENTRIES = 500;

const $ = (id) => document.getElementById(id);
const state = {
  status: null,
  selected: null,
  entries: new Map(),
  pending: null,
};

function setText(el, text) {
  el.textContent = text == null ? '' : String(text);
}

function badge(el, text, kind) {
  setText(el, text);
  el.className = `badge ${kind}`;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function showResult(text, kind) {
  const el = $('result');
  setText(el, text);
  el.className = `result ${kind}`;
  el.hidden = false;
}

// ---------------------------------------------------------------------------
// The grid of pairs

function renderHeader(s) {
  setText($('where'), `cluster ${s.cluster} · replica ${s.replica}`);
  badge($('ready'), s.ready ? 'ready' : 'warming up', s.ready ? 'ok' : 'warn');
  badge($('writepath'), s.writePath && s.writePath.available ? 'lease store writable' : `lease store unavailable${s.writePath && s.writePath.detail ? `: ${s.writePath.detail}` : ''}`, s.writePath && s.writePath.available ? 'ok' : 'bad');
}

function cardFor(name) {
  const grid = $('grid');
  let card = grid.querySelector(`article[data-instance="${CSS.escape(name)}"]`);
  if (card) return card;
  card = $('pair-template').content.firstElementChild.cloneNode(true);
  card.dataset.instance = name;
  card.querySelector('[data-role=show-timeline]').addEventListener('click', () => select(name));
  card.querySelector('[data-role=failover]').addEventListener('click', () => askFailover(name));
  grid.appendChild(card);
  return card;
}

function clock(iso) {
  return iso ? iso.slice(11, 23) : '?';
}

// Renewals are not pushed one by one (the feed sends a status on a change of
// holder, epoch, states or liveness, and every 5 s): the card says when the
// lease was last renewed, as of that status, not a countdown that would run
// out between two updates.
function expiryText(inst) {
  const lease = inst.lease;
  const ttl = inst.timing && inst.timing.leaseTtlMs ? ` · TTL ${inst.timing.leaseTtlMs} ms` : '';
  if (!lease || lease.holder == null) return `no holder${ttl}`;
  return `granted ${clock(lease.grantedAt)} · renewed ${clock(lease.renewedAt)}${ttl}`;
}

function renderCard(name, inst, nodes) {
  const card = cardFor(name);
  const role = (r) => card.querySelector(`[data-role=${r}]`);
  const lease = inst.lease;
  setText(role('name'), name);
  setText(role('policy'), `${inst.mode} · fencing ${inst.fencing}`);
  setText(role('holder'), lease && lease.holder ? lease.holder : '—');
  setText(role('epoch'), lease ? `epoch ${lease.epoch}` : '');
  if (!lease || lease.holder == null) badge(role('leaseState'), 'free', 'warn');
  else if (lease.live) badge(role('leaseState'), lease.reservedFor ? `reserved for ${lease.reservedFor}` : 'live', 'ok');
  else badge(role('leaseState'), 'expired', 'bad');
  setText(role('expiry'), expiryText(inst));
  setText(role('reason'), lease && lease.reason ? lease.reason : '');
  const body = role('members');
  body.replaceChildren();
  const members = Object.entries(inst.members || {}).sort((a, b) => b[1].priority - a[1].priority || a[0].localeCompare(b[0]));
  for (const [node, m] of members) {
    const tr = document.createElement('tr');
    tr.dataset.node = node;
    const n = nodes[node];
    if (n && n.connected === false) tr.className = 'gone';
    for (const [text, cls] of [[node, ''], [m.state, m.state], [m.priority, ''], [m.vip ? 'yes' : '', '']]) {
      const td = document.createElement('td');
      setText(td, text);
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  const fo = role('failover');
  fo.disabled = !token();
  fo.title = token() ? `ask the arbiter to move ${name}'s lease` : 'type the operator token above first';
  card.classList.toggle('selected', state.selected === name);
}

function renderStatus(s) {
  state.status = s;
  renderHeader(s);
  const names = Object.keys(s.instances).sort();
  setText($('count'), `(${names.length})`);
  for (const card of [...$('grid').querySelectorAll('article[data-instance]')]) if (!(card.dataset.instance in s.instances)) card.remove();
  for (const name of names) renderCard(name, s.instances[name], s.nodes || {});
  if (state.selected === null && names.length > 0) select(location.hash.length > 1 && names.includes(decodeURIComponent(location.hash.slice(1))) ? decodeURIComponent(location.hash.slice(1)) : names[0]);
}

// ---------------------------------------------------------------------------
// The timeline of the selected instance

function renderTimeline(freshId) {
  const list = $('timeline');
  const entries = [...state.entries.values()].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  list.replaceChildren();
  for (const e of entries) {
    const li = document.createElement('li');
    li.dataset.type = e.type;
    li.dataset.id = e.id;
    if (e.id === freshId) li.className = 'fresh';
    const when = document.createElement('time');
    when.dateTime = e.at;
    setText(when, e.at.replace('T', ' ').replace('Z', ''));
    const who = document.createElement('span');
    who.className = 'muted';
    setText(who, e.node);
    const what = document.createElement('span');
    what.className = 'what';
    setText(what, e.text);
    li.append(when, who, what);
    if (e.reason) {
      const why = document.createElement('span');
      why.className = 'why';
      setText(why, e.reason);
      li.appendChild(why);
    }
    list.appendChild(li);
  }
  setText($('timeline-note'), entries.length === 0 ? 'Nothing in the event log for this instance yet.' : `${entries.length} entries, newest first.`);
}

function addEntry(e) {
  state.entries.set(e.id, e);
  if (state.entries.size > MAX_ENTRIES) {
    const oldest = [...state.entries.values()].sort((a, b) => (a.at < b.at ? -1 : 1))[0];
    state.entries.delete(oldest.id);
  }
}

async function select(name) {
  state.selected = name;
  state.entries = new Map();
  history.replaceState(null, '', `#${encodeURIComponent(name)}`);
  setText($('timeline-instance'), name);
  setText($('timeline-note'), 'Reading the event log…');
  $('timeline').replaceChildren();
  for (const card of $('grid').querySelectorAll('article[data-instance]')) card.classList.toggle('selected', card.dataset.instance === name);
  try {
    const r = await fetch(`/v1/timeline?instance=${encodeURIComponent(name)}&limit=200`, { cache: 'no-store' });
    const body = await r.json();
    if (state.selected !== name) return;
    if (!r.ok) {
      setText($('timeline-note'), `The timeline cannot be read: ${body.error || r.status}`);
      return;
    }
    // Entries the feed brought while the history was read are kept: the map holds each id once.
    for (const e of body.entries) addEntry(e);
    renderTimeline(null);
  } catch (err) {
    if (state.selected === name) setText($('timeline-note'), `The timeline cannot be read: ${err.message}`);
  }
}

// ---------------------------------------------------------------------------
// Forced failover: confirmation, then POST /v1/failover with the bearer token

function askFailover(name) {
  const inst = state.status && state.status.instances[name];
  if (!inst) return;
  if (!token()) {
    showResult('A forced failover needs the operator token: type it above.', 'bad');
    return;
  }
  const holder = inst.lease && inst.lease.holder;
  setText($('confirm-text'), holder ? `Take ${name} away from ${holder}?` : `${name} has no holder. Offer it to a member?`);
  const select = $('confirm-to');
  select.replaceChildren();
  const any = document.createElement('option');
  any.value = '';
  setText(any, 'the best other member');
  select.appendChild(any);
  for (const node of Object.keys(inst.members || {}).sort()) {
    if (node === holder) continue;
    const o = document.createElement('option');
    o.value = node;
    setText(o, node);
    select.appendChild(o);
  }
  state.pending = name;
  $('confirm').showModal();
}

async function failover(name, to) {
  const body = to ? { instance: name, to } : { instance: name };
  showResult(`Asking the arbiter to fail ${name} over…`, '');
  try {
    const r = await fetch('/v1/failover', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token()}` },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
    const answer = await r.json().catch(() => ({}));
    if (r.ok) showResult(`${name}: ${answer.decision}: ${answer.reason}`, 'ok');
    else showResult(`${name}: refused (${r.status}): ${answer.reason || answer.error || r.statusText}`, 'bad');
  } catch (err) {
    showResult(`${name}: the request failed: ${err.message}`, 'bad');
  }
}

// ---------------------------------------------------------------------------
// Start

function refreshButtons() {
  if (state.status) for (const [name, inst] of Object.entries(state.status.instances)) renderCard(name, inst, state.status.nodes || {});
}

function start() {
  const input = $('token');
  input.value = token();
  input.addEventListener('input', () => {
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
    refreshButtons();
  });
  $('token-form').addEventListener('submit', (e) => e.preventDefault());
  $('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    input.value = '';
    refreshButtons();
  });
  $('confirm').addEventListener('close', () => {
    const name = state.pending;
    state.pending = null;
    if ($('confirm').returnValue === 'ok' && name) void failover(name, $('confirm-to').value);
  });

  fetch('/v1/status', { cache: 'no-store' })
    .then((r) => r.json())
    .then((s) => {
      if (!state.status) renderStatus(s);
    })
    .catch(() => undefined);

  const feed = new EventSource('/v1/feed');
  feed.addEventListener('open', () => badge($('live'), 'live', 'ok'));
  feed.addEventListener('error', () => badge($('live'), 'reconnecting', 'off'));
  feed.addEventListener('status', (m) => renderStatus(JSON.parse(m.data)));
  feed.addEventListener('timeline', (m) => {
    const e = JSON.parse(m.data);
    if (e.instance !== state.selected) return;
    addEntry(e);
    renderTimeline(e.id);
  });
  feed.addEventListener('problem', (m) => setText($('timeline-note'), JSON.parse(m.data).error));
}

start();
