// chatpulse live client: keeps a server-rendered page current over WebSocket, Server-Sent
// Events or polling of the read API, speaking PROTOCOL.md. The project's own code.
//
// The page says what it shows: <body data-view data-cursor data-epoch> is the live view and
// the point it was rendered at; [data-list], [data-rows] (with [data-list-total], its count),
// [data-figure] and [data-chart] are what events update; <template> elements hold the
// markup of new rows. Times are written by time.js's rule, which loads first. An element
// with [data-top-view] is a second view on the page, a top list, kept current by a link
// of its own (one connection follows one view) with the same transports, backoff and
// polling as the page's view.
//
// The pages of the stream model (a stream's log, the incidents) bring their own script,
// loaded before this one: it registers window.chatpulseViews[<view kind>], a function that
// takes this script's helpers and returns what its view's events mean (bind, apply, frame,
// poll). The connection, catch-up, fallback and polling schedule stay here, one for all;
// `send` puts a frame on the page's WebSocket when it has one (typing).
'use strict';
(function () {
  // Limits (README, "Pages").
  const LIST_MAX = 200; // message rows a live list keeps
  const LIST_HARD_MAX = 2000; // ... however many older pages were loaded into it
  const BACKOFF_MIN_MS = 1000; // reconnect delay doubles from here ...
  const BACKOFF_MAX_MS = 30000; // ... to here, with jitter
  const POLL_EVERY_MS = 2000; // read API polling while live delivery is down
  const POLL_LIMIT = 500; // messages per poll request
  const POLL_PAGES_MAX = 10; // a poll further behind than this many pages reloads instead
  const WS_FAILURES_FOR_SSE = 2; // WebSocket failures (while HTTP works) before SSE is used
  const STREAM_LABELS_MAX = 500; // names of threads and incidents kept for v1 rows
  const TOTAL_EVERY_MS = 5000; // a list's total is read again at most this often, after a row it may not show changed
  const EVENT_TYPES = [
    'message',
    'message_edited',
    'message_deleted',
    'metrics',
    'channel_count',
    'user_count',
    'user_profile',
    'status',
  ];
  const STATE_LABELS = {
    connecting: 'Connecting',
    live: 'Live',
    idle: 'Idle',
    reconnecting: 'Reconnecting',
    polling: 'Polling',
    error: 'Error',
  };

  const body = document.body;
  const view = body.dataset.view;
  if (!view) return; // a page without a live view (search, errors, history)

  const params = new URLSearchParams(location.search);
  const forced = ['ws', 'sse', 'poll'].includes(params.get('transport')) ? params.get('transport') : null;
  const isCountView = view === 'channels' || view === 'users';
  const hasMessages = !isCountView;
  const entityName = view.includes('/') ? view.slice(view.indexOf('/') + 1) : null;

  // What the page shows, and the cursor to resume from.
  let epoch = body.dataset.epoch;
  let cursor = Number(body.dataset.cursor) || 0;
  let els = {};
  let rows = new Map(); // count rows by name: {tr, cursor, total}
  let chans = new Map(); // a profile's channels: name -> {tr, total}
  let figures = { cursor: -1, values: {} };
  let entity = { cursor: -1, total: 0 };
  let listCap = LIST_MAX;
  let listChannel = null; // /messages with both filters: the user's view, narrowed here
  let chart = null; // the activity chart
  let heat = null; // the weekday × hour heatmap
  let rate = null; // the home page's messages per second
  let custom = null; // the view's own meaning of events, from its page's script

  // What arrived since the last frame.
  let pendingMsgs = [];
  let pendingDropped = false;
  let pendingRows = new Map();
  let pendingChans = new Set();
  let pendingFigures = false;
  let pendingEntity = null;
  let pendingChanges = new Map(); // edits and deletes of shown messages: id -> change
  let frameQueued = false;
  let totalTimer = null; // the next read of a list's total, once one is due

  // Connections: the page's view, and its top lists (each on a link of its own).
  let link = null;
  let tops = [];
  let reloading = false;
  let reloads = 0;

  // Pause.
  let paused = false;
  let pausedCount = 0;

  const liveEl = document.getElementById('live');
  const labelEl = document.getElementById('live-label');
  const detailEl = document.getElementById('live-detail');
  const tplMsg = document.getElementById('tpl-msg');
  const tplRow = document.getElementById('tpl-row');
  const tplChan = document.getElementById('tpl-chan');

  // Threads and incidents by id: how v1 rows name them (their v1 channel is `~<id>`).
  const streamLabels = new Map();
  const streamLookups = new Set();

  // ---------------------------------------------------------------------------
  // Formatting
  // ---------------------------------------------------------------------------

  function fmtNumber(n) {
    return Number(n).toLocaleString('en-US');
  }

  // Times follow the one rule of time.js (loaded before this script).
  const setTime = window.chatpulseTime.set;

  // ---------------------------------------------------------------------------
  // The page's elements and the state they start with
  // ---------------------------------------------------------------------------

  function bind() {
    els = {
      list: document.querySelector('[data-list="messages"]'),
      rows: document.querySelector('[data-rows="channels"], [data-rows="users"]'),
      chans: document.querySelector('[data-rows="user-channels"]'),
      chart: document.querySelector('[data-chart]'),
      heat: document.querySelector('[data-heatmap]'),
      rate: document.querySelector('[data-rate]'),
      older: document.querySelector('[data-older]'),
      pause: document.querySelector('[data-pause]'),
      rendered: document.querySelector('[data-rendered-cursor]'),
      total: document.querySelector('[data-list-total]'),
      figures: {},
    };
    for (const f of document.querySelectorAll('[data-figure]')) els.figures[f.dataset.figure] = f;
    rows = new Map();
    if (els.rows) {
      for (const tr of els.rows.rows) {
        rows.set(tr.dataset.key, { tr, cursor: Number(tr.dataset.cursor), total: Number(tr.dataset.total) });
      }
    }
    chans = new Map();
    if (els.chans) for (const tr of els.chans.rows) chans.set(tr.dataset.key, { tr, total: Number(tr.dataset.total) });
    figures = { cursor: cursor, values: {} };
    entity = { cursor: -1, total: els.figures.entity_total ? Number(els.figures.entity_total.dataset.n) : 0 };
    listCap = LIST_MAX;
    listChannel = null;
    if (els.list) {
      const d = els.list.dataset;
      if (d.channel && d.user) listChannel = d.channel;
      const first = els.list.firstElementChild;
      if (first) cursor = Math.max(cursor, Number(first.dataset.id));
    }
    chart = els.chart ? newChart(els.chart) : null;
    heat = els.heat ? newHeatmap(els.heat) : null;
    rate = els.rate ? newRate(els.rate) : null;
    for (const a of document.querySelectorAll('a[data-stream]')) {
      if (!a.dataset.unnamed && !streamLabels.has(a.dataset.stream)) streamLabels.set(a.dataset.stream, a.textContent);
    }
    pendingMsgs = [];
    pendingChanges = new Map();
    pendingDropped = false;
    pendingRows = new Map();
    pendingChans = new Set();
    pendingFigures = false;
    pendingEntity = null;
    pausedCount = 0;
    if (els.pause) els.pause.hidden = false;
    updatePauseLabel();
    if (custom) custom.bind();
  }

  // ---------------------------------------------------------------------------
  // Applying events (cheap, on arrival); drawing them (once per animation frame)
  // ---------------------------------------------------------------------------

  function apply(ev) {
    switch (ev.type) {
      case 'message':
        onMessage(ev);
        break;
      case 'message_edited':
      case 'message_deleted':
        onChange(ev);
        break;
      case 'metrics':
        if (ev.cursor >= figures.cursor) {
          figures.cursor = ev.cursor;
          figures.values.total_messages = ev.total_messages;
          figures.values.total_channels = ev.total_channels;
          figures.values.total_users = ev.total_users;
          pendingFigures = true;
        }
        break;
      case 'channel_count':
        if (view === 'channels') onRow(ev.channel, ev.total_messages, ev.last_message_at, ev.cursor, ev.channel_id);
        else onEntity(ev.total_messages, ev.last_message_at, ev.cursor);
        break;
      case 'user_count':
        if (view === 'users') onRow(ev.user, ev.total_messages, ev.last_seen_at, ev.cursor);
        break;
      case 'user_profile':
        onEntity(ev.total_messages, ev.last_seen_at, ev.cursor);
        break;
      default:
        if (!custom || !custom.apply(ev)) return;
    }
    // A count view resumes after the newest count it applied: counts arrive in cursor order.
    if (isCountView && ev.cursor > cursor) cursor = ev.cursor;
    schedule();
  }

  function onMessage(m) {
    if (!hasMessages || m.cursor <= cursor) return; // seen already
    cursor = m.cursor;
    if (listChannel && m.channel !== listChannel) return;
    if (chart) chartAdd(chart, m.sent_at);
    if (heat) heatAdd(heat, m.sent_at);
    if (rate) rateAdd(rate, m.sent_at);
    if (els.chans) {
      const c = chans.get(m.channel);
      if (c) c.total += 1;
      else chans.set(m.channel, { tr: null, total: 1 });
      pendingChans.add(m.channel);
    }
    if (!els.list) return;
    if (paused) pausedCount += 1;
    pendingMsgs.push(m);
    // Only the newest rows can ever be shown: keep the backlog bounded even when frames
    // do not run (a hidden tab) or the list is paused.
    if (pendingMsgs.length > 2 * listCap) {
      pendingMsgs = pendingMsgs.slice(-listCap);
      pendingDropped = true;
    }
  }

  // An edit or delete of a message: logged like messages (it moves the cursor), and shown
  // only where the message is, drawn or about to be.
  function onChange(ev) {
    if (!hasMessages || ev.cursor <= cursor) return;
    cursor = ev.cursor;
    const deleted = ev.type === 'message_deleted';
    const id = ev.message_id;
    let pending = false;
    for (let i = pendingMsgs.length - 1; i >= 0; i--) {
      if (pendingMsgs[i].message_id !== id) continue;
      pending = true;
      if (deleted) pendingMsgs.splice(i, 1);
      else pendingMsgs[i] = Object.assign({}, pendingMsgs[i], { text: ev.text, edited_at: ev.edited_at });
    }
    if (pending || !els.list || !els.list.querySelector('li[data-id="' + id + '"]')) return;
    const before = pendingChanges.get(id);
    if (before && before.deleted) return;
    pendingChanges.set(id, { deleted, text: ev.text, edited_at: ev.edited_at });
  }

  function onRow(name, total, last, c, id) {
    const r = rows.get(name);
    if (!r && !inList(name)) return; // a list of the names with a prefix, and not this one
    // Perhaps a new name: the list may have grown.
    if (!r) totalMayHaveGrown();
    if (r && (c < r.cursor || total < r.total)) return; // older than what is shown
    // Not on this page and no room for it: nothing to keep (a users page is one of many).
    if (!r && !pendingRows.has(name) && pendingRows.size >= Number(els.rows.dataset.room || 0) + rows.size) return;
    if (r) {
      r.cursor = Math.max(r.cursor, c || 0);
      r.total = total;
    }
    pendingRows.set(name, { total, last, cursor: c || 0, id });
  }

  // Whether a count view's list holds `name`: with a prefix, names that start with it.
  function inList(name) {
    const p = els.rows.dataset.prefix;
    return !p || name.toLowerCase().startsWith(p.toLowerCase());
  }

  function prefixQuery() {
    const p = els.rows.dataset.prefix;
    return p ? '&prefix=' + encodeURIComponent(p) : '';
  }

  // A count event cannot tell a new channel or user from one on another page, so the
  // total is read, a short while after such an event (one read for many).
  function totalMayHaveGrown() {
    if (!els.total || totalTimer) return;
    totalTimer = setTimeout(readTotal, TOTAL_EVERY_MS);
  }

  async function readTotal() {
    totalTimer = null; // a change from now on reads again
    try {
      const r = await getJSON('/api/' + view + '?limit=1' + prefixQuery());
      if (r.epoch === epoch) showTotal(r.total);
    } catch (e) {
      totalMayHaveGrown();
    }
  }

  // "1,204 users", "3 channels starting with “ga”" (the server's words, src/web/pages/handlers.rs).
  function showTotal(n) {
    const el = els.total;
    if (!el || n == null || Number(el.dataset.n) === n) return;
    const d = el.dataset;
    d.n = n;
    el.textContent = fmtNumber(n) + ' ' + (n === 1 ? d.one : d.many) + (d.prefix ? ' starting with “' + d.prefix + '”' : '');
  }

  function onEntity(total, last, c) {
    if (c < entity.cursor || total < entity.total) return;
    entity.cursor = c;
    entity.total = total;
    pendingEntity = { total, last };
  }

  function schedule() {
    if (frameQueued) return;
    frameQueued = true;
    requestAnimationFrame(frame);
  }

  function frame() {
    frameQueued = false;
    if (pendingMsgs.length && !paused) drawMessages();
    if (pendingChanges.size && !paused) drawChanges();
    if (pendingRows.size) drawRows();
    if (pendingChans.size) drawChans();
    if (pendingFigures) drawFigures();
    if (pendingEntity) drawEntity();
    if (chart && chart.dirty) drawChart(chart);
    if (heat && heat.dirty) drawHeatmap(heat);
    if (custom) custom.frame();
    for (const t of tops) if (t.pending) drawTop(t);
    updatePauseLabel();
  }

  function messageEl(m) {
    const li = tplMsg.content.firstElementChild.cloneNode(true);
    li.dataset.id = m.message_id;
    setTime(li.querySelector('.msg-time'), m.sent_at);
    channelLink(li.querySelector('.msg-channel'), m.channel);
    const u = li.querySelector('.msg-user');
    u.href = '/users/' + encodeURIComponent(m.user);
    u.textContent = m.display_name || m.user;
    const text = li.querySelector('.msg-text');
    text.textContent = m.text;
    if (m.edited_at) markEdited(text, m.edited_at);
    li.classList.add('is-new');
    return li;
  }

  function markEdited(el, at) {
    let mark = el.querySelector('.edited');
    if (!mark) {
      mark = document.createElement('span');
      mark.className = 'edited';
      mark.textContent = 'edited';
      el.appendChild(mark);
    }
    mark.hidden = false;
    mark.dataset.editedAt = at;
    mark.title = 'edited ' + window.chatpulseTime.full(at);
  }

  function drawChanges() {
    for (const [id, c] of pendingChanges) {
      const li = els.list.querySelector('li[data-id="' + id + '"]');
      if (!li) continue;
      if (c.deleted) {
        li.remove(); // as the page is rendered: deleted messages are not listed
        continue;
      }
      const text = li.querySelector('.msg-text');
      text.textContent = c.text;
      markEdited(text, c.edited_at);
      li.classList.remove('is-new');
      flash(li);
    }
    pendingChanges = new Map();
  }

  // A v1 row's channel: a channel's page, or for a thread or incident (`~<id>`) its
  // stream page, named as the stream is (read once per stream, then kept).
  function channelLink(a, channel) {
    if (channel.startsWith('~')) streamLink(a, channel.slice(1));
    else {
      a.href = '/channels/' + encodeURIComponent(channel);
      a.textContent = '#' + channel;
    }
  }

  function streamLink(a, id) {
    id = String(id);
    a.href = '/streams/' + encodeURIComponent(id);
    a.dataset.stream = id;
    a.classList.add('msg-stream');
    const known = streamLabels.get(id);
    a.textContent = a.title = known || 'stream ' + id;
    if (known) delete a.dataset.unnamed;
    else {
      a.dataset.unnamed = '1';
      lookupStream(id);
    }
  }

  function streamLabel(kind, name, id) {
    if (kind === 'channel' && name) return '#' + name;
    return name || kind + ' ' + id;
  }

  async function lookupStream(id) {
    if (streamLookups.has(id)) return;
    streamLookups.add(id);
    let label = null;
    try {
      const s = await getJSON('/api/streams/' + encodeURIComponent(id));
      label = streamLabel(s.kind, s.name, s.id);
    } catch (e) {
      streamLookups.delete(id); // tried again with the next row that names it
      return;
    }
    if (streamLabels.size >= STREAM_LABELS_MAX) streamLabels.clear();
    streamLabels.set(id, label);
    for (const a of document.querySelectorAll('a[data-stream="' + id + '"][data-unnamed]')) {
      a.textContent = a.title = label;
      delete a.dataset.unnamed;
    }
  }

  function drawMessages() {
    const list = els.list;
    const frag = document.createDocumentFragment();
    const from = Math.max(0, pendingMsgs.length - listCap);
    for (let i = pendingMsgs.length - 1; i >= from; i--) frag.appendChild(messageEl(pendingMsgs[i]));
    // Rows were dropped unseen: what is shown must stay contiguous, so start over.
    if (pendingDropped || pendingMsgs.length > listCap) list.textContent = '';
    list.insertBefore(frag, list.firstChild);
    pendingMsgs = [];
    pendingDropped = false;
    let trimmed = false;
    while (list.children.length > listCap) {
      list.lastElementChild.remove();
      trimmed = true;
    }
    if (trimmed) olderFrom(Number(list.lastElementChild.dataset.id));
    hideEmpty(list);
  }

  function hideEmpty(el) {
    const empty = el.parentElement.querySelector('[data-empty]');
    if (empty) empty.hidden = true;
  }

  function drawRows() {
    const tbody = els.rows;
    let room = Number(tbody.dataset.room) || 0;
    for (const [name, u] of pendingRows) {
      let r = rows.get(name);
      if (!r) {
        if (room <= 0) continue; // not on this page
        const tr = tplRow.content.querySelector('tr').cloneNode(true);
        tr.dataset.key = name;
        const a = tr.querySelector('.row-name');
        const base = view === 'channels' ? '/channels/' : '/users/';
        a.href = base + encodeURIComponent(name);
        a.textContent = (view === 'channels' ? '#' : '') + name;
        const log = tr.querySelector('[data-stream-link]');
        if (log && u.id) log.href = '/streams/' + u.id;
        if (log) log.querySelector('.visually-hidden').textContent = ' of #' + name;
        tbody.appendChild(tr);
        room -= 1;
        r = { tr, cursor: u.cursor, total: u.total };
        rows.set(name, r);
        hideEmpty(tbody.closest('.table-wrap'));
      }
      r.tr.dataset.total = u.total;
      r.tr.dataset.cursor = r.cursor;
      r.tr.querySelector('[data-cell="total"]').textContent = fmtNumber(u.total);
      if (u.last) setTime(r.tr.querySelector('[data-cell="last"] time'), u.last);
      flash(r.tr);
    }
    tbody.dataset.room = room;
    pendingRows = new Map();
    resort(tbody, tbody.dataset.sort);
  }

  function drawChans() {
    const tbody = els.chans;
    let room = Number(tbody.dataset.room) || 0;
    for (const name of pendingChans) {
      const c = chans.get(name);
      if (!c.tr) {
        if (room <= 0) continue;
        const tr = tplChan.content.querySelector('tr').cloneNode(true);
        tr.dataset.key = name;
        channelLink(tr.querySelector('.row-name'), name);
        tbody.appendChild(tr);
        room -= 1;
        c.tr = tr;
      }
      c.tr.dataset.total = c.total;
      c.tr.querySelector('[data-cell="total"]').textContent = fmtNumber(c.total);
      flash(c.tr);
    }
    tbody.dataset.room = room;
    pendingChans = new Set();
    resort(tbody, 'count');
  }

  // Keeps a page's rows in its sort order, unless the reader's focus is in the table.
  function resort(tbody, sort) {
    if (tbody.contains(document.activeElement)) return;
    const trs = Array.from(tbody.rows);
    const key = (tr) => tr.dataset.key;
    const byCount = (a, b) => Number(b.dataset.total) - Number(a.dataset.total) || (key(a) < key(b) ? -1 : 1);
    const cmp =
      sort === 'name'
        ? (a, b) => (key(a) < key(b) ? -1 : 1)
        : sort === 'recent'
          ? (a, b) => Number(b.dataset.cursor) - Number(a.dataset.cursor)
          : byCount;
    const sorted = trs.slice().sort(cmp);
    if (sorted.every((tr, i) => tr === trs[i])) return;
    for (const tr of sorted) tbody.appendChild(tr);
  }

  function flash(tr) {
    tr.classList.remove('is-updated');
    void tr.offsetWidth; // restart the animation
    tr.classList.add('is-updated');
  }

  function drawFigures() {
    pendingFigures = false;
    for (const [k, v] of Object.entries(figures.values)) {
      const el = els.figures[k];
      if (el) {
        el.dataset.n = v;
        el.textContent = fmtNumber(v);
      }
    }
  }

  function drawEntity() {
    const e = pendingEntity;
    pendingEntity = null;
    if (els.figures.entity_total) {
      els.figures.entity_total.dataset.n = e.total;
      els.figures.entity_total.textContent = fmtNumber(e.total);
    }
    if (els.figures.entity_last && e.last) setTime(els.figures.entity_last, e.last);
  }

  // ---------------------------------------------------------------------------
  // The home page's rate (messages per second over the last 10 s): seconds of `sent_at`,
  // seeded by the server with the seconds before the page's cursor, then counted from
  // message events.
  // ---------------------------------------------------------------------------

  function newRate(el) {
    const r = { el, seconds: Number(el.dataset.seconds) || 15, buckets: new Map() };
    for (const pair of (el.dataset.seed || '').split(',')) {
      const [s, n] = pair.split(':').map(Number);
      if (n) r.buckets.set(s, n);
    }
    drawRate(r);
    return r;
  }

  function rateAdd(r, sentAt) {
    const s = Math.floor(Date.parse(sentAt) / 1000);
    const now = Math.floor(Date.now() / 1000);
    if (!(s > now - r.seconds - 2 && s <= now + 5)) return; // outside what it keeps
    r.buckets.set(s, (r.buckets.get(s) || 0) + 1);
  }

  function drawRate(r) {
    const now = Math.floor(Date.now() / 1000);
    let sum = 0;
    for (let s = now - 10; s < now; s++) sum += r.buckets.get(s) || 0;
    for (const s of r.buckets.keys()) if (s < now - r.seconds - 2) r.buckets.delete(s);
    const last10 = sum / 10;
    r.el.textContent = last10 >= 10 ? fmtNumber(Math.round(last10)) : last10.toFixed(1);
  }

  // ---------------------------------------------------------------------------
  // The activity chart (home, channel, profile): messages per minute, hour or day over
  // the page's window, every bucket rendered by the server (src/web/pages/chart.rs);
  // message events add to the bucket of their `sent_at`. Its mode says what the clock
  // does: `rolling` (a window back from now) drops a bucket on the left as one begins on the
  // right; `growing` (from a time to now) only adds on the right; `fixed` (to a time still
  // ahead) counts messages until its end; `static` (a from–to that is over) takes no live
  // message. Drawn as SVG at the element's own pixel size, so the axis labels are text
  // that is never stretched; every label is set as text.
  // ---------------------------------------------------------------------------

  const SVG_NS = 'http://www.w3.org/2000/svg';
  const CHART_HEIGHT = 200;
  const CHART_PAD = { left: 44, right: 8, top: 10, bottom: 34 };

  function newChart(el) {
    const d = el.dataset;
    const c = {
      el,
      svg: el.querySelector('svg'),
      caption: el.querySelector('[data-chart-caption]'),
      heading: document.querySelector('[data-chart-window]'),
      width: Number(d.bucketMinutes) * 60000, // a bucket, in ms
      bucket: d.bucket,
      label: d.windowLabel,
      mode: d.mode || 'rolling',
      // A from–to's exact ends (its first and last buckets may be cut); no end: now.
      from: d.from ? Date.parse(d.from) : null,
      until: d.until ? Date.parse(d.until) : null,
      of: d.of,
      since: Date.parse(d.since),
      counts: (d.counts || '').split(',').filter((x) => x !== '').map(Number),
      dirty: true,
      shownWidth: 0,
    };
    if (isNaN(c.since) || !c.counts.length) return null;
    roll(c, Date.now());
    drawChart(c);
    return c;
  }

  // Starts the buckets up to the one holding `t`: a rolling chart drops as many from the
  // left, a growing one keeps them; the others do not move.
  function roll(c, t) {
    if (c.mode !== 'rolling' && c.mode !== 'growing') return;
    const last = c.since + (c.counts.length - 1) * c.width;
    const steps = Math.floor((t - last) / c.width);
    if (steps <= 0) return;
    if (c.mode === 'growing') {
      for (let i = 0; i < steps; i++) c.counts.push(0);
      c.dirty = true;
      return;
    }
    const n = Math.min(steps, c.counts.length);
    c.counts.splice(0, n);
    for (let i = 0; i < n; i++) c.counts.push(0);
    c.since += steps * c.width;
    c.dirty = true;
  }

  function chartAdd(c, sentAt) {
    const t = Date.parse(sentAt);
    if (isNaN(t) || c.mode === 'static') return;
    // A bucket after the clock's next one is a sender's clock ahead of ours: not counted.
    if (t >= Date.now() + c.width) return;
    // Outside a from–to: not counted.
    if ((c.from !== null && t < c.from) || (c.until !== null && t >= c.until)) return;
    roll(c, t);
    const i = Math.floor((t - c.since) / c.width);
    if (i < 0 || i >= c.counts.length) return; // before the window
    c.counts[i] += 1;
    c.dirty = true;
  }

  // "from 3 Dec 14:00 to 5 Dec 09:00 (UTC+1)" in the zone shown (the server's words in UTC,
  // src/web/pages/chart.rs `range_label`): the years when either end is in another year
  // than now, each end's zone when they differ (summer and winter time); no end: "to now".
  function rangeLabel(from, until) {
    const utc = window.chatpulseTime.utc();
    const f = (t) => {
      const d = new Date(t);
      return utc
        ? [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()]
        : [d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes()];
    };
    const a = f(from);
    const b = until === null ? null : f(until);
    const year = f(Date.now())[0];
    const years = a[0] !== year || (b !== null && b[0] !== year);
    const say = (x) => x[2] + ' ' + MONTHS[x[1]] + (years ? ' ' + x[0] : '') + ' ' + pad2(x[3]) + ':' + pad2(x[4]);
    const zoneAt = window.chatpulseTime.zoneAt;
    if (b === null) return 'from ' + say(a) + ' to now (' + zoneAt(from) + ')';
    const za = zoneAt(from);
    const zb = zoneAt(until);
    if (za === zb) return 'from ' + say(a) + ' to ' + say(b) + ' (' + za + ')';
    return 'from ' + say(a) + ' (' + za + ') to ' + say(b) + ' (' + zb + ')';
  }

  function svgEl(name, attrs, text) {
    const e = document.createElementNS(SVG_NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  const pad2 = (n) => String(n).padStart(2, '0');
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  // A bucket's start in the zone shown: [month, day, hours, minutes].
  function zoned(t) {
    const d = new Date(t);
    return window.chatpulseTime.utc()
      ? [d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()]
      : [d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes()];
  }

  // What a tick under bucket `t` says, or '' for no tick: round minutes and hours in the
  // zone shown, the date where a day begins; day buckets (UTC days) by their middle's date.
  function tickLabel(c, t, n, i) {
    const [mo, day, h, m] = zoned(t);
    const date = MONTHS[mo - 1] + ' ' + day;
    if (c.bucket === 'day') {
      const [mo2, day2] = zoned(t + c.width / 2);
      return (n - 1 - i) % 7 === 0 ? MONTHS[mo2 - 1] + ' ' + day2 : '';
    }
    if (c.bucket === 'hour') {
      if (n > 48) return h === 0 ? date : ''; // 7 days: each day
      if (h % 4 !== 0) return '';
      return h === 0 ? date : pad2(h) + ':' + pad2(m);
    }
    const every = n <= 10 ? 1 : n <= 70 ? 10 : 60;
    if (m % every !== 0) return '';
    return pad2(h) + ':' + pad2(m);
  }

  // A bucket's start by the time rule, to the minute (to the day for a day); a from–to's
  // first bucket starts where the window does.
  function bucketText(c, t) {
    if (c.from !== null && t < c.from && c.bucket !== 'day') t = c.from;
    const fmt = window.chatpulseTime.format(new Date(t).toISOString());
    if (c.bucket === 'day') {
      // A day bucket is a UTC day: in another zone, the date of its middle.
      const d = new Date(t + c.width / 2);
      const f = window.chatpulseTime.utc()
        ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()]
        : [d.getFullYear(), d.getMonth() + 1, d.getDate()];
      return f[0] + '-' + pad2(f[1]) + '-' + pad2(f[2]);
    }
    return fmt.replace(/^(\d\d:\d\d):\d\d /, '$1 ');
  }

  function drawChart(c) {
    const W = Math.max(200, Math.round(c.el.clientWidth || c.svg.clientWidth || 600));
    if (!c.dirty && W === c.shownWidth) return;
    c.dirty = false;
    c.shownWidth = W;
    const H = CHART_HEIGHT;
    const P = CHART_PAD;
    const n = c.counts.length;
    const peak = Math.max(0, ...c.counts);
    const top = niceTop(peak);
    const plotW = W - P.left - P.right;
    const plotH = H - P.top - P.bottom;
    const x = (i) => P.left + (i / n) * plotW;
    const y = (v) => P.top + plotH - (v / top) * plotH;
    const svg = c.svg;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    svg.replaceChildren();
    // The bucket holding now, if the window does.
    const nowAt = Date.now();
    const nowBar = Math.floor((nowAt - c.since) / c.width);
    // Value axis: 0, half and the top, with their numbers.
    for (const v of [0, top / 2, top]) {
      svg.appendChild(svgEl('line', { class: 'chart-grid', x1: P.left, x2: W - P.right, y1: y(v), y2: y(v) }));
      svg.appendChild(svgEl('text', { class: 'chart-tick chart-tick-y', x: P.left - 6, y: y(v) + 4 }, fmtNumber(v)));
    }
    const gap = plotW / n > 4 ? 1 : 0;
    const bars = svgEl('g', { class: 'chart-bars' });
    let lastTickX = -Infinity;
    for (let i = 0; i < n; i++) {
      const t = c.since + i * c.width;
      const v = c.counts[i];
      const bw = Math.max(0.5, plotW / n - gap);
      const rect = svgEl('rect', {
        class: 'chart-bar' + (i === nowBar ? ' chart-bar-now' : ''),
        x: x(i).toFixed(1),
        y: y(v).toFixed(1),
        width: bw.toFixed(1),
        height: Math.max(0, y(0) - y(v)).toFixed(1),
        'data-start': new Date(t).toISOString(),
        'data-n': v,
      });
      rect.appendChild(svgEl('title', {}, bucketText(c, t) + ': ' + fmtNumber(v) + (v === 1 ? ' message' : ' messages')));
      bars.appendChild(rect);
      const label = tickLabel(c, t, n, i);
      if (label && x(i) - lastTickX >= 46 && x(i) <= W - P.right - 16) {
        lastTickX = x(i);
        svg.appendChild(svgEl('line', { class: 'chart-tick-mark', x1: x(i), x2: x(i), y1: y(0), y2: y(0) + 4 }));
        svg.appendChild(svgEl('text', { class: 'chart-tick chart-tick-x', x: x(i), y: y(0) + 16 }, label));
      }
    }
    svg.appendChild(bars);
    svg.appendChild(svgEl('line', { class: 'chart-axis-line', x1: P.left, x2: W - P.right, y1: y(0), y2: y(0) }));
    svg.appendChild(
      svgEl(
        'text',
        { class: 'chart-tick chart-axis-title', x: W - P.right, y: H - 3 },
        'time (' + window.chatpulseTime.zone() + '), messages per ' + c.bucket
      )
    );
    // The text alternative: the total and the busiest bucket.
    const total = c.counts.reduce((a, b) => a + b, 0);
    let busiest = -1;
    for (let i = 0; i < n; i++) if (c.counts[i] > 0 && (busiest < 0 || c.counts[i] >= c.counts[busiest])) busiest = i;
    c.el.dataset.total = total;
    // A from–to says its window in the zone shown.
    let phrase = 'in ' + c.label;
    if (c.from !== null) {
      phrase = rangeLabel(c.from, c.until);
      if (c.heading) c.heading.textContent = '· ' + phrase + ', per ' + c.bucket;
    }
    if (c.caption) {
      let text = fmtNumber(total) + (total === 1 ? ' message ' : ' messages ') + c.of + ' ' + phrase;
      if (busiest >= 0) {
        text += '; busiest ' + c.bucket + ': ' + bucketText(c, c.since + busiest * c.width) + ', ' + fmtNumber(c.counts[busiest]);
      }
      c.caption.textContent = text + '.';
    }
  }

  // The value axis's top: the first of 2, 4, 6, 10, 20, 40, ... at or above `v`, so that its
  // middle line is a whole number too.
  function niceTop(v) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(v, 1))));
    for (const m of [1, 2, 4, 6, 10]) if (m * p >= v && m * p >= 2) return m * p;
    return 10 * p;
  }

  // ---------------------------------------------------------------------------
  // The heatmap (channel, profile): when messages are written, as 7 weekdays × 24 hours in
  // the zone shown. The server sends hourly counts (whole UTC hours, src/web/pages/chart.rs
  // `heatmap`); they are folded here, each hour into the local weekday and hour that hold its
  // middle: exact in a zone a whole number of hours from UTC, and in one that is not (India's
  // +5:30) an hour 09:30–10:30 counts as 10:00, which the figure then says. Live messages
  // add to their hour while its end is now or ahead; back from now, old hours drop away.
  // ---------------------------------------------------------------------------

  const HOUR_MS = 3600000;
  const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  const HEAT_PAD = { left: 38, right: 4, top: 2, bottom: 34 };
  const HEAT_LEVELS = 4; // colours besides "none", each a quarter of the busiest cell

  function newHeatmap(el) {
    const d = el.dataset;
    const h = {
      el,
      svg: el.querySelector('svg'),
      caption: el.querySelector('[data-heat-caption]'),
      legend: el.querySelector('[data-heat-legend]'),
      zoneNote: el.querySelector('[data-heat-zone-note]'),
      heading: document.querySelector('[data-heat-window]'),
      label: d.label,
      of: d.of,
      since: Date.parse(d.since),
      from: Date.parse(d.from),
      until: d.until ? Date.parse(d.until) : null,
      rolling: Number(d.rollingMinutes) * 60000 || 0,
      live: d.live === 'true',
      hours: new Map(), // an hour's start (ms) -> messages
      dirty: true,
      shownWidth: 0,
    };
    if (isNaN(h.since) || isNaN(h.from)) return null;
    for (const pair of (d.counts || '').split(',')) {
      const [i, n] = pair.split(':').map(Number);
      if (n) h.hours.set(h.since + i * HOUR_MS, n);
    }
    drawHeatmap(h);
    return h;
  }

  function heatAdd(h, sentAt) {
    const t = Date.parse(sentAt);
    if (isNaN(t) || !h.live) return;
    if (t >= Date.now() + HOUR_MS) return; // a sender's clock far ahead of ours
    const from = h.rolling ? Date.now() - h.rolling : h.from;
    if (t < from || (h.until !== null && t >= h.until)) return;
    const start = Math.floor(t / HOUR_MS) * HOUR_MS;
    h.hours.set(start, (h.hours.get(start) || 0) + 1);
    h.dirty = true;
  }

  // Back from now: the hours that ended before the window's start drop away.
  function heatRoll(h, now) {
    if (!h.rolling) return;
    for (const start of h.hours.keys()) {
      if (start + HOUR_MS <= now - h.rolling) {
        h.hours.delete(start);
        h.dirty = true;
      }
    }
  }

  // Messages per cell (weekday * 24 + hour) in the zone shown.
  function heatCells(h) {
    const cells = new Array(7 * 24).fill(0);
    const utc = window.chatpulseTime.utc();
    for (const [start, n] of h.hours) {
      const mid = new Date(start + HOUR_MS / 2);
      const day = ((utc ? mid.getUTCDay() : mid.getDay()) + 6) % 7; // Monday first
      const hour = utc ? mid.getUTCHours() : mid.getHours();
      cells[day * 24 + hour] += n;
    }
    return cells;
  }

  // A cell's colour: 0 for none, else 1-4 by its quarter of the busiest.
  const heatLevel = (n, max) => (n <= 0 || max <= 0 ? 0 : Math.min(HEAT_LEVELS, Math.ceil((n * HEAT_LEVELS) / max)));

  function hourSpan(hour) {
    return pad2(hour) + ':00–' + pad2((hour + 1) % 24) + ':00';
  }

  function drawHeatmap(h) {
    const W = Math.max(280, Math.round(h.el.clientWidth || h.svg.clientWidth || 600));
    if (!h.dirty && W === h.shownWidth) return;
    h.dirty = false;
    h.shownWidth = W;
    const P = HEAT_PAD;
    const cw = (W - P.left - P.right) / 24;
    const ch = Math.round(Math.max(18, Math.min(26, cw * 0.7)));
    const H = P.top + 7 * ch + P.bottom;
    const cells = heatCells(h);
    const max = Math.max(0, ...cells);
    const svg = h.svg;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('width', W);
    svg.setAttribute('height', H);
    svg.replaceChildren();
    const gap = cw >= 8 ? 2 : 1;
    const grid = svgEl('g', { class: 'heat-cells' });
    for (let day = 0; day < 7; day++) {
      const y = P.top + day * ch;
      svg.appendChild(svgEl('text', { class: 'chart-tick heat-day', x: P.left - 6, y: y + ch / 2 + 4 }, WEEKDAYS[day]));
      for (let hour = 0; hour < 24; hour++) {
        const n = cells[day * 24 + hour];
        const rect = svgEl('rect', {
          class: 'heat-cell heat-l' + heatLevel(n, max),
          x: (P.left + hour * cw + gap / 2).toFixed(1),
          y: (y + gap / 2).toFixed(1),
          width: Math.max(1, cw - gap).toFixed(1),
          height: ch - gap,
          rx: cw >= 8 ? 2 : 0,
          'data-day': day,
          'data-hour': hour,
          'data-n': n,
        });
        rect.appendChild(svgEl('title', {}, WEEKDAYS[day] + ' ' + hourSpan(hour) + ': ' + fmtNumber(n) + (n === 1 ? ' message' : ' messages')));
        grid.appendChild(rect);
      }
    }
    svg.appendChild(grid);
    // Hours under the columns: every hour where there is room, else every 2nd, 3rd ...
    const every = [1, 2, 3, 4, 6].find((k) => k * cw >= 18) || 6;
    const y0 = P.top + 7 * ch;
    for (let hour = 0; hour < 24; hour += every) {
      const x = P.left + hour * cw + cw / 2;
      svg.appendChild(svgEl('text', { class: 'chart-tick chart-tick-x', x: x, y: y0 + 13 }, String(hour)));
    }
    const zone = window.chatpulseTime.zone();
    svg.appendChild(svgEl('text', { class: 'chart-tick chart-axis-title', x: W - P.right, y: H - 3 }, 'hour of day (' + zone + ')'));
    svg.appendChild(svgEl('text', { class: 'chart-tick heat-axis-days', x: 0, y: H - 3 }, 'weekday'));

    // The legend: what each colour counts.
    if (h.legend) {
      const keys = [document.createTextNode('Messages per cell: ')];
      const key = (level, text) => {
        const k = document.createElement('span');
        k.className = 'heat-key';
        const sw = document.createElement('span');
        sw.className = 'heat-swatch heat-l' + level;
        k.append(sw, text);
        return k;
      };
      keys.push(key(0, '0'));
      for (let l = 1; l <= HEAT_LEVELS; l++) {
        const lo = Math.floor(((l - 1) * max) / HEAT_LEVELS) + 1;
        const hi = Math.floor((l * max) / HEAT_LEVELS);
        if (lo > hi) continue;
        keys.push(key(l, lo === hi ? fmtNumber(lo) : fmtNumber(lo) + '–' + fmtNumber(hi)));
      }
      h.legend.replaceChildren(...keys);
    }

    // What it covers, in the zone shown; a zone off the whole hours says how it is folded.
    const label = h.rolling ? h.label + ' (' + zone + ')' : rangeLabel(h.from, h.until);
    if (h.heading) h.heading.textContent = '· ' + label;
    if (h.zoneNote) {
      const off = new Date().getTimezoneOffset();
      const whole = window.chatpulseTime.utc() || off % 60 === 0;
      h.zoneNote.hidden = whole;
      if (!whole) {
        h.zoneNote.textContent =
          zone + ' is not a whole number of hours from UTC: each hour of messages is counted in the hour that holds its middle (09:30–10:30 as 10:00).';
      }
    }
    let total = 0;
    let busiest = -1;
    for (let i = 0; i < cells.length; i++) {
      total += cells[i];
      if (cells[i] > 0 && (busiest < 0 || cells[i] > cells[busiest])) busiest = i;
    }
    h.el.dataset.total = total;
    if (h.caption) {
      let text = fmtNumber(total) + (total === 1 ? ' message ' : ' messages ') + h.of + ' ' + (h.rolling ? 'in ' : '') + label;
      if (busiest >= 0) {
        text += '; busiest hour of the week: ' + WEEKDAYS[Math.floor(busiest / 24)] + ' ' + hourSpan(busiest % 24) + ' ' + zone + ', ' + fmtNumber(cells[busiest]);
      }
      h.caption.textContent = text + '.';
    }
  }


  // ---------------------------------------------------------------------------
  // The page's live state, shown to everyone in the header: the label is a polite live
  // region (it announces state changes); the countdown beside it is not (it would
  // announce every second).
  // ---------------------------------------------------------------------------

  function showState(state, detail, changed) {
    if (changed) {
      liveEl.dataset.state = state;
      labelEl.textContent = STATE_LABELS[state];
    }
    detailEl.textContent = detail;
  }

  // ---------------------------------------------------------------------------
  // A live link: one view kept current over WebSocket, or SSE when asked or when WebSocket
  // keeps failing while plain HTTP works; polling the read API while neither is up;
  // backoff between tries. A connection follows one view (PROTOCOL.md section 5), so the
  // page's view has a link, and so does each extra view its markup declares (a top list,
  // `data-top-view`). What a view's events mean, how it resumes and how it is polled are
  // the caller's (`o`):
  //   view             the view's name
  //   query()          what the handshake adds after `view=` (`&after_id=…&epoch=…`)
  //   types()          the SSE event names it listens to
  //   apply(ev)        an event of the view, not a status
  //   connected(s)     the `connected` status
  //   fallback(s)      a `fallback` other than `too_many_connections`
  //   pollOnce()       one read of the read API (async; throws when the server fails)
  //   busy()           true while the caller reloads: no poll, and the state says so
  //   show(state, detail, changed)   the state to show
  //   transport(kind)  the transport in use: `ws`, `sse` or `poll`
  // ---------------------------------------------------------------------------

  function transportName(kind) {
    return kind === 'ws' ? 'WebSocket' : kind === 'sse' ? 'SSE' : 'polling';
  }

  function newLink(o) {
    let conn = null;
    let attempt = 0;
    let wsFailures = 0;
    let retryTimer = null;
    let retryAt = 0;
    let retryFn = null;
    let polling = false;
    let pollTimer = null;
    let pollBusy = false;
    let lastPollOk = false;
    let shownState = null;
    let errorReason = '';

    function setState(state, detail) {
      const changed = state !== shownState;
      shownState = state;
      o.show(state, detail || '', changed);
    }

    function secondsLeft() {
      return Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    }

    function showWaiting() {
      if (conn && conn.opened) return;
      const left = retryAt ? secondsLeft() : 0;
      const when = retryAt ? (left > 0 ? 'in ' + left + ' s' : 'now') : '';
      if (o.busy()) setState('reconnecting', 'reloading data');
      else if (errorReason) setState('error', errorReason.replace(/_/g, ' ') + (when ? ' · retry ' + when : ''));
      else if (polling && lastPollOk) setState('polling', 'every ' + POLL_EVERY_MS / 1000 + ' s' + (when ? ' · live ' + when : ''));
      else if (retryAt) setState('reconnecting', left > 0 ? 'in ' + left + ' s' : 'connecting');
      else if (conn) setState(shownState === 'connecting' ? 'connecting' : 'reconnecting', 'connecting');
    }

    function chooseTransport() {
      if (forced === 'ws' || forced === 'sse') return forced;
      if (!('WebSocket' in window)) return 'sse';
      return wsFailures >= WS_FAILURES_FOR_SSE && lastPollOk ? 'sse' : 'ws';
    }

    function connect() {
      clearTimeout(retryTimer);
      retryTimer = null;
      retryAt = 0;
      if (forced === 'poll') {
        o.transport('poll');
        startPolling();
        return;
      }
      const kind = chooseTransport();
      const q = 'view=' + encodeURIComponent(o.view) + o.query();
      const c = { kind, opened: false, close: null };
      conn = c;
      o.transport(kind);
      showWaiting();
      if (kind === 'ws') {
        const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/live/ws?' + q);
        c.ws = ws;
        c.close = () => ws.close(1000);
        ws.onopen = () => {
          c.opened = true;
        };
        ws.onmessage = (e) => {
          if (conn === c) receive(c, e.data);
        };
        ws.onclose = ws.onerror = () => {
          if (conn === c) lost(c);
        };
      } else {
        const es = new EventSource('/live/sse?' + q);
        c.close = () => es.close();
        es.onopen = () => {
          c.opened = true;
        };
        for (const t of o.types()) {
          es.addEventListener(t, (e) => {
            if (conn === c) receive(c, e.data);
          });
        }
        // EventSource would reconnect by itself; this client resumes itself, from its cursor.
        es.onerror = () => {
          if (conn === c) lost(c);
        };
      }
    }

    function receive(c, data) {
      let ev;
      try {
        ev = JSON.parse(data);
      } catch (e) {
        return;
      }
      if (ev.type === 'status') return onStatus(c, ev);
      if (shownState === 'idle') setState('live', transportName(c.kind));
      o.apply(ev);
    }

    function onStatus(c, s) {
      switch (s.state) {
        case 'connected':
          attempt = 0;
          errorReason = '';
          if (c.kind === 'ws') wsFailures = 0;
          o.connected(s);
          stopPolling();
          setState('live', transportName(c.kind));
          break;
        case 'idle':
          setState('idle', 'no events for a while');
          break;
        case 'reconnecting': // server_shutdown
          drop(c);
          retry(s.retry_after_ms || backoff(), connect);
          break;
        case 'error':
          drop(c);
          if (s.reason !== 'overflow') errorReason = s.reason || 'error';
          retry(s.reason === 'overflow' ? s.retry_after_ms || backoff() : backoff(), connect);
          break;
        case 'fallback':
          drop(c);
          if (s.reason === 'too_many_connections') {
            startPolling();
            retry(s.retry_after_ms || backoff(), connect);
          } else {
            o.fallback(s); // backlog_too_large, epoch_changed, pruned
          }
          break;
      }
    }

    // Sends a frame (an object, as JSON) on the link's WebSocket, if it has one open.
    // Over SSE or polling there is no way to send: false, and the frame is not sent.
    function send(frame) {
      const ws = conn && conn.opened && conn.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(frame));
      return true;
    }

    function drop(c) {
      if (conn === c) conn = null;
      c.close();
    }

    function lost(c) {
      drop(c);
      if (c.kind === 'ws' && !c.opened) wsFailures += 1;
      attempt += 1;
      if (attempt >= 2) startPolling();
      retry(backoff(), connect);
    }

    function backoff() {
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, Math.max(0, attempt - 1)));
      return base / 2 + (Math.random() * base) / 2;
    }

    function retry(ms, fn) {
      clearTimeout(retryTimer);
      retryAt = Date.now() + ms;
      retryFn = fn;
      retryTimer = setTimeout(() => {
        retryTimer = null;
        retryAt = 0;
        retryFn();
      }, ms);
      showWaiting();
    }

    // Polling the read API.

    function startPolling() {
      if (polling) return;
      polling = true;
      pollSoon(0);
    }

    function stopPolling() {
      polling = false;
      clearTimeout(pollTimer);
    }

    function pollSoon(ms) {
      clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, ms);
    }

    async function poll() {
      if (!polling || pollBusy) return;
      pollBusy = true;
      try {
        await o.pollOnce();
        lastPollOk = true;
      } catch (e) {
        lastPollOk = false;
      }
      pollBusy = false;
      if (!polling) return;
      if (forced === 'poll') setState(lastPollOk ? 'polling' : 'reconnecting', lastPollOk ? 'every ' + POLL_EVERY_MS / 1000 + ' s' : 'the server does not answer');
      else showWaiting();
      pollSoon(POLL_EVERY_MS);
    }

    return {
      connect,
      send,
      retry,
      backoff,
      startPolling,
      showWaiting,
      setState,
      // A try that failed outside the connection (a reload): the next wait is longer.
      failed() {
        attempt += 1;
      },
      // Once a second: the countdown, and a state that may have changed meanwhile.
      tick() {
        if (retryAt || (polling && !conn)) showWaiting();
      },
      // Leaving the page: the connection is closed on the way out ...
      leave() {
        if (conn) drop(conn);
      },
      // ... and opened again when it comes back from the back/forward cache.
      back() {
        if (!conn && !retryTimer && !o.busy()) connect();
      },
    };
  }

  // ---------------------------------------------------------------------------
  // Top lists (home, channel, profile): the busiest channels and users of the page's
  // window, a view of their own (`top/<window>`, `top/<window>/channel/<name>`,
  // `top/<window>/user/<name>`) on a link of their own, declared by the markup:
  // <… data-top-view data-top-poll data-top-unit> around one <tbody data-top="channels">
  // or "users" per list. Every `top` envelope is the whole current list (at most TOP_N,
  // ordered by the server): it replaces what is shown, latest wins (by cursor, then by
  // the window's start), and is drawn once per frame. Polling reads `data-top-poll`
  // (`/api/top?…`), which answers the same object.
  // ---------------------------------------------------------------------------

  const TOP_STATE_WORDS = { reconnecting: 'reconnecting…', polling: 'polling', error: 'not live' };

  function newTop(el) {
    const d = el.dataset;
    const t = {
      el,
      view: d.topView,
      pollUrl: d.topPoll,
      unit: Number(d.topUnit) || 1, // the rate's unit in minutes: 1, 60 or 1440
      lists: {},
      sinces: el.querySelectorAll('[data-top-since]'),
      states: el.querySelectorAll('[data-top-state]'),
      shown: { cursor: -1, since: -Infinity },
      pending: null,
      waiting: false, // a draw put off while the reader's focus is in a list
    };
    for (const tbody of el.querySelectorAll('tbody[data-top]')) t.lists[tbody.dataset.top] = tbody;
    t.link = newLink({
      view: t.view,
      // The whole list comes after every `connected`: nothing to resume from.
      query: () => '',
      types: () => ['top', 'status'],
      apply: (ev) => topApply(t, ev),
      connected: () => {},
      // Not sent to a view without a cursor; should it come, poll until live again.
      fallback: (s) => {
        t.link.failed();
        t.link.startPolling();
        t.link.retry(s.retry_after_ms || t.link.backoff(), t.link.connect);
      },
      pollOnce: async () => {
        const r = await getJSON(t.pollUrl);
        topApply(t, r);
      },
      busy: () => false,
      show: (state, detail) => {
        el.dataset.state = state;
        for (const s of t.states) {
          s.textContent = TOP_STATE_WORDS[state] || '';
          s.title = detail;
        }
      },
      transport: (kind) => {
        el.dataset.transport = kind;
      },
    });
    t.link.setState('connecting', '');
    return t;
  }

  function topApply(t, ev) {
    if (!ev || ev.type !== 'top') return;
    const since = Date.parse(ev.since);
    const c = Number(ev.cursor) || 0;
    // Never backwards: an older answer (a poll that crossed a live envelope) is dropped.
    if (c < t.shown.cursor || (c === t.shown.cursor && since < t.shown.since)) return;
    t.shown = { cursor: c, since };
    t.pending = ev;
    schedule();
  }

  // A rate as the pages write it (src/web/pages/format.rs, `rate`): whole numbers from 10,
  // one decimal from 1, two significant digits below, no trailing zeros; halves round up.
  function fmtRate(v) {
    if (!(v > 0)) return '0';
    if (v >= 10) return fmtNumber(Math.round(v));
    const places = v >= 1 ? 1 : Math.min(6, 1 - Math.floor(Math.log10(v)));
    const scale = Math.pow(10, places);
    return (Math.round(v * scale) / scale).toFixed(places).replace(/\.?0+$/, '');
  }

  function drawTop(t) {
    const ev = t.pending;
    // Rows move as ranks change: not under the reader's focus (a moved link loses it).
    for (const tbody of Object.values(t.lists)) {
      if (!tbody.contains(document.activeElement)) continue;
      if (!t.waiting) {
        t.waiting = true;
        tbody.addEventListener(
          'focusout',
          () => {
            t.waiting = false;
            schedule();
          },
          { once: true }
        );
      }
      return;
    }
    t.pending = null;
    for (const [kind, tbody] of Object.entries(t.lists)) {
      if (Array.isArray(ev[kind])) drawTopList(t, tbody, ev[kind]);
    }
    if (ev.since) for (const s of t.sinces) setTime(s, ev.since);
  }

  function drawTopList(t, tbody, entries) {
    const old = new Map();
    for (const tr of tbody.rows) old.set(tr.dataset.key, tr);
    const most = entries.length ? Math.max(1, Number(entries[0].messages) || 0) : 1;
    entries.forEach((e, i) => {
      let tr = old.get(e.name);
      const fresh = !tr;
      if (fresh) tr = topRow(tbody, e.name);
      old.delete(e.name);
      const n = Number(e.messages) || 0;
      const rank = tr.querySelector('[data-cell="rank"]');
      // What is worth a look: an entry that comes in or moves up (on a busy server every
      // count changes every tick, and a list that always flashes says nothing).
      const rose = fresh || i + 1 < Number(rank.textContent);
      tr.dataset.n = n;
      rank.textContent = i + 1;
      tr.querySelector('[data-cell="total"]').textContent = fmtNumber(n);
      tr.querySelector('[data-cell="rate"]').textContent = fmtRate(Number(e.per_minute) * t.unit);
      const bar = tr.querySelector('[data-bar]');
      if (bar) bar.setAttribute('width', Math.max(1, Math.round((1000 * n) / most) / 10) + '%');
      if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
      if (rose) flash(tr);
    });
    for (const tr of old.values()) tr.remove();
    const card = tbody.closest('[data-top-list]');
    const empty = card && card.querySelector('[data-top-empty]');
    const wrap = tbody.closest('.table-wrap');
    if (empty) empty.hidden = entries.length > 0;
    if (wrap) wrap.hidden = entries.length === 0;
  }

  // A new row of a list, from the page's <template>, named and linked.
  function topRow(tbody, name) {
    const tpl = document.getElementById('tpl-top-' + tbody.dataset.top);
    const tr = tpl.content.querySelector('tr').cloneNode(true);
    tr.dataset.key = name;
    const a = tr.querySelector('.row-name');
    a.href = tbody.dataset.base + encodeURIComponent(name);
    a.textContent = (tbody.dataset.prefix || '') + name;
    return tr;
  }

  // ---------------------------------------------------------------------------
  // Polling the page's view: the read API
  // ---------------------------------------------------------------------------

  async function getJSON(url) {
    const r = await fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!r.ok) throw Object.assign(new Error(url + ': HTTP ' + r.status), { status: r.status });
    return r.json();
  }

  function messageQuery() {
    const d = els.list ? els.list.dataset : {};
    let q = '';
    if (view.startsWith('channel/')) q += '&channel=' + encodeURIComponent(entityName);
    else if (view.startsWith('user/')) q += '&user=' + encodeURIComponent(entityName);
    if (d.channel && !view.startsWith('channel/')) q += '&channel=' + encodeURIComponent(d.channel);
    return q;
  }

  function fromApi(m) {
    return {
      type: 'message',
      message_id: m.id,
      channel_id: m.channel_id,
      channel: m.channel,
      user_id: m.user_id,
      user: m.user,
      display_name: m.display_name,
      text: m.text,
      sent_at: m.sent_at,
      cursor: m.id,
    };
  }

  async function pollOnce() {
    if (reloading) return;
    if (custom) {
      await custom.poll();
      schedule();
      return;
    }
    if (hasMessages) {
      for (let page = 0; ; page++) {
        const r = await getJSON('/api/messages?after_id=' + cursor + '&limit=' + POLL_LIMIT + messageQuery());
        if (r.epoch !== epoch) return reload();
        let applied = 0;
        let last = null;
        for (const m of r.messages) {
          if (m.id <= cursor) continue;
          applied += 1;
          last = m.sent_at;
          apply(fromApi(m));
        }
        // The channel view's count has no read route of its own: polls are gapless, so add.
        if (view.startsWith('channel/') && applied) onEntity(entity.total + applied, last, cursor);
        if (r.messages.length < POLL_LIMIT) break;
        if (page + 1 >= POLL_PAGES_MAX) return reload();
      }
    }
    if (view === 'home') {
      const r = await getJSON('/api/metrics');
      apply({ type: 'metrics', total_messages: r.total_messages, total_channels: r.total_channels, total_users: r.total_users, cursor: r.cursor });
    } else if (view.startsWith('user/')) {
      try {
        const r = await getJSON('/api/users/' + encodeURIComponent(entityName) + '?limit=1');
        onEntity(r.user.total_messages, r.user.last_seen_at, entity.cursor);
      } catch (e) {
        if (e.status !== 404) throw e;
      }
    } else if (isCountView) {
      const tbody = els.rows;
      const limit = Number(tbody.dataset.limit) || 50;
      const q = '?limit=' + limit + '&offset=' + (Number(params.get('offset')) || 0) + '&sort=' + tbody.dataset.sort + prefixQuery();
      const r = await getJSON('/api/' + view + q);
      if (r.epoch !== epoch) return reload();
      showTotal(r.total);
      // Rows of the read API carry no cursor of their own: counts only grow, so the
      // larger total is the newer one.
      for (const row of r[view]) {
        const name = view === 'channels' ? row.name : row.username;
        const shown = rows.get(name);
        if (shown && row.total_messages <= shown.total) continue;
        pendingRows.set(name, {
          total: row.total_messages,
          last: view === 'channels' ? row.last_message_at : row.last_seen_at,
          cursor: shown ? shown.cursor : 0,
          id: row.id,
        });
        if (shown) shown.total = row.total_messages;
      }
    }
    schedule();
  }

  // ---------------------------------------------------------------------------
  // Reload after `fallback`: the page's own URL is read again (the same store reads as
  // the read API, in one snapshot, with its cursor and epoch), its data regions are
  // swapped in, and the view is subscribed again from the new cursor.
  // ---------------------------------------------------------------------------

  async function reload() {
    if (reloading) return;
    reloading = true;
    link.showWaiting();
    try {
      const res = await fetch(location.href, { cache: 'no-store', headers: { Accept: 'text/html' } });
      // A page whose from–to was refused is still the page (a 400 that says why).
      if (!res.ok && res.status !== 400) throw new Error('HTTP ' + res.status);
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      if (!doc.body.dataset.epoch) throw new Error('not a live page');
      for (const el of document.querySelectorAll('[data-region]')) {
        const fresh = doc.querySelector('[data-region="' + el.dataset.region + '"]');
        if (fresh) el.replaceWith(document.adoptNode(fresh));
      }
      epoch = doc.body.dataset.epoch;
      cursor = Number(doc.body.dataset.cursor) || 0;
      body.dataset.epoch = epoch;
      body.dataset.cursor = cursor;
      bind();
      if (els.rendered) els.rendered.textContent = cursor;
      window.chatpulseTime.localize(document);
      reloads += 1;
      body.dataset.reloads = reloads;
    } catch (e) {
      reloading = false;
      link.failed();
      link.retry(link.backoff(), reload);
      return;
    }
    reloading = false;
    link.connect();
  }

  // ---------------------------------------------------------------------------
  // Pause, and "load older"
  // ---------------------------------------------------------------------------

  function updatePauseLabel() {
    if (!els.pause) return;
    els.pause.setAttribute('aria-pressed', paused ? 'true' : 'false');
    els.pause.textContent = paused ? 'Resume' + (pausedCount ? ' · ' + fmtNumber(pausedCount) + ' new' : '') : 'Pause';
  }

  document.addEventListener('click', (e) => {
    const pause = e.target.closest('[data-pause]');
    if (pause) {
      paused = !paused;
      if (!paused) pausedCount = 0;
      updatePauseLabel();
      schedule();
      return;
    }
    const older = e.target.closest('[data-older]');
    if (older && els.list) {
      e.preventDefault();
      loadOlder(older);
    }
  });

  function olderFrom(id) {
    if (!els.older) return;
    const u = new URL(els.older.href, location.href);
    u.searchParams.set('before_id', id);
    els.older.href = u.pathname + u.search;
    els.older.closest('[data-older-wrap]').hidden = false;
  }

  async function loadOlder(link) {
    const last = els.list.lastElementChild;
    if (!last || link.dataset.busy) return;
    link.dataset.busy = '1';
    const size = Number(link.dataset.page) || 50;
    try {
      const r = await getJSON('/api/messages?before_id=' + last.dataset.id + '&limit=' + size + messageQuery());
      const frag = document.createDocumentFragment();
      for (const m of r.messages) {
        const li = messageEl(fromApi(m));
        li.classList.remove('is-new');
        frag.appendChild(li);
      }
      els.list.appendChild(frag);
      listCap = Math.min(LIST_HARD_MAX, Math.max(listCap, els.list.children.length + LIST_MAX));
      if (r.messages.length < size) {
        link.closest('[data-older-wrap]').textContent = 'No older messages.';
        els.older = null;
      } else {
        olderFrom(r.messages[r.messages.length - 1].id);
      }
    } catch (e) {
      link.textContent = 'Load older (failed, try again)';
    }
    delete link.dataset.busy;
  }

  // ---------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------

  // What a page's own script (see the top) may use.
  const helpers = {
    view,
    entityName,
    get cursor() {
      return cursor;
    },
    advance(c) {
      if (c > cursor) cursor = c;
    },
    epoch: () => epoch,
    schedule,
    reload,
    send: (frame) => link.send(frame),
    getJSON,
    fmtNumber,
    setTime,
    flash,
    hideEmpty,
    streamLink,
    streamLabel,
    POLL_LIMIT,
    POLL_PAGES_MAX,
  };
  const factory = (window.chatpulseViews || {})[view.split('/')[0]];
  custom = factory ? factory(helpers) : null;

  link = newLink({
    view,
    query: () => '&after_id=' + cursor + '&epoch=' + encodeURIComponent(epoch),
    types: () => EVENT_TYPES.concat(custom ? custom.types : []),
    apply,
    // Everything of this view up to the status' cursor has been sent.
    connected: (s) => {
      if (s.cursor > cursor) cursor = s.cursor;
    },
    fallback: reload, // backlog_too_large, epoch_changed, pruned
    pollOnce,
    busy: () => reloading,
    show: showState,
    transport: (kind) => {
      body.dataset.transport = kind;
    },
  });
  tops = Array.from(document.querySelectorAll('[data-top-view]'), newTop);

  bind();
  link.setState('connecting', '');
  setInterval(() => {
    if (chart) {
      roll(chart, Date.now());
      drawChart(chart);
    }
    if (heat) {
      heatRoll(heat, Date.now());
      drawHeatmap(heat);
    }
    if (rate) drawRate(rate);
    link.tick();
    for (const t of tops) t.link.tick();
  }, 1000);
  // The chart's labels follow the zone shown and its size the page's.
  const redrawChart = () => {
    if (chart) {
      chart.dirty = true;
      drawChart(chart);
    }
    if (heat) {
      heat.dirty = true;
      drawHeatmap(heat);
    }
  };
  // The from–to form closes with Escape, back on its button.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    const open = document.querySelector('[data-window-custom][open]');
    if (!open) return;
    open.open = false;
    open.querySelector('summary').focus();
  });
  document.addEventListener('chatpulse:times', redrawChart);
  window.addEventListener('resize', redrawChart);
  window.addEventListener('pagehide', () => {
    link.leave();
    for (const t of tops) t.link.leave();
  });
  // Back from the back/forward cache: the connections were closed on the way out.
  window.addEventListener('pageshow', (e) => {
    if (!e.persisted) return;
    link.back();
    for (const t of tops) t.link.back();
  });
  link.connect();
  for (const t of tops) t.link.connect();
})();
