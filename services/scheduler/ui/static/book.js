/* Booking: find the client, see free times, book one session or a weekly course; conflicts
   come back with alternatives before anything is booked. */
"use strict";

(() => {
  const R = Rapport;
  const form = document.getElementById("book-form");
  if (!form) return;
  const search = document.getElementById("client-search");
  const results = document.getElementById("client-results");
  const slots = document.getElementById("slots");
  const conflicts = document.getElementById("conflicts");
  const dialog = document.getElementById("book-dialog");
  let clientId = form.dataset.client || "";

  const picker = R.clientPicker(search, results, {selected: clientId, onPick: (id) => { clientId = id; }});

  // Default date: tomorrow in the practice's zone.
  form.elements.date.value = R.isoDay(new Date(R.now().getTime() + 86400000).toISOString());

  function startsAt() {
    return R.zonedIso(form.elements.date.value, form.elements.time.value);
  }

  async function freeTimes(dateStr, target) {
    const params = new URLSearchParams({
      practitioner_id: form.elements.practitioner_id.value,
      service_type_id: form.elements.service_type_id.value,
      from: dateStr, to: dateStr, time_zone: R.zone,
    });
    if (clientId) params.set("client_id", clientId);
    const res = await R.api("GET", "/api/v1/availability?" + params.toString());
    target.replaceChildren();
    if (!res.ok) {
      target.append(R.el("p", {class: "error", text: R.message(res.data)}));
      return;
    }
    if (!res.data.slots.length) {
      target.append(R.el("p", {class: "muted", text: "No free times on " + dateStr + " for this practitioner."}));
      return;
    }
    const group = R.el("div", {class: "slot-list", role: "group", "aria-label": "Free times on " + dateStr});
    for (const s of res.data.slots.slice(0, 40)) pickButton(group, s.starts_at);
    target.append(group);
  }

  function pickButton(container, iso) {
    container.append(R.el("button", {type: "button", class: "small slot", text: R.day(iso) + " " + R.time(iso),
      onclick: () => {
        form.elements.date.value = R.isoDay(iso);
        form.elements.time.value = R.isoTime(iso);
        form.elements.time.focus();
      }}));
  }

  document.getElementById("find-slots").addEventListener("click", () => {
    if (!form.elements.date.value) { form.elements.date.reportValidity(); return; }
    freeTimes(form.elements.date.value, slots);
  });

  function validate() {
    R.clearProblem(form);
    const errors = [];
    if (!clientId) errors.push({field: "client_id", message: "Choose a client."});
    if (!form.elements.date.value || !form.elements.time.value) errors.push({field: "starts_at", message: "Choose a date and a start time."});
    const n = Number(form.elements.sessions.value);
    if (!Number.isInteger(n) || n < 1 || n > 52) errors.push({field: "sessions", message: "Enter a number from 1 to 52."});
    if (errors.length) R.showProblem(form, {errors, detail: "Please fix the fields marked below."});
    return !errors.length;
  }

  function request(mode) {
    const n = Number(form.elements.sessions.value);
    const common = {client_id: clientId, practitioner_id: form.elements.practitioner_id.value,
                    service_type_id: form.elements.service_type_id.value};
    if (n === 1) return ["/api/v1/appointments", {...common, starts_at: startsAt()}];
    return ["/api/v1/courses", {...common, first_starts_at: startsAt(), sessions: n,
            every_weeks: Number(form.elements.every_weeks.value), mode: mode || "all_or_nothing"}];
  }

  function describe() {
    const n = Number(form.elements.sessions.value);
    const p = R.practitioners[form.elements.practitioner_id.value];
    const st = R.serviceTypes[form.elements.service_type_id.value];
    const iso = startsAt();
    const what = n === 1 ? "One session" : n + " sessions, " + (form.elements.every_weeks.value === "2" ? "every two weeks" : "weekly") + ", starting";
    return what + " on " + R.day(iso) + " at " + R.time(iso) + ": " + (st ? st.name : "") + " with " +
      (p ? p.display_name : "") + " for " + R.clientName(clientId) + ".";
  }

  /* What the client's insurance authorization says about the course just booked (a warning,
     never a refusal). */
  function authorizationNote(auth) {
    if (!auth) return "";
    const note = R.el("div", {class: "authorization"},
      R.el("p", {text: auth.payer + " authorization " + auth.number + ": " + auth.remaining +
        " authorized session" + (auth.remaining === 1 ? "" : "s") + " remained before this booking."}));
    if (auth.warnings.length) {
      const list = R.el("ul", {class: "warning"});
      for (const w of auth.warnings) list.append(R.el("li", {text: w.message}));
      note.append(list);
    }
    return note;
  }

  async function book(mode) {
    const [path, body] = request(mode);
    const res = await R.api("POST", path, body, {"Idempotency-Key": R.key()});
    conflicts.replaceChildren();
    if (res.ok) {
      const booked = res.data.booked || [res.data];
      const done = document.getElementById("booked");
      const list = R.el("ul", {});
      for (const a of booked) list.append(R.el("li", {text: R.day(a.starts_at) + " at " + R.time(a.starts_at)}));
      const skipped = (res.data.skipped || []).length;
      done.replaceChildren(
        R.el("h2", {text: "Booked " + booked.length + (booked.length === 1 ? " session" : " sessions") + " for " + R.clientName(clientId)}),
        list,
        skipped ? R.el("p", {class: "warning", text: skipped + " clashing session(s) were not booked."}) : "",
        authorizationNote(res.data.authorization),
        R.el("p", {}, R.el("a", {href: "/day?date=" + R.isoDay(booked[0].starts_at), text: "See it on the calendar"}),
          " · ", R.el("a", {href: "/book", text: "Book another"})));
      done.hidden = false;
      form.hidden = true;
      done.querySelector("a").focus();
      return;
    }
    if (res.status === 409 && (res.data.conflicts || []).length) {
      const total = Number(form.elements.sessions.value);
      R.showProblem(form, {detail: res.data.conflicts.length + " of " + total +
        " sessions clash with other bookings, so nothing was booked. Pick another time below, or book only the free sessions."});
    } else {
      R.showProblem(form, res.data);
    }
    if (res.status === 409) showConflicts(res.data);
  }

  function showConflicts(problem) {
    const box = R.el("section", {class: "conflicts card warning", "aria-labelledby": "conflicts-title"},
      R.el("h2", {id: "conflicts-title", text: "Nothing was booked: some times clash"}));
    const list = problem.conflicts || [];
    if (list.length) {
      const ul = R.el("ul", {});
      for (const c of list) {
        const alts = R.el("div", {class: "slot-list", role: "group", "aria-label": "Alternatives for session " + c.session});
        for (const s of c.alternatives || []) pickButton(alts, s.starts_at);
        ul.append(R.el("li", {},
          R.el("p", {text: "Session " + c.session + " on " + R.day(c.starts_at) + " at " + R.time(c.starts_at) + ": " + c.reason + "."}),
          (c.alternatives || []).length ? R.el("p", {class: "muted", text: "Free nearby (choosing one moves the course start):"}) : R.el("p", {class: "muted", text: "No free time nearby."}),
          alts));
      }
      box.append(ul);
      const total = Number(form.elements.sessions.value);
      if (list.length < total) {
        box.append(R.el("button", {type: "button", class: "primary", id: "book-free-only",
          text: "Book the " + (total - list.length) + " free sessions only",
          onclick: () => book("free_only")}));
      }
    } else {
      box.append(R.el("p", {text: R.message(problem)}));
      const alts = R.el("div", {});
      box.append(R.el("p", {class: "muted", text: "Free times that day:"}), alts);
      freeTimes(form.elements.date.value, alts);
    }
    conflicts.append(box);
    box.scrollIntoView({block: "nearest"});
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!validate()) return;
    document.getElementById("book-summary").textContent = describe();
    dialog.showModal();
  });
  dialog.addEventListener("close", () => { if (dialog.returnValue === "ok") book(); });

  // Prefilled from the calendar (a free time clicked) or from a client's page.
  if (form.dataset.date) form.elements.date.value = form.dataset.date;
  if (form.dataset.time) form.elements.time.value = form.dataset.time;
  if (R.practitioners[form.dataset.practitioner]) form.elements.practitioner_id.value = form.dataset.practitioner;
  if (form.dataset.date && !form.dataset.time) freeTimes(form.dataset.date, slots);
  (async () => {
    if (clientId) {
      await R.loadClients([clientId]);
      if (R.clients[clientId]) search.value = R.clients[clientId].first_name + " " + R.clients[clientId].last_name;
    }
    picker.show();
  })();
})();
