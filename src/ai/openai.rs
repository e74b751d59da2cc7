//! OpenAI-compatible chat completions: `POST {base}/chat/completions` with
//! `stream: true` (OpenAI, DeepSeek, vLLM, Ollama, LM Studio).
//!
//! Quirks: a tool call's arguments arrive as string pieces keyed by the call's `index`,
//! complete only at `finish_reason`; usage comes in a last chunk with empty `choices`
//! (asked for with `stream_options.include_usage`); the stream ends with `data: [DONE]`,
//! which some servers leave out; `Authorization` is sent only with a key, as a local
//! server needs none.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::json::{error_message, parse_arguments, u64_at};
use super::{
    ChatRequest, Chunk, Decode, Format, ProviderConfig, ProviderError, Request, ToolCall, Turn,
};

/// The OpenAI-compatible chat completions format.
pub struct Openai;

impl Format for Openai {
    type Decoder = OpenaiDecoder;

    fn request(cfg: &ProviderConfig, req: &ChatRequest<'_>) -> Request {
        let mut messages = vec![json!({ "role": "system", "content": req.system })];
        for turn in req.turns {
            match turn {
                Turn::User(text) => messages.push(json!({ "role": "user", "content": text })),
                Turn::Assistant { text, calls } => {
                    // OpenAI wants `null`, not "", beside tool calls.
                    let content = if text.is_empty() && !calls.is_empty() {
                        Value::Null
                    } else {
                        json!(text)
                    };
                    let mut message = json!({ "role": "assistant", "content": content });
                    if !calls.is_empty() {
                        let calls: Vec<Value> = calls
                            .iter()
                            .map(|c| {
                                json!({
                                    "id": c.id,
                                    "type": "function",
                                    // The arguments travel as JSON text, not as an object.
                                    "function": { "name": c.name, "arguments": c.arguments.to_string() },
                                })
                            })
                            .collect();
                        message["tool_calls"] = Value::Array(calls);
                    }
                    messages.push(message);
                }
                Turn::Tools(outputs) => {
                    for out in outputs {
                        let content = if out.is_error {
                            format!("ERROR: {}", out.content)
                        } else {
                            out.content.clone()
                        };
                        messages.push(json!({
                            "role": "tool",
                            "tool_call_id": out.call_id,
                            "content": content,
                        }));
                    }
                }
            }
        }
        let mut body = json!({
            "model": cfg.model,
            "messages": messages,
            "stream": true,
            "stream_options": { "include_usage": true },
        });
        // OpenAI's own API refuses `max_tokens` for its reasoning models and takes
        // `max_completion_tokens` for all; the compatible servers (Ollama, vLLM, DeepSeek,
        // LM Studio) know `max_tokens`.
        let limit = if is_openai_itself(&cfg.base_url) {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[limit] = json!(req.max_tokens);
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "function": { "name": t.name, "description": t.description, "parameters": t.parameters },
                    })
                })
                .collect();
            body["tools"] = Value::Array(tools);
            if !req.allow_calls {
                body["tool_choice"] = json!("none");
            }
        }
        let mut headers = Vec::new();
        if !cfg.api_key.is_empty() {
            headers.push(("authorization", format!("Bearer {}", cfg.api_key)));
        }
        Request {
            url: format!("{}/chat/completions", cfg.base_url),
            headers,
            body,
        }
    }

    fn decoder() -> OpenaiDecoder {
        OpenaiDecoder::default()
    }
}

/// True for OpenAI's own API host (not a compatible server).
fn is_openai_itself(base_url: &str) -> bool {
    reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h.eq_ignore_ascii_case("api.openai.com"))
        })
        .unwrap_or(false)
}

/// Decodes one chat completions stream: text at once, tool calls joined per `index`.
#[derive(Debug, Default)]
pub struct OpenaiDecoder {
    /// The calls being joined, by their `index` (so emitted in index order).
    calls: BTreeMap<u64, PartialCall>,
    /// Whether any data event came.
    received: bool,
}

/// A tool call whose arguments are still arriving.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl OpenaiDecoder {
    /// Adds one `delta.tool_calls[]` fragment to its call.
    fn absorb(&mut self, fragment: &Value) {
        let id = fragment.get("id").and_then(Value::as_str).unwrap_or("");
        let index = match fragment.get("index").and_then(Value::as_u64) {
            Some(index) => index,
            // No index (a few servers): a new id starts a new call, else it continues.
            None => match self.calls.iter().next_back() {
                None => 0,
                Some((&last, call)) if !id.is_empty() && id != call.id => last + 1,
                Some((&last, _)) => last,
            },
        };
        let call = self.calls.entry(index).or_default();
        if !id.is_empty() {
            call.id = id.to_owned();
        }
        let function = fragment.get("function");
        if let Some(name) = function.and_then(|f| f.get("name")).and_then(Value::as_str) {
            // Set, not appended: some servers repeat the name in every fragment.
            if !name.is_empty() {
                call.name = name.to_owned();
            }
        }
        match function.and_then(|f| f.get("arguments")) {
            Some(Value::String(piece)) => call.arguments.push_str(piece),
            // Some servers send the arguments whole, as an object.
            Some(whole @ Value::Object(_)) => call.arguments = whole.to_string(),
            _ => {}
        }
    }

    /// The joined calls, in index order; none remain.
    fn flush(&mut self) -> Vec<Chunk> {
        std::mem::take(&mut self.calls)
            .into_iter()
            .map(|(index, call)| {
                Chunk::ToolCall(ToolCall {
                    id: if call.id.is_empty() {
                        format!("call_{index}")
                    } else {
                        call.id
                    },
                    name: call.name,
                    arguments: parse_arguments(&call.arguments),
                    signature: None,
                })
            })
            .collect()
    }
}

impl Decode for OpenaiDecoder {
    fn event(&mut self, _name: &str, data: &str) -> Result<Vec<Chunk>, ProviderError> {
        if data.trim() == "[DONE]" {
            self.received = true;
            return Ok(self.flush());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Malformed(format!("a data event is not JSON: {e}")))?;
        if !v.is_object() {
            return Err(ProviderError::Malformed(
                "a data event is not a JSON object".into(),
            ));
        }
        // `{"error":{…}}` (OpenAI, proxies) or `{"object":"error","message":…}` (vLLM).
        if v.get("error").is_some() || v.get("object").and_then(Value::as_str) == Some("error") {
            return Err(ProviderError::Upstream {
                status: 0,
                message: error_message(&v).unwrap_or_else(|| v.to_string()),
            });
        }
        self.received = true;
        let mut out = Vec::new();
        let mut finished = false;
        let choices = v.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            let delta = choice.get("delta");
            if let Some(text) = delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
                if !text.is_empty() {
                    out.push(Chunk::Text(text.to_owned()));
                }
            }
            let fragments = delta
                .and_then(|d| d.get("tool_calls"))
                .and_then(Value::as_array);
            for fragment in fragments.into_iter().flatten() {
                self.absorb(fragment);
            }
            finished |= choice.get("finish_reason").is_some_and(|r| !r.is_null());
        }
        if finished {
            out.extend(self.flush());
        }
        if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
            out.push(Chunk::Usage {
                input: u64_at(usage, "prompt_tokens"),
                output: u64_at(usage, "completion_tokens"),
            });
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<Chunk>, ProviderError> {
        if !self.received {
            return Err(ProviderError::Malformed("empty stream".into()));
        }
        Ok(self.flush())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::{ProviderKind, ToolDef, ToolOutput};
    use super::*;

    fn cfg(key: &str) -> ProviderConfig {
        ProviderConfig {
            kind: ProviderKind::Openai,
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
            api_key: key.into(),
        }
    }

    fn conversation() -> Vec<Turn> {
        vec![
            Turn::User("Why is web-1 down?".into()),
            Turn::Assistant {
                text: "Let me look.".into(),
                calls: vec![
                    ToolCall {
                        id: "call_a".into(),
                        name: "get_pod".into(),
                        arguments: json!({"name": "web-1"}),
                        signature: None,
                    },
                    ToolCall {
                        id: "call_b".into(),
                        name: "get_events".into(),
                        arguments: json!({}),
                        signature: None,
                    },
                ],
            },
            Turn::Tools(vec![
                ToolOutput {
                    call_id: "call_a".into(),
                    name: "get_pod".into(),
                    content: r#"{"phase":"Failed"}"#.into(),
                    is_error: false,
                },
                ToolOutput {
                    call_id: "call_b".into(),
                    name: "get_events".into(),
                    content: "cluster unreachable".into(),
                    is_error: true,
                },
            ]),
        ]
    }

    fn tools() -> Vec<ToolDef> {
        vec![ToolDef {
            name: "get_pod",
            description: "Reads a pod.",
            parameters: json!({"type":"object","properties":{"name":{"type":"string"}}}),
        }]
    }

    fn decode_all(data: &[&str]) -> Result<Vec<Chunk>, ProviderError> {
        let mut d = Openai::decoder();
        let mut out = Vec::new();
        for item in data {
            out.extend(d.event("message", item)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn request_body() {
        let turns = conversation();
        let tools = tools();
        let req = ChatRequest {
            system: "You are an SRE.",
            turns: &turns,
            tools: &tools,
            max_tokens: 1024,
            allow_calls: true,
        };
        let built = Openai::request(&cfg("sk-abc"), &req);
        assert_eq!(built.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(
            built.headers,
            vec![("authorization", "Bearer sk-abc".to_owned())]
        );
        assert_eq!(
            built.body,
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "You are an SRE."},
                    {"role": "user", "content": "Why is web-1 down?"},
                    {"role": "assistant", "content": "Let me look.", "tool_calls": [
                        {"id": "call_a", "type": "function",
                         "function": {"name": "get_pod", "arguments": "{\"name\":\"web-1\"}"}},
                        {"id": "call_b", "type": "function",
                         "function": {"name": "get_events", "arguments": "{}"}},
                    ]},
                    {"role": "tool", "tool_call_id": "call_a", "content": "{\"phase\":\"Failed\"}"},
                    {"role": "tool", "tool_call_id": "call_b", "content": "ERROR: cluster unreachable"},
                ],
                "stream": true,
                "stream_options": {"include_usage": true},
                "max_completion_tokens": 1024,
                "tools": [{"type": "function", "function": {
                    "name": "get_pod",
                    "description": "Reads a pod.",
                    "parameters": {"type":"object","properties":{"name":{"type":"string"}}},
                }}],
            })
        );
    }

    #[test]
    fn request_without_key_tools_or_text() {
        let turns = vec![
            Turn::User("hi".into()),
            Turn::Assistant {
                text: String::new(),
                calls: vec![ToolCall {
                    id: "c".into(),
                    name: "t".into(),
                    arguments: json!({}),
                    signature: None,
                }],
            },
        ];
        let req = ChatRequest {
            system: "s",
            turns: &turns,
            tools: &[],
            max_tokens: 10,
            allow_calls: true,
        };
        let built = Openai::request(&cfg(""), &req);
        assert!(built.headers.is_empty());
        assert_eq!(built.body["max_completion_tokens"], 10);
        let local = ProviderConfig {
            base_url: "http://localhost:11434/v1".into(),
            ..cfg("")
        };
        let body = Openai::request(&local, &req).body;
        assert_eq!(
            body["max_tokens"], 10,
            "a compatible server gets max_tokens"
        );
        assert!(body.get("max_completion_tokens").is_none());
        assert!(built.body.get("tools").is_none());
        assert_eq!(built.body["messages"][2]["content"], Value::Null);
    }

    #[test]
    fn decodes_a_full_answer() {
        let chunks = decode_all(&[
            r#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"content":"Checking "},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"content":"the pod."},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"get_pod","arguments":""}}]},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"na"}}]},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"me\":\"web-1\"}"}}]},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"name":"get_events","arguments":""}}]},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}"#,
            r#"{"id":"x","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":31,"total_tokens":151}}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(
            chunks,
            vec![
                Chunk::Text("Checking ".into()),
                Chunk::Text("the pod.".into()),
                Chunk::ToolCall(ToolCall {
                    id: "call_9".into(),
                    name: "get_pod".into(),
                    arguments: json!({"name": "web-1"}),
                    signature: None,
                }),
                Chunk::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "get_events".into(),
                    arguments: json!({}),
                    signature: None,
                }),
                Chunk::Usage {
                    input: 120,
                    output: 31
                },
            ]
        );
    }

    #[test]
    fn calls_are_flushed_at_the_end_without_finish_reason_or_done() {
        let chunks = decode_all(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"t","arguments":"{}"}}]}}]}"#,
        ])
        .unwrap();
        assert_eq!(
            chunks,
            vec![Chunk::ToolCall(ToolCall {
                id: "c1".into(),
                name: "t".into(),
                arguments: json!({}),
                signature: None,
            })]
        );
    }

    #[test]
    fn error_event() {
        let err = decode_all(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}"#,
        ])
        .unwrap_err();
        assert_eq!(
            err,
            ProviderError::Upstream {
                status: 0,
                message: "The server had an error while processing your request.".into()
            }
        );
    }

    #[test]
    fn malformed_data() {
        assert!(matches!(
            decode_all(&["{\"choices\": [oops"]),
            Err(ProviderError::Malformed(_))
        ));
        assert!(matches!(
            decode_all(&["42"]),
            Err(ProviderError::Malformed(_))
        ));
        assert_eq!(
            decode_all(&[]),
            Err(ProviderError::Malformed("empty stream".into()))
        );
    }

    #[test]
    fn arguments_that_do_not_parse() {
        let chunks = decode_all(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"get_pod","arguments":"{\"name\": web-1"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(
            chunks,
            vec![Chunk::ToolCall(ToolCall {
                id: "c1".into(),
                name: "get_pod".into(),
                arguments: json!({"_invalid_arguments": "{\"name\": web-1"}),
                signature: None,
            })]
        );
    }
}
