//! Decoding what agents send, with no HTTP: bounded gzip, the "JSON object" rule, the
//! parse (sonic-rs, with serde_json's verdict when sonic-rs refuses), the snapshot parse
//! that reuses the previous snapshot, and the heartbeat and result bodies. The agent
//! handlers map [`WireError`] to their JSON errors; the fuzz targets (`fuzz/`) call these
//! functions exactly as the handlers do.

use std::io::Read;

use super::{interned, parse_reusing, AgentMetaBody, Base, ClusterSnapshot, Memo, Reuse};

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The decompressed body would exceed the cap.
    #[error("decompressed body exceeds {max} bytes")]
    TooLarge {
        /// The cap, in bytes.
        max: u64,
    },
    /// Not gzip, or a damaged stream.
    #[error("invalid gzip body: {0}")]
    InvalidGzip(String),
    /// Valid or not, the body does not start with `{`.
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// The JSON parser's complaint, with where it is.
    #[error("invalid JSON at line {line} column {column}: {message}")]
    InvalidJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's message.
        message: String,
    },
}

/// Inflates a gzip body (several members are read as one stream) into at most `max`
/// bytes: a gzip bomb costs at most the cap, never its full expansion.
pub fn inflate(raw: &[u8], max: u64) -> Result<Vec<u8>, WireError> {
    let cap = usize::try_from(max).unwrap_or(usize::MAX);
    // The gzip trailer states the size (mod 2^32); trust it only as a capped hint.
    let hint = raw
        .len()
        .checked_sub(4)
        .and_then(|i| raw.get(i..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map_or(0, |t| u32::from_le_bytes(t) as usize);
    let hint = hint
        .min(cap)
        .min(raw.len().saturating_mul(64))
        .saturating_add(1);
    let mut out: Vec<u8> = Vec::with_capacity(hint);
    flate2::read::MultiGzDecoder::new(raw)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| WireError::InvalidGzip(e.to_string()))?;
    if out.len() > cap {
        return Err(WireError::TooLarge { max });
    }
    Ok(out)
}

fn object_start(json: &[u8]) -> Result<(), WireError> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(WireError::NotAnObject),
    }
}

/// A serde_json error as a [`WireError`] that names where the problem is.
pub fn json_error(e: &serde_json::Error) -> WireError {
    WireError::InvalidJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

/// Parses an agent body, which must be a JSON object. (serde would also accept an array
/// for a struct, and `[]` would then pass for an empty snapshot that wipes live state.)
///
/// Parsed by sonic-rs, about 1.5× serde_json's speed on a snapshot, with equal strings of
/// the body sharing one allocation ([`interned`]). When sonic-rs rejects the body,
/// serde_json parses it again: its answer is final, so exactly what serde_json accepts is
/// accepted, and the error names the line and column of the problem.
pub fn parse_object<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, WireError> {
    object_start(json)?;
    interned(json.len(), || sonic_rs::from_slice(json)).or_else(|_| reparse(json))
}

/// serde_json's parse of a body sonic-rs rejected: its answer is final.
fn reparse<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, WireError> {
    interned(json.len(), || serde_json::from_slice(json)).map_err(|e| json_error(&e))
}

/// A snapshot body, parsed as [`parse_object`] does, reusing what `base` (the cluster's
/// previous snapshot) already parsed for list elements whose bytes are unchanged
/// ([`parse_reusing`]). When that fast path gives up, the body is parsed as a whole by
/// [`parse_object`], whose answer is final. Returns the memo of the new snapshot for the
/// next push (`None` when the fast path gave up).
pub fn parse_snapshot(
    json: &[u8],
    base: Option<&Base>,
) -> Result<(ClusterSnapshot, Option<Memo>, Reuse), WireError> {
    object_start(json)?;
    match interned(json.len(), || parse_reusing(json, base)) {
        Some((s, memo, reuse)) => Ok((s, Some(memo), reuse)),
        None => Ok((parse_object(json)?, None, Reuse::default())),
    }
}

/// The body's `cluster_id`, read without parsing the rest (it comes first in what v2.1
/// agents send); `None` when absent or not a string. Only a hint: the parse decides.
pub fn peek_cluster_id(json: &[u8]) -> Option<String> {
    let v = sonic_rs::get_from_slice(json, ["cluster_id"]).ok()?;
    sonic_rs::JsonValueTrait::as_str(&v).map(str::to_owned)
}

/// Longest heartbeat metadata value kept, in characters.
pub const MAX_META_CHARS: usize = 128;

/// A heartbeat body: empty (v2.1 agents), or an object whose metadata is kept cut to
/// [`MAX_META_CHARS`] characters each.
pub fn parse_heartbeat(json: &[u8]) -> Result<Option<AgentMetaBody>, WireError> {
    if json.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let b: AgentMetaBody = parse_object(json)?;
    let short = |v: Option<String>| v.map(|v| v.chars().take(MAX_META_CHARS).collect());
    Ok(Some(AgentMetaBody {
        agent_version: short(b.agent_version),
        hostname: short(b.hostname),
        ip: short(b.ip),
    }))
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_round_trip_and_caps() {
        let data = vec![b'x'; 1_000_000];
        assert_eq!(inflate(&gz(&data), 1_000_000).unwrap().len(), 1_000_000);
        assert_eq!(
            inflate(&gz(&data), 999_999).unwrap_err(),
            WireError::TooLarge { max: 999_999 }
        );
        assert!(matches!(
            inflate(b"not gzip", 100).unwrap_err(),
            WireError::InvalidGzip(_)
        ));
        assert!(inflate(&gz(b""), 10).unwrap().is_empty());
    }

    #[test]
    fn only_objects_and_errors_say_where() {
        assert_eq!(
            parse_object::<ClusterSnapshot>(b"[]").unwrap_err(),
            WireError::NotAnObject
        );
        match parse_object::<ClusterSnapshot>(b"{\n \"cluster_id\": 5}").unwrap_err() {
            WireError::InvalidJson { line, column, .. } => assert_eq!((line, column), (2, 16)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn heartbeats_may_be_empty_and_long_values_are_cut() {
        assert_eq!(parse_heartbeat(b" \n").unwrap(), None);
        let long = "é".repeat(500);
        let body = format!("{{\"hostname\":\"{long}\"}}");
        let b = parse_heartbeat(body.as_bytes()).unwrap().unwrap();
        assert_eq!(b.hostname.unwrap().chars().count(), MAX_META_CHARS);
        assert_eq!(parse_heartbeat(b"[]").unwrap_err(), WireError::NotAnObject);
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("é", 0), "");
    }
}
