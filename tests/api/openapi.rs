//! `GET /api/v2/openapi.json`: served without a token, in agreement with the route table
//! both ways, and the route table in agreement with the human contract, `spec/api.md`.
//! (The document is generated from the table, so the table agreeing with the spec is the
//! document agreeing with it.)

use std::collections::{BTreeMap, BTreeSet};

use atlhyper_master::auth::access::Access;
use atlhyper_master::error::ErrorCode;
use atlhyper_master::http::api::openapi::{path_params, role_name, ROLE_EXTENSION};
use atlhyper_master::http::api::table;
use serde_json::Value;

use crate::helpers::*;

/// Methods an OpenAPI path item may hold, as its keys spell them.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Routes `spec/api.md` lists that this master does not serve yet, by path (every method
/// of it), and why. A route served after all must leave this list (the test says so).
const NOT_SERVED: &[(&str, &str)] =
    &[("/api/v2/settings/{key}", "generic settings: not built yet")];

/// Routes this master serves that `spec/api.md` does not list, and why.
const NOT_IN_SPEC: &[(&str, &str, &str)] = &[
    (
        "DELETE",
        "/api/v2/clusters/{id}/agent-token",
        "revoking an agent token without a new one (the spec lists rotation only)",
    ),
    (
        "GET",
        "/api/v2/clusters/{id}/resources/secrets",
        "the spec's `{kind}` route with kind `secrets`, which needs operator: a literal route declares that",
    ),
    (
        "GET",
        "/api/v2/clusters/{id}/resources/secrets/{namespace}/{name}",
        "as above, for one Secret",
    ),
    (
        "POST",
        "/api/v2/query",
        "the spec's GET /api/v2/query with the text in a JSON body, for texts longer than a URL",
    ),
];

/// Codes no single dashboard operation lists: the agent port's, the /v21 ones, and the two every path
/// has (`unknown_path`, `method_not_allowed`, named in the document's description).
const NOT_PER_OPERATION: &[ErrorCode] = &[
    ErrorCode::InvalidGzip,
    ErrorCode::BodyReadFailed,
    ErrorCode::BodyTimeout,
    ErrorCode::UnsupportedEncoding,
    ErrorCode::ClusterIdMismatch,
    ErrorCode::MissingCommandId,
    ErrorCode::AgentTokenMismatch,
    ErrorCode::CommandClusterMismatch,
    ErrorCode::ClusterLimit,
    ErrorCode::MethodNotAllowed,
    // Only the AtlHyper dashboard's reads under /v21 wait on the agent; the document
    // describes our API, not that one (tests/api/v21.rs checks both codes).
    ErrorCode::CommandFailed,
    ErrorCode::AgentTimeout,
];

async fn fetch_document(app: &TestApp) -> Value {
    let r = app
        .api(reqwest::Method::GET, "/api/v2/openapi.json", None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    r.json().await.unwrap()
}

/// Every (METHOD, path) → operation of the document.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_ascii_uppercase(), path.clone()), op.clone());
            }
        }
    }
    out
}

#[actix_web::test]
async fn the_document_is_served_without_a_token() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Built once: a second fetch is the same document.
    assert_eq!(fetch_document(&app).await, doc);
}

#[actix_web::test]
async fn the_document_and_the_route_table_agree() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let mut ops = operations(&doc);
    for spec in table().specs() {
        let what = format!("{} {}", spec.method, spec.path);
        // actix's `{id}` is OpenAPI's `{id}`: the path is the key as it is.
        let op = ops
            .remove(&(spec.method.as_str().to_owned(), spec.path.to_owned()))
            .unwrap_or_else(|| panic!("{what} is missing from the document"));
        assert_eq!(
            op[ROLE_EXTENSION],
            role_name(spec.access),
            "{what}: {ROLE_EXTENSION}"
        );
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{what}: summary"
        );
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for name in path_params(spec.path) {
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                "{what}: path parameter {name} is not declared"
            );
        }
        for p in params.iter().filter(|p| p["in"] == "path") {
            let name = p["name"].as_str().unwrap();
            assert!(
                path_params(spec.path).contains(&name),
                "{what}: declares path parameter {name}, which the path does not have"
            );
        }
        let bearer = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        let responses = &op["responses"];
        let codes_of = |status: &str| -> Vec<String> {
            let schema = &responses[status]["content"]["application/json"]["schema"];
            schema["allOf"][1]["properties"]["code"]["enum"]
                .as_array()
                .map(|a| a.iter().map(|c| c.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default()
        };
        match spec.access {
            Access::Public => assert!(!bearer, "{what}: public, yet names a token"),
            Access::Scrape => {
                assert!(bearer, "{what}: the scrape token");
                assert!(codes_of("401").contains(&"unauthorized".to_owned()));
            }
            Access::Role(role) => {
                assert!(bearer, "{what}: needs a token");
                assert!(
                    codes_of("401").contains(&"unauthorized".to_owned()),
                    "{what}: 401"
                );
                if role > atlhyper_master::auth::Role::Viewer {
                    assert!(
                        codes_of("403").contains(&"forbidden".to_owned()),
                        "{what}: 403"
                    );
                }
            }
        }
        assert!(
            responses
                .as_object()
                .unwrap()
                .keys()
                .any(|s| s.starts_with('2')),
            "{what}: no success reply"
        );
    }
    assert!(
        ops.is_empty(),
        "the document names routes the table does not have: {:?}",
        ops.keys().collect::<Vec<_>>()
    );
}

#[actix_web::test]
async fn every_error_code_of_the_dashboard_is_documented() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let mut listed = BTreeSet::new();
    for op in operations(&doc).values() {
        for (status, r) in op["responses"].as_object().unwrap() {
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            let codes = &r["content"]["application/json"]["schema"]["allOf"][1]["properties"]
                ["code"]["enum"];
            for c in codes.as_array().unwrap() {
                listed.insert(c.as_str().unwrap().to_owned());
            }
        }
    }
    for code in ErrorCode::ALL {
        let s = code.as_str();
        if NOT_PER_OPERATION.contains(code) {
            assert!(
                !listed.contains(s),
                "{s} is listed as not per operation, but an operation names it"
            );
        } else {
            assert!(listed.contains(s), "no operation of the document names {s}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// spec/api.md

/// One route of the spec: method, path, role (as `x-required-role` spells it).
type SpecRoute = (String, String, &'static str);

const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

fn is_method(s: &str) -> bool {
    HTTP_METHODS.contains(&s)
}

/// The role a "Who" cell names: `any`, `owner or admin` and `viewer (own)` are any
/// signed-in user, which is viewer.
fn role_of(who: &str) -> &'static str {
    let who = who.trim();
    if who.starts_with("public, or token") {
        "scrape"
    } else if who.starts_with("public") {
        "public"
    } else if who.starts_with("admin") {
        "admin"
    } else if who.starts_with("operator") {
        "operator"
    } else if who.starts_with("viewer") || who.starts_with("any") || who.starts_with("owner") {
        "viewer"
    } else {
        panic!("spec/api.md: unknown role {who:?}")
    }
}

/// The role of `method` in a row whose cell names `roles` (`viewer / admin`): reads take
/// the first, writes the last.
fn role_for(method: &str, roles: &[&'static str]) -> &'static str {
    if method == "GET" {
        roles[0]
    } else {
        roles[roles.len() - 1]
    }
}

fn strip_query(path: &str) -> String {
    path.split('?').next().unwrap_or(path).trim().to_owned()
}

/// The odd pieces of `text` split at backticks: what is quoted.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Every route `spec/api.md` lists: the rows of its tables (`| GET/POST | \`/path\` |
/// viewer / admin | …`, with more paths and `METHOD \`/path\`` mentions in a row), and
/// the paragraphs that name one (`` `GET /api/v2/query?q=<expr>` (viewer) ``).
fn spec_routes(text: &str) -> Vec<SpecRoute> {
    let mut out = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if line.starts_with('|') && cells.len() >= 5 {
            let methods: Vec<&str> = cells[1].split('/').map(str::trim).collect();
            if !methods.iter().all(|m| is_method(m)) {
                continue; // a header, a separator, or another table
            }
            let roles: Vec<&'static str> = cells[3].split(" / ").map(role_of).collect();
            let mut last_path = String::new();
            for item in quoted(cells[2]) {
                // `/path`, `METHODS /path`, or `…/tail` (beside the previous path).
                let (item_methods, path) = match item.split_once(' ') {
                    Some((ms, p)) if ms.split('/').all(is_method) => {
                        (ms.split('/').collect::<Vec<_>>(), p)
                    }
                    _ => (methods.clone(), item),
                };
                let path = match path.strip_prefix("…/") {
                    Some(tail) => {
                        let parent = last_path.rsplit_once('/').map_or("", |(p, _)| p);
                        format!("{parent}/{tail}")
                    }
                    None => strip_query(path),
                };
                for m in item_methods {
                    out.push((m.to_owned(), path.clone(), role_for(m, &roles)));
                }
                last_path = path;
            }
            // `DELETE \`/api/v2/silences/{id}\` expires one.` in the reply cell.
            let reply = cells[4..].join("|");
            let pieces: Vec<&str> = reply.split('`').collect();
            for i in (1..pieces.len()).step_by(2) {
                let before = pieces[i - 1].trim_end();
                let method = before.rsplit(' ').next().unwrap_or("");
                if is_method(method) && pieces[i].starts_with('/') {
                    out.push((
                        method.to_owned(),
                        strip_query(pieces[i]),
                        role_for(method, &roles),
                    ));
                }
            }
        } else if !line.starts_with('|') {
            let pieces: Vec<&str> = line.split('`').collect();
            for i in (1..pieces.len()).step_by(2) {
                let Some((method, path)) = pieces[i].split_once(' ') else {
                    continue;
                };
                let Some(who) = pieces
                    .get(i + 1)
                    .and_then(|after| after.strip_prefix(" ("))
                    .and_then(|after| after.split(')').next())
                else {
                    continue;
                };
                if is_method(method) && path.starts_with('/') {
                    out.push((method.to_owned(), strip_query(path), role_of(who)));
                }
            }
        }
    }
    out
}

fn spec_text() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("shared")
        .join("spec")
        .join("api.md");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (shared/ lies beside the clone)", path.display()))
}

#[test]
fn the_spec_parser_reads_every_row_form() {
    let text = "\
| Method | Path | Who | Reply |
|---|---|---|---|
| GET/POST | `/api/v2/users` | admin | x |
| GET/PATCH/DELETE | `/api/v2/alert-rules/{id}` | viewer / admin | |
| GET/POST | `/api/v2/silences` | viewer / operator | DELETE `/api/v2/silences/{id}` expires one. |
| GET | `/metrics` | public, or token-protected by config | text |
| POST | `/api/v2/ai/proposals/{id}/approve`, `…/reject` | operator | |
| GET/POST | `/api/v2/agent-versions`, `PATCH/DELETE /api/v2/agent-versions/{version}` | viewer / admin | |
`GET /api/v2/query?q=<expr>` (viewer) evaluates one expression.
";
    let got = spec_routes(text);
    let want: Vec<SpecRoute> = [
        ("GET", "/api/v2/users", "admin"),
        ("POST", "/api/v2/users", "admin"),
        ("GET", "/api/v2/alert-rules/{id}", "viewer"),
        ("PATCH", "/api/v2/alert-rules/{id}", "admin"),
        ("DELETE", "/api/v2/alert-rules/{id}", "admin"),
        ("GET", "/api/v2/silences", "viewer"),
        ("POST", "/api/v2/silences", "operator"),
        ("DELETE", "/api/v2/silences/{id}", "operator"),
        ("GET", "/metrics", "scrape"),
        ("POST", "/api/v2/ai/proposals/{id}/approve", "operator"),
        ("POST", "/api/v2/ai/proposals/{id}/reject", "operator"),
        ("GET", "/api/v2/agent-versions", "viewer"),
        ("POST", "/api/v2/agent-versions", "admin"),
        ("PATCH", "/api/v2/agent-versions/{version}", "admin"),
        ("DELETE", "/api/v2/agent-versions/{version}", "admin"),
        ("GET", "/api/v2/query", "viewer"),
    ]
    .into_iter()
    .map(|(m, p, r)| (m.to_owned(), p.to_owned(), r))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn the_route_table_agrees_with_spec_api_md() {
    let spec = spec_routes(&spec_text());
    assert!(
        spec.len() >= 60,
        "spec/api.md parsed to {} routes",
        spec.len()
    );
    let table: BTreeMap<(String, String), &'static str> = table()
        .specs()
        .iter()
        .map(|s| {
            (
                (s.method.as_str().to_owned(), s.path.to_owned()),
                role_name(s.access),
            )
        })
        .collect();
    let mut problems = Vec::new();
    let mut spec_keys = BTreeSet::new();
    for (method, path, role) in &spec {
        spec_keys.insert((method.clone(), path.clone()));
        let not_served = NOT_SERVED.iter().any(|(p, _)| p == path);
        match table.get(&(method.clone(), path.clone())) {
            Some(served) if not_served => problems.push(format!(
                "{method} {path} is served ({served}): take it out of NOT_SERVED"
            )),
            Some(served) if served != role => problems.push(format!(
                "{method} {path}: spec/api.md says {role}, the route table {served}"
            )),
            Some(_) => {}
            None if not_served => {}
            None => problems.push(format!(
                "{method} {path} ({role}) is in spec/api.md but not in the route table"
            )),
        }
    }
    for (p, why) in NOT_SERVED {
        assert!(
            spec.iter().any(|(_, sp, _)| sp == p),
            "NOT_SERVED names {p} ({why}), which spec/api.md does not list"
        );
    }
    for (m, p, why) in NOT_IN_SPEC {
        assert!(
            table.contains_key(&(m.to_string(), p.to_string())),
            "NOT_IN_SPEC names {m} {p} ({why}), which the route table does not have"
        );
    }
    for (method, path) in table.keys() {
        let explained = NOT_IN_SPEC.iter().any(|(m, p, _)| m == method && p == path);
        match (
            spec_keys.contains(&(method.clone(), path.clone())),
            explained,
        ) {
            (true, true) => problems.push(format!(
                "{method} {path} is in spec/api.md now: take it out of NOT_IN_SPEC"
            )),
            (false, false) => problems.push(format!(
                "{method} {path} is served but spec/api.md does not list it"
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Replies against their schemas

/// `schema` with its `$ref`s followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The properties an object schema names (through `allOf`), or `None` when it names
/// none (an object described in words, a map).
fn named_properties(doc: &Value, schema: &Value) -> Option<BTreeSet<String>> {
    let schema = resolve(doc, schema);
    let mut out: Option<BTreeSet<String>> = None;
    if let Some(props) = schema["properties"].as_object() {
        out.get_or_insert_with(BTreeSet::new)
            .extend(props.keys().cloned());
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        if let Some(more) = named_properties(doc, part) {
            out.get_or_insert_with(BTreeSet::new).extend(more);
        }
    }
    out
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// Checks `v` against `schema` (the parts of JSON Schema this document uses): types,
/// enums, required properties, no property the schema does not name, items, maps,
/// `allOf` / `oneOf`. Mismatches go to `out`, each with its place in the reply.
fn check(doc: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    check_inner(doc, schema, v, at, out, true);
}

fn check_inner(
    doc: &Value,
    schema: &Value,
    v: &Value,
    at: &str,
    out: &mut Vec<String>,
    closed: bool,
) {
    let s = resolve(doc, schema);
    if let Some(parts) = s["allOf"].as_array() {
        for part in parts {
            check_inner(doc, part, v, at, out, false);
        }
    }
    if let Some(options) = s["oneOf"].as_array() {
        let fits = options.iter().any(|o| {
            let mut errs = Vec::new();
            check_inner(doc, o, v, at, &mut errs, true);
            errs.is_empty()
        });
        if !fits {
            out.push(format!("{at}: {v} fits no oneOf option"));
        }
    }
    match &s["type"] {
        Value::String(t) if !type_matches(t, v) => {
            out.push(format!("{at}: {v} is not {t}"));
            return;
        }
        Value::Array(ts) if !ts.iter().any(|t| type_matches(t.as_str().unwrap_or(""), v)) => {
            out.push(format!("{at}: {v} is none of {ts:?}"));
            return;
        }
        _ => {}
    }
    if let Some(allowed) = s["enum"].as_array() {
        if !allowed.contains(v) {
            out.push(format!("{at}: {v} is not one of {allowed:?}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for r in s["required"].as_array().into_iter().flatten() {
            let r = r.as_str().unwrap();
            if !obj.contains_key(r) {
                out.push(format!("{at}: required {r} is missing"));
            }
        }
        let props = s["properties"].as_object();
        for (k, x) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check_inner(doc, ps, x, &format!("{at}.{k}"), out, true),
                None => {
                    if let Some(extra) = s.get("additionalProperties").filter(|a| a.is_object()) {
                        check_inner(doc, extra, x, &format!("{at}.{k}"), out, true);
                    }
                }
            }
        }
        if closed {
            if let Some(named) = named_properties(doc, schema) {
                for k in obj.keys().filter(|k| !named.contains(*k)) {
                    out.push(format!("{at}: {k} is in the reply, not in the schema"));
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate().take(20) {
            check_inner(doc, items, x, &format!("{at}[{i}]"), out, true);
        }
    }
}

/// Checks one reply against the document's response for its status.
fn check_reply(doc: &Value, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let op = &doc["paths"][path][method.to_ascii_lowercase()];
    let what = format!("{method} {path} → {status}");
    let response = &op["responses"][status.to_string()];
    if response.is_null() {
        return vec![format!("{what}: status not documented ({body})")];
    }
    let schema = &response["content"]["application/json"]["schema"];
    if schema.is_null() {
        return Vec::new();
    }
    let mut out = Vec::new();
    check(doc, schema, body, &what, &mut out);
    out
}

/// Sends one request and checks its reply; returns the reply.
async fn exchange(
    app: &TestApp,
    doc: &Value,
    method: reqwest::Method,
    template: &str,
    concrete: &str,
    body: Option<Value>,
    problems: &mut Vec<String>,
) -> Value {
    let mut req = app.api(method.clone(), concrete, Some(&app.admin_token));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    problems.extend(check_reply(doc, method.as_str(), template, status, &v));
    v
}

#[actix_web::test]
async fn replies_match_their_documented_schemas() {
    let app = spawn_app().await;
    let doc = fetch_document(&app).await;
    let mut problems = Vec::new();
    let c = "demo-small";
    assert_eq!(app.push_gz(c, fixture("small.json.gz")).await.status(), 200);
    for f in ["slo-1.json", "slo-2.json"] {
        let body: Value = serde_json::from_slice(&fixture(f)).unwrap();
        let r = app
            .agent_req(reqwest::Method::POST, "/agent/slo", c)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        app.state.persist.flush().await;
    }
    app.state.persist.flush().await;
    use reqwest::Method as M;
    // Writes whose replies are checked too, and which give the reads something to show.
    let user = exchange(
        &app,
        &doc,
        M::POST,
        "/api/v2/users",
        "/api/v2/users",
        Some(serde_json::json!({"username": "olga", "password": "a-long-password", "role": "operator"})),
        &mut problems,
    )
    .await;
    assert!(user["id"].is_i64(), "{user}");
    exchange(
        &app,
        &doc,
        M::POST,
        "/api/v2/tokens",
        "/api/v2/tokens",
        Some(serde_json::json!({"name": "ci", "role": "viewer"})),
        &mut problems,
    )
    .await;
    exchange(
        &app,
        &doc,
        M::POST,
        "/api/v2/clusters",
        "/api/v2/clusters",
        Some(serde_json::json!({"cluster_id": "prod-eu", "name": "Production EU"})),
        &mut problems,
    )
    .await;
    let command = exchange(
        &app,
        &doc,
        M::POST,
        "/api/v2/command",
        "/api/v2/command",
        Some(serde_json::json!({"cluster_id": c, "action": "scale", "namespace": "shop", "name": "web", "params": {"replicas": 3}})),
        &mut problems,
    )
    .await;
    let command_id = command["command_id"].as_str().unwrap_or("none").to_owned();
    let ends_at = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    exchange(
        &app,
        &doc,
        M::POST,
        "/api/v2/silences",
        "/api/v2/silences",
        Some(serde_json::json!({"matchers": {"cluster_id": c}, "ends_at": ends_at, "comment": "check"})),
        &mut problems,
    )
    .await;
    exchange(
        &app,
        &doc,
        M::POST,
        "/api/v2/command",
        "/api/v2/command",
        Some(serde_json::json!({"cluster_id": c, "action": "no-such-action"})),
        &mut problems,
    )
    .await;
    // Names from the snapshot for the one-object reads.
    let (_, pods) = app
        .get(&format!("/api/v2/clusters/{c}/resources/pods?limit=1"))
        .await;
    let pod = &pods["items"][0];
    let (pod_ns, pod_name) = (
        pod["summary"]["namespace"].as_str().unwrap().to_owned(),
        pod["summary"]["name"].as_str().unwrap().to_owned(),
    );
    let (_, nodes) = app
        .get(&format!("/api/v2/clusters/{c}/resources/nodes?limit=1"))
        .await;
    let node = nodes["items"][0]["summary"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, secrets) = app
        .get(&format!("/api/v2/clusters/{c}/resources/secrets?limit=1"))
        .await;
    let secret = format!(
        "{}/{}",
        secrets["items"][0]["namespace"].as_str().unwrap(),
        secrets["items"][0]["name"].as_str().unwrap()
    );
    let (_, rules) = app.get("/api/v2/alert-rules?limit=1").await;
    let rule_id = rules["items"][0]["id"].as_i64().unwrap_or(1).to_string();
    for spec in table().specs() {
        if spec.method != actix_web::http::Method::GET {
            continue;
        }
        let path = spec.path;
        let concrete = match path {
            "/metrics" | "/api/v2/subscribe" => continue, // not JSON; a stream
            "/api/v2/clusters/{id}/resources/{kind}/{name}" => {
                format!("/api/v2/clusters/{c}/resources/nodes/{node}")
            }
            "/api/v2/clusters/{id}/resources/{kind}/{namespace}/{name}" => {
                format!("/api/v2/clusters/{c}/resources/pods/{pod_ns}/{pod_name}")
            }
            "/api/v2/clusters/{id}/events/related" => {
                format!("/api/v2/clusters/{c}/events/related?kind=Node&name={node}")
            }
            "/api/v2/clusters/{id}/resources/secrets/{namespace}/{name}" => {
                format!("/api/v2/clusters/{c}/resources/secrets/{secret}")
            }
            "/api/v2/query" => format!("/api/v2/query?q=pods(cluster=%22{c}%22).limit(2)"),
            "/api/v2/commands/{id}" => format!("/api/v2/commands/{command_id}"),
            "/api/v2/alert-rules/{id}" => format!("/api/v2/alert-rules/{rule_id}"),
            "/api/v2/slo/domains/{domain}" => {
                format!("/api/v2/slo/domains/shop.example.com?cluster_id={c}")
            }
            "/api/v2/slo/domains" => format!("/api/v2/slo/domains?cluster_id={c}"),
            _ => path
                .replace("{id}", c)
                .replace("{kind}", "pods")
                .replace("{node}", &node)
                .replace("{namespace}", &pod_ns)
                .replace("{name}", &pod_name)
                .replace("{type}", "webhook"),
        };
        exchange(&app, &doc, M::GET, path, &concrete, None, &mut problems).await;
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_reply_checker_catches_drift() {
    let doc = serde_json::json!({"components": {"schemas": {
        "X": {"type": "object", "required": ["a", "n"], "properties": {
            "a": {"type": "string"},
            "n": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Y"}]},
            "e": {"type": "string", "enum": ["on", "off"]},
        }},
        "Y": {"type": "object", "properties": {"t": {"type": ["integer", "null"]}}},
    }}});
    let x = serde_json::json!({"$ref": "#/components/schemas/X"});
    let mut out = Vec::new();
    check(
        &doc,
        &x,
        &serde_json::json!({"a": "s", "n": null, "e": "on"}),
        "r",
        &mut out,
    );
    check(
        &doc,
        &x,
        &serde_json::json!({"a": "s", "n": {"t": 1}}),
        "r",
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    check(
        &doc,
        &x,
        &serde_json::json!({"a": 1, "n": {"t": "x"}, "e": "up", "b": 2}),
        "r",
        &mut out,
    );
    check(&doc, &x, &serde_json::json!({"n": null}), "r", &mut out);
    assert_eq!(out.len(), 5, "{out:#?}");
}
