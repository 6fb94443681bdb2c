/* Clients: find, add and edit, with the API's validation errors next to each field; a
   client's calendar feed link, copied or rotated. */
"use strict";

(() => {
  const R = Rapport;
  const root = document.getElementById("people");
  if (!root) return;
  const form = document.getElementById("client-form");
  const search = document.getElementById("people-search");
  const list = document.getElementById("people-list");
  const feed = document.getElementById("client-feed");
  let current = null;

  /* The list is the API's search, a page at a time ("More clients" reads the next page). */
  let searched = 0;
  async function showList(more) {
    const ticket = ++searched;
    const params = new URLSearchParams({q: search.value.trim(), limit: "25"});
    if (more) params.set("cursor", more);
    const res = await R.api("GET", "/api/v1/clients?" + params.toString());
    if (ticket !== searched) return;  // a newer search is on its way
    if (!more) list.replaceChildren();
    list.querySelector(".more")?.remove();
    if (!res.ok) { list.append(R.el("li", {class: "error", text: R.message(res.data)})); return; }
    if (!res.data.items.length && !more) list.append(R.el("li", {class: "muted", text: "No client matches."}));
    for (const c of res.data.items) {
      R.clients[c.id] = c;
      const name = c.first_name + " " + c.last_name;
      list.append(R.el("li", {}, R.el("button", {type: "button", "aria-pressed": String(!!current && current.id === c.id),
        onclick: () => edit(c)},
        R.el("span", {class: "name", title: name, text: name + (c.active === false ? " (inactive)" : "")}),
        R.el("span", {class: "contact", text: [c.phone, c.email].filter(Boolean).join(" · ") || "no contact details"}))));
    }
    if (res.data.next_cursor) {
      list.append(R.el("li", {class: "more"}, R.el("button", {type: "button", class: "small",
        text: "More clients", onclick: () => showList(res.data.next_cursor)})));
    }
  }
  let typing = null;
  search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => showList(), 150); });

  function edit(c) {
    current = c;
    R.clearProblem(form);
    form.reset();
    document.getElementById("client-form-title").textContent = c ? "Edit " + c.first_name + " " + c.last_name : "New client";
    document.getElementById("save-client").textContent = c ? "Save changes" : "Add client";
    const book = document.getElementById("book-client");
    book.hidden = !c;
    const own = document.getElementById("client-page-link");
    own.hidden = !c;
    if (c) own.href = "/clients/" + encodeURIComponent(c.id);
    feed.hidden = !c;
    document.getElementById("feed-url").value = "";
    R.clearProblem(feed);
    if (c) {
      book.href = "/book?client=" + encodeURIComponent(c.id);
      for (const k of ["first_name", "last_name", "email", "phone", "time_zone"]) form.elements[k].value = c[k] || "";
      form.elements.locale.value = c.locale || "en_US";
      form.querySelectorAll('input[name="preferred_channels"]').forEach((b) => { b.checked = c.preferred_channels.includes(b.value); });
      form.elements.sms_consent.checked = !!c.sms_consent;
      form.elements.email_consent.checked = !!c.email_consent;
      loadFeed(false);
    } else {
      form.elements.time_zone.value = R.zone;
      form.elements.locale.value = "en_US";
    }
    showList();
    form.elements.first_name.focus();
  }

  document.getElementById("new-client").addEventListener("click", () => edit(null));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      first_name: form.elements.first_name.value,
      last_name: form.elements.last_name.value,
      email: form.elements.email.value.trim() || null,
      phone: form.elements.phone.value.trim() || null,
      time_zone: form.elements.time_zone.value.trim(),
      locale: form.elements.locale.value.trim(),
      preferred_channels: [...form.querySelectorAll('input[name="preferred_channels"]:checked')].map((b) => b.value),
      sms_consent: form.elements.sms_consent.checked,
      email_consent: form.elements.email_consent.checked,
    };
    const res = current
      ? await R.api("PATCH", "/api/v1/clients/" + current.id, body)
      : await R.api("POST", "/api/v1/clients", body);
    if (!res.ok) {
      R.showProblem(form, res.data);
      const bad = form.querySelector("[aria-invalid]");
      if (bad) bad.focus();
      return;
    }
    R.clients[res.data.id] = res.data;
    R.toast((current ? "Saved " : "Added ") + res.data.first_name + " " + res.data.last_name + ".");
    edit(res.data);
  });

  async function loadFeed(rotate) {
    const id = current.id;
    const res = await R.api(rotate ? "POST" : "GET", "/api/v1/clients/" + id + "/feed" + (rotate ? "/rotate" : ""));
    if (!current || current.id !== id) return;
    if (!res.ok) { R.showProblem(feed, res.data); return; }
    R.clearProblem(feed);
    document.getElementById("feed-url").value = res.data.url;
    if (rotate) R.toast("New feed link made; the old one no longer works.");
  }

  document.getElementById("copy-feed").addEventListener("click", () => copy(document.getElementById("feed-url")));

  const rotateDialog = document.getElementById("rotate-dialog");
  let rotating = null;
  document.getElementById("rotate-feed").addEventListener("click", () => {
    rotating = () => { if (current) loadFeed(true); };
    rotateDialog.showModal();
  });
  rotateDialog.addEventListener("close", () => {
    if (rotateDialog.returnValue === "ok" && rotating) rotating();
    rotating = null;
  });

  async function copy(input) {
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (err) {
      input.select();
      document.execCommand("copy");
    }
    R.toast("Feed link copied.");
  }

  // Practitioners' feeds (admins: all; a practitioner: their own).
  document.querySelectorAll(".pfeed").forEach((item) => {
    const id = item.dataset.practitioner;
    const input = item.querySelector("input");
    const fetchFeed = async (rotate) => {
      const res = await R.api(rotate ? "POST" : "GET", "/api/v1/practitioners/" + id + "/feed" + (rotate ? "/rotate" : ""));
      if (!res.ok) { R.showProblem(item, res.data); return false; }
      R.clearProblem(item);
      input.value = res.data.url;
      if (rotate) R.toast("New feed link made; the old one no longer works.");
      return true;
    };
    item.querySelector('[data-feed="show"]').addEventListener("click", () => fetchFeed(false));
    item.querySelector('[data-feed="copy"]').addEventListener("click", async () => {
      if (input.value || await fetchFeed(false)) copy(input);
    });
    item.querySelector('[data-feed="rotate"]').addEventListener("click", () => {
      rotating = () => fetchFeed(true);
      rotateDialog.showModal();
    });
  });

  (async () => {
    if (root.dataset.client) await R.loadClients([root.dataset.client]);
    const wanted = R.clients[root.dataset.client];
    if (wanted) edit(wanted); else showList();
  })();
})();
