//! A minimal W3C WebDriver client over reqwest, for the console's browser tests: starts
//! Debian's `chromedriver` (headless `chromium`) on a free port, one session per test.
//!
//! The browser tests are skipped (with a line saying so) when `chromedriver` or `chromium`
//! is not installed, so `cargo test` passes on a machine with only the Rust toolchain;
//! `.ci/run` installs both and sets `MASTER_TEST_BROWSER=1`, which makes a missing browser
//! a failure.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// The W3C element key in replies.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    client: reqwest::Client,
}

/// Whether the browser tests must run (CI) rather than be skipped when no browser is found.
pub fn required() -> bool {
    std::env::var("MASTER_TEST_BROWSER").is_ok_and(|v| v == "1")
}

fn find(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| (*p).to_owned())
}

impl Browser {
    /// Starts chromedriver and a headless session; `None` (skip) without a browser.
    pub async fn start() -> Option<Browser> {
        let driver = find(&["/usr/bin/chromedriver"]);
        let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            assert!(
                !required(),
                "MASTER_TEST_BROWSER=1 but chromium/chromedriver are missing"
            );
            eprintln!("skipped: chromium and chromedriver are not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if client.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut b = Browser {
            driver: child,
            base,
            client,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"]}
        }}});
        let r = b.call(reqwest::Method::POST, "/session", Some(caps)).await;
        let id = r["sessionId"].as_str().expect("a session").to_owned();
        b.base = format!("{}/session/{id}", b.base);
        Some(b)
    }

    async fn call(&mut self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let get = method == reqwest::Method::GET;
        let mut r = self.client.request(method, format!("{}{path}", self.base));
        if !get {
            r = r.json(&body.unwrap_or(json!({})));
        }
        let v: Value = r.send().await.unwrap().json().await.unwrap();
        if let Some(err) = v["value"].get("error") {
            panic!("webdriver {path}: {err}: {}", v["value"]["message"]);
        }
        v.get("value").cloned().unwrap_or(v)
    }

    /// Opens `url`.
    pub async fn goto(&mut self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn eval(&mut self, script: &str, args: Vec<Value>) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Waits up to 10 s until `script` returns something truthy; returns it.
    pub async fn wait_for(&mut self, script: &str) -> Value {
        for _ in 0..200 {
            let v = self.eval(script, vec![]).await;
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let page = self
            .eval("return document.body.innerText.slice(0, 600)", vec![])
            .await;
        panic!("timed out waiting for: {script}; the page says: {page}");
    }

    /// Types `text` into the element matched by `css`.
    pub async fn type_into(&mut self, css: &str, text: &str) {
        let el = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Clicks the element matched by `css`.
    pub async fn click(&mut self, css: &str) {
        let el = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{el}/click"), None)
            .await;
    }

    async fn element(&mut self, css: &str) -> String {
        let css = css.to_owned();
        self.wait_for(&format!("return document.querySelector({css:?})"))
            .await;
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    /// A PNG of the page, written to `$MASTER_CONSOLE_SHOTS/<name>.png` when that is set.
    pub async fn screenshot(&mut self, name: &str) {
        let Ok(dir) = std::env::var("MASTER_CONSOLE_SHOTS") else {
            return;
        };
        use base64::Engine as _;
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}.png"), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
