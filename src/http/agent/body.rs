//! Bounded request bodies for the agent port.
//!
//! actix-web's own decompression inflates each network chunk in full before any limit is
//! checked, so it is off (no `compress-*` features) and bodies are handled here:
//! 1. the compressed body is read within a deadline and a size cap (`413` past the cap,
//!    `408` past the deadline, so a trickling client cannot hold a connection forever);
//! 2. gzip is inflated as a stream into a buffer that stops at the decompressed cap (`413`),
//!    so a gzip bomb costs at most the cap, never its full expansion.

use std::io::Read;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use atlhyper_actors::model::{interned, parse_reusing, Base, ClusterSnapshot, Memo, Reuse};
use bytes::{Bytes, BytesMut};
use flate2::read::MultiGzDecoder;
use futures_util::StreamExt;

use crate::error::{ApiError, ErrorCode};

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Plain JSON (no header, or `identity`).
    Identity,
    /// gzip (`Content-Encoding: gzip`, any case).
    Gzip,
}

/// The body's encoding; anything but gzip/identity is `415`.
pub fn encoding(req: &HttpRequest) -> Result<Encoding, ApiError> {
    let Some(v) = req.headers().get(header::CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let v = v.to_str().unwrap_or("").trim();
    if v.is_empty() || v.eq_ignore_ascii_case("identity") {
        Ok(Encoding::Identity)
    } else if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") {
        Ok(Encoding::Gzip)
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedEncoding,
            format!("unsupported Content-Encoding {v:?}: use gzip or identity"),
        ))
    }
}

/// Reads the whole (still encoded) body: at most `max` bytes, within `deadline`.
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    max: u64,
    deadline: Duration,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::too_large(format!(
            "request body exceeds {max} bytes"
        )));
    }
    let cap = usize::try_from(max).unwrap_or(usize::MAX);
    let mut buf = BytesMut::with_capacity(declared.map_or(8 * 1024, |n| n as usize).min(cap));
    let collect = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request(
                    ErrorCode::BodyReadFailed,
                    format!("could not read the body: {e}"),
                )
            })?;
            if buf.len() + chunk.len() > cap {
                return Err(ApiError::too_large(format!(
                    "request body exceeds {max} bytes"
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(deadline, collect).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::BodyTimeout,
                format!("the body did not arrive within {}s", deadline.as_secs()),
            ))
        }
    }
    Ok(buf.freeze())
}

/// Decodes a body read by [`read`]: gzip is inflated up to `max_decoded` bytes. Blocking
/// CPU work: call it from `web::block`.
pub fn decode(raw: Bytes, enc: Encoding, max_decoded: u64) -> Result<Bytes, ApiError> {
    let cap = usize::try_from(max_decoded).unwrap_or(usize::MAX);
    let too_large =
        || ApiError::too_large(format!("decompressed body exceeds {max_decoded} bytes"));
    match enc {
        Encoding::Identity if raw.len() > cap => Err(too_large()),
        Encoding::Identity => Ok(raw),
        Encoding::Gzip => {
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
            MultiGzDecoder::new(&raw[..])
                .take(max_decoded.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| {
                    ApiError::bad_request(ErrorCode::InvalidGzip, format!("invalid gzip body: {e}"))
                })?;
            if out.len() > cap {
                return Err(too_large());
            }
            Ok(Bytes::from(out))
        }
    }
}

/// Parses an agent body, which must be a JSON object. (serde would also accept an array
/// for a struct, and `[]` would then pass for an empty snapshot that wipes live state.)
///
/// Parsed by sonic-rs, about 1.5× serde_json's speed on a snapshot (`benches/parser.rs`),
/// with equal strings of the body sharing one allocation ([`interned`]). When sonic-rs
/// rejects the body, serde_json parses it again: its answer is final, so exactly what
/// serde_json accepts is accepted, and the 400 names the line and column of the problem.
pub fn parse_object<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, ApiError> {
    object_start(json)?;
    interned(json.len(), || sonic_rs::from_slice(json)).or_else(|_| reparse(json))
}

/// A snapshot body, parsed as [`parse_object`] does, reusing what `base` (the cluster's
/// previous snapshot) already parsed for list elements whose bytes are unchanged
/// ([`parse_reusing`]). When that fast path gives up, the body is parsed as a whole by
/// [`parse_object`], whose answer is final. Returns the memo of the new snapshot for the
/// next push (`None` when the fast path gave up).
pub fn parse_snapshot(
    json: &[u8],
    base: Option<&Base>,
) -> Result<(ClusterSnapshot, Option<Memo>, Reuse), ApiError> {
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

fn object_start(json: &[u8]) -> Result<(), ApiError> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(ApiError::bad_request(
            ErrorCode::InvalidJson,
            "the body must be a JSON object",
        )),
    }
}

/// serde_json's parse of a body sonic-rs rejected: its answer is final.
fn reparse<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, ApiError> {
    interned(json.len(), || serde_json::from_slice(json)).map_err(|e| json_error(&e))
}

/// A JSON error as a 400 that names where the problem is.
pub fn json_error(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        ErrorCode::InvalidJson,
        format!(
            "invalid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Bytes {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        Bytes::from(e.finish().unwrap())
    }

    #[test]
    fn gzip_round_trip_and_caps() {
        let data = vec![b'x'; 1_000_000];
        assert_eq!(
            decode(gz(&data), Encoding::Gzip, 1_000_000).unwrap().len(),
            1_000_000
        );
        assert_eq!(
            decode(gz(&data), Encoding::Gzip, 999_999)
                .unwrap_err()
                .code(),
            ErrorCode::PayloadTooLarge
        );
        assert_eq!(
            decode(Bytes::from_static(b"not gzip"), Encoding::Gzip, 100)
                .unwrap_err()
                .code(),
            ErrorCode::InvalidGzip
        );
        assert_eq!(
            decode(Bytes::from_static(b"{}"), Encoding::Identity, 1)
                .unwrap_err()
                .code(),
            ErrorCode::PayloadTooLarge
        );
    }

    #[test]
    fn empty_gzip_member_is_empty() {
        assert!(decode(gz(b""), Encoding::Gzip, 10).unwrap().is_empty());
    }
}
