//! Anthropic messages: `POST {base}/v1/messages` with `stream: true`.
//!
//! Quirks: the system prompt is a top-level field, not a message; roles must alternate
//! and tool results travel as `tool_result` blocks in a *user* message, so consecutive
//! same-role messages are merged; the stream is typed events (`message_start`,
//! `content_block_*`, `message_delta`, `message_stop`) whose data carries the same
//! `type`, and a tool call's input arrives as `partial_json` pieces complete at its
//! `content_block_stop`. Input tokens come at the start, output tokens at the end.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::json::{merge_roles, parse_arguments, u64_at};
use super::{
    ChatRequest, Chunk, Decode, Format, ProviderConfig, ProviderError, Request, ToolCall, Turn,
};

/// The API version every request names (the only stable one).
const API_VERSION: &str = "2023-06-01";

/// The Anthropic messages format.
pub struct Anthropic;

impl Format for Anthropic {
    type Decoder = AnthropicDecoder;

    fn request(cfg: &ProviderConfig, req: &ChatRequest<'_>) -> Request {
        // (role, content blocks); an assistant turn with neither text nor calls is dropped.
        let merged = merge_roles(req.turns.iter().map(|turn| match turn {
            Turn::User(text) => ("user", vec![json!({ "type": "text", "text": text })]),
            Turn::Assistant { text, calls } => {
                // Anthropic refuses an empty text block.
                let text = (!text.is_empty()).then(|| json!({ "type": "text", "text": text }));
                let uses = calls.iter().map(|c| {
                    json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments })
                });
                ("assistant", text.into_iter().chain(uses).collect())
            }
            Turn::Tools(outputs) => {
                let results = outputs.iter().map(|o| {
                    json!({
                        "type": "tool_result",
                        "tool_use_id": o.call_id,
                        "content": o.content,
                        "is_error": o.is_error,
                    })
                });
                ("user", results.collect())
            }
        }));
        let messages: Vec<Value> = merged
            .into_iter()
            .map(|(role, blocks)| {
                // A lone user text stays the plain string the API documents for it.
                let content = match blocks.as_slice() {
                    [only] if role == "user" && only["type"] == "text" => only["text"].clone(),
                    _ => Value::Array(blocks),
                };
                json!({ "role": role, "content": content })
            })
            .collect();
        let mut body = json!({
            "model": cfg.model,
            "max_tokens": req.max_tokens,
            "messages": messages,
            "stream": true,
        });
        if !req.system.is_empty() {
            // Left out rather than sent empty, which the API may refuse.
            body["system"] = json!(req.system);
        }
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
                .collect();
            body["tools"] = Value::Array(tools);
            if !req.allow_calls {
                body["tool_choice"] = json!({ "type": "none" });
            }
        }
        Request {
            url: format!("{}/v1/messages", cfg.base_url),
            headers: vec![
                ("x-api-key", cfg.api_key.clone()),
                ("anthropic-version", API_VERSION.to_owned()),
            ],
            body,
        }
    }

    fn decoder() -> AnthropicDecoder {
        AnthropicDecoder::default()
    }
}

/// Decodes one messages stream: text at once, each tool call at its block's end.
#[derive(Debug, Default)]
pub struct AnthropicDecoder {
    /// The open `tool_use` blocks, by content block index.
    calls: BTreeMap<u64, PartialCall>,
    /// Prompt tokens from `message_start`, repeated with each later usage.
    input: u64,
    /// Answer tokens so far.
    output: u64,
    /// Whether `message_stop` came.
    stopped: bool,
}

/// A `tool_use` block whose input is still arriving.
#[derive(Debug)]
struct PartialCall {
    id: String,
    name: String,
    /// The `input` of `content_block_start` (normally `{}`), used when no piece follows.
    start_input: Value,
    /// The joined `partial_json` pieces.
    json: String,
}

impl PartialCall {
    fn into_chunk(self) -> Chunk {
        let arguments = match self.start_input {
            Value::Object(o) if self.json.is_empty() => Value::Object(o),
            _ => parse_arguments(&self.json),
        };
        Chunk::ToolCall(ToolCall {
            id: self.id,
            name: self.name,
            arguments,
            signature: None,
        })
    }
}

/// The string field `field` of `v`, "" when absent.
fn str_at<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Input tokens of a `usage` object: the uncached ones plus those written to or read
/// from the prompt cache, as all are prompt.
fn input_tokens(usage: &Value) -> u64 {
    u64_at(usage, "input_tokens")
        + u64_at(usage, "cache_creation_input_tokens")
        + u64_at(usage, "cache_read_input_tokens")
}

impl Decode for AnthropicDecoder {
    fn event(&mut self, name: &str, data: &str) -> Result<Vec<Chunk>, ProviderError> {
        let v: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Malformed(format!("a data event is not JSON: {e}")))?;
        // The data's own `type` names the event; the `event:` line is the fallback.
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(name);
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                if let Some(usage) = v.get("message").and_then(|m| m.get("usage")) {
                    self.input = input_tokens(usage);
                    self.output = u64_at(usage, "output_tokens");
                    out.push(self.usage());
                }
            }
            "content_block_start" => {
                let block = v.get("content_block").unwrap_or(&Value::Null);
                match str_at(block, "type") {
                    "text" => {
                        let text = str_at(block, "text");
                        if !text.is_empty() {
                            out.push(Chunk::Text(text.to_owned()));
                        }
                    }
                    "tool_use" => {
                        let call = PartialCall {
                            id: str_at(block, "id").to_owned(),
                            name: str_at(block, "name").to_owned(),
                            start_input: block.get("input").cloned().unwrap_or(Value::Null),
                            json: String::new(),
                        };
                        self.calls.insert(index, call);
                    }
                    // Thinking and other blocks carry nothing for the answer.
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = v.get("delta").unwrap_or(&Value::Null);
                match str_at(delta, "type") {
                    "text_delta" => {
                        let text = str_at(delta, "text");
                        if !text.is_empty() {
                            out.push(Chunk::Text(text.to_owned()));
                        }
                    }
                    "input_json_delta" => {
                        if let Some(call) = self.calls.get_mut(&index) {
                            call.json.push_str(str_at(delta, "partial_json"));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some(call) = self.calls.remove(&index) {
                    out.push(call.into_chunk());
                }
            }
            "message_delta" => {
                if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
                    // Counts here are cumulative; newer versions repeat the input too.
                    let input = input_tokens(usage);
                    if input > 0 {
                        self.input = input;
                    }
                    self.output = u64_at(usage, "output_tokens");
                    out.push(self.usage());
                }
            }
            "message_stop" => {
                self.stopped = true;
                // A block left open (never seen in practice) still yields its call.
                let open = std::mem::take(&mut self.calls);
                out.extend(open.into_values().map(PartialCall::into_chunk));
            }
            "error" => {
                let error = v.get("error").unwrap_or(&Value::Null);
                let kind = str_at(error, "type");
                let message = match str_at(error, "message") {
                    "" if kind.is_empty() => v.to_string(),
                    "" => kind.to_owned(),
                    m => m.to_owned(),
                };
                return Err(match kind {
                    "overloaded_error" | "rate_limit_error" => ProviderError::RateLimited {
                        retry_after: None,
                        message,
                    },
                    _ => ProviderError::Upstream { status: 0, message },
                });
            }
            // `ping`, and events added after this was written.
            _ => {}
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<Chunk>, ProviderError> {
        if self.stopped {
            Ok(Vec::new())
        } else {
            Err(ProviderError::Malformed(
                "stream ended before message_stop".into(),
            ))
        }
    }
}

impl AnthropicDecoder {
    fn usage(&self) -> Chunk {
        Chunk::Usage {
            input: self.input,
            output: self.output,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::{ProviderKind, ToolDef, ToolOutput};
    use super::*;

    fn cfg() -> ProviderConfig {
        ProviderConfig {
            kind: ProviderKind::Anthropic,
            base_url: "https://api.anthropic.com".into(),
            model: "claude-sonnet-4-5".into(),
            api_key: "sk-ant-key".into(),
        }
    }

    fn decode_all(events: &[(&str, &str)]) -> Result<Vec<Chunk>, ProviderError> {
        let mut d = Anthropic::decoder();
        let mut out = Vec::new();
        for (name, data) in events {
            out.extend(d.event(name, data)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn request_body() {
        let turns = vec![
            Turn::User("Why is web-1 down?".into()),
            Turn::Assistant {
                text: "Let me look.".into(),
                calls: vec![
                    ToolCall {
                        id: "toolu_a".into(),
                        name: "get_pod".into(),
                        arguments: json!({"name": "web-1"}),
                        signature: None,
                    },
                    ToolCall {
                        id: "toolu_b".into(),
                        name: "get_events".into(),
                        arguments: json!({}),
                        signature: None,
                    },
                ],
            },
            Turn::Tools(vec![
                ToolOutput {
                    call_id: "toolu_a".into(),
                    name: "get_pod".into(),
                    content: r#"{"phase":"Failed"}"#.into(),
                    is_error: false,
                },
                ToolOutput {
                    call_id: "toolu_b".into(),
                    name: "get_events".into(),
                    content: "cluster unreachable".into(),
                    is_error: true,
                },
            ]),
            // Follows the tool results: merged into the same user message.
            Turn::User("Also check web-2.".into()),
        ];
        let tools = vec![ToolDef {
            name: "get_pod",
            description: "Reads a pod.",
            parameters: json!({"type":"object","properties":{"name":{"type":"string"}}}),
        }];
        let req = ChatRequest {
            system: "You are an SRE.",
            turns: &turns,
            tools: &tools,
            max_tokens: 1024,
            allow_calls: true,
        };
        let built = Anthropic::request(&cfg(), &req);
        assert_eq!(built.url, "https://api.anthropic.com/v1/messages");
        assert_eq!(
            built.headers,
            vec![
                ("x-api-key", "sk-ant-key".to_owned()),
                ("anthropic-version", "2023-06-01".to_owned())
            ]
        );
        assert_eq!(
            built.body,
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 1024,
                "system": "You are an SRE.",
                "messages": [
                    {"role": "user", "content": "Why is web-1 down?"},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "toolu_a", "name": "get_pod", "input": {"name": "web-1"}},
                        {"type": "tool_use", "id": "toolu_b", "name": "get_events", "input": {}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "{\"phase\":\"Failed\"}", "is_error": false},
                        {"type": "tool_result", "tool_use_id": "toolu_b", "content": "cluster unreachable", "is_error": true},
                        {"type": "text", "text": "Also check web-2."},
                    ]},
                ],
                "stream": true,
                "tools": [{
                    "name": "get_pod",
                    "description": "Reads a pod.",
                    "input_schema": {"type":"object","properties":{"name":{"type":"string"}}},
                }],
            })
        );
    }

    #[test]
    fn request_without_tools_or_text() {
        let turns = vec![
            Turn::User("hi".into()),
            Turn::Assistant {
                text: String::new(),
                calls: vec![ToolCall {
                    id: "t1".into(),
                    name: "t".into(),
                    arguments: json!({}),
                    signature: None,
                }],
            },
        ];
        let req = ChatRequest {
            system: "",
            turns: &turns,
            tools: &[],
            max_tokens: 10,
            allow_calls: true,
        };
        let body = Anthropic::request(&cfg(), &req).body;
        assert!(body.get("tools").is_none());
        assert!(body.get("system").is_none());
        assert_eq!(
            body["messages"][1]["content"],
            json!([{"type": "tool_use", "id": "t1", "name": "t", "input": {}}])
        );
    }

    #[test]
    fn decodes_a_full_answer() {
        let chunks = decode_all(&[
            ("message_start", r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2}}}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ("ping", r#"{"type": "ping"}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking "}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"the pod."}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"get_pod","input":{}}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"name\": \"we"}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"b-1\"}"}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02","name":"get_events","input":{}}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
            ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}"#),
            ("future_event", r#"{"type":"future_event","x":1}"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ])
        .unwrap();
        assert_eq!(
            chunks,
            vec![
                Chunk::Usage {
                    input: 472,
                    output: 2
                },
                Chunk::Text("Checking ".into()),
                Chunk::Text("the pod.".into()),
                Chunk::ToolCall(ToolCall {
                    id: "toolu_01".into(),
                    name: "get_pod".into(),
                    arguments: json!({"name": "web-1"}),
                    signature: None,
                }),
                Chunk::ToolCall(ToolCall {
                    id: "toolu_02".into(),
                    name: "get_events".into(),
                    arguments: json!({}),
                    signature: None,
                }),
                Chunk::Usage {
                    input: 472,
                    output: 89
                },
            ]
        );
    }

    #[test]
    fn error_events() {
        let start =
            r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#;
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            decode_all(&[("message_start", start), ("error", overloaded)]),
            Err(ProviderError::RateLimited {
                retry_after: None,
                message: "Overloaded".into()
            })
        );
        let api =
            r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#;
        assert_eq!(
            decode_all(&[("error", api)]),
            Err(ProviderError::Upstream {
                status: 0,
                message: "Internal server error".into()
            })
        );
    }

    #[test]
    fn malformed_data() {
        assert!(matches!(
            decode_all(&[("message_start", "{not json")]),
            Err(ProviderError::Malformed(_))
        ));
        let start = r#"{"type":"message_start","message":{"usage":{"input_tokens":5}}}"#;
        let delta =
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#;
        assert_eq!(
            decode_all(&[("message_start", start), ("content_block_delta", delta)]),
            Err(ProviderError::Malformed(
                "stream ended before message_stop".into()
            ))
        );
    }

    #[test]
    fn arguments_that_do_not_parse() {
        let chunks = decode_all(&[
            ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_pod","input":{}}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"name\": \"web"}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ])
        .unwrap();
        assert_eq!(
            chunks,
            vec![Chunk::ToolCall(ToolCall {
                id: "toolu_1".into(),
                name: "get_pod".into(),
                arguments: json!({"_invalid_arguments": "{\"name\": \"web"}),
                signature: None,
            })]
        );
    }
}
