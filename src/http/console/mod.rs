//! The web console: a small browser app compiled into the binary, served at `/` on the
//! dashboard port (issue 17).
//!
//! **Why hand-written JavaScript, no build step:** `cargo run` on a machine with only the
//! Rust toolchain must serve it, and nothing may be fetched at build or run time. The app is
//! three checked-in files (`assets/`: `index.html`, `app.css`, `app.js`), embedded with
//! `include_str!`; it is a normal client of the REST API with the user's session token.
//!
//! - Every reply is rendered through DOM text nodes (`textContent`), never `innerHTML`, so a
//!   pod name or annotation holding markup shows as text.
//! - The console's pages carry their own Content-Security-Policy: only its own script and
//!   style, API calls to its own origin; the API keeps its strict `default-src 'none'`.
//! - The token lives in `sessionStorage`: other origins cannot read it, and it is gone when
//!   the tab closes.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::api::Routes;
use crate::auth::access::Access;
use crate::error::ApiError;

/// The console pages' policy: its own script and style only; API calls and the live feed
/// to its own origin; inline SVG charts need no image source.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 3] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("assets/index.html"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/app.js"),
    },
];

/// Total size of the console's assets, bytes (the budget is 300 KB).
pub fn assets_size() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

/// Each asset's `ETag`, hashed once (the files never change while the binary runs).
static ETAGS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Sha256::digest(a.body.as_bytes());
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

fn serve(req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    let Some((a, tag)) = ASSETS
        .iter()
        .zip(ETAGS.iter())
        .find(|(a, _)| a.name == name)
    else {
        return Err(ApiError::not_found(
            crate::error::ErrorCode::UnknownPath,
            format!("no console file {name:?}"),
        ));
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag.as_str()));
    let mut res = if fresh {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok().content_type(a.content_type).body(a.body)
    };
    let h = res.headers_mut();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(tag).map_err(ApiError::internal)?,
    );
    // Revalidated on every load: a new binary serves new files at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    Ok(res)
}

/// `GET /`: the console's page (the app routes inside it with `#/…`).
async fn index(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "index.html")
}

/// `GET /console/{file}`: its script and style.
async fn file(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    serve(&req, &path)
}

/// The console's routes: public (the page itself asks for a session).
pub fn table() -> Routes {
    let mut t = Routes::default();
    t.add(Method::GET, "/", Access::Public, index).add(
        Method::GET,
        "/console/{file}",
        Access::Public,
        file,
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_fit_the_budget_and_load_nothing_from_outside() {
        assert!(assets_size() < 300 * 1024, "{} bytes", assets_size());
        for a in &ASSETS {
            // The SVG namespace is a name, not a URL that is fetched.
            let body = a.body.replace("http://www.w3.org/2000/svg", "");
            for bad in ["http://", "https://", "//cdn", "innerHTML", "eval("] {
                assert!(!body.contains(bad), "{} contains {bad}", a.name);
            }
        }
    }
}
