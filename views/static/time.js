// chatpulse times: the one rule by which every page shows a time. The project's own code.
//
// A time reads as its time of day when its day is today, as its date and minute on any
// other day, and always names its zone: "14:03:07 CET", "2026-01-15 14:03 UTC+5:30". The
// zone is the reader's own, or UTC once they press the header's toggle (kept in
// localStorage). "Today" is today in the zone shown.
//
// The server renders every <time datetime> by the same rule in UTC, and says so
// (src/web/pages/format.rs, `short_time`), so a page read without scripts is right too;
// this script rewrites them. The search form's "From" and "Until" are read in the zone
// shown: they are sent as RFC 3339 times with that zone's offset.
//
// Loaded before the pages' other scripts, which format through window.chatpulseTime.
'use strict';
(function () {
  const STORE_KEY = 'chatpulse.times'; // 'utc', or absent for the reader's zone
  let utc = stored() === 'utc';

  function stored() {
    try {
      return localStorage.getItem(STORE_KEY);
    } catch (e) {
      return null; // storage refused: the choice lasts as long as the page
    }
  }

  function store() {
    try {
      if (utc) localStorage.setItem(STORE_KEY, 'utc');
      else localStorage.removeItem(STORE_KEY);
    } catch (e) {
      // as above
    }
  }

  const pad = (n) => String(n).padStart(2, '0');

  let zoneFormat = null;
  try {
    zoneFormat = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' });
  } catch (e) {
    // no Intl: the offset names the zone
  }

  // The reader's zone at `d` as people write it ("CET", "EST"), else as its offset from UTC
  // ("UTC+1", "UTC-3:30"): many locales only have "GMT+1" for most zones.
  function localZone(d) {
    let name = '';
    if (zoneFormat) {
      const part = zoneFormat.formatToParts(d).find((p) => p.type === 'timeZoneName');
      name = part ? part.value : '';
    }
    if (/^[A-Z]{2,5}$/.test(name)) return name;
    const off = -d.getTimezoneOffset();
    if (off === 0) return 'UTC';
    const a = Math.abs(off);
    return 'UTC' + (off < 0 ? '-' : '+') + Math.floor(a / 60) + (a % 60 ? ':' + pad(a % 60) : '');
  }

  function zoneAt(d, inUtc) {
    return inUtc ? 'UTC' : localZone(d);
  }

  // The fields of `d` in UTC or in the reader's zone.
  function fields(d, inUtc) {
    return inUtc
      ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
      : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  }

  function dateOf(f) {
    return f[0] + '-' + pad(f[1]) + '-' + pad(f[2]);
  }

  function format(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d)) return '—';
    const f = fields(d, utc);
    const now = fields(new Date(), utc);
    const time = pad(f[3]) + ':' + pad(f[4]);
    const today = f[0] === now[0] && f[1] === now[1] && f[2] === now[2];
    return (today ? time + ':' + pad(f[5]) : dateOf(f) + ' ' + time) + ' ' + zoneAt(d, utc);
  }

  // In full, with the other zone beside it: a time's tooltip.
  function full(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d)) return '';
    const one = (inUtc) => {
      const f = fields(d, inUtc);
      return dateOf(f) + ' ' + pad(f[3]) + ':' + pad(f[4]) + ':' + pad(f[5]) + ' ' + zoneAt(d, inUtc);
    };
    const shown = one(utc);
    const other = one(!utc);
    return other === shown || zoneAt(d, false) === 'UTC' ? shown : shown + ' (' + other + ')';
  }

  function set(t, iso) {
    t.dateTime = iso || '';
    t.textContent = format(iso);
    t.title = full(iso);
  }

  function localize(root) {
    for (const t of root.querySelectorAll('time[datetime]')) if (t.dateTime) set(t, t.dateTime);
    for (const e of root.querySelectorAll('[data-edited-at]')) e.title = 'edited ' + full(e.dataset.editedAt);
  }

  // ---------------------------------------------------------------------------
  // The search form's times: shown and typed in the zone shown
  // ---------------------------------------------------------------------------

  // `YYYY-MM-DDTHH:MM[:SS]` (a datetime-local value) for `d`.
  function localValue(d, inUtc) {
    const f = fields(d, inUtc);
    return dateOf(f) + 'T' + pad(f[3]) + ':' + pad(f[4]) + ':' + pad(f[5]);
  }

  // The instant a datetime-local value means in UTC or in the reader's zone.
  function fromValue(v, inUtc) {
    const m = /^(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?$/.exec(v || '');
    if (!m) return null;
    const n = m.slice(1).map((x) => Number(x || 0));
    const d = inUtc ? new Date(Date.UTC(n[0], n[1] - 1, n[2], n[3], n[4], n[5])) : new Date(n[0], n[1] - 1, n[2], n[3], n[4], n[5]);
    return isNaN(d) ? null : d;
  }

  // RFC 3339 with the offset of the zone it was typed in.
  function rfc3339(d, inUtc) {
    if (inUtc) return localValue(d, true) + 'Z';
    const off = -d.getTimezoneOffset();
    const a = Math.abs(off);
    return localValue(d, false) + (off < 0 ? '-' : '+') + pad(Math.floor(a / 60)) + ':' + pad(a % 60);
  }

  // Each zoned field sends its value through a hidden twin of the same name, as RFC 3339;
  // an empty one sends nothing.
  function bindFields() {
    for (const input of document.querySelectorAll('input[data-zoned]')) {
      if (input.name) {
        const twin = document.createElement('input');
        twin.type = 'hidden';
        twin.name = input.name;
        twin.disabled = true;
        twin.dataset.twin = '';
        input.removeAttribute('name');
        input.after(twin);
        input.form.addEventListener('submit', () => {
          const d = fromValue(input.value, utc);
          twin.disabled = !d;
          twin.value = d ? rfc3339(d, utc) : '';
        });
      }
      const at = input.dataset.instant ? new Date(input.dataset.instant) : null;
      if (at && !isNaN(at)) input.value = localValue(at, utc);
    }
  }

  // What the fields say keeps its instant when the zone changes.
  function moveFields(fromUtc) {
    for (const input of document.querySelectorAll('input[data-zoned]')) {
      const d = fromValue(input.value, fromUtc);
      if (d) input.value = localValue(d, utc);
    }
  }

  // ---------------------------------------------------------------------------
  // The toggle
  // ---------------------------------------------------------------------------

  function zoneNow() {
    return zoneAt(new Date(), utc);
  }

  function showZone() {
    for (const e of document.querySelectorAll('[data-tz-name]')) e.textContent = zoneNow();
    const here = localZone(new Date());
    for (const group of document.querySelectorAll('[data-tz-switch]')) {
      group.hidden = false;
      for (const b of group.querySelectorAll('button[data-tz]')) {
        const isUtc = b.dataset.tz === 'utc';
        if (!isUtc) {
          b.textContent = here === 'UTC' ? 'Local' : here;
          b.title = 'Your zone' + (here === 'UTC' ? ' (UTC)' : '');
        }
        b.setAttribute('aria-pressed', isUtc === utc ? 'true' : 'false');
      }
    }
  }

  function switchTo(toUtc) {
    if (toUtc === utc) return;
    const was = utc;
    utc = toUtc;
    moveFields(was);
    localize(document);
    showZone();
    document.dispatchEvent(new CustomEvent('chatpulse:times'));
  }

  document.addEventListener('click', (e) => {
    const b = e.target.closest('[data-tz-switch] button[data-tz]');
    if (!b) return;
    switchTo(b.dataset.tz === 'utc');
    store();
  });
  // Another tab switched.
  window.addEventListener('storage', (e) => {
    if (e.key === STORE_KEY || e.key === null) switchTo(stored() === 'utc');
  });

  window.chatpulseTime = {
    format,
    full,
    set,
    localize,
    utc: () => utc,
    zone: zoneNow,
    // The zone shown as it is named at `t` (ms): a window's ends may be in summer and winter.
    zoneAt: (t) => zoneAt(new Date(t), utc),
  };

  // Deferred: the document is parsed.
  bindFields();
  localize(document);
  showZone();
})();
