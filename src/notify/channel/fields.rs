//! Reads a channel's JSON config field by field, collecting one error per problem, each
//! naming its field (`config.webhook_url: ...`). Keys nobody asked for are errors too, so
//! a typo (`webhook_ur1`) is reported instead of silently ignored.

use serde_json::{Map, Value};

use super::MASK;

/// The config of one channel while it is being read.
pub(super) struct Fields<'a> {
    map: &'a Map<String, Value>,
    known: Vec<&'static str>,
    errors: Vec<String>,
}

impl<'a> Fields<'a> {
    /// Fails when the config is not a JSON object.
    pub(super) fn new(config: &'a Value) -> Result<Self, Vec<String>> {
        match config {
            Value::Object(map) => Ok(Fields {
                map,
                known: Vec::new(),
                errors: Vec::new(),
            }),
            _ => Err(vec!["config: must be a JSON object".to_owned()]),
        }
    }

    /// Records a problem with `field`.
    pub(super) fn error(&mut self, field: &str, problem: impl std::fmt::Display) {
        self.errors.push(format!("config.{field}: {problem}"));
    }

    /// The value of `key`, `None` when absent or `null`.
    pub(super) fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.known.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An optional string; an empty string counts as absent (forms send `""` for an
    /// empty input).
    pub(super) fn opt_str(&mut self, key: &'static str) -> Option<&'a str> {
        match self.get(key)? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s),
            _ => {
                self.error(key, "must be a string");
                None
            }
        }
    }

    /// A required string.
    pub(super) fn req_str(&mut self, key: &'static str) -> Option<&'a str> {
        let s = self.opt_str(key);
        if s.is_none() && !self.has_error_for(key) {
            self.error(key, "is required");
        }
        s
    }

    /// An optional secret string. A value still masked by [`super::mask`] is refused:
    /// [`super::merge_masked`] found no stored secret to put back.
    pub(super) fn opt_secret(&mut self, key: &'static str) -> Option<&'a str> {
        let s = self.opt_str(key)?;
        if s.starts_with(MASK) {
            self.error(
                key,
                "is still masked and no stored secret exists; enter the secret again",
            );
            return None;
        }
        Some(s)
    }

    /// A required secret string.
    pub(super) fn req_secret(&mut self, key: &'static str) -> Option<&'a str> {
        let s = self.opt_secret(key);
        if s.is_none() && !self.has_error_for(key) {
            self.error(key, "is required");
        }
        s
    }

    /// A required absolute `http`/`https` URL.
    pub(super) fn req_url(&mut self, key: &'static str, secret: bool) -> Option<reqwest::Url> {
        let s = if secret {
            self.req_secret(key)?
        } else {
            self.req_str(key)?
        };
        match parse_http_url(s) {
            Some(url) => Some(url),
            None => {
                self.error(key, "must be an absolute http(s) URL");
                None
            }
        }
    }

    /// An optional integer in `min..=max`.
    pub(super) fn opt_int(&mut self, key: &'static str, min: u64, max: u64) -> Option<u64> {
        let v = self.get(key)?;
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(key, format!("must be an integer from {min} to {max}"));
                None
            }
        }
    }

    /// The errors so far, plus one for every key nobody read.
    pub(super) fn finish(mut self) -> Vec<String> {
        let mut unknown: Vec<&String> = self
            .map
            .keys()
            .filter(|k| !self.known.contains(&k.as_str()))
            .collect();
        unknown.sort();
        for key in unknown {
            self.errors.push(format!("config.{key}: unknown field"));
        }
        self.errors
    }

    /// Whether a problem with `key` was recorded.
    pub(super) fn has_error_for(&self, key: &str) -> bool {
        let prefix = format!("config.{key}:");
        self.errors.iter().any(|e| e.starts_with(&prefix))
    }
}

/// `s` as an absolute `http`/`https` URL with a host.
pub(super) fn parse_http_url(s: &str) -> Option<reqwest::Url> {
    let url = reqwest::Url::parse(s).ok()?;
    let ok =
        matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty());
    ok.then_some(url)
}
