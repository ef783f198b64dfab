// The /irc page: follows, pauses, resumes and removes channels through /api/irc/channels
// and keeps the table current by reading it every 2 s. Text goes in with textContent only.
"use strict";
(function () {
  const POLL_MS = 2000;
  const rows = document.getElementById("irc-rows");
  const form = document.getElementById("irc-follow");
  const errorBox = document.getElementById("irc-error");
  const updated = document.getElementById("irc-updated");
  const tokenInput = document.getElementById("irc-token");
  if (!rows || !form) return;
  if (tokenInput) tokenInput.value = sessionStorage.getItem("chatpulse-ingest-token") || "";

  function headers() {
    const h = { "Content-Type": "application/json" };
    const token = tokenInput ? tokenInput.value.trim() : "";
    if (token) {
      h.Authorization = "Bearer " + token;
      sessionStorage.setItem("chatpulse-ingest-token", token);
    }
    return h;
  }

  function showError(text) {
    errorBox.hidden = !text;
    errorBox.textContent = text || "";
  }

  async function change(method, path, body) {
    const res = await fetch(path, { method, headers: headers(), body: body && JSON.stringify(body) });
    if (!res.ok) {
      const e = await res.json().catch(() => null);
      throw new Error((e && e.error && e.error.message) || "HTTP " + res.status);
    }
  }

  // A time by the pages' one rule (time.js).
  function timeCell(iso) {
    const td = document.createElement("td");
    if (!iso) {
      td.textContent = "—";
      return td;
    }
    const t = document.createElement("time");
    window.chatpulseTime.set(t, iso);
    td.append(t);
    return td;
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }

  function button(action, label) {
    const b = document.createElement("button");
    b.className = "btn btn-quiet";
    b.type = "button";
    b.dataset.action = action;
    b.textContent = label;
    return b;
  }

  function render(list) {
    const body = document.createDocumentFragment();
    for (const c of list.channels) {
      const tr = document.createElement("tr");
      tr.dataset.name = c.name;
      const name = document.createElement("td");
      const link = document.createElement("a");
      link.className = "row-name";
      link.href = "/channels/" + encodeURIComponent(c.name);
      link.textContent = "#" + c.name;
      name.append(link);
      const state = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = "irc-state irc-" + c.state;
      badge.textContent = c.state;
      state.append(badge);
      if (c.reason) {
        const why = document.createElement("span");
        why.className = "muted";
        why.textContent = " " + c.reason;
        state.append(why);
      }
      const rate = c.messages_per_second;
      const actions = cell("", "irc-actions");
      actions.append(button(c.paused ? "resume" : "pause", c.paused ? "Resume" : "Pause"), " ", button("remove", "Remove"));
      tr.append(name, state, cell(c.reader || "—"), cell(rate == null ? "—" : rate.toFixed(1), "num"), timeCell(c.last_message_at), actions);
      body.append(tr);
    }
    rows.replaceChildren(body);
    document.getElementById("irc-empty").hidden = list.channels.length > 0;
    document.getElementById("irc-table").hidden = list.channels.length === 0;
    updated.textContent = "updated " + window.chatpulseTime.format(new Date().toISOString());
  }

  async function refresh() {
    try {
      const res = await fetch("/api/irc/channels");
      if (res.ok) render(await res.json());
    } catch (_) {
      updated.textContent = "not updating: the server does not answer";
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = document.getElementById("irc-name");
    try {
      await change("POST", "/api/irc/channels", { name: input.value.trim() });
      input.value = "";
      showError("");
    } catch (e) {
      showError("Cannot follow “" + input.value + "”: " + e.message);
    }
    refresh();
  });

  rows.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const name = b.closest("tr").dataset.name;
    try {
      if (b.dataset.action === "remove") {
        await change("DELETE", "/api/irc/channels/" + encodeURIComponent(name));
      } else {
        await change("POST", "/api/irc/channels", { name, paused: b.dataset.action === "pause" });
      }
      showError("");
    } catch (e) {
      showError("Cannot change #" + name + ": " + e.message);
    }
    refresh();
  });

  refresh();
  setInterval(refresh, POLL_MS);
})();
