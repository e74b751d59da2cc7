//! Slack incoming webhooks: `POST <webhook_url>` with
//! `{"text": title, "blocks": [{"type":"section","text":{"type":"mrkdwn","text": ...}}]}`.
//! `text` is the notification fallback; the blocks carry the rendered message. Any
//! non-2xx reply is an error (Slack answers `invalid_payload`, `no_service`, ... in the
//! body, which goes into the error message).

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::fields::Fields;
use super::http;
use super::SendError;
use crate::notify::message::Message;
use crate::notify::render::{self, Flavor};

/// Secret fields: the webhook URL is the credential.
pub(super) const SECRETS: &[&str] = &["webhook_url"];

/// Slack refuses a section whose text is longer than this.
const MAX_SECTION_CHARS: usize = 3000;
/// Slack refuses a message with more blocks than this.
const MAX_BLOCKS: usize = 50;

/// A valid Slack config.
pub(super) struct Config {
    webhook_url: reqwest::Url,
}

pub(super) fn parse(f: &mut Fields<'_>) -> Option<Config> {
    Some(Config {
        webhook_url: f.req_url("webhook_url", true)?,
    })
}

/// The JSON body for `msg`.
pub(super) fn payload(msg: &Message) -> Value {
    let blocks: Vec<Value> = split(&render::markdown(msg, Flavor::Slack), MAX_SECTION_CHARS)
        .into_iter()
        .take(MAX_BLOCKS)
        .map(|text| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}))
        .collect();
    json!({"text": msg.title, "blocks": blocks})
}

pub(super) async fn send(
    client: &reqwest::Client,
    cfg: &Config,
    msg: &Message,
) -> Result<(), SendError> {
    let body = serde_json::to_vec(&payload(msg)).map_err(SendError::encoding)?;
    http::post(client, cfg.webhook_url.clone(), HeaderMap::new(), body)
        .await?
        .check_status()
}

/// Splits `text` into pieces of at most `max` characters, at line breaks when it can.
fn split(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut current_len = 0;
    for line in text.split_inclusive('\n') {
        let mut line = line;
        let mut len = line.chars().count();
        if current_len + len > max && current_len > 0 {
            out.push(std::mem::take(&mut current).trim_end().to_owned());
            current_len = 0;
        }
        while len > max {
            let cut = line.char_indices().nth(max).map_or(line.len(), |(i, _)| i);
            out.push(line[..cut].to_owned());
            line = &line[cut..];
            len -= max;
        }
        current.push_str(line);
        current_len += len;
    }
    if !current.trim().is_empty() {
        out.push(current.trim_end().to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split("a\nb", 3000), vec!["a\nb".to_owned()]);
    }

    #[test]
    fn long_text_splits_at_lines_within_the_limit() {
        let text = format!("{}\n{}\n{}", "a".repeat(6), "b".repeat(6), "c".repeat(15));
        let pieces = split(&text, 10);
        assert!(pieces.iter().all(|p| p.chars().count() <= 10), "{pieces:?}");
        assert_eq!(pieces[0], "a".repeat(6));
        assert_eq!(pieces[1], "b".repeat(6));
        assert_eq!(pieces[2..].concat(), "c".repeat(15));
    }
}
