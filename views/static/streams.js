// chatpulse stream pages: a stream's event log (/streams/<id>, view `stream/<id>`) and the
// incidents (/incidents, view `streams`). The project's own code.
//
// This file says what those views' events mean; live.js (loaded after it) keeps the
// connection, catch-up, fallback and polling schedule, and calls what is registered here
// with its helpers (see the top of live.js). Text is only ever set as text.
'use strict';
(function () {
  const views = (window.chatpulseViews = window.chatpulseViews || {});
  views.stream = streamPage;
  views.streams = incidentsPage;

  // A page of older events (`?before_id=`) is not live, so live.js calls nothing: its
  // threads still open in place, with these few helpers of its own.
  document.addEventListener('DOMContentLoaded', () => {
    const head = document.querySelector('.stream-head');
    if (document.body.dataset.view || !head) return;
    const getJSON = async (url) => {
      const r = await fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
      return r.json();
    };
    const page = streamPage({
      entityName: head.dataset.stream,
      cursor: 0,
      advance() {},
      epoch: () => '',
      schedule() {},
      reload() {},
      getJSON,
      fmtNumber: (n) => Number(n).toLocaleString('en-US'),
      setTime: window.chatpulseTime.set,
      flash() {},
      hideEmpty() {},
      streamLink(a, id) {
        a.href = '/streams/' + id;
        a.textContent = 'stream ' + id;
      },
      POLL_LIMIT: 0,
      POLL_PAGES_MAX: 0,
    });
    page.bind();
  });

  // Limits (README, "Pages").
  const PAGE_EVENTS = 100; // events per "load earlier" step and per opened thread (STREAM_EVENTS)
  const EVENTS_MAX = 300; // event rows a live log keeps ...
  const EVENTS_HARD_MAX = 2000; // ... however many earlier pages were loaded into it
  const HASH_PAGES_MAX = 20; // earlier pages read to find the event a link points to
  const TYPING_EVERY_MS = 2000; // a typing frame at most this often while the composer is typed in
  const TYPING_SHOW_MIN_MS = 1000; // "is typing" shows at least this long (a clock behind the server's) ...
  const TYPING_SHOW_MAX_MS = 6000; // ... and at most this long (a clock ahead), else until `expires_at`
  const TALLIES_KEPT = 500; // newest tallies kept for polls not drawn yet (a tally may come first)
  const VOTERS_SHOWN = 100; // names "Who voted" lists, then "and 12 more"
  // The raster images a file row previews in place (the server shows no other type inline).
  const PREVIEW_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

  // ---------------------------------------------------------------------------
  // Wording, the same as the server's (src/web/pages/views.rs)
  // ---------------------------------------------------------------------------

  function heading(kind, name) {
    if (kind === 'channel' && name) return '#' + name;
    if (name) return name;
    return kind === 'incident' ? 'Incident' : 'Thread';
  }

  function repliesLabel(n) {
    if (n === 0) return 'No replies yet';
    if (n === 1) return '1 reply';
    return Number(n).toLocaleString('en-US') + ' replies';
  }

  // "No votes yet", "1 voter", "1,204 voters" (views.rs, `voters_label`).
  function votersLabel(n) {
    if (!n) return 'No votes yet';
    return Number(n).toLocaleString('en-US') + (n === 1 ? ' voter' : ' voters');
  }

  // `n` of `of` as a whole percentage (format.rs, `share`).
  function share(n, of) {
    return of > 0 ? Math.round((100 * Math.max(0, n)) / of) + '%' : '0%';
  }

  // "1 byte", "512 bytes", "4.5 KB", "120 KB", "25 MB" (format.rs, `file_size`).
  function fileSize(bytes) {
    if (bytes < 1024) return Number(Math.max(0, bytes)).toLocaleString('en-US') + (bytes === 1 ? ' byte' : ' bytes');
    let v = bytes / 1024;
    let unit = 0;
    while (v >= 999.5 && unit < 2) {
      v /= 1024;
      unit += 1;
    }
    const n = v < 9.95 ? Math.round(v * 10) / 10 : Math.round(v);
    return (n >= 10 ? n.toLocaleString('en-US') : String(n)) + ' ' + ['KB', 'MB', 'GB'][unit];
  }

  // A file's badge: its extension, upper case, at most 4 characters (views.rs, `file_ext`).
  function fileExt(name) {
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 ? name.slice(dot + 1) : '';
    return ext && Array.from(ext).length <= 4 && /^[\p{L}\p{N}]+$/u.test(ext) ? ext.toUpperCase() : 'FILE';
  }

  function joinAnd(items) {
    if (items.length < 2) return items.join('');
    return items.slice(0, -1).join(', ') + ' and ' + items[items.length - 1];
  }

  // A system event as a sentence: [{text, href?}].
  function systemLine(ev) {
    const t = (text) => ({ text });
    const user = (name) => ({ text: name, href: '/users/' + encodeURIComponent(name) });
    const who = ev.user || ev.actor;
    switch (ev.event_type) {
      case 'member_joined':
        return ev.added_by && ev.added_by !== who ? [user(ev.added_by), t(' added '), user(who)] : [user(who), t(' joined')];
      case 'member_left':
        return [user(who), t(' left')];
      case 'poll_closed':
        return [user(ev.actor), t(' closed '), ev.target_event_id ? { text: 'a poll', href: '#e' + ev.target_event_id } : t('a poll')];
      case 'thread_started': {
        const line = [user(ev.actor), t(' started a ')];
        line.push(ev.thread_stream_id ? { text: 'thread', href: '/streams/' + ev.thread_stream_id } : t('thread'));
        if (ev.branched_from_event_id) line.push(t(' from '), { text: 'this message', href: '#e' + ev.branched_from_event_id });
        return line;
      }
      case 'stream_promoted': {
        const to = { incident: 'an incident', channel: 'a channel' }[ev.to_kind] || ev.to_kind || 'another kind';
        const line = [user(ev.actor), t(' promoted this thread to ' + to)];
        if (ev.name) line.push(t(' “' + ev.name + '”'));
        return line;
      }
      case 'stream_updated': {
        const said = [];
        if (ev.name) said.push('renamed this stream to “' + ev.name + '”');
        if (ev.description != null) said.push('changed the description');
        const status = { resolved: 'marked it resolved', active: 'reopened it', archived: 'archived it' }[ev.status];
        if (status) said.push(status);
        if (!said.length) said.push('updated this stream');
        return [user(ev.actor), t(' ' + joinAnd(said))];
      }
      default:
        return [user(ev.actor), t(' ' + String(ev.event_type).replace(/_/g, ' '))];
    }
  }

  // ---------------------------------------------------------------------------
  // /streams/<id>
  // ---------------------------------------------------------------------------

  function streamPage(h) {
    const streamId = h.entityName;
    let els = {};
    let pending = []; // events to draw, in cursor order
    let pendingCounts = new Map(); // thread id -> newest reply_count envelope
    let pendingTallies = new Map(); // poll id -> newest poll_tally envelope
    const tallies = new Map(); // poll id -> newest tally seen, for a poll drawn after it came
    const countCursors = new Map(); // thread id -> cursor of the reply count shown
    let cap = EVENTS_MAX;

    // The reader (server-rendered on [data-reader]): who they are, and for a member their
    // read cursor, moved to the newest event shown while the page is visible and someone
    // else's message is after it.
    const reader = document.querySelector('[data-reader]');
    const me = reader ? reader.dataset.me : '';
    let member = !!reader && reader.dataset.member === 'true' && !!h.view;
    let readTo = reader ? Number(reader.dataset.read) || 0 : 0;
    let othersAfter = !!reader && Number(reader.dataset.unread) > 0;
    let reading = false;
    // Polls: a reader who may post votes (and closes their own, or any as an owner or admin).
    const canPost = !!document.querySelector('[data-composer]');
    const manager = !!reader && reader.dataset.manager === 'true';
    let closingTimer = null;
    // Who else is typing: name -> when it stops showing (ms).
    const typists = new Map();
    let typingTimer = null;
    let lastTyping = 0; // when this reader's last typing frame went

    function bind() {
      els = {
        list: document.querySelector('[data-list="events"]'),
        head: document.querySelector('.stream-head'),
        name: document.querySelector('[data-stream-name]'),
        kind: document.querySelector('[data-stream-kind]'),
        status: document.querySelector('[data-stream-status]'),
        desc: document.querySelector('[data-stream-desc]'),
        total: document.querySelector('[data-stream-total]'),
        earlier: document.querySelector('[data-earlier]'),
        tpl: {
          message: document.getElementById('tpl-ev-message'),
          shared: document.getElementById('tpl-ev-shared'),
          system: document.getElementById('tpl-ev-system'),
          poll: document.getElementById('tpl-ev-poll'),
          file: document.getElementById('tpl-ev-file'),
          option: document.getElementById('tpl-poll-option'),
        },
      };
      pending = [];
      pendingCounts = new Map();
      pendingTallies = new Map();
      armClosing();
      cap = EVENTS_MAX;
      markRead(); // opening the page reads what it shows
    }

    function apply(ev) {
      if (ev.type === 'typing') {
        if (String(ev.stream_id) !== streamId || ev.user === me) return false;
        const until = Date.parse(ev.expires_at);
        const left = isNaN(until) ? TYPING_SHOW_MAX_MS : until - Date.now();
        typists.set(ev.user, Date.now() + Math.min(TYPING_SHOW_MAX_MS, Math.max(TYPING_SHOW_MIN_MS, left)));
        return true;
      }
      if (ev.type === 'event') {
        if (ev.cursor <= h.cursor) return false; // seen already
        h.advance(ev.cursor);
        if (String(ev.stream_id) !== streamId) return false;
        if (ev.event_type === 'message') {
          typists.delete(ev.actor); // what they typed arrived
          if (ev.actor !== me && ev.event_id > readTo) othersAfter = true;
        }
        pending.push(ev);
        // Edits need the rows they change, so nothing is dropped: a long backlog (a hidden
        // tab draws no frames) is drawn now instead.
        if (pending.length > EVENTS_MAX) frame();
        return true;
      }
      if (ev.type === 'poll_tally') {
        // Merged per poll like counts: the newest (by cursor) is the tally. Votes are no
        // rows of the log, so the cursor stays where the log is.
        if (String(ev.stream_id) !== streamId) return false;
        const id = String(ev.event_id);
        const before = pendingTallies.get(id);
        if (!before || ev.cursor >= before.cursor) pendingTallies.set(id, ev);
        return true;
      }
      if (ev.type === 'reply_count') {
        if (String(ev.stream_id) !== streamId) return false;
        const before = pendingCounts.get(ev.thread_stream_id);
        if (!before || ev.cursor >= before.cursor) pendingCounts.set(ev.thread_stream_id, ev);
        return true;
      }
      return false;
    }

    function frame() {
      if (!els.list) return;
      if (pending.length) {
        const atBottom = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 40;
        let added = 0;
        for (const ev of pending) {
          const li = drawEvent(els.list, ev, false);
          if (li) {
            li.classList.add('is-new');
            added += 1;
          }
          changeStream(ev);
        }
        pending = [];
        if (added) {
          h.hideEmpty(els.list);
          trim();
          if (atBottom) window.scrollTo(0, document.documentElement.scrollHeight);
        }
      }
      for (const c of pendingCounts.values()) {
        const li = row(els.list, c.event_id);
        if (li) setThread(li, c.thread_stream_id, c.reply_count, c.cursor);
      }
      pendingCounts = new Map();
      if (pendingTallies.size) {
        for (const t of pendingTallies.values()) {
          keepTally(t);
          const li = row(els.list, t.event_id);
          if (li) setTally(li, t);
        }
        pendingTallies = new Map();
        armClosing();
      }
      drawTyping();
      markRead();
    }

    // ------------------------------------------------------------------------
    // Who is typing, and what this reader has read
    // ------------------------------------------------------------------------

    // "alice is typing…", "alice and bob are typing…", "4 people are typing…"; each name
    // until its typing expires.
    function drawTyping() {
      const el = document.querySelector('[data-typing]');
      if (!el) return;
      const now = Date.now();
      let soonest = Infinity;
      for (const [name, until] of typists) {
        if (until <= now) typists.delete(name);
        else soonest = Math.min(soonest, until);
      }
      const names = Array.from(typists.keys()).sort();
      let text = '';
      if (names.length === 1) text = names[0] + ' is typing…';
      else if (names.length > 1 && names.length <= 3) text = joinAnd(names) + ' are typing…';
      else if (names.length > 3) text = names.length + ' people are typing…';
      if (el.textContent !== text) el.textContent = text;
      clearTimeout(typingTimer);
      typingTimer = soonest < Infinity ? setTimeout(drawTyping, soonest - now + 20) : null;
    }

    // A member's read cursor moves to the newest event shown, while they can see the page
    // and someone else wrote after it (their own messages are never unread).
    function markRead() {
      if (!member || reading || !othersAfter || document.visibilityState !== 'visible' || !els.list) return;
      const last = els.list.lastElementChild;
      const id = last ? Number(last.dataset.id) : 0;
      if (!(id > readTo)) return;
      const was = readTo;
      reading = true;
      readTo = id;
      othersAfter = false;
      fetch('/api/streams/' + encodeURIComponent(streamId) + '/read', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ event_id: id }),
      })
        .then((r) => {
          // No longer a member (they left, or were never one): nothing to mark.
          if (r.status === 409 || r.status === 404 || r.status === 401) member = false;
          else if (!r.ok) throw new Error('HTTP ' + r.status);
        })
        .catch(() => {
          // Tried again with the next event or when the page is shown again.
          readTo = was;
          othersAfter = true;
        })
        .finally(() => {
          reading = false;
          const newest = els.list && els.list.lastElementChild;
          if (othersAfter && newest && Number(newest.dataset.id) > readTo) markRead();
        });
    }

    // The composer posts through the stream API; the message comes back on the live view
    // like anyone's. Typing in it sends a typing frame on the page's WebSocket.
    function setUpComposer() {
      const form = document.querySelector('[data-composer]');
      if (!form) return;
      const text = form.querySelector('textarea');
      const button = form.querySelector('button[type="submit"]');
      const error = document.querySelector('[data-composer-error]');
      text.addEventListener('input', () => {
        if (!text.value.trim() || !h.send) return;
        const now = Date.now();
        if (now - lastTyping < TYPING_EVERY_MS) return;
        if (h.send({ type: 'typing', stream_id: Number(streamId) })) lastTyping = now;
      });
      text.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          form.requestSubmit();
        }
      });
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const body = text.value;
        if (!body.trim() || form.dataset.busy) return;
        form.dataset.busy = '1';
        button.disabled = true;
        error.hidden = true;
        try {
          const r = await fetch('/api/streams/' + encodeURIComponent(streamId) + '/events', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ text: body, client_temp_id: 'c' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8) }),
          });
          if (!r.ok) {
            const b = await r.json().catch(() => ({}));
            if (r.status === 401) throw new Error('your session has ended, sign in again');
            throw new Error((b.error && b.error.message) || 'HTTP ' + r.status);
          }
          if (text.value === body) text.value = '';
          lastTyping = 0;
        } catch (err) {
          error.textContent = 'Not posted: ' + (err.message || 'the server did not answer') + '.';
          error.hidden = false;
        }
        delete form.dataset.busy;
        button.disabled = false;
        text.focus();
      });
    }
    setUpComposer();
    setUpUpload();
    setUpPollForm();
    document.addEventListener('visibilitychange', markRead);

    // The row of event `id` directly in `list` (a log, or an opened thread).
    function row(list, id) {
      return list.querySelector(':scope > li[data-id="' + id + '"]');
    }

    // Draws one event into `list`: a new row, or a change to the row it is about.
    function drawEvent(list, ev, nested) {
      if (ev.event_type === 'event_edited') {
        const li = row(list, ev.target_event_id);
        if (li) showEdited(li, ev.text, ev.edited_at);
        if (!nested) for (const q of originals(ev.target_event_id)) setQuote(q, ev.text);
        return null;
      }
      if (ev.event_type === 'event_deleted') {
        const li = row(list, ev.target_event_id);
        if (li) showDeleted(li);
        if (!nested) for (const q of originals(ev.target_event_id)) setQuote(q, null);
        return null;
      }
      if (row(list, ev.event_id)) return null; // shown already
      const li = eventEl(ev, nested);
      list.appendChild(li);
      return li;
    }

    // What an event changes beyond its own row: the header, a message's thread, the count.
    function changeStream(ev) {
      switch (ev.event_type) {
        case 'message':
          addTotal(1);
          break;
        case 'event_deleted': {
          // Only messages count (a poll or a file is no message).
          const li = row(els.list, ev.target_event_id);
          if (!li || li.dataset.type === 'message') addTotal(-1);
          break;
        }
        case 'poll_closed': {
          const li = row(els.list, ev.target_event_id);
          if (li) closePoll(li, ev.created_at, ev.cursor);
          break;
        }
        case 'thread_started': {
          const li = row(els.list, ev.branched_from_event_id);
          if (li && ev.thread_stream_id && !li.querySelector('.ev-thread').dataset.thread) {
            setThread(li, ev.thread_stream_id, 0, null);
          }
          break;
        }
        case 'stream_promoted':
          if (ev.to_kind) setKind(ev.to_kind);
          setName(heading(ev.to_kind || els.head.dataset.kind, ev.name));
          break;
        case 'stream_updated':
          if (ev.name) setName(heading(els.head.dataset.kind, ev.name));
          if (ev.description != null) {
            els.desc.textContent = ev.description;
            els.desc.hidden = !ev.description;
          }
          if (ev.status) {
            els.status.textContent = ev.status;
            els.status.className = 'badge badge-' + ev.status;
          }
          break;
      }
    }

    function addTotal(n) {
      const total = Math.max(0, Number(els.head.dataset.total) + n);
      els.head.dataset.total = total;
      els.total.textContent = h.fmtNumber(total);
      els.total.nextSibling.textContent = total === 1 ? ' message' : ' messages';
    }

    function setKind(kind) {
      els.head.dataset.kind = kind;
      els.kind.textContent = kind;
    }

    function setName(text) {
      els.name.textContent = text;
      document.title = text + ' · chatpulse';
    }

    function eventEl(ev, nested) {
      const shape = ['message', 'shared', 'poll', 'file'].includes(ev.event_type) ? ev.event_type : 'system';
      const li = els.tpl[shape].content.firstElementChild.cloneNode(true);
      li.dataset.id = ev.event_id;
      li.dataset.type = ev.event_type;
      if (nested) li.removeAttribute('id');
      else li.id = 'e' + ev.event_id;
      const permalink = li.querySelector('.ev-time');
      permalink.href = (nested ? '/streams/' + ev.stream_id : '') + '#e' + ev.event_id;
      h.setTime(permalink.querySelector('time'), ev.created_at);
      const actor = li.querySelector('.ev-actor');
      if (actor) {
        actor.href = '/users/' + encodeURIComponent(ev.actor);
        actor.textContent = ev.actor;
      }
      if (shape === 'message') {
        if (ev.deleted) showDeleted(li);
        else {
          li.querySelector('.ev-text').textContent = ev.text;
          if (ev.edited_at) showEdited(li, ev.text, ev.edited_at);
        }
        if (ev.thread_stream_id) setThread(li, ev.thread_stream_id, ev.reply_count || 0, null);
      } else if (shape === 'shared') {
        li.dataset.original = ev.original_event_id;
        h.streamLink(li.querySelector('.ev-from'), ev.original_stream_id);
        const context = li.querySelector('.ev-context');
        context.textContent = ev.context || '';
        context.hidden = !ev.context;
        setQuote(li, ev.text == null ? null : ev.text);
        li.querySelector('.ev-quote-link').href = '/streams/' + ev.original_stream_id + '#e' + ev.original_event_id;
      } else if (shape === 'poll') {
        fillPoll(li, ev);
      } else if (shape === 'file') {
        fillFile(li, ev);
      } else {
        const says = li.querySelector('.ev-says');
        for (const p of systemLine(ev)) {
          if (p.href) {
            const a = document.createElement('a');
            a.href = p.href;
            a.textContent = p.text;
            says.appendChild(a);
          } else says.appendChild(document.createTextNode(p.text));
        }
      }
      return li;
    }

    function showEdited(li, text, at) {
      if (li.classList.contains('is-deleted')) return;
      li.querySelector('.ev-text').textContent = text;
      const mark = li.querySelector('.edited');
      mark.hidden = false;
      mark.dataset.editedAt = at;
      mark.title = 'edited ' + window.chatpulseTime.full(at);
      h.flash(li);
    }

    function showDeleted(li) {
      li.classList.add('is-deleted');
      if (li.dataset.type === 'poll' || li.dataset.type === 'file') {
        // Its question and tally, or its links, go with it (the bytes are deleted).
        const body = li.querySelector('[data-poll], [data-file]');
        if (body) body.remove();
        li.querySelector('.ev-gone').hidden = false;
        return;
      }
      li.querySelector('.ev-text').textContent = 'message deleted';
      li.querySelector('.edited').hidden = true;
    }

    // Shares on this page of the message `id` (in this stream).
    function originals(id) {
      return els.list.querySelectorAll('li[data-original="' + id + '"]');
    }

    function setQuote(li, text) {
      const q = li.querySelector('.ev-quote-text');
      q.textContent = text == null ? 'original message deleted' : text;
      q.classList.toggle('is-deleted', text == null);
    }

    // ------------------------------------------------------------------------
    // Polls: the tally drawn as bars, the reader's vote, closing; files
    // ------------------------------------------------------------------------

    // A change through the stream API; its JSON, or an Error with the server's words and
    // the status.
    async function send(method, url, body) {
      let r;
      try {
        r = await fetch(url, {
          method,
          headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) {
        throw new Error('the server did not answer');
      }
      const b = await r.json().catch(() => ({}));
      if (!r.ok) {
        const err = new Error(r.status === 401 ? 'your session has ended, sign in again' : (b.error && b.error.message) || 'HTTP ' + r.status);
        err.status = r.status;
        throw err;
      }
      return b;
    }

    function pollUrl(li) {
      return '/api/streams/' + encodeURIComponent(li.dataset.stream || streamId) + '/polls/' + li.dataset.id;
    }

    // A poll row from its event: the question, one row per option, the tally it carries.
    function fillPoll(li, ev) {
      const p = ev.poll;
      li.dataset.actor = ev.actor;
      li.dataset.stream = ev.stream_id;
      if (ev.deleted || !p) {
        showDeleted(li);
        return;
      }
      li.dataset.multiple = p.multiple ? 'true' : 'false';
      li.dataset.cursor = ev.cursor;
      li.querySelector('[data-poll-q]').textContent = p.question;
      li.querySelector('[data-poll-how]').textContent = p.multiple ? 'Choose one or more' : 'Choose one';
      const list = li.querySelector('[data-poll-options]');
      list.textContent = '';
      p.options.forEach((label, i) => {
        const o = els.tpl.option.content.firstElementChild.cloneNode(true);
        o.dataset.index = i;
        const input = o.querySelector('input');
        input.type = p.multiple ? 'checkbox' : 'radio';
        input.name = 'poll-' + ev.event_id;
        input.value = i;
        o.querySelector('[data-poll-label]').textContent = label;
        list.appendChild(o);
      });
      // Nobody voted in it yet: nor did this reader. Otherwise their vote is read.
      if (!p.voters) li.dataset.mine = '';
      drawPoll(li, p);
      const t = tallies.get(String(ev.event_id));
      if (t) setTally(li, t);
      if (li.dataset.mine == null && canPost && !pollClosed(li)) loadPoll(li);
    }

    // Keeps the newest tally of each poll for a row drawn later; the oldest go first.
    function keepTally(t) {
      const id = String(t.event_id);
      const was = tallies.get(id);
      if (was && was.cursor > t.cursor) return;
      tallies.delete(id);
      tallies.set(id, t);
      if (tallies.size > TALLIES_KEPT) tallies.delete(tallies.keys().next().value);
    }

    // A tally (a `poll_tally` envelope, or a poll as the API answers it), unless the row
    // shows a newer one.
    function setTally(li, t) {
      if (li.dataset.type !== 'poll' || li.classList.contains('is-deleted') || !li.querySelector('[data-poll]')) return;
      const shown = Number(li.dataset.cursor) || 0;
      if (t.cursor != null && Number(t.cursor) < shown) return;
      if (t.cursor != null) li.dataset.cursor = t.cursor;
      drawPoll(li, t);
      const who = li.querySelector('[data-poll-who]');
      if (who.open) loadPoll(li);
    }

    function closePoll(li, at, cursor) {
      if (li.classList.contains('is-deleted') || li.dataset.closedAt || Number(li.dataset.cursor) > cursor) return;
      li.dataset.closedAt = at;
      li.dataset.cursor = cursor;
      drawPollState(li);
    }

    // The bars, counts and shares of a tally: {counts, voters, closes_at, closed_at}.
    function drawPoll(li, t) {
      const counts = t.counts || [];
      li.dataset.voters = t.voters;
      if (t.closes_at) li.dataset.closesAt = t.closes_at;
      else delete li.dataset.closesAt;
      if (t.closed_at) li.dataset.closedAt = t.closed_at;
      else delete li.dataset.closedAt;
      const most = Math.max(0, ...counts);
      for (const o of li.querySelectorAll('.poll-option')) {
        const n = counts[Number(o.dataset.index)] || 0;
        const s = share(n, t.voters);
        o.dataset.n = n;
        o.querySelector('[data-poll-count]').textContent = h.fmtNumber(n);
        o.querySelector('[data-poll-share]').textContent = s;
        o.querySelector('[data-poll-bar]').setAttribute('width', s);
        o.classList.toggle('is-top', n > 0 && n === most);
      }
      li.querySelector('[data-poll-voters]').textContent = votersLabel(Number(t.voters) || 0);
      li.querySelector('[data-poll-who]').hidden = !Number(t.voters);
      drawPollState(li);
    }

    // Closed (or past its closing time): results only.
    function pollClosed(li) {
      if (li.dataset.closedAt) return true;
      const at = Date.parse(li.dataset.closesAt || '');
      return !isNaN(at) && at <= Date.now();
    }

    function mineOf(li) {
      return li.dataset.mine ? li.dataset.mine.split(',').map(Number) : [];
    }

    // Open or closed, and what the reader may do: vote (or change it) while it is open;
    // close it, when it is theirs or they manage the stream.
    function drawPollState(li) {
      if (li.classList.contains('is-deleted') || !li.querySelector('[data-poll]')) return;
      const closed = pollClosed(li);
      li.classList.toggle('is-closed', closed);
      const state = li.querySelector('[data-poll-state]');
      const at = li.dataset.closedAt || li.dataset.closesAt;
      state.textContent = closed ? 'Closed' : at ? 'Closes' : 'Open';
      if (at) {
        const time = document.createElement('time');
        h.setTime(time, at);
        state.append(' ', time);
      }
      state.classList.toggle('is-closed', closed);
      const mine = mineOf(li);
      const canVote = canPost && !closed;
      for (const o of li.querySelectorAll('.poll-option')) {
        const chosen = mine.includes(Number(o.dataset.index));
        o.classList.toggle('is-mine', chosen);
        o.querySelector('[data-poll-mine]').hidden = !chosen;
        const input = o.querySelector('input');
        input.hidden = !canVote;
        input.disabled = !canVote;
      }
      const vote = li.querySelector('[data-poll-vote]');
      vote.hidden = !canVote;
      vote.textContent = mine.length ? 'Change vote' : 'Vote';
      li.querySelector('[data-poll-close]').hidden = !(canVote && (manager || (!!me && li.dataset.actor === me)));
      if (closed) li.querySelector('[data-poll-error]').hidden = true;
    }

    // The reader's own vote: marked, and checked in the control.
    function setMine(li, options) {
      li.dataset.mine = options.join(',');
      for (const o of li.querySelectorAll('.poll-option')) {
        o.querySelector('input').checked = options.includes(Number(o.dataset.index));
      }
      drawPollState(li);
    }

    // A poll as the API answers it (PollView): its tally, the reader's vote, who voted.
    function applyView(li, v) {
      setTally(li, v);
      const mine = me ? v.votes.find((x) => x.user === me) : null;
      setMine(li, mine ? mine.options : []);
      drawWho(li, v);
      armClosing();
    }

    // Reads a poll again (the reader's vote, who voted for what). One read at a time.
    async function loadPoll(li) {
      if (li.dataset.reading) return;
      li.dataset.reading = '1';
      try {
        applyView(li, await send('GET', pollUrl(li)));
      } catch (e) {
        if (e.status === 404) showDeleted(li);
      }
      delete li.dataset.reading;
    }

    // "Who voted": each voter and what they chose (visible to whoever may read the stream).
    function drawWho(li, v) {
      const list = li.querySelector('[data-poll-who-list]');
      if (!list) return;
      list.textContent = '';
      for (const x of v.votes.slice(0, VOTERS_SHOWN)) {
        const item = document.createElement('li');
        const a = document.createElement('a');
        a.className = 'ev-actor';
        a.href = '/users/' + encodeURIComponent(x.user);
        a.textContent = x.user;
        item.append(a, ' ' + x.options.map((i) => v.options[i]).join(', '));
        list.appendChild(item);
      }
      if (v.votes.length > VOTERS_SHOWN) {
        const more = document.createElement('li');
        more.className = 'muted';
        more.textContent = 'and ' + h.fmtNumber(v.votes.length - VOTERS_SHOWN) + ' more';
        list.appendChild(more);
      }
    }

    function showError(el, text) {
      el.textContent = text;
      el.hidden = false;
    }

    async function vote(li) {
      const form = li.querySelector('[data-poll]');
      const error = form.querySelector('[data-poll-error]');
      if (form.dataset.busy) return;
      const chosen = Array.from(form.querySelectorAll('.poll-option input:checked'), (i) => Number(i.value));
      if (!chosen.length) return showError(error, 'Choose an option first.');
      form.dataset.busy = '1';
      error.hidden = true;
      try {
        applyView(li, await send('POST', pollUrl(li) + '/vote', { options: chosen }));
      } catch (e) {
        showError(error, 'Not voted: ' + e.message + '.');
        if (e.status === 409 || e.status === 404) loadPoll(li);
      }
      delete form.dataset.busy;
    }

    async function closeOne(li, button) {
      const error = li.querySelector('[data-poll-error]');
      button.disabled = true;
      error.hidden = true;
      try {
        applyView(li, await send('POST', pollUrl(li) + '/close'));
      } catch (e) {
        showError(error, 'Not closed: ' + e.message + '.');
        if (e.status === 409) loadPoll(li);
      }
      button.disabled = false;
    }

    // A poll past its closing time shows its results only, at that time.
    function armClosing() {
      clearTimeout(closingTimer);
      closingTimer = null;
      let soonest = Infinity;
      for (const li of document.querySelectorAll('.ev-poll[data-closes-at]:not(.is-closed)')) {
        const at = Date.parse(li.dataset.closesAt);
        if (at <= Date.now()) drawPollState(li);
        else soonest = Math.min(soonest, at);
      }
      if (soonest < Infinity) closingTimer = setTimeout(armClosing, Math.min(soonest - Date.now() + 50, 3600000));
    }

    document.addEventListener('submit', (e) => {
      const form = e.target.closest('[data-poll]');
      if (!form) return;
      e.preventDefault();
      vote(form.closest('.ev-poll'));
    });
    // "Who voted" is read when it is opened (toggle does not bubble).
    document.addEventListener(
      'toggle',
      (e) => {
        const who = e.target;
        if (who.matches && who.matches('[data-poll-who]') && who.open) loadPoll(who.closest('.ev-poll'));
      },
      true
    );

    // A file row from its event: name, size and type, the download, a raster image's preview.
    function fillFile(li, ev) {
      const f = ev.file;
      if (ev.deleted || !f) {
        showDeleted(li);
        return;
      }
      const name = li.querySelector('[data-file-name]');
      name.href = f.url;
      name.textContent = f.name;
      li.querySelector('[data-file-download]').href = f.url;
      li.querySelector('[data-file-what]').textContent = ' ' + f.name;
      li.querySelector('[data-file-info]').textContent = fileSize(f.size) + ' · ' + f.content_type;
      li.querySelector('[data-file-ext]').textContent = fileExt(f.name);
      if (PREVIEW_TYPES.includes(f.content_type)) {
        const a = document.createElement('a');
        a.className = 'file-preview';
        a.href = f.url + '?inline=true';
        a.dataset.filePreview = '';
        const img = document.createElement('img');
        img.className = 'file-img';
        img.alt = f.name;
        img.loading = 'lazy';
        img.decoding = 'async';
        img.src = f.url + '?inline=true';
        a.appendChild(img);
        li.querySelector('[data-file]').prepend(a);
      }
    }

    // "Attach file": the file is the request's body, named in the query and typed by its
    // Content-Type; its event comes back on the live view like anyone's.
    function setUpUpload() {
      const input = document.querySelector('[data-file-input]');
      if (!input) return;
      const box = document.querySelector('[data-upload]');
      const bar = box.querySelector('[data-upload-progress]');
      const text = box.querySelector('[data-upload-text]');
      const error = document.querySelector('[data-upload-error]');
      const pick = document.querySelector('[data-file-pick]');
      const max = Number(input.dataset.maxBytes) || Infinity;
      const finish = () => {
        box.hidden = true;
        input.disabled = false;
        pick.classList.remove('is-busy');
      };
      input.addEventListener('change', () => {
        const file = input.files && input.files[0];
        if (!file) return;
        error.hidden = true;
        if (file.size > max) {
          input.value = '';
          return showError(error, 'Not uploaded: “' + file.name + '” is ' + fileSize(file.size) + ', and files here are at most ' + input.dataset.maxLabel + '.');
        }
        const xhr = new XMLHttpRequest();
        xhr.open('POST', '/api/streams/' + encodeURIComponent(streamId) + '/files?name=' + encodeURIComponent(file.name));
        xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
        xhr.setRequestHeader('Accept', 'application/json');
        const label = '“' + file.name + '”';
        box.hidden = false;
        bar.value = 0;
        text.textContent = 'Uploading ' + label + '…';
        input.disabled = true;
        pick.classList.add('is-busy');
        xhr.upload.addEventListener('progress', (e) => {
          if (!e.lengthComputable) return;
          const pct = Math.floor((100 * e.loaded) / Math.max(1, e.total));
          bar.value = pct;
          text.textContent = 'Uploading ' + label + '… ' + pct + '%';
        });
        xhr.addEventListener('load', () => {
          finish();
          if (xhr.status === 201) return;
          let said = '';
          try {
            const b = JSON.parse(xhr.responseText);
            said = b.error && b.error.message;
          } catch (e) {
            // not JSON: the status says it
          }
          if (xhr.status === 401) said = 'your session has ended, sign in again';
          showError(error, 'Not uploaded: ' + (said || 'HTTP ' + xhr.status) + '.');
        });
        xhr.addEventListener('error', () => {
          finish();
          showError(error, 'Not uploaded: the server did not answer.');
        });
        xhr.send(file);
        input.value = ''; // the same file may be picked again
      });
    }

    // "New poll": a question, 2 to 10 options (added and removed in place), several choices
    // or one, an optional closing time in the zone shown.
    function setUpPollForm() {
      const form = document.querySelector('[data-poll-form]');
      const toggle = document.querySelector('[data-poll-new]');
      if (!form || !toggle) return;
      const list = form.querySelector('[data-poll-form-options]');
      const most = Number(list.dataset.max) || 10;
      const add = form.querySelector('[data-option-add]');
      const error = form.querySelector('[data-poll-form-error]');
      const question = form.querySelector('input[name="question"]');
      const closes = form.querySelector('input[type="datetime-local"]');
      const open = (yes) => {
        form.hidden = !yes;
        toggle.setAttribute('aria-expanded', yes ? 'true' : 'false');
        if (yes) question.focus();
      };
      const renumber = () => {
        const rows = Array.from(list.children);
        rows.forEach((item, i) => {
          const input = item.querySelector('input');
          input.setAttribute('aria-label', 'Option ' + (i + 1));
          input.placeholder = 'Option ' + (i + 1);
          const rm = item.querySelector('[data-option-remove]');
          rm.setAttribute('aria-label', 'Remove option ' + (i + 1));
          rm.disabled = rows.length <= 2;
        });
        add.disabled = rows.length >= most;
      };
      const reset = () => {
        form.reset();
        while (list.children.length > 2) list.lastElementChild.remove();
        renumber();
      };
      toggle.addEventListener('click', () => open(form.hidden));
      form.querySelector('[data-poll-cancel]').addEventListener('click', () => {
        open(false);
        toggle.focus();
      });
      add.addEventListener('click', () => {
        if (list.children.length >= most) return;
        const item = list.lastElementChild.cloneNode(true);
        item.querySelector('input').value = '';
        list.appendChild(item);
        renumber();
        item.querySelector('input').focus();
      });
      list.addEventListener('click', (e) => {
        const rm = e.target.closest('[data-option-remove]');
        if (!rm || list.children.length <= 2) return;
        const item = rm.closest('li');
        const next = item.nextElementSibling || item.previousElementSibling;
        item.remove();
        renumber();
        next.querySelector('input').focus();
      });
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        if (form.dataset.busy) return;
        error.hidden = true;
        const options = Array.from(list.querySelectorAll('input'), (i) => i.value.trim());
        const body = { question: question.value.trim(), options, multiple: form.querySelector('input[name="multiple"]').checked };
        if (!body.question) return showError(error, 'Ask a question.');
        if (options.some((o) => !o)) return showError(error, 'Fill in every option, or remove the empty ones.');
        if (new Set(options).size !== options.length) return showError(error, 'Each option only once.');
        if (closes.value) {
          // time.js has put the instant, with the zone's offset, in the field's twin.
          const twin = form.querySelector('input[data-twin]');
          if (!twin || twin.disabled || !twin.value) return showError(error, 'The closing time is not a time.');
          if (Date.parse(twin.value) <= Date.now()) return showError(error, 'The closing time has passed: pick a later one.');
          body.closes_at = twin.value;
        }
        form.dataset.busy = '1';
        const submit = form.querySelector('button[type="submit"]');
        submit.disabled = true;
        try {
          await send('POST', '/api/streams/' + encodeURIComponent(streamId) + '/polls', body);
          reset();
          open(false);
          toggle.focus();
        } catch (err) {
          showError(error, 'Not posted: ' + err.message + '.');
        }
        delete form.dataset.busy;
        submit.disabled = false;
      });
      renumber();
    }

    // ------------------------------------------------------------------------
    // Threads: the reply count on the message they branched from; opened in place
    // ------------------------------------------------------------------------

    function setThread(li, thread, replies, cursor) {
      const box = li.querySelector('.ev-thread');
      if (!box) return;
      if (cursor != null) {
        const shown = countCursors.get(thread);
        if (shown != null && cursor < shown) return; // older than what is shown
        countCursors.set(thread, cursor);
      }
      const grew = box.dataset.thread === String(thread) && Number(box.dataset.replies) !== replies;
      box.hidden = false;
      box.dataset.thread = thread;
      box.dataset.replies = replies;
      const toggle = box.querySelector('[data-thread-toggle]');
      toggle.textContent = repliesLabel(replies);
      toggle.setAttribute('aria-controls', 'thread-' + thread);
      box.querySelector('.thread-open').href = '/streams/' + thread;
      box.querySelector('.thread-events').id = 'thread-' + thread;
      if (grew) h.flash(box);
      if (grew && toggle.getAttribute('aria-expanded') === 'true') loadThread(box, true);
    }

    function toggleThread(box) {
      const toggle = box.querySelector('[data-thread-toggle]');
      const list = box.querySelector('.thread-events');
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      list.hidden = !open;
      if (open) loadThread(box, false);
    }

    // Reads an opened thread: all of it again (`newer` false), or what came after what
    // it shows. One read at a time; a change meanwhile reads again after it.
    async function loadThread(box, newer) {
      if (box.dataset.busy) {
        box.dataset.again = '1';
        return;
      }
      box.dataset.busy = '1';
      const list = box.querySelector('.thread-events');
      const after = newer && box.dataset.after ? '&after_id=' + box.dataset.after : '';
      try {
        const r = await h.getJSON('/api/streams/' + encodeURIComponent(box.dataset.thread) + '/events?limit=' + PAGE_EVENTS + after);
        if (!after) {
          list.textContent = '';
          if (r.events.length === PAGE_EVENTS) {
            const more = document.createElement('li');
            more.className = 'thread-more';
            const a = document.createElement('a');
            a.href = '/streams/' + box.dataset.thread;
            a.textContent = 'Earlier replies are on the thread’s page';
            more.appendChild(a);
            list.appendChild(more);
          }
        }
        for (const ev of r.events) {
          const li = drawEvent(list, ev, true);
          if (li && after) li.classList.add('is-new');
        }
        if (r.events.length) box.dataset.after = r.events[r.events.length - 1].cursor;
        box.classList.remove('is-failed');
      } catch (e) {
        box.classList.add('is-failed');
        if (!after) list.textContent = 'The replies could not be read; close and open to try again.';
      }
      delete box.dataset.busy;
      if (box.dataset.again) {
        delete box.dataset.again;
        loadThread(box, true);
      }
    }

    // ------------------------------------------------------------------------
    // Earlier events, and a link to one of them
    // ------------------------------------------------------------------------

    // Drops the oldest rows past the cap; "load earlier" brings them back.
    function trim() {
      const list = els.list;
      let trimmed = false;
      while (list.children.length > cap) {
        list.firstElementChild.remove();
        trimmed = true;
      }
      if (trimmed && els.earlier) earlierFrom(Number(list.firstElementChild.dataset.id));
    }

    function earlierFrom(id) {
      const u = new URL(els.earlier.href, location.href);
      u.searchParams.set('before_id', id);
      els.earlier.href = u.pathname + u.search;
      els.earlier.closest('[data-earlier-wrap]').hidden = false;
    }

    async function loadEarlier() {
      const link = els.earlier;
      const first = els.list.firstElementChild;
      if (!link || !first || link.dataset.busy) return false;
      link.dataset.busy = '1';
      let more = false;
      try {
        const r = await h.getJSON('/api/streams/' + streamId + '/events?before_id=' + first.dataset.id + '&limit=' + PAGE_EVENTS);
        const frag = document.createDocumentFragment();
        for (const ev of r.events) {
          // Reads give each message as it is now: its edits and deletes are no rows.
          if (ev.event_type !== 'event_edited' && ev.event_type !== 'event_deleted') frag.appendChild(eventEl(ev, false));
        }
        els.list.insertBefore(frag, els.list.firstChild);
        cap = Math.min(EVENTS_HARD_MAX, Math.max(cap, els.list.children.length + EVENTS_MAX));
        if (r.events.length < PAGE_EVENTS) {
          link.closest('[data-earlier-wrap]').textContent = 'The beginning of this stream.';
          els.earlier = null;
        } else {
          earlierFrom(r.events[0].event_id);
          more = true;
        }
      } catch (e) {
        link.textContent = 'Load earlier (failed, try again)';
      }
      delete link.dataset.busy;
      return more;
    }

    // A link to an event older than the page (#e<id>): earlier pages are read until it shows.
    async function revealHash() {
      const m = /^#e(\d+)$/.exec(location.hash);
      if (!m || !els.list) return;
      for (let i = 0; i < HASH_PAGES_MAX && !document.getElementById('e' + m[1]); i++) {
        const first = els.list.firstElementChild;
        if (!first || Number(first.dataset.id) < Number(m[1]) || !(await loadEarlier())) break;
      }
      const target = document.getElementById('e' + m[1]);
      if (target) target.scrollIntoView({ block: 'center' });
    }

    document.addEventListener('click', (e) => {
      const close = e.target.closest('[data-poll-close]');
      if (close) {
        closeOne(close.closest('.ev-poll'), close);
        return;
      }
      const toggle = e.target.closest('[data-thread-toggle]');
      if (toggle) {
        toggleThread(toggle.closest('.ev-thread'));
        return;
      }
      if (e.target.closest('[data-earlier]') && els.earlier) {
        e.preventDefault();
        loadEarlier();
      }
    });
    window.addEventListener('hashchange', revealHash);
    setTimeout(revealHash, 0);

    // Polling: the log after the cursor, from the read API (the same objects).
    async function poll() {
      for (let page = 0; ; page++) {
        const r = await h.getJSON('/api/streams/' + streamId + '/events?after_id=' + h.cursor + '&limit=' + h.POLL_LIMIT);
        if (r.epoch !== h.epoch()) return h.reload();
        for (const ev of r.events) apply(ev);
        if (r.events.length < h.POLL_LIMIT) {
          // The read was the whole rest of the log, as of its cursor.
          h.advance(r.cursor);
          return;
        }
        if (page + 1 >= h.POLL_PAGES_MAX) return h.reload();
      }
    }

    return { types: ['event', 'reply_count', 'poll_tally', 'typing'], bind, apply, frame, poll };
  }

  // ---------------------------------------------------------------------------
  // /incidents
  // ---------------------------------------------------------------------------

  function incidentsPage(h) {
    let els = {};
    let shown = new Map(); // incident id -> {tr, cursor}
    let pending = new Map(); // incident id -> its newest change

    function bind() {
      els = {
        active: document.querySelector('[data-incidents="active"]'),
        resolved: document.querySelector('[data-incidents="resolved"]'),
        tpl: document.getElementById('tpl-incident'),
      };
      shown = new Map();
      for (const tbody of [els.active, els.resolved]) {
        for (const tr of tbody.rows) shown.set(tr.dataset.id, { tr, cursor: Number(tr.dataset.cursor) });
      }
      pending = new Map();
    }

    function apply(ev) {
      if (!['stream_created', 'stream_updated', 'stream_archived'].includes(ev.type)) return false;
      h.advance(ev.cursor); // merged per stream like counts: the newest is the state
      const id = String(ev.stream_id);
      if (ev.kind !== 'incident' && !shown.has(id) && !pending.has(id)) return false; // not shown here
      const r = shown.get(id);
      const p = pending.get(id);
      if ((r && ev.cursor < r.cursor) || (p && ev.cursor < p.cursor)) return false;
      pending.set(id, {
        kind: ev.kind,
        name: ev.name,
        status: ev.type === 'stream_archived' ? 'archived' : ev.status,
        total: ev.total_events,
        last: ev.last_event_at,
        cursor: ev.cursor,
      });
      return true;
    }

    function frame() {
      if (!pending.size) return;
      for (const [id, u] of pending) place(id, u);
      pending = new Map();
      for (const tbody of [els.active, els.resolved]) {
        const n = tbody.rows.length;
        const section = tbody.closest('section');
        section.querySelector('[data-incident-count]').textContent = h.fmtNumber(n);
        section.querySelector('[data-empty]').hidden = n > 0;
        section.querySelector('.table-wrap').hidden = n === 0;
      }
    }

    // Puts an incident where its status says (open, resolved) or takes it away
    // (archived, or no longer an incident); each section newest first.
    function place(id, u) {
      let r = shown.get(id);
      const where = u.kind !== 'incident' || u.status === 'archived' ? null : u.status === 'resolved' ? els.resolved : els.active;
      if (!where) {
        if (r) {
          r.tr.remove();
          shown.delete(id);
        }
        return;
      }
      if (!r) {
        r = { tr: els.tpl.content.querySelector('tr').cloneNode(true), cursor: 0 };
        r.tr.dataset.id = id;
        r.tr.querySelector('.row-name').href = '/streams/' + id;
        shown.set(id, r);
      }
      const tr = r.tr;
      r.cursor = Math.max(r.cursor, u.cursor || 0);
      tr.dataset.cursor = r.cursor;
      tr.dataset.status = u.status;
      tr.querySelector('.row-name').textContent = heading('incident', u.name);
      const badge = tr.querySelector('.badge');
      badge.textContent = u.status;
      badge.className = 'badge badge-' + u.status;
      if (u.total != null) tr.querySelector('[data-cell="total"]').textContent = h.fmtNumber(u.total);
      if (u.last) h.setTime(tr.querySelector('[data-cell="last"] time'), u.last);
      if (tr.parentElement !== where) {
        const before = Array.from(where.rows).find((o) => Number(o.dataset.id) < Number(id));
        where.insertBefore(tr, before || null);
      }
      const limit = Number(where.dataset.limit) || 100;
      while (where.rows.length > limit) {
        shown.delete(where.lastElementChild.dataset.id);
        where.lastElementChild.remove();
      }
      h.flash(tr);
    }

    // Polling: every incident, as the read API has it now.
    async function poll() {
      const limit = (Number(els.active.dataset.limit) || 100) + (Number(els.resolved.dataset.limit) || 100);
      const r = await h.getJSON('/api/streams?kind=incident&limit=' + limit);
      if (r.epoch !== h.epoch()) return h.reload();
      for (const s of r.streams) {
        const id = String(s.id);
        const was = shown.get(id);
        const u = { kind: s.kind, name: s.name, status: s.status, total: s.total_events, last: s.last_event_at, cursor: was ? was.cursor : 0 };
        if (was && was.tr.dataset.status === u.status && was.tr.querySelector('.row-name').textContent === heading('incident', u.name) && was.tr.querySelector('[data-cell="total"]').textContent === h.fmtNumber(u.total)) continue;
        pending.set(id, u);
      }
      h.advance(r.cursor);
    }

    return { types: ['stream_created', 'stream_updated', 'stream_archived'], bind, apply, frame, poll };
  }
})();
