/* Shared by every page: API calls with the session cookie and CSRF token, plain-language
   errors, practice-time-zone formatting, and small helpers. No framework, no build step. */
"use strict";

const Rapport = (() => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  let csrf = meta ? meta.content : "";  // renewed with the session (see watchSession)
  const refNode = document.getElementById("reference");
  const reference = refNode ? JSON.parse(refNode.textContent) : {practice: {time_zone: "UTC"}};
  const zone = reference.practice.time_zone || "UTC";
  /* The application clock: the server's "now" when the page was served, run forward by the
     browser's own elapsed time, so a desk computer with a wrong clock (or a system placed at
     another instant) still agrees with the server on what is past and what is late. */
  const nowMeta = document.querySelector('meta[name="rapport-now"]');
  const skew = nowMeta ? Date.parse(nowMeta.content) - Date.now() : 0;
  const now = () => new Date(Date.now() + (Number.isFinite(skew) ? skew : 0));

  const STATUS = {
    booked: "Booked", confirmed: "Confirmed", checked_in: "Checked in",
    completed: "Completed", no_show: "No-show", cancelled: "Cancelled",
  };
  const REMINDER = {
    planned: "Reminders planned", sent: "Reminder sent", delivered: "Reminder delivered",
    failed: "Reminder failed", cancelled: "Reminders cancelled", none: "No reminders",
  };
  /* The latest message and its fate, so that a confirmation is not mistaken for a reminder. */
  const MESSAGE = {
    confirmation_sent: "Confirmation sent", confirmation_delivered: "Confirmation delivered",
    confirmation_failed: "Confirmation failed", reminder_sent: "Reminder sent",
    reminder_delivered: "Reminder delivered", reminder_failed: "Reminder failed",
    notice_sent: "Notice sent", notice_delivered: "Notice delivered", notice_failed: "Notice failed",
  };
  const INVOICE = {issued: "Invoice issued", paid: "Invoice paid", void: "Invoice void"};

  /* Calls an API on this origin. Resolves to {ok, status, data}; never throws. */
  async function api(method, path, body, headers) {
    const init = {method, credentials: "same-origin", headers: {Accept: "application/json", ...(headers || {})}};
    if (method !== "GET") init.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return {ok: false, status: 0, data: {detail: "The server could not be reached. Check the connection and try again."}};
    }
    if (response.status === 401) {
      window.location.assign(signInAndBack());
      return {ok: false, status: 401, data: {detail: "Your session ended. Sign in again."}};
    }
    let data = {};
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try { data = await response.json(); } catch (err) { data = {}; }
    }
    if (!response.ok && !data.detail) {
      data.detail = response.status >= 500
        ? "Something went wrong on the server. Try again in a moment."
        : "The request was refused (" + response.status + ").";
    }
    return {ok: response.ok, status: response.status, data};
  }

  /* Every page of a paginated list (`path` already has a query), following `next_cursor`. */
  async function fetchAll(path, maxPages) {
    let items = [];
    let cursor = "";
    for (let page = 0; page < (maxPages || 50); page += 1) {
      const res = await api("GET", path + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      if (!res.ok) return res;
      items = items.concat(res.data.items);
      cursor = res.data.next_cursor;
      if (!cursor) break;
    }
    return {ok: true, status: 200, data: {items}};
  }

  function signInAndBack() {
    return "/sign-in?next=" + encodeURIComponent(window.location.pathname + window.location.search);
  }

  /* The desk signs out after the practice's idle timeout (desk_idle_minutes) without anyone
     using it. While someone types, clicks or scrolls, the session is renewed quietly (at most
     once a minute); otherwise the page warns a little before the end (five minutes, or half a
     short timeout), offers to stay signed in (a dialog open under the warning keeps what was
     typed), and at the end goes to sign-in, which brings the desk back to this page. Before
     warning it asks the server, so that work on another page of the desk counts. Times by the
     application clock, as the server counts them. */
  function watchSession() {
    const expiresMeta = document.querySelector('meta[name="rapport-session-expires"]');
    const dialog = document.getElementById("session-dialog");
    if (!expiresMeta || !dialog) return;
    let expires = Date.parse(expiresMeta.content);
    const idleMinutes = Number(reference.practice.desk_idle_minutes) || 30;
    const lead = Math.min(5 * 60000, idleMinutes * 60000 / 2);
    let renewed = now().getTime();
    let active = renewed;  // loading a page is using the desk
    let warned = 0;
    let busy = false;
    const form = dialog.querySelector("form");
    for (const type of ["keydown", "pointerdown", "wheel", "touchstart"]) {
      document.addEventListener(type, () => { if (!dialog.open) active = now().getTime(); }, {passive: true, capture: true});
    }
    function renewedTo(data) {
      expires = Date.parse(data.expires_at);
      renewed = now().getTime();
      if (data.csrf_token && data.csrf_token !== csrf) {
        csrf = data.csrf_token;
        if (meta) meta.content = csrf;
        document.querySelectorAll('input[name="csrf_token"]').forEach((i) => { i.value = csrf; });
      }
    }
    async function check() {
      if (busy) return;
      busy = true;
      try {
        const at = now().getTime();
        if (active > renewed && at - renewed >= Math.min(60000, lead)) {
          const res = await api("POST", "/session/extend");
          if (res.ok) renewedTo(res.data);
        }
        let left = expires - now().getTime();
        if (left <= lead && !dialog.open) {
          const res = await api("GET", "/session/status");
          if (res.ok && res.data.expires_at) expires = Date.parse(res.data.expires_at);
          left = expires - now().getTime();
        }
        if (left <= 0) { window.location.assign(signInAndBack()); return; }
        if (left <= lead && warned !== expires && !dialog.open) {
          warned = expires;
          clearProblem(form);
          document.getElementById("session-text").textContent = "Nobody has used the desk for a while. For your security you will be signed out at " +
            time(new Date(expires).toISOString()) + ". Stay signed in to keep working; nothing you have typed is lost.";
          dialog.showModal();
        }
      } finally {
        busy = false;
      }
    }
    form.addEventListener("submit", async (event) => {
      if (!event.submitter || event.submitter.value !== "ok") return;
      event.preventDefault();
      const res = await api("POST", "/session/extend");
      if (!res.ok) { showProblem(form, res.data); return; }
      renewedTo(res.data);
      active = renewed;
      dialog.close("extended");
      toast("You stay signed in until " + day(res.data.expires_at) + " " + time(res.data.expires_at) + ".");
    });
    check();
    setInterval(check, Math.min(15000, lead / 4));
  }

  function message(problem) {
    return (problem && (problem.detail || problem.title)) || "Something went wrong.";
  }

  /* Puts a problem's field errors next to their fields ([data-field] elements) and the rest
     in the form's general error element. */
  function showProblem(container, problem) {
    clearProblem(container);
    const general = container.querySelector(".error[role=alert]");
    let placed = false;
    for (const e of (problem && problem.errors) || []) {
      const field = String(e.field || "").split(".").pop();
      const slot = container.querySelector('.field-error[data-field="' + field + '"]');
      if (slot) {
        slot.textContent = plain(e.message);
        slot.hidden = false;
        placed = true;
        if (!slot.id) slot.id = "error-" + field + "-" + Math.random().toString(36).slice(2, 8);
        const input = container.querySelector('[name="' + field + '"]');
        if (input) {
          input.setAttribute("aria-invalid", "true");
          const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
          if (!described.includes(slot.id)) input.setAttribute("aria-describedby", [...described, slot.id].join(" "));
        }
      }
    }
    if (general) {
      const detail = String((problem && problem.detail) || "");
      const listsFields = ((problem && problem.errors) || []).some((e) => detail.includes(String(e.field) + ":"));
      general.textContent = placed && (!detail || listsFields)
        ? "Please check the fields marked below." : plain(message(problem));
      general.hidden = false;
    }
  }

  /* Validation messages without the validator's jargon ("Value error, …"). */
  function plain(text) {
    const t = String(text || "").replace(/(^|; )(\w+: )?Value error, /g, "$1$2");
    return t.charAt(0).toUpperCase() + t.slice(1);
  }

  function clearProblem(container) {
    container.querySelectorAll(".field-error, .error[role=alert]").forEach((n) => { n.hidden = true; n.textContent = ""; });
    container.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  }

  const timeFmt = new Intl.DateTimeFormat("en-US", {timeZone: zone, hour: "numeric", minute: "2-digit"});
  const dateFmt = new Intl.DateTimeFormat("en-US", {timeZone: zone, weekday: "short", month: "short", day: "numeric"});
  const isoDayFmt = new Intl.DateTimeFormat("en-CA", {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit"});
  const isoTimeFmt = new Intl.DateTimeFormat("en-GB", {timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23"});

  const time = (iso) => timeFmt.format(new Date(iso));
  const day = (iso) => dateFmt.format(new Date(iso));
  const isoDay = (iso) => isoDayFmt.format(new Date(iso));
  const isoTime = (iso) => isoTimeFmt.format(new Date(iso));

  /* Offset (ms) of a zone (the practice's unless named) from UTC at a given instant. */
  function offsetAt(ms, inZone) {
    const parts = {};
    for (const p of new Intl.DateTimeFormat("en-US", {
      timeZone: inZone || zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms))) parts[p.type] = p.value;
    const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute, +parts.second);
    return asUtc - ms;
  }

  /* A wall-clock date ("2027-01-05") and time ("15:00") in the practice zone (or another
     named zone), as a UTC ISO string. */
  function zonedIso(dateStr, timeStr, inZone) {
    const [y, m, d] = dateStr.split("-").map(Number);
    const [hh, mm] = timeStr.split(":").map(Number);
    const wall = Date.UTC(y, m - 1, d, hh, mm);
    let guess = wall - offsetAt(wall, inZone);
    guess = wall - offsetAt(guess, inZone);
    return new Date(guess).toISOString().replace(".000Z", "Z");
  }

  const byId = (list) => Object.fromEntries((list || []).map((x) => [x.id, x]));
  /* Clients seen so far on this page; pages ask the API for the ones they show. */
  const clients = {};
  const practitioners = byId(reference.practitioners);
  const serviceTypes = byId(reference.service_types);
  const clientName = (id) => clients[id] ? clients[id].first_name + " " + clients[id].last_name : "Unknown client";

  /* Fetches the named clients not seen yet (a page of ids at a time) into `clients`. */
  async function loadClients(ids) {
    const missing = [...new Set((ids || []).filter((id) => id && !clients[id]))];
    for (let i = 0; i < missing.length; i += 200) {
      const chunk = missing.slice(i, i + 200);
      const res = await api("GET", "/api/v1/clients?limit=200&ids=" + chunk.map(encodeURIComponent).join(","));
      if (res.ok) for (const c of res.data.items) clients[c.id] = c;
    }
  }

  /* A client picker: a search box whose matches (active clients, from the API's search a page
     at a time, "More clients" reads on) are radio buttons. `picked()` is the chosen client's
     id, `show()` searches for what the box holds; `onPick` hears each choice. */
  function clientPicker(search, results, {selected = "", onPick = () => {}} = {}) {
    let chosen = selected;
    let ticket = 0;
    async function show(more) {
      const q = search.value.trim();
      const mine = ++ticket;
      const params = new URLSearchParams({q, active: "true", limit: "8"});
      if (more) params.set("cursor", more);
      if (!more) results.replaceChildren(el("li", {class: "muted", text: "Searching…"}));
      const res = await api("GET", "/api/v1/clients?" + params.toString());
      if (mine !== ticket) return;  // a newer search is on its way
      if (!more) results.replaceChildren();
      results.querySelector(".more")?.remove();
      if (!res.ok) { results.append(el("li", {class: "error", text: message(res.data)})); return; }
      if (!res.data.items.length && !more) results.append(el("li", {class: "muted", text: "No client matches “" + q + "”."}));
      for (const c of res.data.items) {
        clients[c.id] = c;
        const id = "client-" + c.id;
        results.append(el("li", {},
          el("input", {type: "radio", name: "client_id", id, value: c.id, checked: c.id === chosen,
            onchange: () => { chosen = c.id; onPick(c.id); }}),
          el("label", {for: id, class: "choice"},
            el("span", {class: "name", text: c.first_name + " " + c.last_name}),
            el("span", {class: "muted contact", text: [c.phone, c.email].filter(Boolean).join(" · ")}))));
      }
      if (res.data.next_cursor) {
        results.append(el("li", {class: "more"}, el("button", {type: "button", class: "small",
          text: "More clients", onclick: () => show(res.data.next_cursor)})));
      }
    }
    let typing = null;
    search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => show(), 150); });
    return {picked: () => chosen, show: () => show()};
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  let toastTimer = null;
  function toast(text) {
    const node = document.getElementById("toast");
    if (!node) return;
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { node.hidden = true; }, 6000);
  }

  function key() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
  }

  /* Keyboard shortcuts, listed in the help dialog ("?"); none fires while typing or while a
     dialog is open. */
  const SHORTCUTS = {
    t: () => follow("today-link"), p: () => follow("previous-link"), n: () => follow("next-link"),
    d: () => go("/day"), w: () => go("/week"), b: () => go("/book"),
    "/": () => { const s = document.getElementById("global-search"); if (s) s.focus(); },
    "?": () => { const h = document.getElementById("shortcuts-dialog"); if (h) h.showModal(); },
  };
  function follow(id) { const a = document.getElementById(id); if (a) a.click(); }
  function go(path) {
    // Keeps the date and practitioner the calendar shows.
    const cal = document.getElementById("calendar");
    const params = new URLSearchParams();
    if (cal && cal.dataset.date) params.set("date", cal.dataset.date);
    if (cal && cal.dataset.practitioner) params.set("practitioner", cal.dataset.practitioner);
    window.location.assign(path + (params.toString() ? "?" + params.toString() : ""));
  }
  function onShortcut(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const t = event.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (document.querySelector("dialog[open]")) return;
    const run = SHORTCUTS[event.key];
    if (!run) return;
    event.preventDefault();
    run();
  }

  /* The header's search: clients by name, phone or email, with their next sessions, from the
     API a page at a time. */
  function globalSearch() {
    const input = document.getElementById("global-search");
    const box = document.getElementById("global-results");
    if (!input || !box) return;
    let ticket = 0;
    let timer = null;
    async function run(cursor) {
      const q = input.value.trim();
      const mine = ++ticket;
      if (!q) { box.hidden = true; box.replaceChildren(); return; }
      const params = new URLSearchParams({q, limit: "8"});
      if (cursor) params.set("cursor", cursor);
      const res = await api("GET", "/api/v1/search?" + params.toString());
      if (mine !== ticket) return;
      if (!cursor) box.replaceChildren();
      box.querySelector(".more")?.remove();
      box.hidden = false;
      if (!res.ok) { box.append(el("li", {class: "error", text: message(res.data)})); return; }
      if (!res.data.items.length && !cursor) box.append(el("li", {class: "muted", text: "No client matches “" + q + "”."}));
      for (const c of res.data.items) {
        clients[c.id] = c;
        const sessions = el("ul", {class: "sessions"});
        for (const a of c.upcoming_sessions || []) {
          sessions.append(el("li", {}, el("a", {href: "/day?date=" + isoDay(a.starts_at),
            text: day(a.starts_at) + " " + time(a.starts_at) + (practitioners[a.practitioner_id] ? " · " + practitioners[a.practitioner_id].display_name : "")})));
        }
        if (!sessions.children.length) sessions.append(el("li", {class: "muted", text: "No upcoming sessions"}));
        box.append(el("li", {class: "hit"},
          el("a", {class: "name", href: "/clients/" + encodeURIComponent(c.id), text: c.first_name + " " + c.last_name}),
          el("span", {class: "muted contact", text: [c.phone, c.email].filter(Boolean).join(" · ")}),
          sessions));
      }
      if (res.data.next_cursor) {
        box.append(el("li", {class: "more"}, el("button", {type: "button", class: "small", text: "More results",
          onclick: () => run(res.data.next_cursor)})));
      }
    }
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => run(), 200); });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { input.value = ""; box.hidden = true; input.blur(); }
    });
    input.form.addEventListener("submit", (e) => { e.preventDefault(); run(); });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.documentElement.classList.add("js");
    document.querySelectorAll("select[data-autosubmit]").forEach((s) =>
      s.addEventListener("change", () => s.form.submit()));
    document.addEventListener("keydown", onShortcut);
    globalSearch();
    watchSession();
  });

  return {now, api, fetchAll, message, showProblem, clearProblem, time, day, isoDay, isoTime, zonedIso, zone,
          reference, clients, loadClients, clientPicker, practitioners, serviceTypes, clientName, el, toast, key,
          STATUS, REMINDER, MESSAGE, INVOICE};
})();
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("shortcuts-button");
  if (button) button.addEventListener("click", () => document.getElementById("shortcuts-dialog").showModal());
});
