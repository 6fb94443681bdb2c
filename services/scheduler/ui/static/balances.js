/* Outstanding balances from billing (open invoices by client, aged, searchable by name), and
   recording a payment against an invoice. */
"use strict";

(() => {
  const R = Rapport;
  const table = document.getElementById("balances");
  if (!table) return;
  const dialog = document.getElementById("payment-dialog");
  // Amounts come formatted by billing (Babel, the practice's locale); only the payment form
  // needs a currency's digits (JPY none, KWD three), as CLDR says.
  const digitsOf = (currency) =>
    new Intl.NumberFormat("en-US", {style: "currency", currency: currency || "USD"}).resolvedOptions().maximumFractionDigits;
  let lastBody = "";

  const AGES = {current: "0–30 days", days_31_60: "31–60 days", days_61_90: "61–90 days", days_over_90: "over 90 days"};
  const search = document.getElementById("balance-search");

  async function load() {
    const q = search && search.value.trim();
    const res = await R.api("GET", "/api/v1/balances" + (q ? "?q=" + encodeURIComponent(q) : ""));
    const error = document.getElementById("balances-error");
    if (!res.ok) {
      error.textContent = "Could not load balances: " + R.message(res.data);
      error.hidden = false;
      return;
    }
    error.hidden = true;
    // Billing names each client itself (client_name), so no client list is fetched here.
    document.getElementById("refreshed").textContent = "updated " + R.time(R.now().toISOString());
    const body = JSON.stringify(res.data);
    if (body === lastBody) return;
    lastBody = body;
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    for (const client of res.data.items) {
      for (const open of client.invoices) {
        const inv = {id: open.invoice_id, number: open.number, client_id: client.client_id,
          client_name: client.client_name, currency: client.currency, balance_minor: open.open_minor,
          balance_display: open.open_display};
        tbody.append(R.el("tr", {"data-invoice": inv.id},
          R.el("td", {class: "name", title: client.client_name, text: client.client_name}),
          R.el("td", {}, R.el("a", {href: open.links.pdf, target: "_blank", rel: "noopener", text: open.number || "draft"})),
          R.el("td", {text: open.service_dates.join(", ")}),
          R.el("td", {text: open.issued_on}),
          R.el("td", {text: AGES[open.aging_bucket]}),
          R.el("td", {class: "num", text: open.total_display}),
          R.el("td", {class: "num", text: open.paid_display}),
          R.el("td", {class: "num balance", text: open.open_display}),
          R.el("td", {}, open.open_minor > 0 ? R.el("button", {type: "button", class: "small", text: "Record payment",
            "aria-label": "Record payment: " + client.client_name + ", invoice " + (open.number || ""), onclick: () => pay(inv)}) : null)));
      }
    }
    if (!res.data.items.length) tbody.append(R.el("tr", {}, R.el("td", {colspan: "9", class: "muted", text: q ? "No client with that name owes anything." : "Nothing outstanding."})));
    const aging = document.getElementById("aging");
    if (aging) aging.textContent = Object.entries(AGES).map(([k, label]) => label + ": " + res.data.totals.aging_display[k]).join(" · ");
  }

  if (search) search.addEventListener("input", () => { lastBody = ""; load(); });

  function pay(inv) {
    const form = dialog.querySelector("form");
    form.reset();
    R.clearProblem(form);
    form.querySelector(".summary").textContent = inv.client_name + " — invoice " + (inv.number || "") +
      ", balance " + inv.balance_display;
    form.querySelector(".currency").textContent = inv.currency;
    const digits = digitsOf(inv.currency);
    form.elements.amount.value = (inv.balance_minor / 10 ** digits).toFixed(digits);
    const key = R.key();  // one key per dialog: a double click records one payment
    form.onsubmit = async (event) => {
      if (event.submitter && event.submitter.value === "cancel") return;
      event.preventDefault();
      const digits = digitsOf(inv.currency);
      const amount = Math.round(Number(form.elements.amount.value) * 10 ** digits);
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
      R.toast("Payment of " + (res.data.amount_display || form.elements.amount.value + " " + inv.currency) + " recorded for " + inv.client_name + ".");
      lastBody = "";
      load();
    };
    dialog.showModal();
  }

  load();
  setInterval(() => { if (!document.hidden) load(); }, 10000);
})();
