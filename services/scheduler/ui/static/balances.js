/* Outstanding balances from billing, and recording a payment against an invoice. */
"use strict";

(() => {
  const R = Rapport;
  const table = document.getElementById("balances");
  if (!table) return;
  const dialog = document.getElementById("payment-dialog");
  const money = (minor, currency) =>
    new Intl.NumberFormat("en-US", {style: "currency", currency: currency || "USD"}).format(minor / 100);
  let lastBody = "";

  async function load() {
    const results = await Promise.all(["issued", "partly_paid"].map((s) =>
      R.api("GET", "/api/v1/invoices?status=" + s)));
    const error = document.getElementById("balances-error");
    const failed = results.find((r) => !r.ok);
    if (failed) {
      error.textContent = "Could not load balances: " + R.message(failed.data);
      error.hidden = false;
      return;
    }
    error.hidden = true;
    await R.loadClients(results.flatMap((r) => r.data.items.map((i) => i.client_id)));
    document.getElementById("refreshed").textContent = "updated " + R.time(R.now().toISOString());
    const invoices = results.flatMap((r) => r.data.items).filter((i) => i.balance_minor > 0)
      .sort((a, b) => R.clientName(a.client_id).localeCompare(R.clientName(b.client_id)) || (a.issued_at || "").localeCompare(b.issued_at || ""));
    const body = JSON.stringify(invoices);
    if (body === lastBody) return;
    lastBody = body;
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    if (!invoices.length) tbody.append(R.el("tr", {}, R.el("td", {colspan: "7", class: "muted", text: "Nothing outstanding."})));
    for (const inv of invoices) {
      const who = R.clientName(inv.client_id);
      tbody.append(R.el("tr", {"data-invoice": inv.id},
        R.el("td", {class: "name", title: who, text: who}),
        R.el("td", {text: inv.number || "draft"}),
        R.el("td", {text: inv.issued_at ? R.day(inv.issued_at) : ""}),
        R.el("td", {class: "num", text: money(inv.total_minor, inv.currency)}),
        R.el("td", {class: "num", text: money(inv.paid_minor, inv.currency)}),
        R.el("td", {class: "num balance", text: money(inv.balance_minor, inv.currency)}),
        R.el("td", {}, R.el("button", {type: "button", class: "small", text: "Record payment",
          "aria-label": "Record payment: " + who + ", invoice " + (inv.number || ""), onclick: () => pay(inv)}))));
    }
  }

  function pay(inv) {
    const form = dialog.querySelector("form");
    form.reset();
    R.clearProblem(form);
    form.querySelector(".summary").textContent = R.clientName(inv.client_id) + " — invoice " + (inv.number || "") +
      ", balance " + money(inv.balance_minor, inv.currency);
    form.querySelector(".currency").textContent = inv.currency;
    form.elements.amount.value = (inv.balance_minor / 100).toFixed(2);
    const key = R.key();  // one key per dialog: a double click records one payment
    form.onsubmit = async (event) => {
      if (event.submitter && event.submitter.value === "cancel") return;
      event.preventDefault();
      const amount = Math.round(Number(form.elements.amount.value) * 100);
      if (!Number.isFinite(amount) || amount <= 0) {
        R.showProblem(form, {errors: [{field: "amount_minor", message: "Enter an amount above zero."}]});
        return;
      }
      const reference = form.elements.reference.value.trim();
      const res = await R.api("POST", "/api/v1/invoices/" + inv.id + "/payments",
        {amount_minor: amount, method: form.elements.method.value, reference: reference || null},
        {"Idempotency-Key": key});
      if (!res.ok) { R.showProblem(form, res.data); return; }
      dialog.close("done");
      R.toast("Payment of " + money(amount, inv.currency) + " recorded for " + R.clientName(inv.client_id) + ".");
      lastBody = "";
      load();
    };
    dialog.showModal();
  }

  load();
  setInterval(() => { if (!document.hidden) load(); }, 10000);
})();
