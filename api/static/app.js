// The planner page: a form over POST /v1/comparisons (or /v1/roadmaps), live progress from the job's
// server-sent events, and the result (KPI table, plots, downloads); a retailer's data package
// uploaded (POST /v1/packages) joins the scenarios as `package:<id>`. No framework, no build.
"use strict";

// The rows of the API's comparison table (twin/report.py TABLE_KPIS) by label: the result
// key and which way is better (+1 higher, -1 lower, 0 neither). tests/web checks they agree.
const KPIS = {
  "Fill rate": ["fill_rate", 1],
  "Lost sales": ["lost_sales_units", -1],
  "Oversell incidents": ["oversell_incidents", -1],
  "Pick shortages": ["pick_shortages", -1],
  "Stockout frequency": ["stockout_frequency", -1],
  "Inventory accuracy": ["inventory_accuracy", 1],
  "Reservation latency p95": ["reservation_latency_p95_s", -1],
  "Fulfilment cycle p50": ["fulfillment_cycle_time_p50_h", -1],
  "Click-and-collect ready p50": ["fulfillment_cycle_time_bopis_p50_h", -1],
  "Click-to-ship p50": ["fulfillment_cycle_time_ship_p50_h", -1],
  "Transfer approval p50": ["transfer_approval_time_p50_h", -1],
  "Transfer cycle p50": ["transfer_cycle_time_p50_h", -1],
  "Store replenishment p50": ["store_replenishment_lead_time_p50_h", -1],
  "Replenishment lead time": ["replenishment_lead_time_mean_d", -1],
  "Returns to available p50": ["returns_to_available_p50_h", -1],
  "Exception backlog peak": ["exception_backlog_peak", -1],
  "Exception age p95": ["exception_age_p95_h", -1],
  "Dead-letter age p95": ["dead_letter_age_p95_h", -1],
  "Manual reconciliation": ["manual_reconciliation_hours", -1],
  "Posting delay p95": ["posting_delay_p95_h", -1],
  "Unposted movements at end": ["unposted_movements_end", -1],
  "Channel sync lag p95": ["channel_sync_lag_p95_s", -1],
  "Inventory turns": ["inventory_turns", 1],
  "Orders": ["orders_total", 0],
  "Units demanded": ["units_demanded", 0],
};
const FINISHED = ["done", "failed", "cancelled"];
const PLOT_NAMES = {
  ats: "Available to sell",
  comparison: "KPIs side by side",
  exception_backlog: "Exception backlog",
  fill_rate: "Daily fill rate",
  oversells: "Oversell incidents",
  posting_delay: "Posting delay",
  waterfall: "Value a year by step along the path",
};

const $ = (id) => document.getElementById(id);
let scenario = null; // GET /v1/scenarios/{name}.resolved of the chosen scenario
const summaries = new Map(); // scenario name → its summary (description, question, size)
const packageRecords = new Map(); // `package:<id>` → the uploaded package's record
const isPackage = (name) => name.startsWith("package:");
let source = null; // the EventSource of the comparison being followed
let currentId = null;
let currentKind = "comparison";
const PREFIXES = { comparison: "/v1/comparisons", roadmap: "/v1/roadmaps" };
const KIND_LABELS = { comparison: "Comparison", roadmap: "Roadmap" };
const mode = () => (document.getElementById("mode-roadmap").checked ? "roadmap" : "comparison");
const money = (v) => (v == null ? "—" : Math.round(v).toLocaleString("en-US"));
const signed = (v) => (v == null ? "—" : `${v > 0 ? "+" : ""}${money(v)}`);

// ------------------------------------------------------------------------------ helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const key = $("apikey").value.trim();
  if (key && options.method && options.method !== "GET") headers["X-API-Key"] = key;
  const response = await fetch(path, { ...options, headers });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw Object.assign(new Error(detailText(body, response)), { response, body });
  return body;
}

function detailText(body, response) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  return `${response.status} ${response.statusText}`;
}

// A form value as a number when it is one, else as typed (the API then says what is wrong).
function num(id) {
  const raw = $(id).value.trim();
  return raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
}

const set = (path, value) => `${path}=${JSON.stringify(value)}`;
const round = (x) => Math.round(x * 1000) / 1000;
const dayHour = (h) =>
  `day ${Math.floor(h / 24)}, ${String(Math.floor(h % 24)).padStart(2, "0")}:00`;

// ------------------------------------------------------------------------------ the form
async function loadCatalogue() {
  const [scenarios, policies, uploaded] = await Promise.all([
    api("/v1/scenarios"),
    api("/v1/policies"),
    api("/v1/packages").catch(() => ({ items: [] })), // the catalogue works without them
  ]);
  $("scenario").append(el("optgroup", { label: "Catalogue", id: "catalogue-options" },
    ...scenarios.map((s) => el("option", { value: s.name, text: s.name }))));
  for (const s of scenarios) summaries.set(s.name, s);
  for (const record of [...uploaded.items].reverse()) addPackageOption(record); // newest first
  for (const [i, p] of policies.policies.entries()) {
    const id = `policy-${p.name}`;
    const box = el("input", { type: "checkbox", id, value: p.name });
    box.checked = i < 2; // legacy and orchestrated by default
    box.addEventListener("change", syncBaseline);
    $("policies").append(el("label", { class: "check", for: id }, box, ` ${p.name}`));
  }
  syncBaseline();
  const preferred = scenarios.find((s) => s.name === "peak") || scenarios[0];
  $("scenario").value = preferred.name;
  await chooseScenario();
}

function syncBaseline() {
  const chosen = checkedPolicies();
  const previous = $("baseline").value;
  $("baseline").replaceChildren(...chosen.map((p) => el("option", { value: p, text: p })));
  if (chosen.includes(previous)) $("baseline").value = previous;
}

const checkedPolicies = () =>
  [...$("policies").querySelectorAll("input:checked")].map((box) => box.value);

async function chooseScenario() {
  const name = $("scenario").value;
  document.body.dataset.scenario = ""; // set again once the knobs show this scenario
  $("start").disabled = true;
  const summary = summaries.get(name);
  $("scenario-info").replaceChildren(...(summary ? describe(summary) : []));
  showPackage(packageRecords.get(name));
  const detail = await api(`/v1/scenarios/${encodeURIComponent(name)}`);
  if (name !== $("scenario").value) return; // another scenario was chosen meanwhile
  if (!summary) {
    summaries.set(name, detail);
    $("scenario-info").replaceChildren(...describe(detail));
  }
  scenario = detail.resolved;
  $("horizon").value = scenario.horizon_days;
  $("stores").value = scenario.network.stores.count;
  // a package's stores are its own locations: the API refuses another count
  $("stores").disabled = isPackage(name);
  $("stores-hint").textContent = isPackage(name) ? "Set by the package." : "";
  $("replications").value = scenario.replications;

  const events = scenario.demand.events;
  const peak = events.length ? Math.max(...events.map((e) => e.multiplier)) : "";
  $("peak").value = peak;
  $("peak").disabled = !events.length;
  if (events.length) {
    const top = events.find((e) => e.multiplier === peak);
    const others = events.length - 1;
    $("peak-hint").textContent = `${top.name} (day ${top.start_day}) as written` +
      (others ? `; the other ${others} event${others > 1 ? "s" : ""} scale with it.` : ".");
  } else {
    $("peak-hint").textContent = "This scenario has no demand peak to scale.";
  }

  const outage = scenario.faults.middleware_outages[0];
  $("outage-on").checked = Boolean(outage);
  $("outage-start").value = outage ? outage.start_h : 250;
  $("outage-duration").value = outage ? outage.duration_h : 6;

  const shock = scenario.faults.supplier_shocks[0];
  $("supplier-on").checked = Boolean(shock);
  $("supplier-start").value = shock ? shock.start_day : 5;
  $("supplier-days").value = shock ? shock.days : 14;
  $("supplier-mult").value = shock ? shock.lead_time_multiplier : 2.5;
  syncToggles();
  clearErrors();
  $("start").disabled = false;
  document.body.dataset.scenario = name;
}

function describe(summary) {
  return [
    el("p", { class: "description", text: summary.description }),
    el("p", { class: "question", text: `Question: ${summary.question}` }),
    el("p", {
      class: "facts",
      text: `${summary.horizon_days} days · ${summary.stores} stores · ${summary.skus} SKUs · ` +
        `channels ${summary.channels.join(", ")}`,
    }),
  ];
}

// What the scenario asks for that a run of this horizon cannot show: faults and demand
// events that start at or after the horizon, till outages on more stores than the network
// has. The API says the same of a started comparison (its `warnings`).
function horizonWarnings() {
  const out = [];
  if (!scenario) return out;
  const horizon = num("horizon");
  const stores = num("stores");
  if (typeof horizon !== "number") return out;
  const endH = horizon * 24;
  const windows = [];
  if ($("outage-on").checked && typeof num("outage-start") === "number") {
    windows.push(["The middleware outage", num("outage-start")]);
  }
  scenario.faults.pos_outages.forEach((w, i) => windows.push([`Till outage ${i + 1}`, w.start_h]));
  scenario.faults.erp_outages.forEach((w, i) => windows.push([`ERP outage ${i + 1}`, w.start_h]));
  if ($("supplier-on").checked && typeof num("supplier-start") === "number") {
    windows.push(["The supplier delay", num("supplier-start") * 24]);
  }
  scenario.faults.returns_surges.forEach((w, i) =>
    windows.push([`Returns surge ${i + 1}`, w.start_day * 24]));
  scenario.demand.events.forEach((e) => windows.push([`Demand event "${e.name}"`, e.start_day * 24]));
  for (const [what, startH] of windows) {
    if (startH >= endH) {
      out.push(`${what} starts at ${dayHour(startH)}, after the ${horizon}-day horizon: ` +
        "it will not happen in this run.");
    }
  }
  if (typeof stores === "number") {
    scenario.faults.pos_outages.forEach((w, i) => {
      if (!w.stores && w.count > stores) {
        out.push(`Till outage ${i + 1} covers ${w.count} stores; the network has ${stores}: ` +
          `the tills of all ${stores} go down.`);
      }
    });
  }
  return out;
}

function showWarnings(node, lines, lead) {
  node.hidden = lines.length === 0;
  node.replaceChildren(
    el("strong", { text: lead }),
    el("ul", {}, ...lines.map((line) => el("li", { text: line }))),
  );
}

function syncToggles() {
  for (const name of ["outage", "supplier"]) {
    const on = $(`${name}-on`).checked;
    const fieldset = $(`${name}-on`).closest("fieldset");
    fieldset.classList.toggle("off", !on);
    for (const input of fieldset.querySelectorAll("input[type=number]")) input.disabled = !on;
  }
  const start = num("outage-start");
  const hint = typeof start === "number" ? `Hour ${start} is ${dayHour(start)}.` : "";
  $("outage-hint").textContent = hint;
  showWarnings($("horizon-warnings"), horizonWarnings(), "Outside this run:");
}

// The knobs as the API's overrides (`path=value`, value as JSON): only what differs from the
// scenario as written, so the request says exactly what the planner changed.
function overrides() {
  const out = [];
  if (num("horizon") !== scenario.horizon_days) out.push(set("horizon_days", num("horizon")));
  if (num("stores") !== scenario.network.stores.count) {
    out.push(set("network.stores.count", num("stores")));
  }
  const events = scenario.demand.events;
  if (events.length) {
    const top = Math.max(...events.map((e) => e.multiplier));
    const peak = num("peak");
    if (typeof peak !== "number") out.push(set("demand.events[0].multiplier", peak));
    else if (peak !== top) {
      events.forEach((e, i) => {
        out.push(set(`demand.events[${i}].multiplier`, round((e.multiplier * peak) / top)));
      });
    }
  }
  const outages = scenario.faults.middleware_outages;
  if ($("outage-on").checked) {
    const window = { start_h: num("outage-start"), duration_h: num("outage-duration") };
    const same = outages.length === 1 && outages[0].start_h === window.start_h &&
      outages[0].duration_h === window.duration_h;
    if (!same) out.push(set("faults.middleware_outages", [window]));
  } else if (outages.length) out.push(set("faults.middleware_outages", []));

  const shocks = scenario.faults.supplier_shocks;
  if ($("supplier-on").checked) {
    const shock = {
      ...(shocks[0] || {}),
      start_day: num("supplier-start"),
      days: num("supplier-days"),
      lead_time_multiplier: num("supplier-mult"),
    };
    if (JSON.stringify(shocks) !== JSON.stringify([shock])) {
      out.push(set("faults.supplier_shocks", [shock]));
    }
  } else if (shocks.length) out.push(set("faults.supplier_shocks", []));

  for (const line of $("extra").value.split("\n")) if (line.trim()) out.push(line.trim());
  return out;
}

// The form as a comparison or as a roadmap (the same scenario knobs either way).
function syncMode() {
  const roadmap = mode() === "roadmap";
  $("policies-fieldset").hidden = roadmap;
  $("order-fieldset").hidden = !roadmap;
  $("form-title").textContent = roadmap ? "New roadmap" : "New comparison";
  $("start").textContent = roadmap ? "Start roadmap" : "Start comparison";
}

function request() {
  if (mode() === "roadmap") {
    const body = {
      scenario: $("scenario").value,
      order: $("order").value,
      replications: num("replications") === "" ? null : num("replications"),
      overrides: overrides(),
    };
    if (num("seed") !== "") body.seed = num("seed");
    return body;
  }
  const baseline = $("baseline").value;
  const chosen = checkedPolicies();
  const body = {
    scenario: $("scenario").value,
    policies: baseline ? [baseline, ...chosen.filter((p) => p !== baseline)] : chosen,
    replications: num("replications") === "" ? null : num("replications"),
    overrides: overrides(),
  };
  if (num("seed") !== "") body.seed = num("seed");
  return body;
}

// ------------------------------------------------------------------------------ errors
// Where a 422's `loc` belongs on the form (the first matching prefix wins).
const ERROR_FIELDS = [
  ["body.replications", "replications"],
  ["body.seed", "seed"],
  ["body.policies", "policies"],
  ["body.overrides", "extra"],
  ["body.scenario.horizon_days", "horizon"],
  ["body.scenario.network.stores", "stores"],
  ["body.scenario.demand.events", "peak"],
  ["body.scenario.faults.middleware_outages", "outage"],
  ["body.scenario.faults.supplier_shocks", "supplier"],
  ["body.scenario.extends", "scenario"],
];

function clearErrors() {
  for (const node of document.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of document.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
  }
  $("form-errors").hidden = true;
}

function showErrors(error) {
  const detail = error.body && Array.isArray(error.body.detail) ? error.body.detail : null;
  const items = [];
  for (const d of detail || [{ loc: [], msg: error.message }]) {
    const where = d.path || d.loc.filter((p) => p !== "body").join(".");
    const dotted = d.loc.map((p) => (typeof p === "number" ? `[${p}]` : p)).join(".");
    const match = ERROR_FIELDS.find(([prefix]) => dotted.replace(/\.\[/g, "[").startsWith(prefix));
    const field = match ? match[1] : "extra";
    if (detail) {
      const slot = $(`${field}-error`);
      slot.textContent = slot.textContent ? `${slot.textContent} ${d.msg}` : d.msg;
      const input = $(field) || $(`${field}-start`);
      if (input) input.setAttribute("aria-invalid", "true");
      if (field === "extra") $("more").open = true;
    }
    items.push(el("li", {}, where ? el("code", { text: where }) : "", where ? ": " : "", d.msg));
  }
  if (error.response && [401, 403].includes(error.response.status)) $("more").open = true;
  $("form-errors").replaceChildren(
    el("p", { text: "The comparison was not started:" }),
    el("ul", {}, ...items),
  );
  $("form-errors").hidden = false;
}

// ------------------------------------------------------------------------------ data packages
const MAX_PROBLEMS = 20; // a refused package's problems listed; the rest are counted
const plural = (n, word) => `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;

// An uploaded package in the scenario picker, under the catalogue (newest first).
function addPackageOption(record) {
  packageRecords.set(record.scenario, record);
  let group = $("package-options");
  if (!group) {
    group = el("optgroup", { label: "Uploaded data packages", id: "package-options" });
    $("scenario").append(group);
  }
  if (group.querySelector(`option[value="${record.scenario}"]`)) return;
  const option = el("option", {
    value: record.scenario,
    text: `${record.name} (${plural(record.stores, "store")}, ${plural(record.skus, "SKU")}, ` +
      `${plural(record.history.days, "day")} of sales)`,
  });
  group.prepend(option);
}

// What the chosen package holds, what was left out of it, and its fit report and plot.
function showPackage(record) {
  $("package-info").hidden = !record;
  if (!record) return $("package-info").replaceChildren();
  const h = record.history;
  const others = record.other_locations
    ? ` (and ${plural(record.other_locations, "other location")})` : "";
  const facts = [
    ["Scenario", el("code", { text: record.scenario })],
    ["Holds", `${plural(record.stores, "store")}${others}, ${plural(record.skus, "SKU")}, ` +
      plural(record.suppliers, "supplier")],
    ["Sales", `${plural(h.days, "day")}, ${h.first} to ${h.last} ` +
      `(${plural(record.sales_rows, "row")})`],
    ["Channels", record.channels.length ? record.channels.join(", ") : "none online"],
    ["Files", record.files.join(", ")],
  ];
  const ignored = record.ignored.map((i) => el("li", {
    text: `${i.file}: ${plural(i.count, i.what.replace(/s$/, ""))} — ${i.reason}` +
      (i.first_rows.length ? ` (row${i.count > 1 ? "s" : ""} ${i.first_rows.join(", ")}` +
        `${i.count > i.first_rows.length ? ", …" : ""})` : ""),
  }));
  $("package-info").replaceChildren(
    el("h3", { text: `Data package ${record.name}` }),
    el("dl", { class: "meta" },
      ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)])),
    ignored.length
      ? el("div", { id: "package-ignored" }, el("strong", { text: "Left out:" }),
        el("ul", {}, ...ignored))
      : el("p", { id: "package-ignored", text: "Nothing was left out." }),
    el("div", { class: "downloads" },
      el("a", { id: "package-report", class: "button secondary", href: record.links.report,
        target: "_blank", rel: "noopener", text: "Fit report (Markdown)" }),
      el("a", { id: "package-plot", class: "button secondary", href: record.links.plot,
        target: "_blank", rel: "noopener", text: "Fit plot" })),
  );
}

function packageFailure(lead, ...children) {
  $("package-status").textContent = "";
  $("package-errors").replaceChildren(el("p", { text: lead }), ...children);
  $("package-errors").hidden = false;
}

// A refused package's problems by file, row and column (the first MAX_PROBLEMS of them).
function packageProblems(body) {
  const problems = body.detail;
  const at = (v) => el("td", { class: "at", text: v == null ? "—" : String(v) });
  const table = el("table", { class: "problems", id: "package-problems" },
    el("thead", {}, el("tr", {},
      ...["File", "Row", "Column", "Problem"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...problems.slice(0, MAX_PROBLEMS).map((p) => el("tr", {},
      at(p.file ?? (p.loc || [])[1]), at(p.row), at(p.column), el("td", { text: p.msg })))),
  );
  const more = problems.length - MAX_PROBLEMS;
  const ignored = (body.ignored || []).map((i) =>
    el("li", { text: `${i.file}: ${plural(i.count, i.what.replace(/s$/, ""))} — ${i.reason}` }));
  packageFailure(
    `The package was not uploaded: ${plural(problems.length, "problem")} to fix.`,
    el("div", { class: "table-wrap" }, table),
    ...(more > 0 ? [el("p", { class: "more", text: `and ${plural(more, "more problem")}` })] : []),
    ...(ignored.length
      ? [el("p", { class: "more", text: "Left out on purpose (not problems):" }),
        el("ul", {}, ...ignored)]
      : []),
  );
}

async function uploadPackage() {
  const file = $("package-file").files[0];
  $("package-errors").hidden = true;
  $("package-file").removeAttribute("aria-invalid");
  if (!file) {
    $("package-file").setAttribute("aria-invalid", "true");
    return packageFailure("Choose a zip of the package's tables first.");
  }
  const headers = { Accept: "application/json", "Content-Type": "application/zip" };
  const key = $("apikey").value.trim();
  if (key) headers["X-API-Key"] = key;
  $("package-upload").disabled = true;
  $("package-status").textContent =
    `Uploading ${file.name} (${plural(file.size, "byte")}): checking and fitting…`;
  let response;
  let body = null;
  try {
    response = await fetch("/v1/packages", { method: "POST", headers, body: file });
    body = await response.json().catch(() => null);
  } catch (error) {
    return packageFailure(`The upload did not reach the service (${error.message}); a zip ` +
      "over the service's size limit may be cut off like this.");
  } finally {
    $("package-upload").disabled = false;
  }
  if (response.ok) {
    addPackageOption(body);
    $("package-status").textContent = response.status === 201
      ? `Uploaded and fitted ${body.name}: it is now the chosen scenario.`
      : `${body.name} was uploaded before (the same zip): it is now the chosen scenario.`;
    $("scenario").value = body.scenario;
    return chooseScenario();
  }
  if (response.status === 413) {
    return packageFailure(`${file.name} is too large for this service ` +
      `(${plural(file.size, "byte")}): ${detailText(body, response)}.`);
  }
  if (response.status === 422 && body && Array.isArray(body.detail) && body.detail.length) {
    $("package-file").setAttribute("aria-invalid", "true");
    return packageProblems(body);
  }
  if ([401, 403].includes(response.status)) $("more").open = true; // the API key field
  return packageFailure(`The package was not uploaded: ${detailText(body, response)}`);
}

// ------------------------------------------------------------------------------ a comparison
async function start(event) {
  event.preventDefault();
  clearErrors();
  $("start").disabled = true;
  try {
    const job = await api(PREFIXES[mode()], {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request()),
    });
    show(job);
    loadPast();
  } catch (error) {
    showErrors(error);
  } finally {
    $("start").disabled = false;
  }
}

async function openJob(kind, id) {
  try {
    show(await api(`${PREFIXES[kind]}/${encodeURIComponent(id)}`));
  } catch (error) {
    $("job-error").textContent = `Could not open ${kind} ${id}: ${error.message}`;
    $("job-error").hidden = false;
  }
}

const openComparison = (id) => openJob("comparison", id);

// `#<id>` opens a comparison, `#roadmap/<id>` a roadmap (links and the back button).
async function openFromHash() {
  const hash = location.hash.slice(1);
  const [kind, id] = hash.startsWith("roadmap/") ? ["roadmap", hash.slice(8)] : ["comparison", hash];
  if (id && id !== currentId) await openJob(kind, id);
}

function show(job) {
  if (source) source.close();
  source = null;
  currentId = job.id;
  currentKind = job.kind;
  history.replaceState(null, "", job.kind === "roadmap" ? `#roadmap/${job.id}` : `#${job.id}`);
  $("empty").hidden = true;
  $("job-error").hidden = true;
  $("result").hidden = true;
  $("current-title").textContent = `${KIND_LABELS[job.kind]} · ${job.scenario}`;
  setStatus(job.status);
  if (FINISHED.includes(job.status)) return finished(job);
  $("progress-box").hidden = false;
  progress(job.progress);
  if ($("current").getBoundingClientRect().top < 0) $("current").scrollIntoView();
  follow(job);
}

function setStatus(status) {
  $("status").hidden = false;
  $("status").textContent = status;
  $("status").className = `chip ${status}`;
}

function progress(p) {
  $("progress").value = p.fraction;
  $("progress-text").textContent = p.total
    ? `${p.done} of ${p.total} replications done (${Math.round(100 * p.fraction)}%)`
    : "Waiting for a worker…";
}

// Live progress: the comparison's server-sent events, ending with done, failed or cancelled.
function follow(job) {
  source = new EventSource(job.links.events);
  source.addEventListener("progress", (e) => {
    const snap = JSON.parse(e.data);
    setStatus(snap.status);
    progress(snap);
  });
  for (const name of FINISHED) {
    source.addEventListener(name, async () => {
      source.close();
      source = null;
      if (currentId === job.id) await openJob(job.kind, job.id);
      loadPast();
    });
  }
}

async function cancel() {
  if (!currentId) return;
  try {
    await api(`${PREFIXES[currentKind]}/${currentId}`, { method: "DELETE" });
  } catch (error) {
    $("job-error").textContent = error.message;
    $("job-error").hidden = false;
  }
}

function finished(job) {
  $("progress-box").hidden = true;
  if (job.status !== "done") {
    const what = KIND_LABELS[job.kind].toLowerCase();
    $("job-error").textContent = `This ${what} ${job.status}: ${job.error || "no reason given"}`;
    $("job-error").hidden = false;
    return;
  }
  if (job.kind === "roadmap") return finishedRoadmap(job);
  $("alone-box").hidden = true;
  $("dl-series").hidden = false;
  $("kpi-caption").hidden = false;
  const r = job.request;
  const secs = job.duration_seconds;
  const meta = [
    ["Scenario", job.scenario],
    ["Policies", `${r.policies.join(", ")} (baseline ${r.policies[0]})`],
    ["Replications", r.replications],
    ["Seed", r.seed ?? `${Object.values(job.result.policies)[0].seed} (the scenario's)`],
    ["Overrides", r.overrides.length ? r.overrides.map((o) => el("code", { text: o })) : "none"],
    ["Took", secs == null ? "—" : `${secs.toFixed(1)} s`],
  ];
  $("meta").replaceChildren(
    ...meta.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, ...[v].flat())]),
  );
  $("dl-report").href = job.links.report;
  $("dl-report").setAttribute("download", `${job.id}-report.md`);
  $("dl-series").href = `${job.links.series}?format=csv`;
  $("dl-series").setAttribute("download", `${job.id}-series.csv`);
  showWarnings($("job-warnings"), job.warnings || [], "What this run could not show:");
  renderTable(job.result);
  renderMoney(
    Object.fromEntries(Object.entries(job.result.policies).map(([p, res]) => [p, res.money])),
    Object.entries(job.result.money || {}).map(([p, m]) => benefitLine(p, r.policies[0], m)),
    job.result.currency,
  );
  renderPlots(job);
  $("result").hidden = false;
}

function renderPlots(job) {
  const wide = ["comparison", "waterfall"];
  const names = [...job.plots].sort((a, b) => wide.includes(b) - wide.includes(a));
  $("plots").replaceChildren(
    ...names.map((name) => {
      const src = `${job.links.plots}/${name}.png`;
      const label = PLOT_NAMES[name] || name.replace(/_/g, " ");
      const open = el(
        "button",
        { type: "button", class: "plot", "aria-label": `Enlarge: ${label}` },
        el("img", { src, alt: `Plot: ${label}`, loading: "lazy" }),
      );
      open.addEventListener("click", () => enlarge(src, label));
      return el(
        "figure",
        { class: wide.includes(name) ? "wide" : "" },
        open,
        el("figcaption", { text: label }),
      );
    }),
  );
}

// ------------------------------------------------------------------------------ money
const MONEY_LINES = [
  ["lost_margin_per_year", "Lost margin"],
  ["oversell_cost_per_year", "Oversell cost"],
  ["labour_cost_per_year", "Labour"],
  ["carrying_cost_per_year", "Carrying stock"],
  ["expedite_cost_per_year", "Expediting and re-sourcing"],
  ["running_cost_per_year", "Orchestration platform"],
];
// every cost line together (the block holds the lines of KPIS.md; the total is their sum)
const totalCost = (block) => MONEY_LINES.reduce((sum, [key]) => sum + block[key], 0);

// The money block a year per column (policy, or legacy and every step), its total, and the
// business case lines under it.
function renderMoney(blocks, lines, currency) {
  const cols = Object.keys(blocks).filter((c) => blocks[c]);
  $("money-box").hidden = cols.length === 0;
  if (!cols.length) return;
  $("money-table").tHead.replaceChildren(
    el("tr", {}, el("th", { scope: "col", text: `per year (${currency})` }),
      ...cols.map((c) => el("th", { scope: "col", text: c }))),
  );
  const row = (key, label, value) => el("tr", { "data-money": key },
    el("th", { scope: "row", text: label }),
    ...cols.map((c) => el("td", { text: money(value(blocks[c])) })));
  $("money-table").tBodies[0].replaceChildren(
    ...MONEY_LINES.map(([key, label]) => row(key, label, (b) => b[key])),
    row("total_cost_per_year", "Total cost", totalCost),
  );
  $("benefit").replaceChildren(...lines.map((line) => el("li", { text: line })));
}

function benefitLine(policy, baseline, m) {
  const nb = m.net_benefit_per_year;
  const pay = m.payback_months == null
    ? "no payback of the programme cost"
    : `pays back ${money(m.programme_cost)} in ${m.payback_months.toFixed(1)} months`;
  return `${policy} against ${baseline}: net benefit ${signed(nb.mean)} a year; ${pay}.`;
}

// ------------------------------------------------------------------------------ a roadmap
function finishedRoadmap(job) {
  const r = job.request;
  const res = job.result;
  const secs = job.duration_seconds;
  const meta = [
    ["Scenario", job.scenario],
    ["Path", `${res.how}: ${res.path.join(" → ")}`],
    ["Replications", r.replications],
    ["Overrides", r.overrides.length ? r.overrides.map((o) => el("code", { text: o })) : "none"],
    ["Took", secs == null ? "—" : `${secs.toFixed(1)} s`],
  ];
  $("meta").replaceChildren(
    ...meta.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, ...[v].flat())]),
  );
  $("dl-report").href = job.links.report;
  $("dl-report").setAttribute("download", `${job.id}-report.md`);
  $("dl-series").hidden = true;
  $("kpi-caption").hidden = true;
  showWarnings($("job-warnings"), job.warnings || [], "What this run could not show:");
  const { header, rows } = res.table;
  $("kpi-table").tHead.replaceChildren(
    el("tr", {}, ...header.map((h) => el("th", { scope: "col", text: h }))),
  );
  $("kpi-table").tBodies[0].replaceChildren(
    ...rows.map((row) => el("tr", { "data-step": row[1] },
      ...row.map((c, i) => (i === 2 ? cell(c) : el(i === 1 ? "th" : "td", { text: c }))))),
  );
  $("alone-box").hidden = false;
  $("alone-table").tHead.replaceChildren(el("tr", {},
    ...["step", "what it changes", `value a year alone (${res.currency})`]
      .map((h) => el("th", { scope: "col", text: h }))));
  $("alone-table").tBodies[0].replaceChildren(
    ...Object.entries(res.alone)
      .sort((a, b) => b[1].value.mean - a[1].value.mean)
      .map(([name, st]) => el("tr", { "data-step": name }, el("th", { scope: "row", text: name }),
        el("td", { text: st.what }), el("td", { text: signed(st.value.mean) }))),
  );
  const end = res.path.join("+");
  const total = res.total;
  renderMoney({ legacy: res.runs.legacy.money, "every step": res.runs[end].money }, [
    `Net benefit of every step against legacy: ${signed(total.net_benefit_per_year.mean)} a ` +
      `year, of which the orchestration platform ${signed(total.platform_per_year)}; ` +
      (total.payback_months == null
        ? "no payback of the programme cost."
        : `pays back ${money(total.programme_cost)} in ${total.payback_months.toFixed(1)} months.`),
  ], res.currency);
  renderPlots(job);
  $("result").hidden = false;
}

function enlarge(src, label) {
  $("plot-view-title").textContent = label;
  $("plot-full").src = src;
  $("plot-full").alt = `Plot: ${label}`;
  $("plot-open").href = src;
  $("plot-view").showModal();
}

// Split "98.83% [97.23%, 100.00%]" into the value and its interval.
function cell(text, tag = "td") {
  const [value, ...rest] = text.replace(/ \*$/, "").split(" [");
  const node = el(tag, {}, el("span", { class: "val", text: value }));
  if (rest.length) node.append(el("span", { class: "ci", text: `[${rest.join(" [")}` }));
  return node;
}

function renderTable(result) {
  const { header, rows } = result.table;
  const policies = Object.keys(result.policies);
  const head = el("tr");
  header.forEach((h, i) => {
    const th = el("th", { scope: "col", text: h });
    if (i === 1) th.append(el("span", { class: "tag", text: "baseline" }));
    if (i > policies.length) th.className = "delta";
    head.append(th);
  });
  $("kpi-table").tHead.replaceChildren(head);

  $("kpi-table").tBodies[0].replaceChildren(
    ...rows.map((row) => {
      const label = row[0].replace(/ \([^)]*\)$/, "");
      const [key, better] = KPIS[label] || ["", 0];
      const tr = el("tr", { "data-kpi": key });
      const th = el("th", { scope: "row", text: row[0] });
      if (better) th.append(el("span", { class: "dir", text: better > 0 ? " ↑" : " ↓",
        title: better > 0 ? "higher is better" : "lower is better" }));
      tr.append(th);
      policies.forEach((p, i) => {
        const td = cell(row[1 + i]);
        td.dataset.policy = p;
        tr.append(td);
      });
      policies.slice(1).forEach((p, i) => {
        const text = row[1 + policies.length + i];
        const d = key ? result.differences[p][key] : null;
        const significant = d ? d.significant : / \*$/.test(text);
        const td = cell(text);
        td.dataset.policy = p;
        td.classList.add("delta");
        if (significant) {
          const verdict = !d || !better || d.mean === 0
            ? "changed" : Math.sign(d.mean) === better ? "better" : "worse";
          td.classList.add("sig", verdict);
          td.append(el("span", { class: "badge", text: verdict }));
        }
        tr.append(td);
      });
      return tr;
    }),
  );
}

// ------------------------------------------------------------------------------ history
async function loadPast() {
  let items = [];
  try {
    const lists = await Promise.all(
      Object.values(PREFIXES).map((prefix) => api(`${prefix}?limit=25`)),
    );
    items = lists.flatMap((l) => l.items)
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
      .slice(0, 25);
  } catch {
    return;
  }
  $("past-empty").hidden = items.length > 0;
  $("past").hidden = items.length === 0;
  $("past").tBodies[0].replaceChildren(
    ...items.map((job) => {
      const when = new Date(job.created_at);
      const button = el("button", { type: "button", class: "link", text: "Open" });
      const kind = KIND_LABELS[job.kind].toLowerCase();
      const what = `Open the ${kind} of ${job.scenario} from ${when.toLocaleString()}`;
      button.setAttribute("aria-label", what);
      button.addEventListener("click", () => openJob(job.kind, job.id));
      const tr = el(
        "tr",
        { "data-id": job.id },
        el("td", { text: when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) }),
        el("td", { text: KIND_LABELS[job.kind] }),
        el("td", { text: job.scenario }),
        el("td", {
          text: job.kind === "roadmap"
            ? `path: ${Array.isArray(job.request.order) ? "given" : job.request.order}`
            : (job.request.policies || []).join(", "),
        }),
        el("td", {}, el("span", { class: `chip ${job.status}`, text: job.status })),
        el("td", {}, button),
      );
      if (job.id === currentId) tr.classList.add("current");
      return tr;
    }),
  );
}

// ------------------------------------------------------------------------------ start-up
document.addEventListener("DOMContentLoaded", async () => {
  $("compare-form").addEventListener("submit", start);
  for (const id of ["mode-compare", "mode-roadmap"]) $(id).addEventListener("change", syncMode);
  $("scenario").addEventListener("change", chooseScenario);
  $("package-upload").addEventListener("click", uploadPackage);
  $("outage-on").addEventListener("change", syncToggles);
  $("supplier-on").addEventListener("change", syncToggles);
  $("outage-start").addEventListener("input", syncToggles);
  $("cancel").addEventListener("click", cancel);
  $("plot-close").addEventListener("click", () => $("plot-view").close());
  for (const id of ["horizon", "stores", "supplier-start", "outage-duration"]) {
    $(id).addEventListener("input", syncToggles);
  }
  $("refresh").addEventListener("click", loadPast);
  $("apikey").value = sessionStorage.getItem("omnitwin-api-key") || "";
  $("apikey").addEventListener("change", () => {
    sessionStorage.setItem("omnitwin-api-key", $("apikey").value);
  });
  await Promise.all([loadCatalogue(), loadPast()]);
  await openFromHash();
  window.addEventListener("hashchange", openFromHash);
  document.body.dataset.ready = "true";
});
