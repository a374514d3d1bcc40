// sipfleet dashboard: plain JS, no build step. It signs in through /api/session (an
// HttpOnly cookie, since EventSource cannot send an Authorization header), loads the
// fleet from /api/fleet/*, then follows /api/events. All phones live in memory; the
// table renders only the rows in view (fixed row height), and every change only marks
// the view dirty: at most one render per animation frame, so a burst of events or
// 10,000 phones never blocks the page. Text goes in with textContent, never innerHTML.
// An OWNER (or higher) session can create an API token; the token is shown once, in the
// page only, and forgotten when dismissed.
"use strict";

(() => {
  const ROW_HEIGHT = 28;
  const OVERSCAN = 10;
  const PAGE_SIZE = 2500;
  const MAX_EVENTS = 100;
  const REFRESH_DELAY_MS = 300;
  const MAX_IDS = 200;
  const LEVELS = ["VIEWER", "MANAGER", "OWNER", "RESELLER", "ADMIN"];
  const CUSTOMER_LEVELS = new Set(["VIEWER", "MANAGER", "OWNER"]);
  const ONLINE_TYPES = new Set(["phone.registered"]);
  const OFFLINE_TYPES = new Set(["phone.unregistered", "phone.expired"]);

  const $ = (id) => document.getElementById(id);
  const state = {
    phones: new Map(), // id -> phone JSON of /api/fleet/phones
    customers: new Map(), // id -> {customer, name}
    view: [], // the filtered, sorted phones shown in the table
    events: [],
    lastEventId: 0,
    clockOffset: 0, // server time - local time, ms
    filterDirty: true,
    countsDirty: true,
    eventsDirty: true,
    frame: 0,
    source: null,
    pendingIds: new Set(),
    refreshTimer: 0,
    rowPool: [],
    stats: { loadMs: 0, firstRowsMs: 0, firstRenderMs: 0, renders: 0, lastRenderMs: 0, maxRenderMs: 0 },
    session: null, // {level, customer, reseller, csrf} of /api/session
  };
  window.sipfleetDashboard = state; // read by tests and handy in the console

  // --- HTTP -------------------------------------------------------------------------

  async function api(path, options = {}) {
    const response = await fetch(path, { credentials: "same-origin", ...options });
    if (response.status === 401) {
      showSignIn();
      throw new Error("signed out");
    }
    const body = await response.json();
    if (!response.ok) throw new Error(body.description || `HTTP ${response.status}`);
    return body;
  }

  // --- sign in / out -----------------------------------------------------------------

  function showSignIn(message) {
    if (state.source) state.source.close();
    state.source = null;
    $("app").hidden = true;
    $("signout").hidden = true;
    $("who").hidden = true;
    $("live").hidden = true;
    $("signin").hidden = false;
    state.session = null;
    hideToken();
    const error = $("signin-error");
    error.hidden = !message;
    error.textContent = message || "";
  }

  async function signIn(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    const response = await fetch("/api/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    $("token").value = "";
    if (!response.ok) {
      showSignIn(response.status === 401 ? "That token is not valid." : "Sign-in failed.");
      return;
    }
    start(await response.json());
  }

  async function signOut() {
    await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
    showSignIn();
  }

  // --- loading -----------------------------------------------------------------------

  async function start(session) {
    const started = performance.now();
    $("signin").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    $("who").hidden = false;
    $("live").hidden = false;
    $("who").textContent = session.level + (session.customer ? ` · ${session.customer}` : "");
    state.phones.clear();
    const [summary, latest] = await Promise.all([
      api("/api/fleet/summary"),
      api("/api/fleet/events?limit=" + MAX_EVENTS),
    ]);
    state.customers.clear();
    for (const item of summary.items) state.customers.set(item.customer, item);
    fillCustomerFilter();
    state.session = session;
    setUpTokenForm(session);
    const own = session.customer && state.customers.get(session.customer);
    if (own) $("who").textContent = `${session.level} · ${own.name}`;
    state.eventsDirty = true;
    state.events = latest.items.slice().reverse();
    state.lastEventId = latest.lastEventId;
    connect(); // events from here on are queued by the browser while phones load
    let after = "";
    for (;;) {
      const page = await api(`/api/fleet/phones?limit=${PAGE_SIZE}` + (after ? `&after=${after}` : ""));
      state.clockOffset = Date.parse(page.time) - Date.now();
      for (const phone of page.items) store(phone);
      invalidate(true);
      if (!state.stats.firstRowsMs) state.stats.firstRowsMs = performance.now() - started;
      if (!page.next) break;
      after = page.next;
    }
    state.stats.loadMs = performance.now() - started;
    document.body.dataset.loaded = "true";
  }

  function fillCustomerFilter() {
    const select = $("customer-filter");
    while (select.options.length > 1) select.remove(1);
    for (const item of state.customers.values()) {
      select.add(new Option(item.name, item.customer));
    }
  }

  // --- API tokens ----------------------------------------------------------------------

  // Levels a session may hand out: up to its own. A RESELLER token names its reseller,
  // which only a RESELLER session implies (an ADMIN creates those with the API or CLI).
  function grantableLevels(level) {
    const own = LEVELS.indexOf(level);
    return LEVELS.filter((name, i) => i <= own && (name !== "RESELLER" || level === "RESELLER"));
  }

  function setUpTokenForm(session) {
    const panel = $("tokens-panel");
    panel.hidden = LEVELS.indexOf(session.level) < LEVELS.indexOf("OWNER") || !session.csrf;
    if (panel.hidden) return;
    const levels = $("token-level");
    levels.replaceChildren(...grantableLevels(session.level).map((name) => new Option(name, name)));
    levels.value = "VIEWER";
    const customers = $("token-customer");
    customers.replaceChildren(...[...state.customers.values()].map(
      (item) => new Option(item.name, item.customer)));
    if (session.customer) customers.value = session.customer;
    showCustomerChoice();
  }

  function showCustomerChoice() {
    const needed = CUSTOMER_LEVELS.has($("token-level").value);
    $("token-customer").hidden = !needed;
    $("token-customer-label").hidden = !needed;
  }

  async function createToken(event) {
    event.preventDefault();
    const error = $("token-error");
    error.hidden = true;
    hideToken();
    const level = $("token-level").value;
    const body = { level, name: $("token-name").value.trim() };
    if (CUSTOMER_LEVELS.has(level)) body.customer = $("token-customer").value;
    const response = await fetch("/api/tokens", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Sipfleet-Csrf": state.session.csrf },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.status === 401) {
      showSignIn("Your session has ended; sign in again.");
      return;
    }
    if (!response.ok) {
      error.textContent = answer.description || `Creating the token failed (HTTP ${response.status}).`;
      error.hidden = false;
      return;
    }
    $("token-name").value = "";
    $("token-value").textContent = answer.token;
    $("token-result").hidden = false;
  }

  function hideToken() {
    $("token-value").textContent = "";
    $("token-result").hidden = true;
  }

  // --- live events -------------------------------------------------------------------

  function connect() {
    if (state.source) state.source.close();
    const source = new EventSource(`/api/events?lastEventId=${state.lastEventId}`);
    state.source = source;
    const live = $("live");
    source.onopen = () => { live.dataset.state = "on"; live.textContent = "live"; };
    source.onerror = () => {
      live.dataset.state = "off";
      live.textContent = "reconnecting";
      if (source.readyState === EventSource.CLOSED) setTimeout(checkSession, 3000);
    };
    source.onmessage = (message) => onEvent(message);
    for (const type of ["phone.registered", "phone.unregistered", "phone.expired",
      "phone.unreachable", "phone.config_fetched", "phone.ip_locked", "phone.denied",
      "phone.mismatch", "phone.discovered", "phone.redirect_registered",
      "phone.redirect_removed", "phone.redirect_failed", "presence.changed"]) {
      source.addEventListener(type, onEvent);
    }
  }

  async function checkSession() {
    try {
      await api("/api/session");
      connect();
    } catch (_) { /* showSignIn already ran on 401 */ }
  }

  function onEvent(message) {
    let event;
    try { event = JSON.parse(message.data); } catch (_) { return; }
    state.events.unshift(event);
    if (state.events.length > MAX_EVENTS) state.events.length = MAX_EVENTS;
    state.eventsDirty = true;
    if (event.phone) applyEvent(event);
    invalidate(false);
  }

  function applyEvent(event) {
    // Show the change at once, then read the phone's full status from the server.
    const phone = state.phones.get(event.phone);
    if (phone) {
      const status = phone.status;
      const details = event.details || {};
      if (ONLINE_TYPES.has(event.type)) {
        phone.state = "online"; status.online = true; status.unreachable = false;
        if (typeof details.expires === "number") { // seconds granted
          status.expiresAt = new Date(Date.parse(event.time) + details.expires * 1000).toISOString();
        } else if (typeof details.expires === "string") { // the registrar's ISO time
          status.expiresAt = details.expires;
        }
        if (details.userAgent) status.userAgent = details.userAgent;
      } else if (OFFLINE_TYPES.has(event.type)) {
        phone.state = "offline"; status.online = false; status.expiresAt = null;
      } else if (event.type === "phone.unreachable") {
        phone.state = "unreachable"; status.unreachable = true;
      } else if (event.type === "phone.config_fetched") {
        status.configLoaded = event.time;
      } else if (event.type === "phone.ip_locked") {
        phone.ipMode = "LOCKED";
      }
      if (filtering()) state.filterDirty = true;
      state.countsDirty = true;
    }
    state.pendingIds.add(event.phone);
    if (!state.refreshTimer) state.refreshTimer = setTimeout(refreshPending, REFRESH_DELAY_MS);
  }

  async function refreshPending() {
    state.refreshTimer = 0;
    const ids = [...state.pendingIds].slice(0, MAX_IDS);
    ids.forEach((id) => state.pendingIds.delete(id));
    if (state.pendingIds.size) state.refreshTimer = setTimeout(refreshPending, REFRESH_DELAY_MS);
    if (!ids.length) return;
    try {
      const page = await api(`/api/fleet/phones?limit=${MAX_IDS}&ids=${ids.join(",")}`);
      let changed = filtering();
      for (const phone of page.items) changed = store(phone) || changed;
      if (changed) state.filterDirty = true;
      state.countsDirty = true;
      invalidate(false);
    } catch (_) { /* the next event retries */ }
  }

  // --- rendering -----------------------------------------------------------------------

  function invalidate(dataChanged) {
    if (dataChanged) {
      state.filterDirty = true;
      state.countsDirty = true;
    }
    if (!state.frame) state.frame = requestAnimationFrame(render);
  }

  function matches(phone, query, wantedState, customer) {
    if (wantedState && phone.state !== wantedState) return false;
    if (customer && phone.customer !== customer) return false;
    if (!query) return true;
    const s = phone.status;
    return [phone._id, phone.macAddress, phone.extension, phone.extensionName, phone.customerName,
      phone.model, s.userAgent, s.localIpAddress, s.publicIpAddress]
      .some((value) => value && String(value).toLowerCase().includes(query));
  }

  // Sorted by customer, extension (numerically), MAC: one precomputed string per phone,
  // compared with plain < (Intl collation per comparison is far too slow for 10,000).
  function sortKey(phone) {
    const ext = phone.extension ? phone.extension.padStart(64, "0") : "~";
    return [(phone.customerName || "").toLowerCase(), ext, phone.macAddress || "", phone._id]
      .join("\u0000");
  }

  function compare(a, b) {
    return a._key < b._key ? -1 : a._key > b._key ? 1 : 0;
  }

  // Keep one object per phone (the view holds references): fresh data is merged in.
  function store(phone) {
    phone._key = sortKey(phone);
    const known = state.phones.get(phone._id);
    if (!known) {
      state.phones.set(phone._id, phone);
      return true;
    }
    const moved = known._key !== phone._key;
    Object.assign(known, phone);
    return moved;
  }

  function filtering() {
    return Boolean($("search").value.trim() || $("state-filter").value || $("customer-filter").value);
  }

  function refilter() {
    const query = $("search").value.trim().toLowerCase();
    const wantedState = $("state-filter").value;
    const customer = $("customer-filter").value;
    state.view = [];
    for (const phone of state.phones.values()) {
      if (matches(phone, query, wantedState, customer)) state.view.push(phone);
    }
    state.view.sort(compare);
    state.filterDirty = false;
  }

  function render() {
    const started = performance.now();
    state.frame = 0;
    if (state.filterDirty) refilter();
    renderRows();
    if (state.countsDirty) renderCounts();
    if (state.eventsDirty) renderEvents();
    state.countsDirty = false;
    state.eventsDirty = false;
    const took = performance.now() - started;
    state.stats.renders += 1;
    state.stats.lastRenderMs = took;
    state.stats.maxRenderMs = Math.max(state.stats.maxRenderMs, took);
    if (!state.stats.firstRenderMs && state.phones.size) state.stats.firstRenderMs = took;
  }

  function makeRow() {
    const row = document.createElement("div");
    row.className = "grid row";
    row.setAttribute("role", "row");
    for (let i = 0; i < 11; i += 1) row.appendChild(document.createElement("span"));
    row.firstChild.className = "state";
    return row;
  }

  function renderRows() {
    const viewport = $("viewport");
    $("spacer").style.height = `${state.view.length * ROW_HEIGHT}px`;
    $("phone-count").textContent = `${state.view.length} of ${state.phones.size}`;
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const count = Math.ceil(viewport.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
    const visible = state.view.slice(first, first + count);
    while (state.rowPool.length < visible.length) {
      const row = makeRow();
      viewport.appendChild(row);
      state.rowPool.push(row);
    }
    state.rowPool.forEach((row, i) => {
      const phone = visible[i];
      row.hidden = !phone;
      if (phone) fillRow(row, phone, first + i);
    });
  }

  function fillRow(row, phone, index) {
    const s = phone.status;
    const cells = row.children;
    row.style.top = `${index * ROW_HEIGHT}px`;
    row.dataset.phoneId = phone._id;
    row.dataset.state = phone.state;
    cells[0].dataset.state = phone.state;
    const values = [
      phone.state,
      phone.customerName,
      phone.extension || "",
      (phone.macAddress || "") + (phone.handsetIndex ? ` #${phone.handsetIndex}` : ""),
      phone.model,
      expiresText(phone),
      s.userAgent || "",
      s.localIpAddress || "",
      s.publicIpAddress || "",
      s.configLoaded ? new Date(s.configLoaded).toLocaleString() : "never",
      phone.ipMode,
    ];
    values.forEach((value, i) => {
      if (cells[i].textContent !== value) cells[i].textContent = value;
    });
    cells[6].title = s.userAgent || "";
  }

  function expiresText(phone) {
    const at = phone.status.expiresAt;
    if (phone.state === "offline" || !at) return "—";
    const left = Math.round((Date.parse(at) - Date.now() - state.clockOffset) / 1000);
    if (left <= 0) return "expired";
    const m = Math.floor(left / 60);
    return m ? `${m}m ${String(left % 60).padStart(2, "0")}s` : `${left}s`;
  }

  function renderCounts() {
    const counts = new Map();
    const totals = { total: 0, online: 0, offline: 0, unreachable: 0 };
    for (const id of state.customers.keys()) {
      counts.set(id, { total: 0, online: 0, offline: 0, unreachable: 0 });
    }
    for (const phone of state.phones.values()) {
      let c = counts.get(phone.customer);
      if (!c) {
        c = { total: 0, online: 0, offline: 0, unreachable: 0 };
        counts.set(phone.customer, c);
        state.customers.set(phone.customer, { customer: phone.customer, name: phone.customerName });
      }
      c.total += 1; c[phone.state] += 1;
      totals.total += 1; totals[phone.state] += 1;
    }
    const box = $("totals");
    box.replaceChildren(...["total", "online", "offline", "unreachable"].map((key) => {
      const item = document.createElement("span");
      item.dataset.total = key;
      const b = document.createElement("b");
      b.textContent = String(totals[key]);
      item.append(b, key === "total" ? "phones" : key);
      return item;
    }));
    const selected = $("customer-filter").value;
    const rows = [...state.customers.values()].map((customer) => {
      const c = counts.get(customer.customer);
      const tr = document.createElement("tr");
      tr.dataset.customer = customer.customer;
      if (customer.customer === selected) tr.className = "selected";
      for (const value of [customer.name, c.total, c.online, c.offline, c.unreachable]) {
        const td = document.createElement("td");
        td.textContent = String(value);
        tr.appendChild(td);
      }
      return tr;
    });
    $("customers").replaceChildren(...rows);
  }

  function renderEvents() {
    const items = state.events.map((event) => {
      const li = document.createElement("li");
      li.dataset.eventId = String(event.id);
      const time = document.createElement("time");
      time.dateTime = event.time;
      time.textContent = new Date(event.time).toLocaleTimeString();
      const text = document.createElement("span");
      const type = document.createElement("span");
      type.className = "type";
      type.dataset.kind = event.type;
      type.textContent = event.type;
      text.append(type, describe(event));
      li.append(time, text);
      return li;
    });
    $("events").replaceChildren(...items);
  }

  // A full render (filter, sort, rows, counts, events) on demand: tests time it.
  state.fullRender = () => {
    state.filterDirty = true;
    state.countsDirty = true;
    state.eventsDirty = true;
    render();
    return state.stats.lastRenderMs;
  };

  // The event's subject in a few words: which phone (or extension) and where.
  function describe(event) {
    const details = event.details || {};
    const phone = event.phone && state.phones.get(event.phone);
    const customer = state.customers.get(event.customer);
    let text = "";
    if (phone) text = ` ${phone.extension || phone.macAddress || phone._id} · ${phone.customerName}`;
    else if (details.extension) text = ` ext. ${details.extension}` + (customer ? ` · ${customer.name}` : "");
    else if (details.macAddress) text = ` ${details.macAddress}`;
    if (event.type === "presence.changed" && typeof details.online === "boolean") {
      text += details.online ? " (online)" : " (offline)";
    }
    const where = details.source || details.address;
    if (typeof where === "string" && where) text += ` from ${where}`;
    return text;
  }

  // --- wiring --------------------------------------------------------------------------

  function init() {
    $("signin-form").addEventListener("submit", signIn);
    $("signout").addEventListener("click", signOut);
    $("token-form").addEventListener("submit", createToken);
    $("token-level").addEventListener("change", showCustomerChoice);
    $("token-done").addEventListener("click", hideToken);
    $("viewport").addEventListener("scroll", () => invalidate(false), { passive: true });
    $("search").addEventListener("input", () => invalidate(true));
    $("state-filter").addEventListener("change", () => invalidate(true));
    $("customer-filter").addEventListener("change", () => invalidate(true));
    $("customers").addEventListener("click", (event) => {
      const tr = event.target.closest("tr");
      if (!tr) return;
      const select = $("customer-filter");
      select.value = select.value === tr.dataset.customer ? "" : tr.dataset.customer;
      invalidate(true);
    });
    window.addEventListener("resize", () => invalidate(false));
    setInterval(() => { if (!$("app").hidden) invalidate(false); }, 1000); // countdowns
    fetch("/api/session", { credentials: "same-origin" })
      .then((response) => (response.ok ? response.json().then(start) : showSignIn()))
      .catch(() => showSignIn("The server cannot be reached."));
  }

  init();
})();
