//! The small JSON readers the three formats share: a tool call's arguments, a provider's
//! error message, a counter, and a cut that says it cut.

use serde_json::{json, Value};

/// The longest raw argument text kept in `_invalid_arguments`: enough for the tool layer
/// to quote the start of it, bounded so a runaway model cannot bloat the conversation.
pub(super) const INVALID_ARGUMENTS_LIMIT: usize = 1000;

/// Messages as `(role, parts)`, in order, with empty ones dropped (every format refuses a
/// message without content) and consecutive same-role ones joined (Anthropic and Gemini
/// want the roles to alternate).
pub(super) fn merge_roles(
    messages: impl IntoIterator<Item = (&'static str, Vec<Value>)>,
) -> Vec<(&'static str, Vec<Value>)> {
    let mut merged: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (role, parts) in messages {
        if parts.is_empty() {
            continue;
        }
        match merged.last_mut() {
            Some((last, content)) if *last == role => content.extend(parts),
            _ => merged.push((role, parts)),
        }
    }
    merged
}

/// `text` cut to at most `max` characters, the last being `…` when it was cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The provider's message in an error body: `error.message`, a string `error`, or a
/// top-level `message` (Gemini sometimes wraps the object in an array).
pub(super) fn error_message(body: &Value) -> Option<String> {
    let body = match body {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let message = match body.get("error") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(error) => error.get("message").and_then(Value::as_str),
        None => body.get("message").and_then(Value::as_str),
    };
    message.map(str::to_owned)
}

/// A tool call's arguments from their streamed JSON text: the object, `{}` for nothing
/// (or `null`), and otherwise `{"_invalid_arguments": <the text, cut>}` so the tool
/// layer refuses the call with a message the model can act on instead of running it with
/// no arguments.
pub(super) fn parse_arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(Value::Null) => json!({}),
        _ => json!({ "_invalid_arguments": cut(text, INVALID_ARGUMENTS_LIMIT) }),
    }
}

/// A `u64` field of a JSON object, 0 when absent.
pub(super) fn u64_at(v: &Value, field: &str) -> u64 {
    v.get(field).and_then(Value::as_u64).unwrap_or(0)
}
