/* The desk inbox (client replies needing a person) and the sandbox outbox, from the notifier. */
"use strict";

(() => {
  const R = Rapport;
  const inbox = document.getElementById("inbox");
  if (!inbox) return;
  const sandbox = document.getElementById("sandbox");
  const INTENT = {call_back: "Asks for a call back", other: "Needs a reply", confirm: "Confirms (no session found)",
                  reschedule: "Asks to reschedule (from their appointment page)",
                  cancel: "Wants to cancel", stop: "Opted out", help: "Asked for help"};
  let lastInbox = "", lastSandbox = "";

  function fail(id, res) {
    const node = document.getElementById(id);
    node.textContent = R.message(res.data);
    node.hidden = res.ok;
  }

  async function loadInbox() {
    const res = await R.api("GET", "/api/v1/inbox?limit=200");
    fail("inbox-error", res);
    if (!res.ok) return;
    await R.loadClients(res.data.items.map((m) => m.client_id));
    document.getElementById("refreshed").textContent = "Updated " + R.time(R.now().toISOString()) + ".";
    const body = JSON.stringify(res.data.items);
    if (body === lastInbox) return;
    lastInbox = body;
    inbox.replaceChildren();
    if (!res.data.items.length) inbox.append(R.el("li", {class: "muted", text: "Nothing waiting."}));
    for (const m of res.data.items) {
      const who = m.client_id ? R.clientName(m.client_id) : "Unknown number " + m.from;
      inbox.append(R.el("li", {class: "message", "data-id": m.id},
        R.el("p", {class: "meta"}, R.el("strong", {class: "who", title: who, text: who}),
          " · " + R.day(m.received_at) + " " + R.time(m.received_at) + " · " + (INTENT[m.intent] || m.intent)),
        R.el("p", {class: "body", text: m.body}),
        R.el("button", {type: "button", class: "small", text: "Mark handled", "aria-label": "Mark handled: message from " + who,
          onclick: async (event) => {
            event.target.disabled = true;
            const done = await R.api("POST", "/api/v1/inbox/" + m.id + "/handled");
            event.target.disabled = false;
            if (!done.ok) { R.toast(R.message(done.data)); return; }
            R.toast("Marked as handled.");
            lastInbox = "";
            loadInbox();
          }})));
    }
  }

  async function loadSandbox() {
    const res = await R.api("GET", "/api/v1/sandbox");
    fail("sandbox-error", res);
    if (!res.ok) return;
    const body = JSON.stringify(res.data.items);
    if (body === lastSandbox) return;
    lastSandbox = body;
    sandbox.replaceChildren();
    if (!res.data.items.length) sandbox.append(R.el("li", {class: "muted", text: "Nothing sent yet."}));
    for (const m of res.data.items) {
      sandbox.append(R.el("li", {class: "message"},
        R.el("p", {class: "meta"}, R.el("strong", {text: m.channel === "sms" ? "SMS" : "Email"}),
          " to " + m.to + " · " + R.day(m.created_at) + " " + R.time(m.created_at) + (m.calendar_attached ? " · calendar invite attached" : "")),
        m.subject ? R.el("p", {class: "subject", text: m.subject}) : null,
        R.el("p", {class: "body", text: m.body})));
    }
  }

  const form = document.getElementById("reply-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const res = await R.api("POST", "/api/v1/sandbox/replies", {from: form.elements.from.value.trim(), body: form.elements.body.value});
    if (!res.ok) { R.showProblem(form, res.data); return; }
    R.clearProblem(form);
    form.reset();
    R.toast("Reply received.");
    lastInbox = "";
    loadInbox();
  });

  const refresh = () => { loadInbox(); loadSandbox(); };
  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, 10000);
})();
