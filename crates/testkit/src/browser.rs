//! A real browser for tests: headless Chromium driven through `chromedriver` with the W3C
//! WebDriver protocol (JSON over HTTP, spoken here with reqwest; no driver crate needed).
//! `scripts/setup` installs Debian's `chromium` and `chromium-driver`; `CHROMEDRIVER` and
//! `CHROMIUM` point elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session. The driver is killed on drop.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
}

/// An element of the current page, as WebDriver names it.
#[derive(Debug, Clone)]
pub struct Element(String);

fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| candidates.iter().map(move |c| dir.join(c)))
        .find(|p| p.is_file())
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session with a
    /// `width` x `height` window.
    pub async fn start(width: u32, height: u32) -> Browser {
        let driver_path = find_program("CHROMEDRIVER", &["chromedriver"]).unwrap_or_else(|| {
            panic!("chromedriver not found: run scripts/setup (Debian: apt-get install chromium chromium-driver) or set CHROMEDRIVER")
        });
        let chromium = find_program("CHROMIUM", &["chromium", "chromium-browser", "google-chrome"])
            .unwrap_or_else(|| {
                panic!("chromium not found: run scripts/setup (Debian: apt-get install chromium chromium-driver) or set CHROMIUM")
            });
        let port = crate::free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()));
        let http = crate::http();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .map(|v| v["value"]["ready"] == true),
                Err(_) => None,
            };
            if ready == Some(true) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready on port {port} after 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         format!("--window-size={width},{height}"), "--hide-scrollbars"],
            },
        }}});
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("a JSON answer");
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver did not open a session: {response}"))
            .to_owned();
        Browser {
            http,
            session: format!("{base}/session/{session}"),
            driver,
        }
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.session);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let response: Value = request
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        match response["value"].get("error") {
            Some(error) => Err(format!(
                "{error}: {}",
                response["value"]["message"].as_str().unwrap_or_default()
            )),
            None => Ok(response["value"].clone()),
        }
    }

    async fn must(&self, method: &str, path: &str, body: Value) -> Value {
        self.command(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.must("POST", "/url", json!({ "url": url })).await;
    }

    /// Every element matching the CSS selector (none is fine).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        match self
            .command(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await
        {
            Ok(Value::Array(list)) => list
                .iter()
                .filter_map(|e| e[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned())))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Waits up to `timeout` for an element matching the CSS selector.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css:?} after {timeout:?}; page text:\n{}",
                self.body_text().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the element matching `css` has text that satisfies `check`; returns it.
    pub async fn wait_for_text(
        &self,
        css: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next()
                && let Ok(Value::String(text)) = self
                    .command("GET", &format!("/element/{}/text", e.0), json!({}))
                    .await
            {
                if check(&text) {
                    return text;
                }
                last = text;
            }
            assert!(
                Instant::now() < deadline,
                "{css:?} never had the expected text within {timeout:?}; last: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// The element's visible text.
    pub async fn text(&self, element: &Element) -> String {
        let value = self
            .must("GET", &format!("/element/{}/text", element.0), json!({}))
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The whole page's visible text.
    pub async fn body_text(&self) -> String {
        match self
            .command(
                "POST",
                "/execute/sync",
                json!({"script": "return document.body ? document.body.innerText : ''", "args": []}),
            )
            .await
        {
            Ok(Value::String(text)) => text,
            other => format!("<no page text: {other:?}>"),
        }
    }

    /// Runs a script in the page and returns its value.
    pub async fn script(&self, script: &str) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Finds the element matching `css` and clicks it, retrying for up to 10 s while it is
    /// missing or replaced (pages that refresh themselves).
    pub async fn click_on(&self, css: &str) {
        self.retry(css, |e| async move {
            self.command("POST", &format!("/element/{}/click", e.0), json!({}))
                .await
                .map(|_| ())
        })
        .await;
    }

    /// Finds the field matching `css`, clears it and types `text`, retrying like
    /// [`Browser::click_on`].
    pub async fn fill_in(&self, css: &str, text: &str) {
        self.retry(css, |e| async move {
            self.command("POST", &format!("/element/{}/clear", e.0), json!({}))
                .await?;
            self.command(
                "POST",
                &format!("/element/{}/value", e.0),
                json!({ "text": text }),
            )
            .await
            .map(|_| ())
        })
        .await;
    }

    async fn retry<F, Fut>(&self, css: &str, action: F)
    where
        F: Fn(Element) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = String::from("no such element");
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                match action(e).await {
                    Ok(()) => return,
                    Err(error) => last = error,
                }
            }
            assert!(Instant::now() < deadline, "cannot act on {css:?}: {last}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element.
    pub async fn click(&self, element: &Element) {
        self.must("POST", &format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    /// Clears the field and types `text` into it.
    pub async fn fill(&self, element: &Element, text: &str) {
        self.must("POST", &format!("/element/{}/clear", element.0), json!({}))
            .await;
        self.must(
            "POST",
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await;
    }

    /// Accepts the confirmation dialog that is about to open (waits up to 5 s); returns its text.
    pub async fn accept_dialog(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Value::String(text)) = self.command("GET", "/alert/text", json!({})).await {
                self.must("POST", "/alert/accept", json!({})).await;
                return text;
            }
            assert!(Instant::now() < deadline, "no dialog opened within 5 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the window to `path` (creating its folder).
    pub async fn screenshot(&self, path: &Path) {
        let value = self.must("GET", "/screenshot", json!({})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the screenshot folder");
        }
        std::fs::write(path, png).expect("write the screenshot");
        println!("screenshot: {}", path.display());
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Close the session so Chromium exits (a plain blocking request: no runtime here),
        // then stop the driver.
        if let Some(rest) = self.session.strip_prefix("http://")
            && let Some((host, path)) = rest.split_once('/')
            && let Ok(mut stream) = std::net::TcpStream::connect(host)
        {
            use std::io::{Read, Write};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                stream,
                "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
