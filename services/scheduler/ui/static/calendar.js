/* Day and week calendar: appointments from the scheduler API, refreshed every 10 seconds
   without a reload, and the one-click-plus-confirmation actions on each session. */
"use strict";

(() => {
  const R = Rapport;
  const root = document.getElementById("calendar");
  if (!root) return;
  const view = root.dataset.view;
  const POLL_MS = 10000;
  let items = [];
  let lastBody = "";

  function query() {
    const params = new URLSearchParams({from: root.dataset.from, to: root.dataset.to});
    if (root.dataset.practitioner) params.set("practitioner_id", root.dataset.practitioner);
    return "/api/v1/appointments?" + params.toString();
  }

  async function refreshClients(list) {
    if (!list.some((a) => !R.clients[a.client_id])) return;
    const res = await R.api("GET", "/api/v1/clients");
    if (res.ok) for (const c of res.data.items) R.clients[c.id] = c;
  }

  async function load() {
    const res = await R.api("GET", query());
    const error = document.getElementById("calendar-error");
    if (!res.ok) {
      error.textContent = "Could not refresh the calendar: " + R.message(res.data);
      error.hidden = false;
      return;
    }
    error.hidden = true;
    await refreshClients(res.data.items);
    const body = JSON.stringify(res.data.items);
    document.getElementById("refreshed").textContent = "updated " + R.time(R.now().toISOString());
    if (body === lastBody) return;  // unchanged: keep focus and scroll where they are
    lastBody = body;
    items = res.data.items;
    render();
  }

  function columnFor(a) {
    if (view === "week") return root.querySelector('.column[data-day="' + R.isoDay(a.starts_at) + '"]');
    let column = root.querySelector('.column[data-practitioner="' + a.practitioner_id + '"]');
    if (!column) {
      const p = R.practitioners[a.practitioner_id];
      column = R.el("section", {class: "column", "data-practitioner": a.practitioner_id},
        R.el("h2", {text: p ? p.display_name : "Other practitioner"}), R.el("ol", {class: "appointments"}));
      root.append(column);
    }
    return column;
  }

  function badge(text, kind) {
    return R.el("span", {class: "badge " + kind, text});
  }

  function actionsFor(a) {
    const started = new Date(a.starts_at) <= R.now();
    const open = a.status === "booked" || a.status === "confirmed";
    const list = [];
    if (open) list.push(["check-in", "Check in"]);
    if (a.status === "checked_in") list.push(["complete", "Complete"]);
    if (open && started) list.push(["no-show", "No-show"]);
    if (open && !started) list.push(["reschedule", "Reschedule"], ["cancel", "Cancel"]);
    if (open || a.status === "checked_in") list.push(["where", "Where"]);
    return list;
  }

  function card(a) {
    const who = R.clientName(a.client_id);
    const st = R.serviceTypes[a.service_type_id];
    const p = R.practitioners[a.practitioner_id];
    const label = who + ", " + R.time(a.starts_at);
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
        onclick: () => act(action, a)}));
    }
    actions.append(R.el("button", {type: "button", class: "small link-like", "data-action": "log",
      "aria-label": "Reminders and messages: " + label, text: "Messages", onclick: () => showLog(a)}));
    return R.el("li", {},
      R.el("article", {class: "appointment status-" + a.status, "data-id": a.id, "data-status": a.status, "aria-label": label},
        R.el("p", {class: "when"},
          R.el("time", {datetime: a.starts_at, text: (view === "week" ? "" : "") + R.time(a.starts_at) + "–" + R.time(a.ends_at)}),
          a.course_id ? R.el("span", {class: "course", title: "Part of a course", text: " · course"}) : null),
        R.el("p", {class: "client", title: who, text: who}),
        R.el("p", {class: "service", title: st ? st.name : "", text: (st ? st.name : "Session") + (view === "week" && p ? " · " + p.display_name : "")}),
        where(a), badges, actions));
  }

  /* Where to be: the video join link (a link the desk can open) or the address. */
  function where(a) {
    if (a.video_url) {
      return R.el("p", {class: "where"}, "Video: ",
        R.el("a", {href: a.video_url, target: "_blank", rel: "noopener", text: a.video_url}));
    }
    return a.location ? R.el("p", {class: "where", title: a.location, text: a.location}) : null;
  }

  function render() {
    root.querySelectorAll(".appointments").forEach((ol) => ol.replaceChildren());
    for (const a of items) {
      const column = columnFor(a);
      if (column) column.querySelector(".appointments").append(card(a));
    }
    root.querySelectorAll(".column").forEach((c) => {
      const ol = c.querySelector(".appointments");
      if (!ol.children.length) ol.append(R.el("li", {class: "empty muted", text: "No sessions"}));
    });
  }

  function summary(a) {
    const st = R.serviceTypes[a.service_type_id];
    return R.clientName(a.client_id) + " — " + (st ? st.name : "session") + ", " + R.day(a.starts_at) + " at " + R.time(a.starts_at);
  }

  /* Opens a dialog; on submit runs `run(form)`, which resolves to an API result. The dialog
     stays open showing the message when the API refuses. */
  function withDialog(dialog, prepare, run) {
    const form = dialog.querySelector("form");
    R.clearProblem(form);
    prepare(form);
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
      const dialog = document.getElementById("reschedule-dialog");
      withDialog(dialog, (form) => {
        form.reset();
        form.querySelector(".summary").textContent = summary(a);
        form.querySelector(".scope").hidden = !a.course_id;
        form.elements.date.value = R.isoDay(a.starts_at);
        form.elements.time.value = R.isoTime(a.starts_at);
      }, async (form) => {
        const res = await R.api("POST", "/api/v1/appointments/" + a.id + "/reschedule", {
          starts_at: R.zonedIso(form.elements.date.value, form.elements.time.value),
          scope: form.querySelector('input[name="scope"]:checked').value,
        });
        if (res.ok) R.toast("Rescheduled to " + R.day(res.data.starts_at) + " at " + R.time(res.data.starts_at));
        return res;
      });
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

  load();
  setInterval(() => { if (!document.hidden) load(); }, POLL_MS);
})();
