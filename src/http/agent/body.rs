//! Bounded request bodies for the agent port.
//!
//! actix-web's own decompression inflates each network chunk in full before any limit is
//! checked, so it is off (no `compress-*` features) and bodies are handled here:
//! 1. the compressed body is read within a size cap (`413` past it) and within the port's
//!    body deadline (`crate::http::middleware::body_deadline`: `408` past it, so a
//!    trickling client cannot hold a connection forever);
//! 2. gzip is inflated as a stream into a buffer that stops at the decompressed cap (`413`),
//!    so a gzip bomb costs at most the cap, never its full expansion;
//! 3. the parse is `atlhyper_actors::model::wire`'s (the fuzz targets call it too), its
//!    errors answered here as JSON 400s and 413s.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest};
use atlhyper_actors::model::wire::{self, WireError};
use atlhyper_actors::model::{Base, ClusterSnapshot, Memo, Reuse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::error::{ApiError, ErrorCode};
use crate::http::middleware::body_timeout_error;

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

/// Reads the whole (still encoded) body: at most `max` bytes (the port's body deadline
/// applies: `crate::http::middleware::body_deadline`).
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    max: u64,
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
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            body_timeout_error(&e).unwrap_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::BodyReadFailed,
                    format!("could not read the body: {e}"),
                )
            })
        })?;
        if buf.len() + chunk.len() > cap {
            return Err(ApiError::too_large(format!(
                "request body exceeds {max} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Decodes a body read by [`read`]: gzip is inflated up to `max_decoded` bytes
/// ([`wire::inflate`]). Blocking CPU work: call it from `web::block`.
pub fn decode(raw: Bytes, enc: Encoding, max_decoded: u64) -> Result<Bytes, ApiError> {
    match enc {
        Encoding::Identity if raw.len() as u64 > max_decoded => {
            Err(wire_error(WireError::TooLarge { max: max_decoded }))
        }
        Encoding::Identity => Ok(raw),
        Encoding::Gzip => Ok(Bytes::from(
            wire::inflate(&raw, max_decoded).map_err(wire_error)?,
        )),
    }
}

/// A wire decoding error as the agent port answers it.
pub fn wire_error(e: WireError) -> ApiError {
    match e {
        WireError::TooLarge { .. } => ApiError::too_large(e.to_string()),
        WireError::InvalidGzip(_) => ApiError::bad_request(ErrorCode::InvalidGzip, e.to_string()),
        WireError::NotAnObject | WireError::InvalidJson { .. } => {
            ApiError::bad_request(ErrorCode::InvalidJson, e.to_string())
        }
    }
}

/// [`wire::parse_object`], answering as the agent port does.
pub fn parse_object<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, ApiError> {
    wire::parse_object(json).map_err(wire_error)
}

/// [`wire::parse_snapshot`], answering as the agent port does.
pub fn parse_snapshot(
    json: &[u8],
    base: Option<&Base>,
) -> Result<(ClusterSnapshot, Option<Memo>, Reuse), ApiError> {
    wire::parse_snapshot(json, base).map_err(wire_error)
}

/// A JSON error as a 400 that names where the problem is.
pub fn json_error(e: &serde_json::Error) -> ApiError {
    wire_error(wire::json_error(e))
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
