// The sign-in link's page: the token travels in the fragment (#token=...), which browsers
// never send to a server, so it is in no log; this script hands it to POST /api/session,
// which sets the HttpOnly session cookie, and takes it out of the address bar.
(function () {
  'use strict';
  const status = document.getElementById('signin-status');
  const next = document.getElementById('signin-next');
  const say = (text) => { status.textContent = text; };

  document.getElementById('signout').addEventListener('click', async () => {
    await fetch('/api/session', { method: 'DELETE' });
    next.hidden = true;
    say('Signed out.');
  });
  // On load, and when another link is opened on this page (only the fragment changes).
  window.addEventListener('hashchange', signIn);
  signIn();

  function signIn() {
    const token = new URLSearchParams(location.hash.slice(1)).get('token');
    history.replaceState(null, '', location.pathname);
    if (!token) return;
    next.hidden = true;
    say('Signing in…');
    fetch('/api/session', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ token }),
    }).then(async (res) => {
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        const why = (body.error && body.error.message) || 'HTTP ' + res.status;
        say('This link does not sign you in: ' + why + '.');
        return;
      }
      say('Signed in as ' + body.user + ' until ' + new Date(body.expires_at).toLocaleString() + '.');
      next.hidden = false;
    }, () => say('The server did not answer; try the link again.'));
  }
})();
