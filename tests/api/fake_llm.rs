//! A local fake model provider: a real HTTP server on 127.0.0.1, port 0, that speaks the
//! three wire formats (OpenAI chat completions, Anthropic messages, Gemini
//! `streamGenerateContent`) from a script, streams Server-Sent Events, and records every
//! request so a test can read what the master sent (the tools offered, the tool results fed
//! back, the key header).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 `text/event-stream` with these raw SSE frames; then the body ends, or, with
    /// `stall`, stays open sending nothing.
    Stream { frames: Vec<String>, stall: bool },
    /// Any status with headers and a body.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    seen: Vec<Seen>,
}

/// The running fake.
pub struct FakeLlm {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl FakeLlm {
    pub async fn start() -> FakeLlm {
        let state = Arc::new(Mutex::new(State::default()));
        let (addr, handle) = crate::sinks::serve_all(web::Data::from(Arc::clone(&state)), answer);
        FakeLlm {
            addr,
            state,
            handle,
        }
    }

    /// The base URL a provider of `kind` is configured with.
    pub fn base_url(&self, kind: &str) -> String {
        match kind {
            "openai" => format!("http://{}/v1", self.addr),
            _ => format!("http://{}", self.addr),
        }
    }

    pub fn script(&self, replies: Vec<Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let reply = {
        let mut st = state.lock().unwrap();
        st.seen.push(Seen {
            path: req.path().to_owned(),
            query: req.query_string().to_owned(),
            headers: crate::sinks::headers_of(&req),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        // Anthropic refuses tool blocks in a request that defines no tools; so does the
        // fake, so that a master that drops them on the last round fails here.
        let has_blocks = body_has_tool_blocks(&st.seen.last().unwrap().body);
        if req.path() == "/v1/messages"
            && has_blocks
            && st.seen.last().unwrap().body.get("tools").is_none()
        {
            Some(Reply::Status {
                status: 400,
                headers: Vec::new(),
                body: json!({"type": "error", "error": {"type": "invalid_request_error",
                    "message": "Requests which include `tool_use` or `tool_result` blocks must define tools."}})
                .to_string(),
            })
        } else {
            st.script.pop_front()
        }
    };
    match reply {
        None => HttpResponse::InternalServerError().body("the fake has no reply scripted"),
        Some(Reply::Status {
            status,
            headers,
            body,
        }) => {
            let mut r = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
            for (k, v) in headers {
                r.insert_header((k, v));
            }
            r.content_type("application/json").body(body)
        }
        Some(Reply::Stream { frames, stall }) => {
            // Frames go out one by one with a small gap, as a real model streams.
            let frames = stream::iter(frames).then(|f| async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok::<_, actix_web::Error>(Bytes::from(f))
            });
            let body = if stall {
                frames.chain(stream::pending()).boxed_local()
            } else {
                frames.boxed_local()
            };
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(body)
        }
    }
}

fn body_has_tool_blocks(body: &Value) -> bool {
    body["messages"].as_array().into_iter().flatten().any(|m| {
        m["content"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "tool_use" || c["type"] == "tool_result")
    })
}

fn data(v: Value) -> String {
    format!("data: {v}\n\n")
}

fn named(event: &str, v: Value) -> String {
    format!("event: {event}\ndata: {v}\n\n")
}

/// A tool call the scripted model makes.
#[derive(Debug, Clone)]
pub struct Call {
    pub id: &'static str,
    pub name: &'static str,
    pub args: Value,
}

/// The frames of one streamed answer in `kind`'s format: `text` in two pieces, then the
/// calls (arguments streamed in two pieces where the format does that), then usage.
pub fn answer_frames(kind: &str, text: &str, calls: &[Call], usage: (u64, u64)) -> Vec<String> {
    let mid = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    let (t1, t2) = text.split_at(mid);
    let mut f = Vec::new();
    match kind {
        "openai" => {
            for t in [t1, t2].iter().filter(|t| !t.is_empty()) {
                f.push(data(
                    json!({"choices": [{"index": 0, "delta": {"content": t}}]}),
                ));
            }
            for (i, c) in calls.iter().enumerate() {
                let a = c.args.to_string();
                let (a1, a2) = a.split_at(a.len() / 2);
                f.push(data(json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": a1}}
                ]}}]})));
                f.push(data(
                    json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": i, "function": {"arguments": a2}}
                    ]}}]}),
                ));
            }
            let reason = if calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            f.push(data(
                json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}),
            ));
            f.push(data(json!({"choices": [], "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1}})));
            f.push("data: [DONE]\n\n".into());
        }
        "anthropic" => {
            f.push(named(
                "message_start",
                json!({"type": "message_start", "message": {
                "id": "msg_1", "type": "message", "role": "assistant", "content": [],
                "usage": {"input_tokens": usage.0, "output_tokens": 1}}}),
            ));
            let mut index = 0;
            if !text.is_empty() {
                f.push(named("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
                for t in [t1, t2].iter().filter(|t| !t.is_empty()) {
                    f.push(named("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})));
                }
                f.push(named(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                ));
                index = 1;
            }
            f.push(named("ping", json!({"type": "ping"})));
            for c in calls {
                let a = c.args.to_string();
                let (a1, a2) = a.split_at(a.len() / 2);
                f.push(named("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}})));
                for part in [a1, a2] {
                    f.push(named("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": part}})));
                }
                f.push(named(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": index}),
                ));
                index += 1;
            }
            let reason = if calls.is_empty() {
                "end_turn"
            } else {
                "tool_use"
            };
            f.push(named("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": reason}, "usage": {"output_tokens": usage.1}})));
            f.push(named("message_stop", json!({"type": "message_stop"})));
        }
        "gemini" => {
            for t in [t1, t2].iter().filter(|t| !t.is_empty()) {
                f.push(data(
                    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": t}]}}]}),
                ));
            }
            if !calls.is_empty() {
                let parts: Vec<Value> = calls
                    .iter()
                    .map(|c| {
                        json!({"functionCall": {"name": c.name, "args": c.args},
                                    "thoughtSignature": format!("sig-{}", c.id)})
                    })
                    .collect();
                f.push(data(
                    json!({"candidates": [{"content": {"role": "model", "parts": parts}}]}),
                ));
            }
            f.push(data(json!({"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": usage.0, "candidatesTokenCount": usage.1, "totalTokenCount": usage.0 + usage.1}})));
        }
        other => panic!("unknown kind {other}"),
    }
    f
}

/// A complete scripted answer.
pub fn say(kind: &str, text: &str, calls: &[Call], usage: (u64, u64)) -> Reply {
    Reply::Stream {
        frames: answer_frames(kind, text, calls, usage),
        stall: false,
    }
}

/// The names of the tools a request offered.
pub fn offered_tools(kind: &str, body: &Value) -> Vec<String> {
    let names: Vec<&Value> = match kind {
        "openai" => body["tools"]
            .as_array()
            .map(|a| a.iter().map(|t| &t["function"]["name"]).collect())
            .unwrap_or_default(),
        "anthropic" => body["tools"]
            .as_array()
            .map(|a| a.iter().map(|t| &t["name"]).collect())
            .unwrap_or_default(),
        _ => body["tools"][0]["functionDeclarations"]
            .as_array()
            .map(|a| a.iter().map(|t| &t["name"]).collect())
            .unwrap_or_default(),
    };
    names
        .into_iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// The tool results a request fed back, as `(call id or tool name, text)`.
pub fn tool_results(kind: &str, body: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match kind {
        "openai" => {
            for m in body["messages"].as_array().into_iter().flatten() {
                if m["role"] == "tool" {
                    out.push((
                        m["tool_call_id"].as_str().unwrap_or("").into(),
                        m["content"].as_str().unwrap_or("").into(),
                    ));
                }
            }
        }
        "anthropic" => {
            for m in body["messages"].as_array().into_iter().flatten() {
                for c in m["content"].as_array().into_iter().flatten() {
                    if c["type"] == "tool_result" {
                        let text = match &c["content"] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        out.push((c["tool_use_id"].as_str().unwrap_or("").into(), text));
                    }
                }
            }
        }
        _ => {
            for m in body["contents"].as_array().into_iter().flatten() {
                for p in m["parts"].as_array().into_iter().flatten() {
                    if let Some(r) = p.get("functionResponse") {
                        out.push((
                            r["name"].as_str().unwrap_or("").into(),
                            r["response"].to_string(),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The header that carries the key in `kind`'s format, and its expected value.
pub fn key_header(kind: &str, key: &str) -> (&'static str, String) {
    match kind {
        "openai" => ("authorization", format!("Bearer {key}")),
        "anthropic" => ("x-api-key", key.to_owned()),
        _ => ("x-goog-api-key", key.to_owned()),
    }
}
