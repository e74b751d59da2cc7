//! Google Gemini: `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`.
//!
//! Quirks: the key goes in `x-goog-api-key`, never in `?key=`; the assistant's role is
//! `model`; tool results are `functionResponse` parts in a *user* content, matched by
//! name, with an object `response` (`{"output": …}` or `{"error": …}`, as documented);
//! calls have no id, so the decoder numbers them; every event is a whole
//! `GenerateContentResponse` whose `usageMetadata` is cumulative; Gemini 3 refuses a
//! replayed `functionCall` without its `thoughtSignature`, so the decoder keeps each
//! call's signature ([`ToolCall::signature`]) and the request sends it back (or
//! `SKIP_SIGNATURE` for a first call that had none).

use serde_json::{json, Value};

use super::json::{cut, error_message, merge_roles, u64_at, INVALID_ARGUMENTS_LIMIT};
use super::{
    ChatRequest, Chunk, Decode, Format, ProviderConfig, ProviderError, Request, ToolCall, Turn,
};

/// The documented stand-in `thoughtSignature` for a replayed `functionCall` that came
/// without one (an older model, or a turn from before the model used signatures): Gemini 3
/// answers 400 "Function call is missing a thought_signature" to the first call of each
/// model turn without one; older models ignore it.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// The Gemini `streamGenerateContent` format.
pub struct Gemini;

impl Format for Gemini {
    type Decoder = GeminiDecoder;

    fn request(cfg: &ProviderConfig, req: &ChatRequest<'_>) -> Request {
        // (role, parts), merged so that the roles alternate.
        let merged = merge_roles(req.turns.iter().map(|turn| match turn {
            Turn::User(text) => ("user", vec![json!({ "text": text })]),
            Turn::Assistant { text, calls } => {
                let text = (!text.is_empty()).then(|| json!({ "text": text }));
                let calls = calls.iter().map(|c| {
                    let mut part =
                        json!({ "functionCall": { "name": c.name, "args": c.arguments } });
                    if let Some(sig) = &c.signature {
                        part["thoughtSignature"] = json!(sig);
                    }
                    part
                });
                ("model", text.into_iter().chain(calls).collect())
            }
            Turn::Tools(outputs) => {
                let results = outputs.iter().map(|o| {
                    let key = if o.is_error { "error" } else { "output" };
                    json!({ "functionResponse": { "name": o.name, "response": { key: o.content } } })
                });
                ("user", results.collect())
            }
        }));
        let contents: Vec<Value> = merged
            .into_iter()
            .map(|(role, mut parts)| {
                // The first call of a model turn must carry a signature: its own when the
                // model gave one, else the documented stand-in.
                let first_call = parts.iter_mut().find(|p| p.get("functionCall").is_some());
                if let Some(Value::Object(part)) = first_call {
                    part.entry("thoughtSignature")
                        .or_insert_with(|| json!(SKIP_SIGNATURE));
                }
                json!({ "role": role, "parts": parts })
            })
            .collect();
        let mut body = json!({
            "contents": contents,
            "generationConfig": { "maxOutputTokens": req.max_tokens },
        });
        if !req.system.is_empty() {
            // Gemini refuses an empty text part.
            body["systemInstruction"] = json!({ "parts": [{ "text": req.system }] });
        }
        if !req.tools.is_empty() {
            let declarations: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({ "name": t.name, "description": t.description, "parameters": t.parameters }))
                .collect();
            body["tools"] = json!([{ "functionDeclarations": declarations }]);
            if !req.allow_calls {
                body["toolConfig"] = json!({ "functionCallingConfig": { "mode": "NONE" } });
            }
        }
        // A user may write the model as the API lists it ("models/gemini-…").
        let model = cfg.model.strip_prefix("models/").unwrap_or(&cfg.model);
        Request {
            url: format!(
                "{}/v1beta/models/{}:streamGenerateContent?alt=sse",
                cfg.base_url,
                encode_segment(model)
            ),
            headers: vec![("x-goog-api-key", cfg.api_key.clone())],
            body,
        }
    }

    fn decoder() -> GeminiDecoder {
        GeminiDecoder::default()
    }
}

/// `s` percent-encoded as one URL path segment: RFC 3986 unreserved characters kept,
/// every other byte encoded (model names are `[a-z0-9.-]` in practice).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes one `streamGenerateContent` stream: each event's text and calls at once.
#[derive(Debug, Default)]
pub struct GeminiDecoder {
    /// Calls seen so far, to number the generated ids.
    calls: usize,
    /// Whether any data event came.
    received: bool,
    /// The last usage emitted: each event repeats it, only changes are passed on.
    usage: Option<(u64, u64)>,
}

impl Decode for GeminiDecoder {
    fn event(&mut self, _name: &str, data: &str) -> Result<Vec<Chunk>, ProviderError> {
        let v: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Malformed(format!("a data event is not JSON: {e}")))?;
        if let Some(error) = v.get("error") {
            let message = error_message(&v).unwrap_or_else(|| error.to_string());
            return Err(match error.get("code").and_then(Value::as_u64) {
                Some(429) => ProviderError::RateLimited {
                    retry_after: None,
                    message,
                },
                code => ProviderError::Upstream {
                    status: code.and_then(|c| u16::try_from(c).ok()).unwrap_or(0),
                    message,
                },
            });
        }
        if !v.is_object() {
            return Err(ProviderError::Malformed(
                "a data event is not a JSON object".into(),
            ));
        }
        self.received = true;
        let mut out = Vec::new();
        // One candidate unless asked for more; a blocked one has no content, just a
        // finishReason (SAFETY, RECITATION…), and adds nothing.
        let candidate = v.get("candidates").and_then(|c| c.get(0));
        let parts = candidate
            .and_then(|c| c.get("content"))
            .and_then(|c| c.get("parts"))
            .and_then(Value::as_array);
        for part in parts.into_iter().flatten() {
            // A thought summary is not answer text.
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                if !text.is_empty() {
                    out.push(Chunk::Text(text.to_owned()));
                }
            }
            if let Some(call) = part.get("functionCall") {
                // Gemini 3 wants a call's thought signature back with it in the history.
                let signature = part
                    .get("thoughtSignature")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                out.push(Chunk::ToolCall(self.call(call, signature)));
            }
        }
        if let Some(meta) = v.get("usageMetadata") {
            // Thinking tokens are billed as output but not counted in candidatesTokenCount.
            let usage = (
                u64_at(meta, "promptTokenCount"),
                u64_at(meta, "candidatesTokenCount") + u64_at(meta, "thoughtsTokenCount"),
            );
            if self.usage != Some(usage) {
                self.usage = Some(usage);
                out.push(Chunk::Usage {
                    input: usage.0,
                    output: usage.1,
                });
            }
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<Chunk>, ProviderError> {
        if self.received {
            Ok(Vec::new())
        } else {
            Err(ProviderError::Malformed("empty stream".into()))
        }
    }
}

impl GeminiDecoder {
    /// A `functionCall` part as a call, its id Gemini's when it sends one.
    fn call(&mut self, call: &Value, signature: Option<String>) -> ToolCall {
        let n = self.calls;
        self.calls += 1;
        let id = match call.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => format!("call_{n}"),
        };
        let arguments = match call.get("args") {
            Some(args @ Value::Object(_)) => args.clone(),
            None | Some(Value::Null) => json!({}),
            Some(other) => {
                json!({ "_invalid_arguments": cut(&other.to_string(), INVALID_ARGUMENTS_LIMIT) })
            }
        };
        ToolCall {
            id,
            name: call
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            arguments,
            signature,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::{ProviderKind, ToolDef, ToolOutput};
    use super::*;

    fn cfg(model: &str) -> ProviderConfig {
        ProviderConfig {
            kind: ProviderKind::Gemini,
            base_url: "https://generativelanguage.googleapis.com".into(),
            model: model.into(),
            api_key: "AIza-key".into(),
        }
    }

    fn decode_all(data: &[&str]) -> Result<Vec<Chunk>, ProviderError> {
        let mut d = Gemini::decoder();
        let mut out = Vec::new();
        for item in data {
            out.extend(d.event("message", item)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    /// A call's own thought signature goes back with it; a call without one gets the
    /// stand-in only when it is the first of its turn.
    #[test]
    fn thought_signatures_go_back_with_their_calls() {
        let call = |id: &str, sig: Option<&str>| ToolCall {
            id: id.into(),
            name: "q".into(),
            arguments: json!({}),
            signature: sig.map(str::to_owned),
        };
        let turns = vec![
            Turn::User("u".into()),
            Turn::Assistant {
                text: String::new(),
                calls: vec![call("a", Some("sig-a")), call("b", None)],
            },
        ];
        let req = ChatRequest {
            system: "",
            turns: &turns,
            tools: &[],
            allow_calls: true,
            max_tokens: 8,
        };
        let body = Gemini::request(&cfg("m"), &req).body;
        let parts = &body["contents"][1]["parts"];
        assert_eq!(parts[0]["thoughtSignature"], "sig-a");
        assert!(parts[1].get("thoughtSignature").is_none());
    }

    #[test]
    fn request_body() {
        let turns = vec![
            Turn::User("Why is web-1 down?".into()),
            Turn::Assistant {
                text: "Let me look.".into(),
                calls: vec![
                    ToolCall {
                        id: "call_0".into(),
                        name: "get_pod".into(),
                        arguments: json!({"name": "web-1"}),
                        signature: None,
                    },
                    ToolCall {
                        id: "call_1".into(),
                        name: "get_events".into(),
                        arguments: json!({}),
                        signature: None,
                    },
                ],
            },
            Turn::Tools(vec![
                ToolOutput {
                    call_id: "call_0".into(),
                    name: "get_pod".into(),
                    content: r#"{"phase":"Failed"}"#.into(),
                    is_error: false,
                },
                ToolOutput {
                    call_id: "call_1".into(),
                    name: "get_events".into(),
                    content: "cluster unreachable".into(),
                    is_error: true,
                },
            ]),
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
        let built = Gemini::request(&cfg("gemini-2.5-flash"), &req);
        assert_eq!(
            built.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            built.headers,
            vec![("x-goog-api-key", "AIza-key".to_owned())]
        );
        assert_eq!(
            built.body,
            json!({
                "systemInstruction": {"parts": [{"text": "You are an SRE."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "Why is web-1 down?"}]},
                    {"role": "model", "parts": [
                        {"text": "Let me look."},
                        {"functionCall": {"name": "get_pod", "args": {"name": "web-1"}},
                         "thoughtSignature": "skip_thought_signature_validator"},
                        {"functionCall": {"name": "get_events", "args": {}}},
                    ]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "get_pod", "response": {"output": "{\"phase\":\"Failed\"}"}}},
                        {"functionResponse": {"name": "get_events", "response": {"error": "cluster unreachable"}}},
                    ]},
                ],
                "tools": [{"functionDeclarations": [{
                    "name": "get_pod",
                    "description": "Reads a pod.",
                    "parameters": {"type":"object","properties":{"name":{"type":"string"}}},
                }]}],
                "generationConfig": {"maxOutputTokens": 1024},
            })
        );
    }

    #[test]
    fn request_url_and_optional_fields() {
        let turns = vec![Turn::User("hi".into()), Turn::User("again".into())];
        let req = ChatRequest {
            system: "",
            turns: &turns,
            tools: &[],
            max_tokens: 10,
            allow_calls: true,
        };
        let built = Gemini::request(&cfg("models/my model/x"), &req);
        assert_eq!(
            built.url,
            "https://generativelanguage.googleapis.com/v1beta/models/my%20model%2Fx:streamGenerateContent?alt=sse"
        );
        assert!(!built.url.contains("key="));
        assert_eq!(
            built.body,
            json!({
                "contents": [{"role": "user", "parts": [{"text": "hi"}, {"text": "again"}]}],
                "generationConfig": {"maxOutputTokens": 10},
            })
        );
    }

    #[test]
    fn decodes_a_full_answer() {
        let chunks = decode_all(&[
            r#"{"candidates":[{"content":{"parts":[{"text":"Checking "}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":120,"totalTokenCount":120},"modelVersion":"gemini-2.5-flash"}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"the pod."}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":120,"totalTokenCount":120}}"#,
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_pod","args":{"name":"web-1"}},"thoughtSignature":"CiQB..."},{"functionCall":{"name":"get_events"}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":25,"thoughtsTokenCount":40,"totalTokenCount":185}}"#,
        ])
        .unwrap();
        assert_eq!(
            chunks,
            vec![
                Chunk::Text("Checking ".into()),
                Chunk::Usage {
                    input: 120,
                    output: 0
                },
                Chunk::Text("the pod.".into()),
                Chunk::ToolCall(ToolCall {
                    id: "call_0".into(),
                    name: "get_pod".into(),
                    arguments: json!({"name": "web-1"}),
                    signature: Some("CiQB...".into()),
                }),
                Chunk::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "get_events".into(),
                    arguments: json!({}),
                    signature: None,
                }),
                Chunk::Usage {
                    input: 120,
                    output: 65
                },
            ]
        );
    }

    #[test]
    fn blocked_candidate_is_no_text() {
        let chunks = decode_all(&[
            r#"{"candidates":[{"finishReason":"SAFETY","index":0,"safetyRatings":[]}],"usageMetadata":{"promptTokenCount":9}}"#,
        ])
        .unwrap();
        assert_eq!(
            chunks,
            vec![Chunk::Usage {
                input: 9,
                output: 0
            }]
        );
    }

    #[test]
    fn error_events() {
        let quota = r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(
            decode_all(&[quota]),
            Err(ProviderError::RateLimited {
                retry_after: None,
                message: "Resource has been exhausted (e.g. check quota).".into()
            })
        );
        let internal = r#"{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}"#;
        assert_eq!(
            decode_all(&[internal]),
            Err(ProviderError::Upstream {
                status: 500,
                message: "An internal error has occurred.".into()
            })
        );
    }

    #[test]
    fn malformed_data() {
        assert!(matches!(
            decode_all(&["candidates: []"]),
            Err(ProviderError::Malformed(_))
        ));
        assert_eq!(
            decode_all(&[]),
            Err(ProviderError::Malformed("empty stream".into()))
        );
    }

    #[test]
    fn arguments_that_are_not_an_object() {
        let chunks = decode_all(&[
            r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_pod","args":"web-1"}}],"role":"model"}}]}"#,
        ])
        .unwrap();
        assert_eq!(
            chunks,
            vec![Chunk::ToolCall(ToolCall {
                id: "call_0".into(),
                name: "get_pod".into(),
                arguments: json!({"_invalid_arguments": "\"web-1\""}),
                signature: None,
            })]
        );
    }
}
