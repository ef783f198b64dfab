//! The dashboard in a real browser: headless Chromium, driven through chromedriver
//! (WebDriver) by fantoccini, against the real server started by the shared harness (`chatpulse-testkit`).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; `.ci/run` installs them). `CHROMIUM` and `CHROMEDRIVER` point
//! elsewhere. Without them these tests fail; they never skip.
//!
//! Waits are deadlines, never speed assertions: [`WAIT`] turns a hang into a readable
//! failure, and the spec's "within 5 s" (SC-004) is the one deadline that is the assertion.
mod pages;
mod people;
mod polls_files;
mod screenshots;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};

pub use chatpulse_testkit::*;

/// How long a page may take to show what the server already did.
pub const PAGE_WAIT: Duration = Duration::from_secs(15);
/// The seed spec's SC-004: a lost connection is shown within 5 s.
pub const LOST_WITHIN: Duration = Duration::from_secs(5);

/// A program from an environment variable, a Debian path, or PATH; without it the test
/// fails and says what to install.
fn program(env: &str, debian: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return p.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    [PathBuf::from(debian)]
        .into_iter()
        .chain(std::env::split_paths(&path).map(|d| d.join(name)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` was not found (set {env}, or see {debian} and PATH). The browser tests need Chromium and \
                 its WebDriver: install Debian's `chromium` and `chromium-driver` packages \
                 (apt-get install --no-install-recommends chromium chromium-driver), as .ci/run does."
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A chromedriver process, killed when the test ends however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One headless Chromium, through its own chromedriver on a free loopback port.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
}

impl Browser {
    pub async fn start() -> Browser {
        Browser::with_size(1280, 1000).await
    }

    pub async fn with_size(width: u32, height: u32) -> Browser {
        Browser::launch(width, height, None, None, None).await
    }

    /// A desktop browser whose clock is in the time zone `tz` (an IANA name such as
    /// `Asia/Kolkata`), in American English.
    pub async fn in_zone(tz: &str) -> Browser {
        Browser::launch(1280, 1000, None, Some(tz), None).await
    }

    /// Like [`Browser::in_zone`], at a size of its own.
    pub async fn in_zone_sized(tz: &str, width: u32, height: u32) -> Browser {
        Browser::launch(width, height, None, Some(tz), None).await
    }

    /// A phone: Chromium's mobile emulation at `width` x `height` CSS pixels (a plain
    /// window cannot be narrower than 500 pixels).
    pub async fn phone(width: u32, height: u32) -> Browser {
        let metrics = json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true}});
        Browser::launch(width.max(500), height, Some(metrics), None, None).await
    }

    /// A phone in the time zone `tz`.
    pub async fn phone_in_zone(width: u32, height: u32, tz: &str) -> Browser {
        let metrics = json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true}});
        Browser::launch(width.max(500), height, Some(metrics), Some(tz), None).await
    }

    /// A desktop Chromium whose downloads go to `dir` (not the home directory's), so that a
    /// test can see what was downloaded and leaves nothing behind.
    pub async fn downloading(dir: &std::path::Path) -> Browser {
        Browser::launch(1280, 1000, None, None, Some(dir)).await
    }

    async fn launch(
        width: u32,
        height: u32,
        mobile: Option<Value>,
        tz: Option<&str>,
        downloads: Option<&std::path::Path>,
    ) -> Browser {
        let driver_bin = program("CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver");
        let chromium = program("CHROMIUM", "/usr/bin/chromium", "chromium");
        let port = free_port();
        let mut command = Command::new(&driver_bin);
        // Chromium takes its zone from the environment chromedriver passes on.
        if let Some(tz) = tz {
            command.env("TZ", tz).env("LANG", "en_US.UTF-8");
        }
        let driver = Driver(
            command
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", driver_bin.display())),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut options = json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", "--force-device-scale-factor=1",
                     format!("--window-size={width},{height}")],
        });
        if let Some(m) = mobile {
            options["mobileEmulation"] = m;
        }
        if tz.is_some() {
            options["args"].as_array_mut().unwrap().push(json!("--lang=en-US"));
        }
        if let Some(dir) = downloads {
            options["prefs"] = json!({"download.default_directory": dir, "download.prompt_for_download": false});
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let mut b = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            match b.capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    actix_rt::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from chromedriver at {url}: {e}"),
            }
        };
        Browser {
            client,
            _driver: driver,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Runs a script in the page and returns what it returns.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    pub async fn js_str(&self, script: &str) -> String {
        self.js(script).await.as_str().unwrap_or_default().to_string()
    }

    /// The live state the page shows (`data-state` of its status region).
    pub async fn state(&self) -> String {
        self.js_str("const l = document.getElementById('live'); return l ? l.dataset.state : ''")
            .await
    }

    /// The state and its detail as a person reads them.
    pub async fn state_text(&self) -> String {
        self.js_str("const l = document.getElementById('live'); return l ? l.innerText : ''")
            .await
    }

    /// The message ids of the page's live list, top to bottom.
    pub async fn list_ids(&self) -> Vec<i64> {
        let v = self
            .js("return Array.from(document.querySelectorAll('[data-list=\"messages\"] > li')).map(li => Number(li.dataset.id))")
            .await;
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default()
    }

    pub async fn text(&self, selector: &str) -> String {
        self.js_str(&format!(
            "const e = document.querySelector({}); return e ? e.textContent : ''",
            json!(selector)
        ))
        .await
    }

    /// Marks the document, so that a later check can tell it was never reloaded.
    pub async fn mark_document(&self) {
        self.js("window.__notReloaded = true; return true").await;
    }

    pub async fn assert_not_reloaded(&self, what: &str) {
        assert_eq!(
            self.js("return window.__notReloaded === true").await,
            json!(true),
            "{what}: the page was reloaded by navigation; it must update in place"
        );
    }

    /// Polls `f` until it gives `Some`, or fails with `what` and the page's live state.
    pub async fn wait<T, F, Fut>(&self, what: &str, timeout: Duration, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f().await {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for: {what}\nlive state: {:?}\nlist: {:?}",
                    self.state_text().await,
                    self.list_ids().await
                );
            }
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_state(&self, state: &str, timeout: Duration) {
        let what = format!("live state `{state}`");
        self.wait(&what, timeout, || async { (self.state().await == state).then_some(()) })
            .await
    }

    /// Waits until the list's newest message is `id`.
    pub async fn wait_top(&self, id: i64) {
        let what = format!("message {id} at the top of the list");
        self.wait(&what, PAGE_WAIT, || async {
            (self.list_ids().await.first() == Some(&id)).then_some(())
        })
        .await
    }

    pub async fn wait_text(&self, selector: &str, text: &str) {
        let what = format!("`{selector}` to read `{text}`");
        self.wait(&what, PAGE_WAIT, || async {
            (self.text(selector).await.trim() == text).then_some(())
        })
        .await
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// Asserts that `ids` (top to bottom) are exactly `expected_newest_first`.
/// Signs the browser in with a sign-in link, as a person would.
pub async fn sign_in(b: &Browser, app: &TestApp, token: &str) {
    b.goto(&app.url(&format!("/signin#token={token}"))).await;
    b.wait("the sign-in link to sign the browser in", PAGE_WAIT, || async {
        b.text("#signin-status").await.starts_with("Signed in as").then_some(())
    })
    .await;
}

/// Opens a page, waits until it is live, and marks the document so that a later check
/// can prove the page was updated in place (see `assert_not_reloaded`).
pub async fn open_live(b: &Browser, app: &TestApp, path: &str) {
    b.goto(&app.url(path)).await;
    b.wait_state("live", PAGE_WAIT).await;
    b.mark_document().await;
}

/// Clicks like a person (WebDriver waits for a navigation it starts).
pub async fn click(b: &Browser, selector: &str) {
    b.client
        .find(fantoccini::Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no `{selector}`: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click `{selector}`: {e}"));
}

pub fn assert_list(what: &str, ids: &[i64], expected_newest_first: &[i64]) {
    assert_same_ids(what, ids, expected_newest_first);
}
