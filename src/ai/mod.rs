//! The AI assistant's model providers: three wire formats behind one streaming call.
//!
//! - [`openai`]: OpenAI-compatible chat completions (OpenAI, DeepSeek, vLLM, Ollama,
//!   LM Studio: anything that serves `POST {base}/chat/completions`);
//! - [`anthropic`]: Anthropic messages (`POST {base}/v1/messages`);
//! - [`gemini`]: Google Gemini `streamGenerateContent` (`?alt=sse`).
//!
//! Each format module is pure: it builds the request body from a [`ChatRequest`] and
//! decodes one Server-Sent Event at a time into [`Chunk`]s. [`stream`] does the HTTP: it
//! sends the request, maps a refusal to a [`ProviderError`], and turns the body into a
//! stream of chunks with an idle timeout and a size cap. Nothing here knows about
//! conversations, tools or the database; `service::ai` does.
//!
//! The API key travels only in a request header; it is never put in an error, a log line
//! or a URL (Gemini takes it in `x-goog-api-key`, not `?key=`).

pub mod anthropic;
pub mod gemini;
mod http;
mod json;
pub mod openai;

pub use http::{stream, ChunkStream};

use serde::{Deserialize, Serialize};

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible chat completions.
    Openai,
    /// Anthropic messages.
    Anthropic,
    /// Google Gemini.
    Gemini,
}

impl ProviderKind {
    /// Every kind, in catalogue order.
    pub const ALL: [ProviderKind; 3] = [Self::Openai, Self::Anthropic, Self::Gemini];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }

    /// Parses a stored or API name.
    pub fn parse(s: &str) -> Option<ProviderKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The base URL used when a provider has none of its own.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Self::Openai => "https://api.openai.com/v1",
            Self::Anthropic => "https://api.anthropic.com",
            Self::Gemini => "https://generativelanguage.googleapis.com",
        }
    }
}

/// Where and how to reach one provider. The key is in clear here: this value lives only
/// for the time of one chat and never prints its key.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The wire format.
    pub kind: ProviderKind,
    /// The base URL without a trailing slash (the kind's default when the provider has
    /// none).
    pub base_url: String,
    /// The model name.
    pub model: String,
    /// The API key (empty for a local server that needs none, such as Ollama).
    pub api_key: String,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

/// A tool the model may call: a name, what it does, and its parameters as a JSON Schema
/// object.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// The tool's name (`[a-z_]+`).
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// JSON Schema of its arguments (`{"type":"object","properties":…}`).
    pub parameters: serde_json::Value,
}

/// A call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// The provider's id of the call (generated when the format has none, as Gemini).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments (an object; `{}` when the model sent none or sent text that does not
    /// parse, which the tool then refuses).
    pub arguments: serde_json::Value,
    /// An opaque token the provider attached to the call and wants back with it (Gemini's
    /// `thoughtSignature`); never shown.
    #[serde(skip)]
    pub signature: Option<String>,
}

/// What a tool answered, fed back to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The id of the call it answers.
    pub call_id: String,
    /// The tool's name (Gemini matches results by name).
    pub name: String,
    /// The result as text (JSON text for data).
    pub content: String,
    /// True when the tool failed or refused; `content` says why.
    pub is_error: bool,
}

/// One turn of the conversation as sent to the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// The user's words.
    User(String),
    /// The model's answer: text, and the tool calls it made (in order).
    Assistant {
        /// The text.
        text: String,
        /// The calls.
        calls: Vec<ToolCall>,
    },
    /// The results of the calls of the assistant turn just before.
    Tools(Vec<ToolOutput>),
}

/// One request to the model.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    /// The system prompt.
    pub system: &'a str,
    /// The conversation so far, oldest first; it ends with a `User` or a `Tools` turn.
    pub turns: &'a [Turn],
    /// The tools the model knows of.
    pub tools: &'a [ToolDef],
    /// False: the tools are described but may not be called (`tool_choice: none`), so the
    /// model must answer in words while the earlier tool turns stay valid (Anthropic
    /// refuses tool blocks in a request without tools).
    pub allow_calls: bool,
    /// The longest answer, in tokens.
    pub max_tokens: u32,
}

/// A piece of the model's streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// More answer text.
    Text(String),
    /// A complete tool call (a format that streams the arguments in pieces has joined
    /// them).
    ToolCall(ToolCall),
    /// Token usage as reported so far for this request (the last one reported wins).
    Usage {
        /// Prompt tokens.
        input: u64,
        /// Answer tokens.
        output: u64,
    },
}

/// Why a model call failed. The messages are the provider's, cut short; they never hold
/// the API key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 401/403: the key is wrong, expired or lacks access.
    #[error("the provider refused the API key ({status}): {message}")]
    Unauthorized {
        /// The HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// 429: rate limited or out of quota; `retry_after` in seconds when the provider said.
    #[error("the provider is rate limiting: {message}")]
    RateLimited {
        /// Seconds to wait, from `Retry-After`.
        retry_after: Option<u64>,
        /// The provider's message.
        message: String,
    },
    /// Any other refusal (400, 404 for an unknown model, 5xx), or an error event inside
    /// the stream.
    #[error("the provider answered {status}: {message}")]
    Upstream {
        /// The HTTP status (0 for an error event inside a 200 stream).
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// The stream does not follow the format.
    #[error("the provider sent a malformed stream: {0}")]
    Malformed(String),
    /// No byte arrived within the idle timeout.
    #[error("the provider did not answer within {0} s")]
    Timeout(u64),
    /// The connection failed (DNS, refused, reset, TLS).
    #[error("could not reach the provider: {0}")]
    Transport(String),
    /// The answer exceeded the size cap.
    #[error("the provider's answer exceeded {0} bytes")]
    TooLarge(usize),
}

impl ProviderError {
    /// A stable short name for the `error` event's `code` and the provider's counters.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "provider_unauthorized",
            Self::RateLimited { .. } => "provider_rate_limited",
            Self::Upstream { .. } => "provider_error",
            Self::Malformed(_) => "provider_malformed",
            Self::Timeout(_) => "provider_timeout",
            Self::Transport(_) => "provider_unreachable",
            Self::TooLarge(_) => "provider_too_large",
        }
    }
}

/// What one format module does: build the request and decode the stream. Implemented by
/// a unit struct per format; [`http::stream`] drives it.
pub trait Format {
    /// The decoder state of one response.
    type Decoder: Decode + Send + 'static;
    /// The URL, headers and JSON body of a streaming request.
    fn request(cfg: &ProviderConfig, req: &ChatRequest<'_>) -> Request;
    /// A fresh decoder for one response.
    fn decoder() -> Self::Decoder;
}

/// A built request: `POST url` with these headers and this JSON body.
#[derive(Debug)]
pub struct Request {
    /// The full URL (never holding the key).
    pub url: String,
    /// Headers, the key's among them.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: serde_json::Value,
}

/// Decodes one response's Server-Sent Events into chunks.
pub trait Decode {
    /// One event (`event:` name, possibly empty, and its `data:`). Returns the chunks it
    /// completes; `Err` for an error event or data that does not follow the format.
    fn event(&mut self, name: &str, data: &str) -> Result<Vec<Chunk>, ProviderError>;
    /// The stream ended: the chunks still held (tool calls whose arguments were being
    /// joined), or `Err` when the stream ended in the middle of something.
    fn finish(&mut self) -> Result<Vec<Chunk>, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request after the last tool round describes the tools but forbids calls, in
    /// each format's words.
    #[test]
    fn a_request_can_forbid_tool_calls() {
        let tools = [ToolDef {
            name: "query",
            description: "d",
            parameters: serde_json::json!({"type": "object", "properties": {}}),
        }];
        let turns = [Turn::User("hi".into())];
        let body = |kind: ProviderKind, allow_calls: bool| {
            let cfg = ProviderConfig {
                kind,
                base_url: "http://h".into(),
                model: "m".into(),
                api_key: "k".into(),
            };
            let req = ChatRequest {
                system: "s",
                turns: &turns,
                tools: &tools,
                allow_calls,
                max_tokens: 10,
            };
            match kind {
                ProviderKind::Openai => openai::Openai::request(&cfg, &req).body,
                ProviderKind::Anthropic => anthropic::Anthropic::request(&cfg, &req).body,
                ProviderKind::Gemini => gemini::Gemini::request(&cfg, &req).body,
            }
        };
        let none = [
            ("tool_choice", serde_json::json!("none")),
            ("tool_choice", serde_json::json!({"type": "none"})),
            (
                "toolConfig",
                serde_json::json!({"functionCallingConfig": {"mode": "NONE"}}),
            ),
        ];
        for (kind, (key, value)) in ProviderKind::ALL.into_iter().zip(none) {
            let forbidden = body(kind, false);
            assert_eq!(forbidden[key], value, "{kind:?}");
            assert!(forbidden.get("tools").is_some(), "{kind:?}");
            assert!(body(kind, true).get(key).is_none(), "{kind:?}");
        }
    }
}
