// chatpulse inbox (/inbox, view `workspace` signed in): a person's streams grouped by
// kind with their unread and mention badges, and their mentions. The project's own code.
//
// live.js (loaded after this) keeps the one connection; this file says what the view's
// events mean (see the top of live.js). The `workspace` view carries the streams' state
// (`stream_updated`, `stream_archived`) and the person's badges (`unread`); mentions are
// on another view (`me`), so rather than a second connection the list of mentions is read
// again (GET /api/notifications) when a mention badge rises, when the page is shown again,
// and every NOTES_EVERY_MS while it is visible (a mention in a public stream the person
// never joined moves no badge). Text is only ever set as text.
'use strict';
(function () {
  const views = (window.chatpulseViews = window.chatpulseViews || {});
  views.workspace = inboxPage;

  // Limits (README, "Pages").
  const NOTES_SOON_MS = 300; // a rising mention badge reads the mentions after this (one read for many)
  const NOTES_EVERY_MS = 60000; // ... and they are read this often while the page is visible
  const GROUPS = ['channel', 'private', 'incident', 'thread', 'dm'];

  // The wording of src/web/pages/inbox.rs and views.rs.
  function groupOf(kind, visibility) {
    if (kind === 'channel') return visibility === 'private' ? 'private' : 'channel';
    return GROUPS.includes(kind) ? kind : 'channel';
  }

  function heading(kind, name) {
    if (kind === 'channel' && name) return '#' + name;
    if (name) return name;
    return kind === 'incident' ? 'Incident' : 'Thread';
  }

  // A DM is named by the others in it: "alice, bob" read by bob is "alice".
  function dmLabel(names, me) {
    const others = String(names)
      .split(', ')
      .filter((n) => n !== me);
    return others.length ? others.join(', ') : names;
  }

  function inboxPage(h) {
    const root = document.querySelector('[data-inbox]');
    const me = root ? root.dataset.me : '';
    const baseTitle = document.title;
    let els = {};
    let rows = new Map(); // stream id -> {li, stateCursor, badgeCursor}
    let pendingState = new Map(); // stream id -> its newest state (stream_updated / stream_archived)
    let pendingBadge = new Map(); // stream id -> its newest `unread`
    let held = new Map(); // badges of streams not listed yet, while their stream is read
    const lookups = new Set(); // stream ids being read (GET /api/streams/{id})
    let notesTimer = null;
    let notesBusy = false;
    let notesAgain = false;

    function bind() {
      els = {
        empty: document.querySelector('[data-inbox-empty]'),
        notes: document.querySelector('[data-notes]'),
        notesEmpty: document.querySelector('[data-notes-empty]'),
        tplRow: document.getElementById('tpl-inbox-row'),
        tplNote: document.getElementById('tpl-note'),
        groups: {},
      };
      for (const sec of document.querySelectorAll('[data-group]')) {
        els.groups[sec.dataset.group] = { sec, ul: sec.querySelector('[data-rows]'), count: sec.querySelector('[data-group-count]') };
      }
      rows = new Map();
      for (const li of document.querySelectorAll('.inbox-row')) {
        rows.set(li.dataset.id, { li, stateCursor: Number(li.dataset.stateCursor) || 0, badgeCursor: Number(li.dataset.cursor) || 0 });
      }
      pendingState = new Map();
      pendingBadge = new Map();
      drawTitle();
    }

    function apply(ev) {
      if (ev.type === 'stream_updated' || ev.type === 'stream_archived') {
        h.advance(ev.cursor); // merged per stream like counts: the newest is the state
        const id = String(ev.stream_id);
        const p = pendingState.get(id);
        if (!p || ev.cursor >= p.cursor) pendingState.set(id, ev);
        return true;
      }
      if (ev.type === 'unread') {
        h.advance(ev.cursor);
        const id = String(ev.stream_id);
        const p = pendingBadge.get(id);
        if (!p || ev.cursor >= p.cursor) pendingBadge.set(id, ev);
        return true;
      }
      return false;
    }

    function frame() {
      if (!pendingState.size && !pendingBadge.size) return;
      const touched = new Set();
      for (const [id, s] of pendingState) {
        const g = placeState(id, s);
        if (g) touched.add(g);
      }
      pendingState = new Map();
      for (const [id, b] of pendingBadge) {
        const r = rows.get(id);
        if (r) setBadge(r, b);
        else {
          const was = held.get(id);
          if (!was || b.cursor >= was.cursor) held.set(id, b);
          if (!lookups.has(id)) lookup(id);
        }
      }
      pendingBadge = new Map();
      for (const g of touched) resort(g);
      drawGroups();
      drawTitle();
    }

    // A stream's state: its row changes, moves (a thread promoted to an incident), goes
    // (archived), or is made (a stream the person was added to: read first, to know
    // whether it is private). Returns the group it is in.
    function placeState(id, s) {
      const r = rows.get(id);
      if (s.type === 'stream_archived') {
        if (r) {
          r.li.remove();
          rows.delete(id);
        }
        held.delete(id);
        return null;
      }
      if (!r) {
        if (s.visibility) return addRow(s, held.get(id) || null);
        if (!lookups.has(id)) lookup(id);
        return null;
      }
      if (s.cursor < r.stateCursor) return null; // older than what is shown
      r.stateCursor = s.cursor;
      const li = r.li;
      const visibility = li.dataset.visibility;
      if (s.kind && s.kind !== li.dataset.kind) li.dataset.kind = s.kind;
      describe(li, s.kind || li.dataset.kind, s.name, visibility, s.status, s.parent_stream_id, s.last_event_at);
      const g = groupOf(li.dataset.kind, visibility);
      const ul = els.groups[g].ul;
      if (li.parentElement !== ul) ul.appendChild(li);
      return g;
    }

    // Reads a stream the page does not list yet (its kind, visibility and the person's
    // badge), then lists it.
    async function lookup(id) {
      lookups.add(id);
      let s = null;
      try {
        s = await h.getJSON('/api/streams/' + encodeURIComponent(id));
      } catch (e) {
        s = null; // gone, or no longer theirs
      }
      lookups.delete(id);
      if (!s || !s.is_member || s.status === 'archived' || rows.has(id)) return;
      // A live badge that came meanwhile is newer than nothing; without one, the read's.
      const badge = held.get(id) || { unread_count: s.unread_count || 0, mention_count: s.mention_count || 0, cursor: 0 };
      const g = addRow(
        { stream_id: s.id, kind: s.kind, name: s.name, status: s.status, visibility: s.visibility, parent_stream_id: s.parent_stream_id, last_event_at: s.last_event_at, cursor: 0 },
        badge
      );
      if (g) resort(g);
      drawGroups();
      drawTitle();
      if (badge.mention_count > 0) notesSoon();
    }

    function addRow(s, badge) {
      const id = String(s.stream_id);
      const li = els.tplRow.content.firstElementChild.cloneNode(true);
      // A thread's visibility is its parent's: `inherit` is private when its parent is.
      let visibility = s.visibility;
      if (visibility === 'inherit') {
        const parent = rows.get(String(s.parent_stream_id));
        visibility = parent ? parent.li.dataset.visibility : 'public';
      }
      li.dataset.id = id;
      li.dataset.kind = s.kind;
      li.dataset.visibility = visibility === 'private' ? 'private' : 'public';
      li.querySelector('.inbox-name').href = '/streams/' + id;
      describe(li, s.kind, s.name, li.dataset.visibility, s.status, s.parent_stream_id, s.last_event_at);
      const r = { li, stateCursor: s.cursor || 0, badgeCursor: -1 };
      rows.set(id, r);
      held.delete(id);
      const g = groupOf(s.kind, li.dataset.visibility);
      els.groups[g].ul.appendChild(li);
      if (badge) setBadge(r, badge);
      h.flash(li);
      return g;
    }

    function describe(li, kind, name, visibility, status, parent, lastAt) {
      const a = li.querySelector('.inbox-name');
      let label;
      if (kind === 'dm') label = name ? dmLabel(name, me) : 'Direct message';
      else if (kind === 'thread' && !name) {
        const p = rows.get(String(parent));
        label = p ? 'Thread in ' + p.li.querySelector('.inbox-name').textContent : 'thread ' + li.dataset.id;
      } else label = heading(kind, name);
      if (name !== undefined && a.textContent !== label) a.textContent = label;
      li.querySelector('[data-private]').hidden = !(visibility === 'private' && (kind === 'incident' || kind === 'thread'));
      if (status) {
        const b = li.querySelector('[data-status]');
        b.textContent = status;
        b.className = 'badge badge-' + status;
        b.hidden = status === 'active';
      }
      if (lastAt) {
        h.setTime(li.querySelector('.inbox-when'), lastAt);
        li.dataset.activity = Date.parse(lastAt) || 0;
      }
    }

    // The person's badge on a row: latest-value-wins by cursor (a read elsewhere lowers it).
    function setBadge(r, b) {
      if (b.cursor < r.badgeCursor) return;
      r.badgeCursor = b.cursor;
      const li = r.li;
      const before = { unread: Number(li.dataset.unread) || 0, mentions: Number(li.dataset.mentions) || 0 };
      const unread = Number(b.unread_count) || 0;
      const mentions = Number(b.mention_count) || 0;
      if (unread === before.unread && mentions === before.mentions && li.parentElement) return;
      li.dataset.unread = unread;
      li.dataset.mentions = mentions;
      li.classList.toggle('has-unread', unread > 0);
      const u = li.querySelector('[data-unread-badge]');
      u.querySelector('[data-n]').textContent = h.fmtNumber(unread);
      u.hidden = unread === 0;
      const m = li.querySelector('[data-mention-badge]');
      m.querySelector('[data-n]').textContent = h.fmtNumber(mentions);
      m.hidden = mentions === 0;
      h.flash(li);
      if (mentions > before.mentions) notesSoon();
    }

    // Each group newest activity first, unless the reader's focus is in it.
    function resort(g) {
      const ul = els.groups[g] && els.groups[g].ul;
      if (!ul || ul.contains(document.activeElement)) return;
      const lis = Array.from(ul.children);
      const sorted = lis.slice().sort((a, b) => Number(b.dataset.activity) - Number(a.dataset.activity) || Number(b.dataset.id) - Number(a.dataset.id));
      if (sorted.every((li, i) => li === lis[i])) return;
      for (const li of sorted) ul.appendChild(li);
    }

    function drawGroups() {
      let any = false;
      for (const g of GROUPS) {
        const x = els.groups[g];
        if (!x) continue;
        const n = x.ul.children.length;
        x.sec.hidden = n === 0;
        x.count.textContent = h.fmtNumber(n);
        any = any || n > 0;
      }
      if (els.empty) els.empty.hidden = any;
    }

    // "(3) Inbox · chatpulse": the unread messages of every stream listed.
    function drawTitle() {
      let n = 0;
      for (const r of rows.values()) n += Number(r.li.dataset.unread) || 0;
      const title = (n ? '(' + h.fmtNumber(n) + ') ' : '') + baseTitle;
      if (document.title !== title) document.title = title;
    }

    // ------------------------------------------------------------------------
    // Mentions: read again, whole (the newest `data-limit`)
    // ------------------------------------------------------------------------

    function notesSoon() {
      if (notesTimer) return;
      notesTimer = setTimeout(() => {
        notesTimer = null;
        readNotes();
      }, NOTES_SOON_MS);
    }

    async function readNotes() {
      if (!els.notes) return;
      if (notesBusy) {
        notesAgain = true;
        return;
      }
      notesBusy = true;
      try {
        const r = await h.getJSON('/api/notifications?limit=' + (Number(els.notes.dataset.limit) || 20));
        if (r.epoch === h.epoch()) drawNotes(r.notifications);
      } catch (e) {
        // read again with the next badge, or on the next round
      }
      notesBusy = false;
      if (notesAgain) {
        notesAgain = false;
        readNotes();
      }
    }

    function drawNotes(list) {
      const shown = Array.from(els.notes.children);
      const top = shown.length ? Number(shown[0].dataset.cursor) : 0;
      const sig = (cursor, text) => cursor + ':' + text;
      const before = shown.map((li) => sig(li.dataset.cursor, li.querySelector('.mention-text').textContent)).join('|');
      const after = list.map((n) => sig(n.cursor, noteText(n))).join('|');
      if (before === after) return;
      const frag = document.createDocumentFragment();
      for (const n of list) {
        const li = noteEl(n);
        if (n.cursor > top && shown.length) li.classList.add('is-new');
        frag.appendChild(li);
      }
      els.notes.replaceChildren(frag);
      els.notesEmpty.hidden = list.length > 0;
    }

    function noteText(n) {
      const e = n.event || {};
      return e.deleted || e.text == null ? 'message deleted' : e.text;
    }

    function noteEl(n) {
      const e = n.event || {};
      const li = els.tplNote.content.firstElementChild.cloneNode(true);
      li.dataset.cursor = n.cursor;
      li.dataset.stream = n.stream_id;
      const href = '/streams/' + n.stream_id + '#e' + e.event_id;
      const actor = li.querySelector('.ev-actor');
      actor.href = '/users/' + encodeURIComponent(e.actor);
      actor.textContent = e.actor;
      const where = li.querySelector('.mention-stream');
      const listed = rows.get(String(n.stream_id));
      if (listed) where.textContent = listed.li.querySelector('.inbox-name').textContent;
      else h.streamLink(where, n.stream_id); // a public stream they are not in: named once read
      where.href = href;
      const time = li.querySelector('.ev-time');
      time.href = href;
      h.setTime(time.querySelector('time'), e.created_at);
      li.querySelector('.mention-text').textContent = noteText(n);
      li.classList.toggle('is-deleted', noteText(n) === 'message deleted' && (e.deleted || e.text == null));
      return li;
    }

    setInterval(() => {
      if (document.visibilityState === 'visible') readNotes();
    }, NOTES_EVERY_MS);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') readNotes();
    });

    // ------------------------------------------------------------------------
    // Starting a direct message: the DM of these people (the same people find the same)
    // ------------------------------------------------------------------------

    const dmForm = document.querySelector('[data-dm-form]');
    if (dmForm) {
      dmForm.addEventListener('submit', async (e) => {
        e.preventDefault();
        const input = dmForm.querySelector('input');
        const error = document.querySelector('[data-dm-error]');
        const name = input.value.trim().replace(/^@/, '');
        if (!name || dmForm.dataset.busy) return;
        dmForm.dataset.busy = '1';
        error.hidden = true;
        try {
          const r = await fetch('/api/streams', {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ kind: 'dm', members: [name] }),
          });
          const b = await r.json().catch(() => ({}));
          if (!r.ok) throw new Error((b.error && b.error.message) || 'HTTP ' + r.status);
          location.href = '/streams/' + encodeURIComponent(b.id);
        } catch (err) {
          error.textContent = 'No direct message with “' + name + '”: ' + (err.message || 'the server did not answer') + '.';
          error.hidden = false;
        }
        delete dmForm.dataset.busy;
      });
    }

    // Polling: the person's streams and badges as the read API has them now.
    async function poll() {
      const r = await h.getJSON('/api/bootstrap');
      if (r.epoch !== h.epoch()) return h.reload();
      const seen = new Set();
      for (const s of r.streams) {
        const id = String(s.id);
        seen.add(id);
        const state = {
          type: s.status === 'archived' ? 'stream_archived' : 'stream_updated',
          stream_id: s.id,
          kind: s.kind,
          name: s.name,
          status: s.status,
          visibility: s.visibility,
          parent_stream_id: s.parent_stream_id,
          last_event_at: s.last_event_at,
          cursor: r.cursor,
        };
        pendingState.set(id, state);
        pendingBadge.set(id, { type: 'unread', stream_id: s.id, unread_count: s.unread_count, mention_count: s.mention_count, cursor: r.cursor });
      }
      // Streams they left are no longer theirs.
      for (const id of rows.keys()) if (!seen.has(id)) pendingState.set(id, { type: 'stream_archived', stream_id: id, cursor: r.cursor });
      h.advance(r.cursor);
      readNotes();
    }

    return { types: ['stream_updated', 'stream_archived', 'unread'], bind, apply, frame, poll };
  }
})();
