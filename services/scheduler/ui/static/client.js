/* A client's page: upcoming and past sessions (with check-ins and no-shows), balance and
   charges from billing, messages and replies from the notifier, waiting-list entries and their
   offers, and the calendar feed link.
   Each part loads on its own, so one service being slow leaves the others readable. */
"use strict";

(() => {
  const R = Rapport;
  const root = document.getElementById("client-page");
  if (!root) return;
  const id = root.dataset.client;
  const when = (iso) => R.day(iso) + " " + R.time(iso);
  const words = (s) => String(s || "").replace(/_/g, " ");

  /* A list's rows in place of its loading placeholders, or what to say (and do) when empty. */
  function fill(list, rows, empty, action) {
    list.removeAttribute("aria-busy");
    list.replaceChildren(...rows);
    if (!rows.length) list.append(R.el("li", {class: "muted empty"}, empty, action ? " " : null, action || null));
  }
  function failed(list, res) {
    list.removeAttribute("aria-busy");
    list.replaceChildren(R.el("li", {class: "error", text: R.message(res.data)}));
  }

  function session(a) {
    const st = R.serviceTypes[a.service_type_id];
    const p = R.practitioners[a.practitioner_id];
    return R.el("li", {class: "status-" + a.status},
      R.el("a", {href: "/day?date=" + R.isoDay(a.starts_at), text: when(a.starts_at)}),
      " — " + (st ? st.name : "Session") + (p ? " with " + p.display_name : "") + (a.course_id ? " · course" : "") + " · ",
      R.el("span", {class: "badge status status-" + a.status, text: R.STATUS[a.status] || a.status}),
      a.late_cancellation ? R.el("span", {class: "badge late", text: "Late cancellation"}) : null);
  }

  async function sessions() {
    const res = await R.fetchAll("/api/v1/appointments?limit=500&client_id=" + encodeURIComponent(id));
    const upcoming = document.getElementById("upcoming");
    const past = document.getElementById("past");
    if (!res.ok) { failed(upcoming, res); failed(past, res); return []; }
    const now = R.now();
    const later = res.data.items.filter((a) => new Date(a.ends_at) > now && a.status !== "cancelled");
    const before = res.data.items.filter((a) => !later.includes(a)).reverse();
    fill(upcoming, later.map(session), "No upcoming sessions.",
      R.el("a", {class: "button small primary", href: "/book?client=" + encodeURIComponent(id), text: "Book one"}));
    fill(past, before.map(session), "No past sessions.");
    return later.map((a) => a.id);
  }

  async function charges(upcomingIds) {
    const [balance, invoices] = await Promise.all([
      R.api("GET", "/api/v1/balances/" + encodeURIComponent(id)),
      R.fetchAll("/api/v1/invoices?limit=500&client_id=" + encodeURIComponent(id)),
    ]);
    const line = document.getElementById("balance");
    const list = document.getElementById("charges");
    if (balance.ok) {
      line.classList.remove("muted");
      // Amounts as billing formats them (Babel, the practice's locale and currency).
      line.textContent = "Balance: " + balance.data.balance_display +
        " (invoiced " + balance.data.invoiced_display + ", paid " + balance.data.paid_display + ")";
    } else {
      line.textContent = "Balance unavailable: " + R.message(balance.data);
    }
    if (!invoices.ok) { failed(list, invoices); return; }
    fill(list, invoices.data.items.map((inv) => {
      const upcoming = inv.lines.some((l) => upcomingIds.includes(l.appointment_id));
      return R.el("li", {},
        (inv.number || "Invoice") + " — " + words(inv.status) + ", " + inv.total_display +
        (inv.balance_minor > 0 ? ", " + inv.balance_display + " due" : "") +
        (upcoming ? " · for an upcoming session" : ""));
    }), "No invoices yet.");
  }

  async function messages() {
    const [sent, open, handled] = await Promise.all([
      R.fetchAll("/api/v1/messages?limit=500&client_id=" + encodeURIComponent(id)),
      R.api("GET", "/api/v1/inbox?limit=200"),
      R.api("GET", "/api/v1/inbox?handled=true&limit=200"),
    ]);
    const list = document.getElementById("client-messages");
    if (!sent.ok) { failed(list, sent); return; }
    const replies = [open, handled].filter((r) => r.ok).flatMap((r) => r.data.items)
      .filter((m) => m.client_id === id)
      .map((m) => ({at: m.received_at, node: R.el("li", {class: "reply"},
        R.el("strong", {text: "Reply " + when(m.received_at) + ": "}), m.body,
        m.handled_at ? R.el("span", {class: "muted", text: " (handled)"}) : null)}));
    const out = sent.data.items.map((m) => ({at: m.updated_at, node: R.el("li", {text:
      when(m.updated_at) + " — " + words(m.kind) + " by " + (m.channel === "sms" ? "SMS" : m.channel) + ", " + words(m.status)})}));
    fill(list, out.concat(replies).sort((a, b) => b.at.localeCompare(a.at)).map((x) => x.node), "No messages yet.");
  }

  /* The client's waiting-list entries with each offer and what became of it; the card shows
     only when there are any. */
  const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const OUTCOME = {open: "offered, waiting for an answer", accepted: "accepted and booked",
                   taken: "taken by someone else", expired: "expired unanswered", withdrawn: "withdrawn"};
  async function waitlist() {
    const card = document.getElementById("client-waitlist");
    if (!card) return;
    const res = await R.fetchAll("/api/v1/waitlist?limit=100&client_id=" + encodeURIComponent(id));
    const list = document.getElementById("waitlist-entries");
    if (!res.ok) { card.hidden = false; failed(list, res); return; }
    card.hidden = res.data.items.length === 0;
    fill(list, res.data.items.map((e) => {
      const st = (R.serviceTypes[e.service_type_id] || {}).name || "Session";
      const who = (e.practitioner_ids || []).map((p) => (R.practitioners[p] || {}).display_name || p).join(", ") || "any practitioner";
      const times = e.windows.map((w) => DAYS[w.weekday] + " " + w.start + "–" + w.end).join(", ");
      const offers = R.el("ul", {class: "offers"}, ...e.offers.map((o) => R.el("li", {class: "offer", "data-status": o.status,
        text: "Offered " + when(o.starts_at) + " — " + (OUTCOME[o.status] || words(o.status)) +
          (o.status === "open" ? " until " + when(o.expires_at) : "")})));
      return R.el("li", {class: "waitlist-entry", "data-status": e.status},
        R.el("span", {class: "badge", text: words(e.status)}), " " + st + " with " + who + " · " + times +
        " · " + e.earliest_date + " to " + e.latest_date, e.offers.length ? offers : null);
    }), "Not on the waiting list.");
  }

  async function feed() {
    const res = await R.api("GET", "/api/v1/clients/" + encodeURIComponent(id) + "/feed");
    const input = document.getElementById("client-page-feed");
    if (res.ok) input.value = res.data.url;
    else R.showProblem(input.closest("section"), res.data);
  }

  sessions().then(charges);
  messages();
  waitlist();
  feed();
})();
