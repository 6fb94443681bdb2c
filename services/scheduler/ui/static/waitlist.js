/* The waiting list: put a client on it, see each entry's offers and what became of them, take
   a client off it. */
"use strict";

(() => {
  const R = Rapport;
  const form = document.getElementById("waitlist-form");
  if (!form) return;
  const search = document.getElementById("client-search");
  const results = document.getElementById("client-results");
  const list = document.getElementById("entries");
  const filter = document.getElementById("status-filter");
  const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  const OUTCOME = {open: "Offered, waiting for an answer", accepted: "Accepted and booked",
                   taken: "Taken by someone else", expired: "Expired unanswered", withdrawn: "Withdrawn"};

  const picker = R.clientPicker(search, results);

  const windows = document.getElementById("windows");
  document.getElementById("add-window").addEventListener("click", () => {
    const rows = windows.querySelectorAll(".window");
    const copy = rows[0].cloneNode(true);
    const n = rows.length;
    copy.querySelectorAll("[id]").forEach((node) => { node.id = node.id.replace(/-\d+$/, "-" + n); });
    copy.querySelectorAll("label").forEach((l) => { l.htmlFor = l.htmlFor.replace(/-\d+$/, "-" + n); });
    rows[rows.length - 1].after(copy);
  });

  const today = R.isoDay(R.now().toISOString());
  form.elements.earliest_date.value = today;
  form.elements.latest_date.value = R.isoDay(new Date(R.now().getTime() + 30 * 86400000).toISOString());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ticked = [...form.querySelectorAll('input[name="practitioner_ids"]:checked')].map((i) => i.value);
    const body = {
      client_id: picker.picked(),
      practitioner_ids: ticked.length ? ticked : null,
      service_type_id: form.elements.service_type_id.value,
      windows: [...windows.querySelectorAll(".window")].map((row) => ({
        weekday: Number(row.querySelector(".weekday").value),
        start: row.querySelector(".from").value, end: row.querySelector(".to").value})),
      earliest_date: form.elements.earliest_date.value,
      latest_date: form.elements.latest_date.value,
      priority: Number(form.elements.priority.value || 0),
    };
    const res = await R.api("POST", "/api/v1/waitlist", body);
    if (!res.ok) { R.showProblem(form, res.data); return; }
    R.clearProblem(form);
    R.toast("On the waiting list.");
    load();
  });

  function describe(e) {
    const who = (e.practitioner_ids || []).map((id) => (R.practitioners[id] || {}).display_name || id).join(", ") || "any practitioner";
    const st = (R.serviceTypes[e.service_type_id] || {}).name || "";
    const times = e.windows.map((w) => DAYS[w.weekday] + " " + w.start + "–" + w.end).join(", ");
    return st + " with " + who + " · " + times + " (client's time) · " + e.earliest_date + " to " + e.latest_date +
      " · priority " + e.priority;
  }

  async function load() {
    const res = await R.fetchAll("/api/v1/waitlist?limit=100" + (filter.value ? "&status=" + filter.value : ""));
    const error = document.getElementById("list-error");
    error.hidden = res.ok;
    error.textContent = res.ok ? "" : R.message(res.data);
    if (!res.ok) return;
    await R.loadClients(res.data.items.map((e) => e.client_id));
    list.replaceChildren();
    if (!res.data.items.length) list.append(R.el("li", {class: "muted", text: "Nobody here."}));
    for (const e of res.data.items) {
      const offers = R.el("ul", {class: "offers"});
      for (const o of e.offers) {
        offers.append(R.el("li", {class: "offer", "data-status": o.status,
          text: R.day(o.starts_at) + " " + R.time(o.starts_at) + " · " + (OUTCOME[o.status] || o.status) +
            (o.answered_by ? " (answered by " + o.answered_by + ")" : "") +
            (o.status === "open" ? " until " + R.day(o.expires_at) + " " + R.time(o.expires_at) : "")}));
      }
      const item = R.el("li", {class: "message entry", "data-id": e.id},
        R.el("p", {class: "meta"}, R.el("strong", {text: R.clientName(e.client_id)}), " · " + e.status),
        R.el("p", {text: describe(e)}), offers);
      if (e.status === "waiting") {
        item.append(R.el("button", {type: "button", class: "small", text: "Take off the list",
          "aria-label": "Take " + R.clientName(e.client_id) + " off the waiting list",
          onclick: async () => {
            const done = await R.api("POST", "/api/v1/waitlist/" + e.id + "/remove");
            if (!done.ok) { R.toast(R.message(done.data)); return; }
            R.toast("Taken off the waiting list.");
            load();
          }}));
      }
      list.append(item);
    }
  }
  filter.addEventListener("change", load);
  load();
  setInterval(load, 30000);
})();
