// ucrenew dashboard: live updates (server-sent events) and actions (the action API with the
// session's CSRF token). The pages work without this file, except these two.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

  function span(seconds) {
    const minutes = Math.floor(seconds / 60);
    if (minutes < 1) return `${Math.floor(seconds)} s`;
    if (minutes < 120) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ${minutes % 60} min`;
    return `${Math.floor(hours / 24)} d ${hours % 24} h`;
  }
  const ago = (iso) => (iso ? span(Math.max(0, (Date.now() - Date.parse(iso)) / 1000)) : "—");
  function until(iso) {
    if (!iso) return "—";
    const s = (Date.parse(iso) - Date.now()) / 1000;
    return s >= 0 ? `in ${span(s)}` : `${span(-s)} ago`;
  }

  function setLiveState(text) {
    const el = document.getElementById("live-state");
    if (el) el.textContent = text;
  }

  function subscribe(params, onRows) {
    const url = "/api/v1/events?" + new URLSearchParams(params).toString();
    const source = new EventSource(url);
    source.addEventListener("open", () => setLiveState("Live."));
    source.addEventListener("error", () => setLiveState("Reconnecting…"));
    source.addEventListener("rows", (ev) => onRows(JSON.parse(ev.data)));
    return source;
  }

  // -- the in-flight list -------------------------------------------------------------------

  function cell(tag, col, text) {
    const el = document.createElement(tag);
    el.dataset.col = col;
    el.textContent = text;
    return el;
  }

  function rowElement(r) {
    const tr = document.createElement("tr");
    tr.dataset.changeId = r.change_id;
    const id = document.createElement("th");
    id.scope = "row";
    id.dataset.col = "change_id";
    const link = document.createElement("a");
    link.href = `/renewals/${encodeURIComponent(r.change_id)}`;
    link.textContent = r.change_id;
    id.appendChild(link);
    tr.appendChild(id);
    tr.appendChild(cell("td", "cluster", r.cluster));
    tr.appendChild(cell("td", "purposes", r.purposes.join(", ")));
    const phase = cell("td", "phase", "");
    const badge = document.createElement("span");
    badge.className = `phase phase-${r.phase}`;
    badge.textContent = r.phase;
    phase.appendChild(badge);
    if (r.awaiting) {
      const aw = document.createElement("span");
      aw.className = "awaiting";
      aw.textContent = ` awaiting ${r.awaiting}`;
      phase.append(" ", aw);
    }
    tr.appendChild(phase);
    tr.appendChild(cell("td", "waiting_on", r.waiting_on.join(", ") || "—"));
    tr.appendChild(cell("td", "requester", r.requester || "—"));
    const age = cell("td", "age", ago(r.started_at));
    age.dataset.since = r.started_at || "";
    tr.appendChild(age);
    const deadline = cell("td", "deadline", until(r.deadline));
    deadline.dataset.at = r.deadline || "";
    tr.appendChild(deadline);
    tr.appendChild(cell("td", "progress", r.progress.text || "—"));
    return tr;
  }

  function listPage() {
    const table = document.getElementById("renewals");
    const body = table.tBodies[0];
    const filter = JSON.parse(table.dataset.filter || "{}");
    const params = {};
    for (const [k, v] of Object.entries(filter)) if (v) params[k] = v;
    const count = () => {
      document.getElementById("row-count").textContent = body.rows.length;
      document.getElementById("empty").hidden = body.rows.length > 0;
    };
    subscribe(params, (update) => {
      const seen = new Set();
      for (const r of update.changed) {
        seen.add(r.change_id);
        const fresh = rowElement(r);
        const old = body.querySelector(`tr[data-change-id="${CSS.escape(r.change_id)}"]`);
        if (old) {
          old.replaceWith(fresh);
          fresh.classList.add("updated");
        } else {
          body.insertBefore(fresh, body.firstChild);
        }
      }
      const gone = update.snapshot
        ? [...body.rows].filter((tr) => !seen.has(tr.dataset.changeId)).map((tr) => tr.dataset.changeId)
        : update.removed;
      for (const id of gone) {
        body.querySelector(`tr[data-change-id="${CSS.escape(id)}"]`)?.remove();
      }
      count();
      setLiveState(`Live; updated ${new Date().toLocaleTimeString()}.`);
    });
    setInterval(() => {
      for (const td of body.querySelectorAll("td[data-since]")) td.textContent = ago(td.dataset.since);
      for (const td of body.querySelectorAll("td[data-at]")) td.textContent = until(td.dataset.at);
    }, 30000);
  }

  // -- a renewal's page ---------------------------------------------------------------------

  async function refreshRenewal() {
    const response = await fetch(location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const fresh of doc.querySelectorAll("[data-live]")) {
      const name = fresh.dataset.live;
      const current = document.querySelector(`[data-live="${name}"]`);
      if (!current) continue;
      // The actions are replaced only when they change, so a comment being typed survives.
      if (name === "actions" && current.dataset.actions === fresh.dataset.actions) continue;
      current.replaceWith(document.importNode(fresh, true));
    }
    bindActions();
    setLiveState(`Live; updated ${new Date().toLocaleTimeString()}.`);
  }

  function bodyOf(form) {
    const data = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      if (el.value === "" && el.name === "chain_pem") continue;
      data[el.name] = el.value;
    }
    return data;
  }

  async function submitAction(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = form.querySelector(".error");
    const button = form.querySelector("button[type=submit]");
    error.hidden = true;
    button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf(), Accept: "application/json" },
        body: JSON.stringify(bodyOf(form)),
        credentials: "same-origin",
      });
      let payload = {};
      try { payload = await response.json(); } catch (_) { payload = {}; }
      if (!response.ok) {
        const err = payload.error || {};
        error.textContent = `${err.message || response.statusText} (${err.code || response.status})`;
        error.hidden = false;
        return;
      }
      document.getElementById("action-result").textContent =
        `Done: ${form.dataset.action} recorded for ${payload.by || "you"}.`;
      await refreshRenewal();
    } catch (e) {
      error.textContent = `The service did not answer: ${e}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  function bindActions() {
    for (const form of document.querySelectorAll("form.action")) {
      if (form.dataset.bound) continue;
      form.dataset.bound = "1";
      form.addEventListener("submit", submitAction);
    }
  }

  function renewalPage() {
    const id = document.getElementById("renewal").dataset.changeId;
    bindActions();
    let pending = null;
    let first = true;
    subscribe({ change_id: id }, (update) => {
      // The first snapshot is what the page was rendered from; later ones (after a
      // reconnect) may carry changes missed meanwhile.
      const skip = first && update.snapshot;
      first = false;
      if (skip) return;
      // Coalesce bursts of updates into one reload of the page's live parts.
      if (pending) return;
      pending = setTimeout(async () => {
        pending = null;
        await refreshRenewal();
      }, 150);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const page = document.body.dataset.page;
    if (page === "list") listPage();
    else if (page === "renewal") renewalPage();
    else if (page === "campaign") {
      // A campaign changes as its renewals do: re-read the page's live sections.
      bindActions();
      setInterval(refreshRenewal, 5000);
    }
  });
})();
