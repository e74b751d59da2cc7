// The atlhyper master console: a plain client of the REST API (no framework, no build).
// Everything a reply contains reaches the page as DOM text (textContent), never as markup.

const TOKEN_KEY = "atlhyper.token";
const SVG_NS = "http://www.w3.org/2000/svg";

// ---------------------------------------------------------------------------------------
// DOM

/** An element: h("td", {class: "x", onclick: f}, "text", child, [children]). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** Appends a child or a (nested) list of children; text becomes a text node. */
function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** The page being shown (route() counts them): a GET begun for an earlier page is aborted,
 * and a reply that still arrives after the user moved on throws Stale instead of returning,
 * so the page that asked for it never renders over the current one. */
let generation = 0;
class Stale extends Error {}
function main() {
  return document.getElementById("main");
}

function pill(text, cls) {
  return h("span", { class: `pill ${cls ?? text}` }, text);
}

/** A usage bar (red when high), or with `left` a budget bar (red when little is left). */
function bar(percent, left) {
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  const worry = left ? 100 - p : p;
  const cls = worry >= 90 ? "hi" : worry >= 75 ? "mid" : "";
  const span = h("span", { class: cls });
  span.style.width = `${p}%`;
  return h("div", { class: "bar", title: `${p.toFixed(1)}%` }, span);
}

/** A line chart of numbers as inline SVG. */
function chart(values, label) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 300 90");
  svg.setAttribute("preserveAspectRatio", "none");
  const title = document.createElementNS(SVG_NS, "title");
  title.textContent = label;
  svg.append(title);
  if (values.length > 1) {
    const max = Math.max(100, ...values);
    const pts = values.map((v, i) => `${(i / (values.length - 1)) * 300},${90 - (v / max) * 86}`);
    const line = document.createElementNS(SVG_NS, "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.append(line);
  }
  return svg;
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** A time as local "YYYY-MM-DD HH:MM:SS"; with `sep` "T", a datetime-local input's value. */
function stamp(t, sep = " ") {
  if (!t) return "—";
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}${sep}${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "Kind namespace/name" (no namespace: cluster-scoped). */
function objectName(kind, ns, name) {
  return `${kind} ${ns ? ns + "/" : ""}${name}`;
}

function thead(cols) {
  return h("thead", {}, h("tr", {}, cols.map((t) => h("th", {}, t))));
}

/** A table row of one cell across `cols` columns: "nothing matches", or an error. */
function note(cols, text, cls = "muted") {
  return h("tr", {}, h("td", { colspan: cols, class: cls }, text));
}

/** A label/value table. */
function facts(pairs) {
  return h("table", { class: "facts" }, h("tbody", {}, pairs.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))));
}

/** The query parameters of a page's hash (`#/slo?cluster=x`). */
const hashParams = () => new URLSearchParams(location.hash.split("?")[1] || "");

/** URL parameters of the values of `o` that are set (not "", null or undefined). */
const params = (o) => new URLSearchParams(Object.entries(o).filter(([, v]) => v !== "" && v !== null && v !== undefined).map(([k, v]) => [k, String(v)]));

// ---------------------------------------------------------------------------------------
// Session and API

const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(t) { t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY); },
  me: null,
};

const ROLES = ["viewer", "operator", "admin"];
const atLeast = (role) => session.me && ROLES.indexOf(session.me.role) >= ROLES.indexOf(role);

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

async function api(method, path, body) {
  const gen = generation;
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // A change (POST, PATCH, DELETE) is never aborted: it runs to its end once sent.
  const signal = method === "GET" ? pageAbort.signal : undefined;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (r.status === 401 && path !== "/api/v2/auth/login") {
    session.token = null;
    location.hash = "#/login";
  }
  if (method === "GET" && gen !== generation) throw new Stale();
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}
const get = (p) => api("GET", p);
const post = (p, b) => api("POST", p, b ?? {});

/** Reads an SSE stream with the bearer token (EventSource cannot send one). */
async function subscribe(path, onEvent, signal) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${session.token}` }, signal });
  if (!r.ok || !r.body) throw new ApiError(r.status, null);
  return readEvents(r, onEvent);
}

/** Calls `onEvent(name, data)` for each event of a Server-Sent Events reply, to its end. */
async function readEvents(r, onEvent) {
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Pages

let pageAbort = new AbortController();

function header(active) {
  const link = (href, text) => h("a", { href, class: active === href ? "active" : "" }, text);
  const top = document.getElementById("top");
  if (!session.me) return replace(top, h("strong", {}, "atlhyper"));
  replace(
    top,
    h("strong", {}, "atlhyper"),
    link("#/fleet", "Fleet"),
    link("#/alerts", "Alerts"),
    link("#/slo", "SLO"),
    link("#/query", "Query"),
    link("#/ai", "AI"),
    link("#/keys", "API keys"),
    atLeast("admin") && link("#/admin", "Admin"),
    h("span", { class: "who" }, `${session.me.username} (${session.me.role})`),
    h("button", { id: "logout", onclick: logout }, "Log out"),
  );
}

async function logout() {
  try { await post("/api/v2/auth/logout"); } catch { /* the token may be gone already */ }
  session.token = null;
  session.me = null;
  location.hash = "#/login";
}

function loginPage() {
  header();
  const user = h("input", { id: "username", autocomplete: "username", placeholder: "user name", required: true });
  const pass = h("input", { id: "password", type: "password", autocomplete: "current-password", placeholder: "password", required: true });
  const msg = h("p", { class: "err", id: "login-error" });
  const form = h("form", { class: "login card", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const r = await post("/api/v2/auth/login", { username: user.value, password: pass.value });
      session.token = r.token;
      const target = !location.hash || location.hash === "#/login" ? "#/fleet" : location.hash;
      if (location.hash === target) route(); else location.hash = target;
    } catch (err) {
      msg.textContent = err.message;
    }
  } }, h("h1", {}, "Sign in"), user, pass, h("button", { class: "primary", id: "login" }, "Sign in"), msg);
  replace(main(), form);
  user.focus();
}

async function fleetPage() {
  const signal = pageAbort.signal;
  const body = h("tbody", { id: "fleet" });
  replace(main(), h("h1", {}, "Fleet"),
    h("table", {}, thead(["Cluster", "Status", "Agent", "Nodes", "Pods", "Last seen", "Alerts"]), body));
  const [clusters, alerts] = await Promise.all([
    get("/api/v2/clusters?limit=1000"),
    get("/api/v2/alerts?status=firing&limit=1000").catch((err) => (err instanceof ApiError ? { items: [] } : Promise.reject(err))),
  ]);
  const firing = {};
  for (const a of alerts.items) firing[a.cluster_id] = (firing[a.cluster_id] || 0) + 1;
  const rows = {};
  const row = (c) => {
    const tr = h("tr", { dataset: { cluster: c.cluster_id } },
      h("td", {}, h("a", { href: clusterHash(c.cluster_id) }, c.cluster_id)),
      h("td", { class: "status" }, pill(c.status)),
      h("td", {}, c.agent_version ?? "—"),
      h("td", {}, c.summary ? `${c.summary.ready_nodes}/${c.summary.total_nodes}` : "—"),
      h("td", {}, c.summary ? `${c.summary.running_pods}/${c.summary.total_pods}` : "—"),
      h("td", {}, ago(c.last_seen)),
      h("td", {}, firing[c.cluster_id] ? pill(String(firing[c.cluster_id]), "firing") : "0"));
    rows[c.cluster_id] = { tr, c };
    return tr;
  };
  append(body, clusters.items.map(row));
  if (!clusters.items.length) append(body, note(7, "No cluster has reported yet."));
  // Live: status changes and new snapshots; the feed reconnects when it drops.
  const onEvent = (name, ev) => {
    const r = rows[ev.cluster_id];
    if (name === "alert" && r) {
      firing[ev.cluster_id] = Math.max(0, (firing[ev.cluster_id] || 0) + (ev.status === "firing" ? 1 : -1));
      r.tr.replaceWith(row(r.c));
      return;
    }
    if (name === "cluster_status" && r) {
      r.c.status = ev.status;
      r.c.last_seen = ev.last_seen;
      r.tr.replaceWith(row(r.c));
    } else if (name === "snapshot") {
      const c = r ? r.c : { cluster_id: ev.cluster_id, status: "online" };
      c.summary = ev.summary;
      c.last_seen = ev.received_at;
      const tr = row(c);
      r ? r.tr.replaceWith(tr) : body.append(tr);
    }
  };
  (async () => {
    for (let wait = 1000; !signal.aborted; wait = Math.min(wait * 2, 30000)) {
      try {
        await subscribe("/api/v2/subscribe", onEvent, signal);
      } catch (err) {
        if (err.status === 401) { location.hash = "#/login"; return; }
      }
      await new Promise((ok) => setTimeout(ok, wait));
    }
  })();
}

const CLUSTER_TABS = ["nodes", "pods", "deployments", "events", "commands", "changes", "timeline", "agent"];
const clusterHash = (id) => `#/cluster/${encodeURIComponent(id)}`;

async function clusterPage(id, tab) {
  tab = CLUSTER_TABS.includes(tab) ? tab : "nodes";
  const base = clusterHash(id);
  const content = h("div", { id: "tab" }, h("p", { class: "muted" }, "Loading…"));
  replace(main(), h("h1", {}, id),
    h("nav", { class: "tabs" }, CLUSTER_TABS.map((t) => h("a", { href: `${base}/${t}`, class: t === tab ? "active" : "" }, t))),
    content);
  const c = `/api/v2/clusters/${encodeURIComponent(id)}`;
  const tabs = { nodes: nodesTab, pods: podsTab, deployments: deploymentsTab, events: eventsTab, commands: commandsTab,
    changes: changesTab, timeline: timelineTab, agent: agentTab };
  await tabs[tab](c, content, id);
}

async function nodesTab(c, el) {
  const [nodes, metrics] = await Promise.all([get(`${c}/resources/nodes?limit=1000`), get(`${c}/node-metrics`)]);
  const cards = nodes.items.map((n) => {
    const m = metrics.nodes[n.summary.name];
    const card = h("div", { class: "card" },
      h("strong", {}, n.summary.name), " ", pill(n.summary.ready === "True" ? "Ready" : "NotReady", n.summary.ready === "True" ? "online" : "offline"),
      n.summary.schedulable === false ? pill("cordoned", "warning") : null,
      m ? [h("div", {}, "CPU ", bar(m.cpu.usage_percent)), h("div", {}, "Memory ", bar(m.memory.usage_percent)),
           h("div", {}, "Disk ", bar(m.disks?.find((d) => d.mount_point === "/")?.usage_percent ?? m.disks?.[0]?.usage_percent ?? 0)),
           h("div", { class: "muted" }, `${m.temperature.cpu_temp.toFixed(0)} °C`)] : h("p", { class: "muted" }, "no metrics"),
      h("div", { class: "history" }));
    if (m) get(`${c}/node-metrics/${encodeURIComponent(n.summary.name)}/history?hours=24`).then((hst) => {
      const pts = hst.history;
      replace(card.querySelector(".history"), pts.length < 2 ? h("p", { class: "muted" }, "history: not enough points yet")
        : [["cpu_usage", "CPU %"], ["mem_usage", "Memory %"], ["disk_usage", "Disk %"], ["temperature", "°C"]].map(([k, label]) =>
          h("div", {}, h("span", { class: "muted" }, `${label}, 24 h`), chart(pts.map((p) => p[k]), `${label} over 24 h`))));
    }).catch(() => {});
    if (atLeast("operator")) {
      const cordoned = n.summary.schedulable === false;
      append(card, h("button", { class: "cmd", onclick: () => confirmCommand(c, {
        action: cordoned ? "uncordon" : "cordon", kind: "Node", name: n.summary.name }) }, cordoned ? "Uncordon" : "Cordon"));
    }
    return card;
  });
  replace(el, h("div", { class: "grid" }, cards.length ? cards : h("p", { class: "muted" }, "No nodes.")));
}

async function podsTab(c, el) {
  const ns = h("input", { id: "f-namespace", placeholder: "namespace" });
  const name = h("input", { id: "f-name", placeholder: "name contains" });
  const phase = h("select", { id: "f-phase" }, ["", "Running", "Pending", "Failed", "Succeeded"].map((p) => h("option", { value: p }, p || "any phase")));
  const tbody = h("tbody", { id: "pods" });
  const load = async () => {
    const pods = await get(`${c}/resources/pods?${params({ limit: 500, namespace: ns.value, name: name.value, phase: phase.value })}`);
    replace(tbody, pods.items.map((p) => h("tr", {},
      h("td", {}, p.summary.namespace),
      h("td", {}, h("button", { class: "pod-name link", onclick: (e) => podDetails(e.target, p) }, p.summary.name)),
      h("td", {}, pill(p.status.phase)),
      h("td", {}, p.status.ready), h("td", {}, p.status.restarts), h("td", {}, p.summary.nodeName ?? ""),
      h("td", {}, atLeast("operator") && [
        h("button", { class: "cmd", onclick: () => confirmCommand(c, { action: "delete", kind: "Pod", namespace: p.summary.namespace, name: p.summary.name }) }, "Restart"),
        h("button", { class: "cmd", onclick: () => logs(c, p) }, "Logs")]))));
    if (!pods.items.length) append(tbody, note(7, "No pods match."));
  };
  replace(el, h("div", { class: "filters" }, ns, name, phase, h("button", { id: "f-apply", onclick: () => load().catch((err) => replace(tbody, note(7, err.message, "err"))) }, "Filter")),
    h("table", {}, thead(["Namespace", "Name", "Phase", "Ready", "Restarts", "Node", ""]), tbody));
  await load();
}

/** Opens a row under the pod's with its labels, annotations and containers (as text). */
function podDetails(link, p) {
  const tr = link.closest("tr");
  if (tr.nextSibling?.classList?.contains("details")) return tr.nextSibling.remove();
  const kv = (m) => Object.entries(m || {}).map(([k, v]) => `${k}=${v}`).join("\n") || "—";
  tr.after(h("tr", { class: "details" }, h("td", { colspan: 7 },
    h("div", { class: "grid" },
      h("div", {}, h("strong", {}, "Labels"), h("pre", { class: "labels" }, kv(p.labels))),
      h("div", {}, h("strong", {}, "Annotations"), h("pre", { class: "annotations" }, kv(p.annotations))),
      h("div", {}, h("strong", {}, "Containers"), h("pre", {}, (p.containers || []).map((k) => `${k.name}: ${k.image} (${k.state}, ${k.restartCount} restarts)`).join("\n")))))));
}

async function deploymentsTab(c, el) {
  const d = await get(`${c}/resources/deployments?limit=1000`);
  replace(el, h("table", {}, thead(["Namespace", "Name", "Ready", "Image", ""]),
    h("tbody", { id: "deployments" }, d.items.map((x) => h("tr", { dataset: { name: x.summary.name } },
      h("td", {}, x.summary.namespace), h("td", {}, x.summary.name), h("td", {}, `${x.summary.ready}/${x.summary.replicas}`),
      h("td", {}, (x.template.containers || []).map((k) => k.image).join(", ")),
      h("td", {}, atLeast("operator") && [
        h("button", { class: "scale", onclick: () => confirmCommand(c,
          { action: "scale", kind: "Deployment", namespace: x.summary.namespace, name: x.summary.name }, x.summary.replicas) }, "Scale"),
        h("button", { class: "cmd", onclick: () => confirmCommand(c, { action: "restart", kind: "Deployment", namespace: x.summary.namespace, name: x.summary.name }) }, "Restart")]))))));
}

async function eventsTab(c, el) {
  const ev = await get(`${c}/events?type=Warning&limit=200`);
  replace(el, h("table", {}, thead(["Last seen", "Object", "Reason", "Message", "Count"]),
    h("tbody", {}, ev.items.map((e) => h("tr", {}, h("td", {}, ago(e.last_timestamp)),
      h("td", {}, objectName(e.involved_kind, e.involved_namespace, e.involved_name)),
      h("td", {}, e.reason), h("td", {}, e.message), h("td", {}, e.count))))));
}

async function commandsTab(c, el) {
  const cmds = await get(`${c}/commands?limit=100`);
  const shown = hashParams().get("command");
  replace(el, h("table", {}, thead(["Created", "Action", "Target", "By", "Status", "Result"]),
    h("tbody", { id: "commands" }, cmds.items.map((x) => h("tr", { dataset: { id: x.command_id }, class: x.command_id === shown ? "shown" : "" }, h("td", {}, ago(x.created_at)), h("td", {}, x.action),
      h("td", {}, objectName(x.kind, x.namespace, x.name)), h("td", {}, x.created_by ?? ""),
      h("td", {}, pill(x.status)), h("td", {}, x.result ? (x.result.error || x.result.output || "").slice(0, 200) : ""))))));
}

/** A link to a command in its cluster's commands tab. */
function commandLink(id, command) {
  return h("a", { class: "command", title: command, href: `${clusterHash(id)}/commands?command=${encodeURIComponent(command)}` }, `command ${command.slice(0, 8)}`);
}

/** "21–40 of 95" and buttons to the newer and older pages of a `{items, total, limit, offset}`
 * reply; `go(offset)` loads one. */
function pager(list, go) {
  const { total, limit, offset } = list;
  const end = offset + list.items.length;
  const msg = h("span", { class: "err" });
  const to = (o) => () => go(o).catch((err) => { msg.textContent = err.message; });
  return h("div", { class: "filters pager" },
    h("button", { class: "newer", disabled: offset <= 0, onclick: to(Math.max(0, offset - limit)) }, "← Newer"),
    h("span", { class: "muted" }, total ? `${offset + 1}–${end} of ${total}` : "0 of 0"),
    h("button", { class: "older", disabled: end >= total, onclick: to(offset + limit) }, "Older →"), msg);
}

const CHANGE_TYPES = ["added", "removed", "image_changed", "replicas_changed", "rollout_started", "rollout_finished", "keys_changed",
  "repointed", "cordoned", "uncordoned", "not_ready", "ready", "kernel_upgraded", "kubelet_upgraded", "runtime_upgraded",
  "os_changed", "pods_changed", "summarised", "periodic_snapshot"];

/** What changed in the cluster (found by diffing its snapshots), newest first; each object
 * links to its timeline around the change. */
async function changesTab(c, el, id) {
  const tbody = h("tbody", { id: "changes" });
  const pages = h("div");
  let filter = {};
  const load = async (offset) => {
    const list = await get(`${c}/changes?${params({ ...filter, limit: 50, offset })}`);
    replace(tbody, list.items.map((x) => h("tr", { dataset: { type: x.change_type } },
      h("td", { title: stamp(x.last_time) }, stamp(x.time)),
      h("td", {}, h("a", { href: `${clusterHash(id)}/timeline?${params({ kind: x.kind, namespace: x.namespace, name: x.name, around: x.time })}` },
        objectName(x.kind, x.namespace, x.name))),
      h("td", {}, pill(x.change_type, "change"), x.tier && ` ${x.tier}`),
      h("td", { title: x.before || x.after ? `before: ${x.before}\nafter: ${x.after}` : null }, x.summary),
      h("td", {}, x.count > 1 ? `×${x.count}` : ""),
      h("td", {}, x.command_id && commandLink(id, x.command_id)))),
    !list.items.length && note(6, "No changes match."));
    replace(pages, pager(list, load));
  };
  replace(el, form([{ name: "kind" }, { name: "namespace" }, { name: "name" }, { name: "change_type", options: ["", ...CHANGE_TYPES], placeholder: "any change" }],
    (v) => { filter = v; return load(0); }, "Filter"),
  h("table", {}, thead(["Time", "Object", "Change", "Summary", "", ""]), tbody), pages);
  await load(0);
}

/** What happened to an object or namespace (changes, Warning events, commands, alerts), newest
 * first, in the last hour or ± minutes around a time. */
async function timelineTab(c, el, id) {
  const q = hashParams();
  const fields = [{ name: "namespace" }, { name: "kind" }, { name: "name" },
    { name: "around", type: "datetime-local", label: "around", value: q.get("around") && stamp(q.get("around"), "T") },
    { name: "minutes", type: "number", label: "±", value: q.get("minutes") || "30", placeholder: "minutes" }];
  for (const f of fields.slice(0, 3)) f.value = q.get(f.name);
  const span = h("p", { class: "muted", id: "timeline-window" });
  const tbody = h("tbody", { id: "timeline" });
  const load = async (v) => {
    const at = v.around ? new Date(v.around) : null;
    const m = (Number(v.minutes) || 30) * 60e3;
    if (at && isNaN(at)) throw new Error("around: a date and time");
    const t = await get(`${c}/timeline?${params({ kind: v.kind, namespace: v.namespace, name: v.name, limit: 500,
      since: at && new Date(at - m).toISOString(), until: at && new Date(+at + m).toISOString() })}`);
    span.textContent = `${stamp(t.since)} – ${stamp(t.until)}${t.truncated ? " · more happened than is shown: narrow the window" : ""}`;
    replace(tbody, t.items.map((x) => h("tr", { dataset: { source: x.source } },
      h("td", {}, stamp(x.time)), h("td", {}, pill(x.source)), h("td", {}, objectName(x.kind, x.namespace, x.name)),
      h("td", {}, x.type), h("td", {}, x.summary, x.command_id && [" · ", commandLink(id, x.command_id)]))),
    !t.items.length && note(5, "Nothing happened in this window."));
  };
  replace(el, form(fields, load, "Show"), span, h("table", {}, thead(["Time", "Source", "Object", "Type", "Summary"]), tbody));
  await load(Object.fromEntries(fields.map((f) => [f.name, f.value ?? ""])));
}

/** The cluster's agent: version against the policy, where it connects from, and the nodes'
 * versions. */
async function agentTab(c, el) {
  const a = await get(`${c}/agent`).catch((err) => (err.status === 404 ? null : Promise.reject(err)));
  if (!a) return replace(el, h("p", { class: "muted" }, "No agent has connected yet."));
  const when = (t) => (t ? `${stamp(t)} (${ago(t)})` : "—");
  const outdated = a.outdated === true ? pill("outdated", "warning") : a.outdated === false ? pill("up to date", "online") : pill("version policy: unknown", "");
  replace(el, h("div", { class: "card", id: "agent" },
    h("h2", {}, `Agent ${a.agent_version ?? "(version unknown)"} `, outdated),
    facts([["status", pill(a.status)], ["version from", a.version_source || "—"], ["minimum version", a.min_version ?? "—"],
      ["latest version", `${a.latest_version ?? "—"}${a.update_available ? " (an update is available)" : ""}`],
      ["remote address", a.remote_addr || "—"], ["reported IP", a.reported_ip || "—"], ["host name", a.hostname || "—"],
      ["user agent", a.user_agent || "—"], ["first seen", when(a.first_seen)], ["last seen", when(a.last_seen)],
      ["connected", when(a.connected_at)], ["disconnected", when(a.disconnected_at)]])),
  h("h2", {}, "Node versions"),
  h("table", { id: "node-versions" }, thead(["Node", "OS image", "Kernel", "Runtime", "Kubelet", "Arch"]),
    h("tbody", {}, (a.nodes || []).map((n) => h("tr", {}, [n.name, n.os_image, n.kernel, n.runtime, n.kubelet, n.arch].map((v) => h("td", {}, v)))),
      !a.nodes?.length && note(6, "No nodes."))));
}

/** Asks before running a command, naming its target (and, for a scale, the replicas),
 * then shows how it ends. */
function confirmCommand(c, spec, replicas) {
  const id = decodeURIComponent(c.split("/").pop());
  const target = objectName(spec.kind, spec.namespace, spec.name);
  const result = h("p", { id: "command-result" });
  const go = h("button", { class: "danger", id: "confirm" }, `${spec.action} ${target}`);
  const count = replicas === undefined ? null : h("input", { id: "replicas", type: "number", min: 0, value: replicas });
  const dlg = h("dialog", { id: "confirm-dialog" },
    h("p", {}, `Run ${spec.action} on ${target} in ${id}?`),
    count && h("label", {}, "replicas ", count),
    h("div", { class: "filters" }, go, h("button", { onclick: () => dlg.close() }, "Close")), result);
  go.addEventListener("click", async () => {
    go.disabled = true;
    if (count) {
      const n = Number(count.value);
      if (count.value.trim() === "" || !Number.isInteger(n) || n < 0) {
        result.textContent = "replicas: a whole number, 0 or more";
        go.disabled = false;
        return;
      }
      spec.params = { replicas: n };
    }
    try {
      const r = await post("/api/v2/command", { cluster_id: id, ...spec });
      result.textContent = "pending…";
      const done = await get(`/api/v2/commands/${r.command_id}?wait=30s`);
      result.replaceChildren(pill(done.status), " ", done.result?.error || done.result?.output || "");
    } catch (err) {
      result.textContent = err.message;
      result.className = "err";
      go.disabled = false;
    }
  });
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

async function logs(c, p) {
  const id = decodeURIComponent(c.split("/").pop());
  const out = h("pre", { id: "logs" }, "waiting for the agent…");
  const dlg = h("dialog", {}, h("p", {}, `Logs of ${p.summary.namespace}/${p.summary.name}`), out, h("button", { onclick: () => dlg.close() }, "Close"));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  try {
    const r = await post("/api/v2/command", { cluster_id: id, action: "get_logs", kind: "Pod", namespace: p.summary.namespace, name: p.summary.name, params: { tailLines: 200 } });
    const done = await get(`/api/v2/commands/${r.command_id}?wait=30s`);
    out.textContent = done.result?.output || done.result?.error || `(${done.status})`;
  } catch (err) {
    out.textContent = err.message;
  }
}

/** A generic table of objects: one column per key of the first rows (nested values as JSON). */
function objectTable(items, id) {
  const cols = [...new Set(items.slice(0, 50).flatMap((o) => Object.keys(o)))];
  const cell = (v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : v ?? "");
  return h("table", { id }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, c)))),
    h("tbody", {}, items.map((o) => h("tr", {}, cols.map((c) => h("td", {}, cell(o[c])))))));
}

function form(fields, submit, label) {
  const inputs = {};
  const msg = h("span", { class: "err" });
  const el = h("form", { class: "filters", onsubmit: async (e) => {
    e.preventDefault();
    msg.textContent = "";
    try {
      const v = {};
      for (const [k, i] of Object.entries(inputs)) v[k] = i.type === "checkbox" ? i.checked : i.value;
      await submit(v);
    } catch (err) { msg.textContent = err.message; }
  } });
  for (const f of fields) {
    const i = f.options
      ? h("select", { name: f.name }, f.options.map((o) => h("option", { value: o, selected: o === f.value }, o || f.placeholder || `any ${f.name}`)))
      : h("input", { name: f.name, placeholder: f.placeholder ?? f.name, type: f.type ?? "text", value: f.value });
    inputs[f.name] = i;
    append(el, f.type === "checkbox" ? h("label", {}, i, f.placeholder) : f.label ? h("label", {}, `${f.label} `, i) : i);
  }
  append(el, h("button", { class: "primary" }, label), msg);
  return el;
}

async function alertsPage() {
  const status = hashParams().get("status") === "resolved" ? "resolved" : "firing";
  const [alerts, rules] = await Promise.all([get(`/api/v2/alerts?status=${status}&limit=200`), get("/api/v2/alert-rules?limit=1000")]);
  const silence = (a) => async () => {
    const hours = prompt(`Silence ${a.rule_name} on ${a.resource.key} in ${a.cluster_id} for how many hours?`, "2");
    if (!hours) return;
    if (!(Number(hours) > 0)) return alert("hours: a number above 0");
    await post("/api/v2/silences", { matchers: { cluster_id: a.cluster_id, rule: a.rule_name, resource: a.resource.key },
      ends_at: new Date(Date.now() + Number(hours) * 3600e3).toISOString(), comment: `silenced from the console by ${session.me.username}` })
      .then(route, (err) => alert(err.message));
  };
  replace(main(), h("h1", {}, "Alerts"),
    h("nav", { class: "tabs" }, ["firing", "resolved"].map((s) => h("a", { href: `#/alerts?status=${s}`, class: s === status ? "active" : "" }, s))),
    h("table", { id: "alerts" }, thead(["Fired", "Severity", "Cluster", "Rule", "Resource", "Message", ""]),
      h("tbody", {}, alerts.items.map((a) => h("tr", {}, h("td", {}, ago(a.fired_at)), h("td", {}, pill(a.severity)),
        h("td", {}, a.cluster_id), h("td", {}, a.rule_name), h("td", {}, a.resource.key), h("td", {}, a.message),
        h("td", {}, status === "firing" && atLeast("operator") && h("button", { class: "silence", onclick: silence(a) }, "Silence")))))),
    h("h2", {}, "Rules"),
    h("table", { id: "rules" }, thead(["Name", "Scope", "Condition", "Severity", "", "Enabled"]),
      h("tbody", {}, rules.items.map((r) => h("tr", {}, h("td", {}, r.name), h("td", {}, r.cluster_id ?? "all clusters"),
        h("td", {}, JSON.stringify(r.condition)), h("td", {}, pill(r.severity)),
        h("td", {}, atLeast("admin") && h("button", { class: "edit-rule", onclick: () => editRule(r) }, "Edit")),
        h("td", {}, atLeast("admin")
          ? h("input", { type: "checkbox", checked: r.enabled, onchange: (e) => api("PATCH", `/api/v2/alert-rules/${r.id}`, { enabled: e.target.checked }).catch((err) => { e.target.checked = !e.target.checked; alert(err.message); }) })
          : String(r.enabled)))))));
}

/** An admin edits a rule's tunable fields as JSON; the API checks them and names a bad one. */
function editRule(r) {
  const fields = { description: r.description, cluster_id: r.cluster_id, namespace: r.namespace, condition: r.condition,
    severity: r.severity, cooldown_sec: r.cooldown_sec, notify_channels: r.notify_channels };
  const text = h("textarea", { id: "rule-json", rows: 14, cols: 60 });
  text.value = JSON.stringify(fields, null, 2);
  const msg = h("p", { class: "err", id: "rule-error" });
  const save = h("button", { class: "primary", id: "rule-save" }, `Save ${r.name}`);
  const dlg = h("dialog", { id: "rule-dialog" }, h("p", {}, `Rule ${r.name}${r.builtin ? " (built in: name and metric stay)" : ""}`), text,
    h("div", { class: "filters" }, save, h("button", { onclick: () => dlg.close() }, "Close")), msg);
  save.addEventListener("click", async () => {
    try {
      await api("PATCH", `/api/v2/alert-rules/${r.id}`, JSON.parse(text.value));
      // Reloads the rules, unless the user has moved on (route() removed the dialog).
      if (!dlg.isConnected) return;
      dlg.close();
      route();
    } catch (err) { msg.textContent = err.message; }
  });
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}

async function sloPage() {
  const clusters = (await get("/api/v2/clusters?limit=1000")).items;
  const q = hashParams();
  const cluster = q.get("cluster") || clusters[0]?.cluster_id;
  const range = ["1h", "1d", "7d", "30d"].includes(q.get("range")) ? q.get("range") : "1d";
  const pick = h("select", { id: "slo-cluster", onchange: (e) => { location.hash = `#/slo?cluster=${encodeURIComponent(e.target.value)}&range=${range}`; } },
    clusters.map((c) => h("option", { value: c.cluster_id, selected: c.cluster_id === cluster }, c.cluster_id)));
  const ranges = h("nav", { class: "tabs" }, ["1h", "1d", "7d", "30d"].map((r) => h("a", { href: `#/slo?cluster=${encodeURIComponent(cluster ?? "")}&range=${r}`, class: r === range ? "active" : "" }, r)));
  if (!cluster) return replace(main(), h("h1", {}, "SLO"), h("p", { class: "muted" }, "No cluster yet."));
  const v = await get(`/api/v2/slo/domains?cluster_id=${encodeURIComponent(cluster)}&time_range=${range}`);
  const num = (x, d = 2) => (x === null || x === undefined ? "—" : Number(x).toFixed(d));
  replace(main(), h("h1", {}, "SLO"), h("div", { class: "filters" }, pick), ranges,
    v.domains.length ? v.domains.map((d) => h("div", { class: "card", dataset: { domain: d.domain } },
      h("h2", {}, d.domain, " ", pill(d.status)),
      h("div", {}, `availability ${num(d.summary.availability, 3)}% · p95 ${num(d.summary.p95_latency_ms, 0)} ms · ${num(d.summary.requests_per_sec)} req/s`),
      h("div", {}, "error budget left ", bar(d.error_budget_remaining, true), `${num(d.error_budget_remaining)}%`),
      h("table", {}, thead(["Path", "Availability", "p95", "Budget left", "Burn rate", "Status"]),
        h("tbody", {}, d.routes.map((r) => h("tr", {}, h("td", {}, r.path_prefix), h("td", {}, `${num(r.current.availability, 3)}%`),
          h("td", {}, `${num(r.current.p95_latency_ms, 0)} ms`), h("td", {}, bar(r.error_budget_remaining, true), `${num(r.error_budget_remaining)}%`),
          h("td", {}, num(r.burn_rate)), h("td", {}, pill(r.status)))))))) : h("p", { class: "muted" }, "No SLO data for this cluster."));
}

async function queryPage() {
  const box = h("input", { id: "q", placeholder: 'pods(cluster="*", status="Failed")', size: 80 });
  const out = h("div", { id: "query-result" });
  const run = async (e) => {
    e?.preventDefault();
    try {
      const r = await post("/api/v2/query", { q: box.value });
      replace(out, r.items ? [h("p", { class: "muted" }, `${r.items.length} of ${r.total}`), objectTable(r.items, "query-table")]
        : h("pre", {}, JSON.stringify(r, null, 2)));
    } catch (err) { replace(out, h("p", { class: "err" }, err.message)); }
  };
  replace(main(), h("h1", {}, "Query"), h("form", { class: "filters", onsubmit: run }, box, h("button", { class: "primary" }, "Run")), out);
}

async function tokensPage() {
  const t = await get("/api/v2/tokens");
  const shown = h("pre", { id: "new-token", hidden: true });
  replace(main(), h("h1", {}, "My API keys"),
    form([{ name: "name", placeholder: "key name" }, { name: "role", options: ROLES.slice(0, ROLES.indexOf(session.me.role) + 1) }], async (v) => {
      const k = await post("/api/v2/tokens", v);
      shown.hidden = false;
      shown.textContent = `Copy it now, it is not shown again: ${k.token}`;
    }, "Create key"), shown,
    h("table", {}, h("tbody", {}, t.items.map((k) => h("tr", {}, h("td", {}, k.name), h("td", {}, k.role), h("td", {}, k.revoked ? "revoked" : ""),
      h("td", {}, !k.revoked && h("button", { onclick: () => api("DELETE", `/api/v2/tokens/${k.id}`).then(route, (err) => alert(err.message)) }, "Revoke")))))));
}

async function aiPage() {
  const active = await get("/api/v2/ai/active");
  if (!active.ready) return replace(main(), h("h1", {}, "AI assistant"), h("p", { class: "muted" }, "The assistant is off or has no provider; an admin sets one up (README, AI assistant)."));
  const clusters = (await get("/api/v2/clusters?limit=1000")).items;
  const signal = pageAbort.signal;
  let conv = null;
  const pick = h("select", { onchange: () => { conv = null; } }, clusters.map((c) => h("option", { value: c.cluster_id }, c.cluster_id)));
  const log = h("div", { id: "chat" });
  const input = h("input", { id: "chat-input", size: 80, placeholder: "Ask about the cluster" });
  const say = async (e) => {
    e.preventDefault();
    try { await ask(); } catch (err) { if (err.name !== "AbortError") append(log, h("p", { class: "err" }, err.message)); }
  };
  const ask = async () => {
    if (!conv) conv = (await post("/api/v2/ai/conversations", { cluster_id: pick.value })).id;
    const text = input.value;
    input.value = "";
    append(log, h("p", {}, h("strong", {}, "you: "), text));
    const answer = h("p", {}, h("strong", {}, "assistant: "));
    append(log, answer);
    const r = await fetch("/api/v2/ai/chat", { method: "POST", headers: { Authorization: `Bearer ${session.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ conversation_id: conv, message: text }), signal });
    if (!r.ok) return append(answer, h("span", { class: "err" }, (await r.json().catch(() => ({}))).error || `HTTP ${r.status}`));
    await readEvents(r, (_, ev) => {
        if (ev.type === "text") append(answer, ev.content);
        else if (ev.type === "tool_call") append(log, h("p", { class: "muted" }, `→ ${ev.tool} ${JSON.stringify(ev.params)}`));
        else if (ev.type === "proposal") {
          const p = ev.proposal;
          const what = `${p.action} ${objectName(p.kind, p.namespace, p.name)} in ${p.cluster_id} ${JSON.stringify(p.params)}`;
          append(log, h("div", { class: "card" }, `Proposed: ${what} — ${p.reason}`,
            atLeast("operator") && h("button", { class: "danger", onclick: async (e2) => {
              if (!confirm(`Approve: ${what}?`)) return;
              e2.target.disabled = true;
              try {
                const a = await post(`/api/v2/ai/proposals/${p.id}/approve`);
                append(e2.target.parentNode, ` command ${a.command_id} queued`);
              } catch (err) {
                append(e2.target.parentNode, h("span", { class: "err" }, ` ${err.message}`));
              }
            } }, "Approve")));
        } else if (ev.type === "error") append(answer, h("span", { class: "err" }, ev.content));
    });
  };
  replace(main(), h("h1", {}, "AI assistant"), h("form", { class: "filters", onsubmit: say }, pick, input, h("button", { class: "primary" }, "Ask")), log);
}

const ADMIN_TABS = ["users", "channels", "retention", "audit"];

async function adminPage(tab) {
  tab = ADMIN_TABS.includes(tab) ? tab : "users";
  const el = h("div", { id: "admin" });
  replace(main(), h("h1", {}, "Admin"), h("nav", { class: "tabs" }, ADMIN_TABS.map((t) => h("a", { href: `#/admin/${t}`, class: t === tab ? "active" : "" }, t))), el);
  if (tab === "users") {
    const u = await get("/api/v2/users");
    replace(el, form([{ name: "username" }, { name: "password", type: "password" }, { name: "role", options: ROLES }],
      async (v) => { await post("/api/v2/users", v); route(); }, "Add user"),
    h("table", { id: "users" }, h("tbody", {}, u.items.map((x) => h("tr", {}, h("td", {}, x.username), h("td", {}, x.role), h("td", {}, pill(x.status, x.status === "active" ? "online" : "offline")),
      h("td", {}, ago(x.last_login_at)),
      h("td", {}, x.username !== session.me.username && h("button", { onclick: () => api("PATCH", `/api/v2/users/${x.id}`, { status: x.status === "active" ? "disabled" : "active" }).then(route, (e) => alert(e.message)) },
        x.status === "active" ? "Disable" : "Enable")))))));
  } else if (tab === "channels") {
    const c = await get("/api/v2/notify/channels");
    replace(el, h("div", { class: "grid" }, c.items.map((ch) => {
      const res = h("p", {});
      return h("div", { class: "card" }, h("strong", {}, ch.name), " ", pill(ch.effective ? "effective" : "off", ch.effective ? "online" : ""),
        h("pre", {}, JSON.stringify(ch.config, null, 1)), ch.validation_errors.map((e) => h("p", { class: "err" }, e)),
        h("button", { onclick: () => post(`/api/v2/notify/channels/${ch.type}/test`).then((r) => { res.textContent = r.success ? "sent" : r.error; }, (err) => { res.textContent = err.message; }) }, "Send a test"), res);
    })));
  } else if (tab === "retention") {
    const p = await get("/api/v2/admin/retention");
    const out = h("pre", { id: "cleanup-result" });
    const show = (p) => p.then((r) => { out.textContent = JSON.stringify(r, null, 1); }, (err) => { out.textContent = err.message; });
    const clean = (dry) => () => show(post("/api/v2/admin/cleanup", { dry_run: dry }));
    replace(el, h("pre", {}, JSON.stringify(p, null, 1)),
      h("div", { class: "filters" }, h("button", { id: "dry-run", onclick: clean(true) }, "Cleanup: dry run"),
        h("button", { class: "danger", onclick: () => confirm("Delete what is past retention now?") && clean(false)() }, "Cleanup now"),
        h("button", { onclick: () => show(post("/api/v2/admin/backup")) }, "Backup")), out);
  } else {
    const a = await get("/api/v2/audit/logs?limit=200");
    replace(el, h("table", { id: "audit" }, thead(["When", "User", "Action", "Resource", "Status"]),
      h("tbody", {}, a.items.map((x) => h("tr", {}, h("td", {}, ago(x.timestamp)), h("td", {}, x.username), h("td", {}, x.action),
        h("td", {}, `${x.method} ${x.resource}`), h("td", {}, pill(String(x.status_code), x.success ? "online" : "offline")))))));
  }
}

// ---------------------------------------------------------------------------------------
// Router

async function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  generation++;
  for (const d of document.querySelectorAll("dialog")) d.remove();
  const [, page, ...rest] = (location.hash || "#/fleet").slice(1).split("?")[0].split("/");
  if (!session.token || page === "login") {
    session.me = null;
    return loginPage();
  }
  try {
    if (!session.me) {
      const me = await get("/api/v2/auth/me");
      session.me = { ...me.user, role: me.role };
    }
    header(`#/${page}`);
    switch (page) {
      case "cluster": return await clusterPage(decodeURIComponent(rest[0] || ""), rest[1]);
      case "alerts": return await alertsPage();
      case "slo": return await sloPage();
      case "query": return await queryPage();
      case "ai": return await aiPage();
      case "keys": return await tokensPage();
      case "admin": return atLeast("admin") ? await adminPage(rest[0]) : await fleetPage();
      default: return await fleetPage();
    }
  } catch (err) {
    if (err instanceof Stale || err.name === "AbortError") return;
    if (err.status !== 401) replace(main(), h("p", { class: "err" }, err.message));
  }
}

window.addEventListener("hashchange", route);
route();
