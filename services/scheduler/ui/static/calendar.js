/* Day and week calendar: a time grid (EventCalendar, vendored) of appointments from the scheduler
   API, refreshed every 10 seconds without a reload. Day: one column per practitioner; week: one
   per day; narrow screens: a one-column agenda. Click a free time to book it; drag a session (or
   focus it and press Alt+arrows) to reschedule it through the same dialog and rules as its
   Reschedule button. Every session keeps its status badges and one-click-plus-confirmation
   actions. */
"use strict";

(() => {
  const R = Rapport;
  const root = document.getElementById("calendar");
  if (!root || !window.EventCalendar) return;
  const view = root.dataset.view;
  const days = root.dataset.days.split(",");
  const POLL_MS = 10000;
  const SLOT_PX = 26;  // the height of a 15-minute row
  const narrow = window.matchMedia("(max-width: 640px)");
  let items = [];
  let lastBody = "";
  let ec = null;
  let busy = false;  // a drag or a dialog is open: keep the grid still
  let background = [];

  /* The grid is given the practice's wall-clock times (floating, no offset) and runs in UTC
     internally; the Dates it hands back carry that wall clock in their local fields. */
  const pad = (n) => String(n).padStart(2, "0");
  const wallOf = (iso) => R.isoDay(iso) + "T" + R.isoTime(iso) + ":00";
  const wallDay = (d) => d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  const wallTime = (d) => pad(d.getHours()) + ":" + pad(d.getMinutes());
  const minutes = (hhmm) => { const [h, m] = hhmm.split(":").map(Number); return h * 60 + m; };
  const clock = (m) => pad(Math.floor(m / 60)) + ":" + pad(m % 60);

  const shown = R.reference.practitioners.filter((p) => p.active &&
    (!root.dataset.practitioner || p.id === root.dataset.practitioner));
  const accent = (id) => "accent-" + (Math.max(0, R.reference.practitioners.findIndex((p) => p.id === id)) % 6);

  function query() {
    const params = new URLSearchParams({from: root.dataset.from, to: root.dataset.to, limit: "500"});
    if (root.dataset.practitioner) params.set("practitioner_id", root.dataset.practitioner);
    return "/api/v1/appointments?" + params.toString();
  }

  async function load() {
    if (busy) return;
    const res = await R.fetchAll(query());
    const error = document.getElementById("calendar-error");
    if (!res.ok) {
      error.textContent = "Could not refresh the calendar: " + R.message(res.data);
      error.hidden = false;
      return;
    }
    error.hidden = true;
    await R.loadClients(res.data.items.map((a) => a.client_id));
    const body = JSON.stringify(res.data.items);
    document.getElementById("refreshed").textContent = "updated " + R.time(R.now().toISOString());
    if (body === lastBody || busy) return;  // unchanged: keep focus and scroll where they are
    lastBody = body;
    items = res.data.items;
    render();
  }

  function badge(text, kind) {
    return R.el("span", {class: "badge " + kind, text});
  }

  const isOpen = (a) => a.status === "booked" || a.status === "confirmed";
  const started = (a) => new Date(a.starts_at) <= R.now();

  function actionsFor(a) {
    const list = [];
    if (isOpen(a)) list.push(["check-in", "Check in"]);
    if (a.status === "checked_in") list.push(["complete", "Complete"]);
    if (isOpen(a) && started(a)) list.push(["no-show", "No-show"]);
    if (isOpen(a) && !started(a)) list.push(["reschedule", "Reschedule"], ["cancel", "Cancel"]);
    if (isOpen(a) || a.status === "checked_in") list.push(["where", "Where"]);
    return list;
  }

  /* A press on a card's button is not the start of a drag: the calendar never sees it (it would
     look for the grid cell under the pointer, and a button near the grid's edge has none). */
  function notADrag(e) { e.stopPropagation(); }

  function card(a) {
    const who = R.clientName(a.client_id);
    const st = R.serviceTypes[a.service_type_id];
    const p = R.practitioners[a.practitioner_id];
    const label = who + ", " + R.time(a.starts_at) + (view === "week" ? ", " + R.day(a.starts_at) : "") + (p ? ", " + p.display_name : "");
    const confirmedBy = a.status === "confirmed" && {client: " by client", desk: " at the desk"}[a.confirmed_by];
    const badges = R.el("p", {class: "badges"},
      badge((R.STATUS[a.status] || a.status) + (confirmedBy || ""), "status status-" + a.status));
    if (a.late_cancellation) badges.append(badge("Late cancellation", "late"));
    if (a.status === "cancelled") {
      badges.append(badge("Reminders cancelled", "reminder reminder-cancelled"));
      if (a.reminder_status && a.reminder_status !== "none") badges.append(badge("Cancellation notice " + a.reminder_status, "reminder reminder-" + a.reminder_status));
    } else if (a.reminder_status) {
      const latest = !["planned", "none"].includes(a.reminder_status) && R.MESSAGE[a.last_message];
      badges.append(badge(latest || R.REMINDER[a.reminder_status] || "Reminders: " + a.reminder_status, "reminder reminder-" + a.reminder_status));
    }
    if (a.reminders_not_planned) badges.append(badge(a.reminders_not_planned + " not planned: already due when booked", "not-planned"));
    if (a.invoice_status) badges.append(badge((R.INVOICE[a.invoice_status] || "Invoice " + a.invoice_status) + (a.invoice_number ? " · " + a.invoice_number : ""), "invoice invoice-" + a.invoice_status));
    const actions = R.el("div", {class: "actions", role: "group", "aria-label": "Actions for " + label});
    for (const [action, text] of actionsFor(a)) {
      actions.append(R.el("button", {type: "button", class: action === "cancel" ? "danger small" : "small",
        "data-action": action, "aria-label": text + ": " + label, text,
        onpointerdown: notADrag, onclick: (e) => { e.stopPropagation(); act(action, a); }}));
    }
    actions.append(R.el("button", {type: "button", class: "small link-like", "data-action": "log",
      "aria-label": "Reminders and messages: " + label, text: "Messages",
      onpointerdown: notADrag, onclick: (e) => { e.stopPropagation(); showLog(a); }}));
    const movable = isOpen(a) && !started(a);
    return R.el("article", {class: "appointment status-" + a.status + " " + accent(a.practitioner_id),
      "data-id": a.id, "data-status": a.status, "aria-label": label, tabindex: "0",
      "aria-keyshortcuts": movable ? "Alt+ArrowUp Alt+ArrowDown Alt+ArrowLeft Alt+ArrowRight" : null,
      onkeydown: movable ? (e) => keyboardMove(e, a) : null},
      R.el("p", {class: "when"},
        R.el("time", {datetime: a.starts_at, text: R.time(a.starts_at) + "–" + R.time(a.ends_at)}),
        a.course_id ? R.el("span", {class: "course", title: "Part of a course", text: " · course"}) : null),
      R.el("p", {class: "client", title: who},
        R.el("a", {href: "/clients/" + encodeURIComponent(a.client_id), text: who})),
      R.el("p", {class: "service", title: st ? st.name : "", text: (st ? st.name : "Session") + (view === "week" && p ? " · " + p.display_name : "")}),
      where(a), badges, actions);
  }

  /* Where to be: the video join link (a link the desk can open) or the address. */
  function where(a) {
    if (a.video_url) {
      return R.el("p", {class: "where"}, "Video: ",
        R.el("a", {href: a.video_url, target: "_blank", rel: "noopener", text: a.video_url}));
    }
    return a.location ? R.el("p", {class: "where", title: a.location, text: a.location}) : null;
  }

  function toEvent(a) {
    const movable = isOpen(a) && !started(a);
    return {
      id: a.id, resourceIds: [a.practitioner_id], start: wallOf(a.starts_at), end: wallOf(a.ends_at),
      title: R.clientName(a.client_id), startEditable: movable, durationEditable: false,
      classNames: ["session", "session-" + a.status, accent(a.practitioner_id)],
      extendedProps: {appointment: a},
    };
  }

  /* Shaded time: outside working hours (in the practitioner's zone) and time off. */
  async function loadBackground() {
    const zonedWall = (zone, day, hhmm) => wallOf(R.zonedIso(day, hhmm, zone));
    const result = [];
    const union = {};  // day -> list of [startMin, endMin] worked by anyone shown
    await Promise.all(shown.map(async (p) => {
      const [hours, off] = await Promise.all([
        R.api("GET", "/api/v1/practitioners/" + p.id + "/working-hours"),
        R.api("GET", "/api/v1/practitioners/" + p.id + "/time-off"),
      ]);
      const weekly = hours.ok ? hours.data.periods : [];
      const zone = hours.ok ? hours.data.time_zone : R.zone;
      for (const day of days) {
        const weekday = new Date(day + "T12:00:00Z").toLocaleDateString("en-US", {weekday: "long", timeZone: "UTC"}).toLowerCase();
        const worked = weekly.filter((h) => String(h.weekday).toLowerCase() === weekday)
          .map((h) => [zonedWall(zone, day, h.start), zonedWall(zone, day, h.end)])
          .map(([s, e]) => [s.slice(0, 10) === day ? minutes(s.slice(11, 16)) : 0, e.slice(0, 10) === day ? minutes(e.slice(11, 16)) : 1440]);
        worked.sort((x, y) => x[0] - y[0]);
        (union[day] = union[day] || []).push(...worked);
        if (view === "day") result.push(...gaps(day, worked, [p.id]));
      }
      if (off.ok && (view === "day" || shown.length === 1)) {
        for (const t of off.data.items || []) {
          result.push({start: wallOf(t.starts_at), end: wallOf(t.ends_at), display: "background",
            resourceIds: [p.id], classNames: ["time-off"], title: "Time off" + (t.reason ? ": " + t.reason : "")});
        }
      }
    }));
    if (view === "week") {
      for (const day of days) result.push(...gaps(day, (union[day] || []).sort((x, y) => x[0] - y[0]), []));
    }
    return result;
  }

  function gaps(day, worked, resourceIds) {
    const out = [];
    let from = 0;
    for (const [s, e] of worked) {
      if (s > from) out.push([from, s]);
      from = Math.max(from, e);
    }
    if (from < 1440) out.push([from, 1440]);
    return out.map(([s, e]) => ({start: day + "T" + clock(s) + ":00",
      end: e === 1440 ? nextDay(day) + "T00:00:00" : day + "T" + clock(e) + ":00",
      display: "background", resourceIds, classNames: ["off-hours"]}));
  }

  function nextDay(day) {
    return new Date(Date.parse(day + "T00:00:00Z") + 86400000).toISOString().slice(0, 10);
  }

  function gridView() {
    if (narrow.matches) return view === "week" ? "listWeek" : "listDay";
    return view === "week" ? "timeGridWeek" : "resourceTimeGridDay";
  }

  function render() {
    const events = items.map(toEvent).concat(background);
    root.querySelector(".skeleton")?.remove();
    document.getElementById("calendar-empty").hidden = items.length > 0;
    if (ec) {
      ec.setOption("events", events);
      placeNowLine();
      drawSlot();
      return;
    }
    ec = EventCalendar.create(root, {
      view: gridView(),
      date: root.dataset.date,
      timeZone: "UTC",
      firstDay: 1,
      headerToolbar: {start: "", center: "", end: ""},
      allDaySlot: false,
      slotDuration: "00:15",
      slotLabelInterval: "01:00",
      slotHeight: SLOT_PX,
      slotMinTime: "07:00",
      slotMaxTime: "21:00",
      flexibleSlotTimeLimits: true,
      scrollTime: firstTime(),
      height: narrow.matches ? "auto" : "calc(100vh - 11rem)",
      resources: shown.map((p) => ({id: p.id, title: p.display_name})),
      events,
      editable: false,
      eventStartEditable: true,
      eventDurationEditable: false,
      dayHeaderFormat: {weekday: "short", day: "numeric", month: "short"},
      noEventsContent: "No sessions",
      eventContent: (info) => {
        const a = info.event.extendedProps.appointment;
        if (!a) return info.event.title ? {html: ""} : "";
        return {domNodes: [card(a)]};
      },
      eventDidMount: (info) => {
        const a = info.event.extendedProps.appointment;
        if (a) info.el.dataset.appointment = a.id;
      },
      dateClick: (info) => {
        if (info.allDay) return;
        bookAt(info.dateStr.slice(0, 10), info.dateStr.slice(11, 16), info.resource ? info.resource.id : root.dataset.practitioner);
      },
      eventDragStart: () => { busy = true; },
      eventDragStop: () => { busy = false; },
      eventDrop: (info) => {
        const a = info.event.extendedProps.appointment;
        if (info.newResource && info.newResource.id !== a.practitioner_id) {
          info.revert();
          R.toast("A session keeps its practitioner: to change practitioner, cancel it and book again.");
          return;
        }
        reschedule(a, wallDay(info.event.start), wallTime(info.event.start), () => info.revert());
      },
      datesSet: () => placeNowLine(),
    });
    markToday();
    placeNowLine();
  }

  /* Opens the grid at now (today) or at the first session, else at 08:00. */
  function firstTime() {
    const now = R.now().toISOString();
    const starts = items.map((a) => R.isoTime(a.starts_at)).sort();
    let at = days.includes(R.isoDay(now)) ? R.isoTime(now) : (starts[0] || "08:00");
    if (starts[0] && starts[0] < at) at = starts[0];
    return clock(Math.max(0, Math.floor(minutes(at) / 60) * 60 - 30)) + ":00";
  }

  function markToday() {
    if (view !== "week") return;
    const column = days.indexOf(R.isoDay(R.now().toISOString()));
    const heads = root.querySelectorAll(".ec-header .ec-col-head");
    if (column >= 0 && heads[column]) heads[column].classList.add("today");
  }

  /* The component marks its grid up as an ARIA table whose rows hold non-cells (axe:
     aria-required-children); it is not a data table to read cell by cell anyway. Its roles are
     removed so that the sessions read as what they are: each card is labelled with client,
     time and practitioner, and the grid is one scrollable, focusable region. */
  const GRID_ROLES = ".ec[role], .ec [role=rowgroup], .ec [role=row], .ec [role=columnheader], .ec [role=rowheader], .ec [role=cell], .ec [role=listitem]";
  function tidyAria() {
    root.querySelectorAll(GRID_ROLES).forEach((n) => n.removeAttribute("role"));
    root.querySelectorAll("[aria-colindex]").forEach((n) => n.removeAttribute("aria-colindex"));
    // The agenda's day headings come as h4 under the page's h1.
    root.querySelectorAll(".ec h4:not([aria-level])").forEach((h) => h.setAttribute("aria-level", "2"));
    const scroller = root.querySelector(".ec-main, .ec-list");
    if (scroller && !scroller.hasAttribute("tabindex")) {
      scroller.setAttribute("tabindex", "0");
      scroller.setAttribute("aria-label", "Sessions, by time: arrow keys choose a free time");
      scroller.setAttribute("aria-describedby", "slot-status");
    }
  }
  new MutationObserver(tidyAria).observe(root, {childList: true, subtree: true});

  /* Choosing a free time with the keyboard: with the grid focused, arrows move a highlighted
     quarter-hour (up/down) between columns (left/right), the status line says what is there,
     and Enter books it (the same as clicking it). */
  const slot = {column: -1, minute: 0};
  function columns() {
    return view === "week" ? days.map((d) => ({day: d, practitioner: root.dataset.practitioner}))
      : shown.map((p) => ({day: root.dataset.date, practitioner: p.id, name: p.display_name}));
  }
  function describeSlot() {
    const c = columns()[slot.column];
    const at = R.zonedIso(c.day, clock(slot.minute));
    const taken = items.find((a) => a.status !== "cancelled" && (view === "week" || a.practitioner_id === c.practitioner) &&
      new Date(a.starts_at) <= new Date(at) && new Date(at) < new Date(a.ends_at));
    return R.day(at) + " " + R.time(at) + (c.name ? ", " + c.name : "") +
      (taken ? ": " + R.clientName(taken.client_id) + " has a session then" : ": press Enter to book");
  }
  function drawSlot() {
    root.querySelectorAll(".slot-cursor").forEach((n) => n.remove());
    const events = root.querySelector(".ec-body .ec-events");
    const first = root.querySelector(".ec-body .ec-sidebar time");
    if (!events || !first || slot.column < 0) return;
    const cursor = R.el("div", {class: "slot-cursor", "aria-hidden": "true"});
    cursor.style.top = (slot.minute - minutes(first.getAttribute("datetime").slice(11, 16))) / 15 * SLOT_PX + "px";
    cursor.style.height = SLOT_PX + "px";
    cursor.style.gridColumn = String(slot.column + 1);
    events.append(cursor);
    cursor.scrollIntoView({block: "nearest"});
    document.getElementById("slot-status").textContent = describeSlot();
  }
  root.addEventListener("keydown", (event) => {
    const scroller = root.querySelector(".ec-main");
    if (!scroller || event.target !== scroller || event.altKey || event.ctrlKey || event.metaKey) return;
    const cols = columns().length;
    if (slot.column < 0) {
      const now = R.now().toISOString();
      slot.column = view === "week" ? Math.max(0, days.indexOf(R.isoDay(now))) : 0;
      slot.minute = 9 * 60;
    }
    const moves = {ArrowUp: [0, -15], ArrowDown: [0, 15], ArrowLeft: [-1, 0], ArrowRight: [1, 0]};
    if (moves[event.key]) {
      event.preventDefault();
      slot.column = Math.min(cols - 1, Math.max(0, slot.column + moves[event.key][0]));
      slot.minute = Math.min(24 * 60 - 15, Math.max(0, slot.minute + moves[event.key][1]));
      drawSlot();
    } else if (event.key === "Enter") {
      event.preventDefault();
      const c = columns()[slot.column];
      bookAt(c.day, clock(slot.minute), c.practitioner);
    }
  });
  root.addEventListener("focusin", (event) => {
    if (event.target === root.querySelector(".ec-main") && slot.column < 0) {
      document.getElementById("slot-status").textContent =
        "Use the arrow keys to choose a time and Enter to book it; Tab goes on to the sessions.";
    }
  });

  function bookAt(day, time, practitioner) {
    const params = new URLSearchParams({date: day, time});
    if (practitioner) params.set("practitioner", practitioner);
    window.location.assign("/book?" + params.toString());
  }

  /* The grid's own now-indicator reads the desk computer's clock; this line follows the
     application clock (R.now()) instead. */
  function placeNowLine() {
    root.querySelectorAll(".now-line").forEach((n) => n.remove());
    if (!ec || narrow.matches) return;
    const now = R.now().toISOString();
    const column = days.indexOf(R.isoDay(now));
    const events = root.querySelector(".ec-body .ec-events");
    const first = root.querySelector(".ec-body .ec-sidebar time");
    if (column < 0 || !events || !first) return;
    const top = (minutes(R.isoTime(now)) - minutes(first.getAttribute("datetime").slice(11, 16))) / 15 * SLOT_PX;
    if (top < 0 || top > events.scrollHeight) return;
    const line = R.el("div", {class: "now-line" + (view === "week" ? " one-day" : ""), "aria-hidden": "true",
      title: "Now, " + R.time(now)});
    line.style.top = top + "px";
    line.style.gridColumn = view === "week" ? String(column + 1) : "1 / -1";
    events.append(line);
  }

  function summary(a) {
    const st = R.serviceTypes[a.service_type_id];
    return R.clientName(a.client_id) + " — " + (st ? st.name : "session") + ", " + R.day(a.starts_at) + " at " + R.time(a.starts_at);
  }

  /* Opens a dialog; on submit runs `run(form)`, which resolves to an API result. The dialog
     stays open showing the message when the API refuses; `undo` runs when it closes otherwise. */
  function withDialog(dialog, prepare, run, undo) {
    const form = dialog.querySelector("form");
    R.clearProblem(form);
    prepare(form);
    busy = true;
    dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      busy = false;
      if (dialog.returnValue !== "done" && undo) undo();
    }, {once: true});
    form.onsubmit = async (event) => {
      if (event.submitter && event.submitter.value === "cancel") return;  // closes the dialog
      event.preventDefault();
      if (!form.reportValidity()) return;
      const buttons = form.querySelectorAll("button");
      buttons.forEach((b) => { b.disabled = true; });
      const res = await run(form);
      buttons.forEach((b) => { b.disabled = false; });
      if (res.ok) {
        dialog.close("done");
        busy = false;  // the close event comes later: refresh now
        lastBody = "";
        await load();
      } else {
        R.showProblem(form, res.data);
      }
    };
    dialog.showModal();
  }

  const WORDS = {
    "check-in": ["Check in", "Check in ", "Checked in"],
    complete: ["Complete", "Mark the session as completed: ", "Completed"],
    "no-show": ["No-show", "Mark as a no-show: ", "Marked as a no-show"],
  };

  // Billing's cancellation policy, to say what the late fee is (loaded once per page).
  let policyText = "";
  R.api("GET", "/api/v1/billing/cancellation-policy").then((res) => {
    const rule = res.ok && res.data.late_cancellation;
    if (!rule) return;
    if (rule.kind === "fixed" || rule.kind === "percent") {
      policyText = " (" + rule.display + ")";  // billing formats it in the practice's locale
    } else {
      policyText = " — but the practice's policy sets no fee";
    }
  });

  function lateFee(a, form) {
    const hours = Number(R.reference.practice.cancellation_window_hours || 0);
    const byClient = form.querySelector('input[name="cancelled_by"]:checked').value === "client";
    const late = (new Date(a.starts_at) - R.now()) < hours * 3600 * 1000;
    const fee = form.querySelector(".fee");
    fee.classList.toggle("warning", byClient && late);
    if (!byClient) fee.textContent = "No late-cancellation fee: the practice is cancelling.";
    else if (late) fee.textContent = "Late cancellation: less than " + hours + " hours' notice, so the late-cancellation fee applies" + policyText + ".";
    else fee.textContent = "No late-cancellation fee: more than " + hours + " hours' notice.";
  }

  /* The one reschedule dialog, from the card's button, a drag or the keyboard: the new date
     and time prefilled, the course question for a course session, the API's refusal (a clash,
     outside hours) shown in the dialog. `undo` puts a dragged card back when nothing moved. */
  function reschedule(a, day, time, undo) {
    const dialog = document.getElementById("reschedule-dialog");
    withDialog(dialog, (form) => {
      form.reset();
      form.querySelector(".summary").textContent = summary(a);
      form.querySelector(".scope").hidden = !a.course_id;
      form.elements.date.value = day || R.isoDay(a.starts_at);
      form.elements.time.value = time || R.isoTime(a.starts_at);
    }, async (form) => {
      const res = await R.api("POST", "/api/v1/appointments/" + a.id + "/reschedule", {
        starts_at: R.zonedIso(form.elements.date.value, form.elements.time.value),
        scope: form.querySelector('input[name="scope"]:checked').value,
      });
      if (res.ok) R.toast("Rescheduled to " + R.day(res.data.starts_at) + " at " + R.time(res.data.starts_at));
      else if (res.status === 409 && res.data.conflicting_starts_at) res.data.detail = clash(res.data);
      return res;
    }, undo);
  }

  /* The API's clash, in the practice's time and words: who is busy, when, and that nothing
     moved. */
  function clash(problem) {
    const who = /client already/.test(problem.detail || "") ? "The client" : "The practitioner";
    return who + " already has a session then (" + R.day(problem.conflicting_starts_at) + ", " +
      R.time(problem.conflicting_starts_at) + "–" + R.time(problem.conflicting_ends_at) +
      "). Nothing was moved: choose another time.";
  }

  /* Alt+Up/Down moves a focused session by 15 minutes, Alt+Left/Right by a day; the dialog
     opens with the new time to confirm or adjust. */
  function keyboardMove(event, a) {
    if (!event.altKey || event.target !== event.currentTarget) return;
    const step = {ArrowUp: -15, ArrowDown: 15, ArrowLeft: -1440, ArrowRight: 1440}[event.key];
    if (!step) return;
    event.preventDefault();
    const moved = new Date(new Date(a.starts_at).getTime() + step * 60000).toISOString();
    reschedule(a, R.isoDay(moved), R.isoTime(moved));
  }

  function act(action, a) {
    if (action === "cancel") {
      const dialog = document.getElementById("cancel-dialog");
      withDialog(dialog, (form) => {
        form.reset();
        form.querySelector(".summary").textContent = summary(a);
        form.querySelector(".scope").hidden = !a.course_id;
        form.querySelectorAll('input[name="cancelled_by"]').forEach((r) => { r.onchange = () => lateFee(a, form); });
        lateFee(a, form);
      }, async (form) => {
        const res = await R.api("POST", "/api/v1/appointments/" + a.id + "/cancel", {
          cancelled_by: form.querySelector('input[name="cancelled_by"]:checked').value,
          reason: form.elements.reason.value,
          scope: form.querySelector('input[name="scope"]:checked').value,
        });
        if (res.ok) R.toast("Cancelled: " + summary(a) + (res.data.late_cancellation ? " (late cancellation)" : ""));
        return res;
      });
    } else if (action === "where") {
      const dialog = document.getElementById("where-dialog");
      withDialog(dialog, (form) => {
        form.reset();
        form.querySelector(".summary").textContent = summary(a);
        form.elements.location.value = a.location || "";
        form.elements.video_url.value = a.video_url || "";
      }, async (form) => {
        const res = await R.api("PATCH", "/api/v1/appointments/" + a.id, {
          location: form.elements.location.value.trim() || null,
          video_url: form.elements.video_url.value.trim() || null,
        });
        if (res.ok) R.toast("Saved where: " + summary(a));
        return res;
      });
    } else if (action === "reschedule") {
      reschedule(a);
    } else {
      const [title, lead, done] = WORDS[action];
      const dialog = document.getElementById("confirm-dialog");
      withDialog(dialog, (form) => {
        form.querySelector("#confirm-title").textContent = title + "?";
        form.querySelector("#confirm-text").textContent = lead + summary(a) + "?";
        form.querySelector("#confirm-ok").textContent = title;
      }, async () => {
        const res = await R.api("POST", "/api/v1/appointments/" + a.id + "/" + action);
        if (res.ok) R.toast(done + ": " + summary(a));
        return res;
      });
    }
  }

  const WHEN = (iso) => iso ? R.day(iso) + " " + R.time(iso) : "";
  async function showLog(a) {
    const dialog = document.getElementById("log-dialog");
    const form = dialog.querySelector("form");
    R.clearProblem(form);
    form.querySelector(".summary").textContent = summary(a);
    const reminders = document.getElementById("log-reminders");
    const messages = document.getElementById("log-messages");
    reminders.replaceChildren(R.el("li", {class: "muted", text: "Loading…"}));
    messages.replaceChildren();
    dialog.showModal();
    const [r, m] = await Promise.all([
      R.api("GET", "/api/v1/reminders?appointment_id=" + encodeURIComponent(a.id)),
      R.api("GET", "/api/v1/messages?appointment_id=" + encodeURIComponent(a.id)),
    ]);
    reminders.replaceChildren();
    if (!r.ok || !m.ok) { R.showProblem(form, (r.ok ? m : r).data); return; }
    const words = (s) => String(s || "").replace(/_/g, " ");
    for (const x of r.data.items) reminders.append(R.el("li", {text:
      words(x.kind) + " by " + (x.channel === "sms" ? "SMS" : x.channel) + " — " + words(x.status) +
      (x.sent_at ? ", sent " + WHEN(x.sent_at) : ", due " + WHEN(x.due_at)) + (x.note ? " (" + x.note + ")" : "")}));
    if (!r.data.items.length) reminders.append(R.el("li", {class: "muted", text: "None planned."}));
    for (const x of m.data.items) messages.append(R.el("li", {text:
      words(x.kind) + " by " + (x.channel === "sms" ? "SMS" : x.channel) + " — " + words(x.status) + ", " + WHEN(x.updated_at) +
      (x.error_code ? " (error " + x.error_code + ")" : "")}));
    if (!m.data.items.length) messages.append(R.el("li", {class: "muted", text: "Nothing sent yet."}));
  }

  narrow.addEventListener("change", () => { if (ec) ec.setOption("view", gridView()); });
  loadBackground().then((b) => { background = b; lastBody = ""; return load(); });
  setInterval(() => { if (!document.hidden) load(); }, POLL_MS);
  setInterval(placeNowLine, 60000);
})();
