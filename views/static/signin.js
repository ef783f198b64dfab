// The sign-in link's page: the token travels in the fragment (#token=...), which browsers
// never send to a server, so it is in no log; this script hands it to POST /api/session,
// which sets the HttpOnly session cookie, and takes it out of the address bar. A page that
// sent a person here (`?next=`, from --require-token) is where they go once signed in: a
// path of this server only, never another origin.
(function () {
  'use strict';
  const status = document.getElementById('signin-status');
  const next = document.getElementById('signin-next');
  const how = document.getElementById('signin-how');
  const card = document.querySelector('.signin');
  const say = (text) => {
    status.textContent = text;
  };

  // `n` as a path of this server (path, query and fragment), or null: it must start with
  // one "/" (not "//" or "/\", which browsers read as another host), hold no backslash or
  // control character, and resolve to this origin. The server checks the same.
  function sameOrigin(n) {
    if (typeof n !== 'string' || n[0] !== '/' || n[1] === '/' || n.length > 2048) return null;
    if (/[\\\u0000-\u001f\u007f]/.test(n)) return null;
    let u;
    try {
      u = new URL(n, location.origin);
    } catch (e) {
      return null;
    }
    return u.origin === location.origin ? u.pathname + u.search + u.hash : null;
  }
  const goTo = sameOrigin(card.dataset.next) || sameOrigin(new URLSearchParams(location.search).get('next'));

  document.getElementById('signout').addEventListener('click', async () => {
    await fetch('/api/session', { method: 'DELETE' });
    next.hidden = true;
    how.hidden = false;
    say('Signed out.');
  });
  // On load, and when another link is opened on this page (only the fragment changes).
  window.addEventListener('hashchange', signIn);
  signIn();

  function signIn() {
    const token = new URLSearchParams(location.hash.slice(1)).get('token');
    // The token leaves the address bar at once; `next` stays for a link opened later.
    history.replaceState(null, '', location.pathname + location.search);
    if (!token) return;
    next.hidden = true;
    how.hidden = true;
    say('Signing in…');
    fetch('/api/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
    }).then(
      async (res) => {
        const body = await res.json().catch(() => ({}));
        if (!res.ok) {
          const why = (body.error && body.error.message) || 'HTTP ' + res.status;
          say('This link does not sign you in: ' + why + '.');
          how.hidden = false;
          return;
        }
        if (goTo) {
          say('Signed in as ' + body.user + '; going on to ' + goTo + '…');
          location.replace(goTo);
          return;
        }
        say('Signed in as ' + body.user + ' until ' + new Date(body.expires_at).toLocaleString() + '.');
        next.hidden = false;
      },
      () => {
        say('The server did not answer; try the link again.');
        how.hidden = false;
      }
    );
  }
})();
