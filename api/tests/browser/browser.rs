//! Starting chromedriver and a headless Chromium session.

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A browser session and the chromedriver process behind it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Stops chromedriver and every Chromium process it started. Killing chromedriver alone
    /// would leave its browser running, re-parented to init, whenever a test ends without
    /// closing the session (a failed assertion, a panic): so chromedriver runs as the leader of
    /// its own process group, and the whole group is killed.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        match Command::new("kill").args(["-KILL", "--", &group]).status() {
            Ok(status) if status.success() => {}
            _ => {
                if let Err(err) = self.driver.kill() {
                    eprintln!("could not stop chromedriver: {err}");
                }
            }
        }
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// The browser's own profile directory: it is on the command line of every Chromium process
    /// this browser started, and of no other.
    pub fn profile(&self) -> &Path {
        self._profile.path()
    }
}

/// A fresh headless browser, or `None` (after saying so) when browsers are not installed and the
/// run did not ask for browser tests.
pub async fn browser() -> Option<Browser> {
    let required = std::env::var("CLINICGATE_BROWSER_TESTS").is_ok_and(|v| v == "1");
    if !Path::new(CHROMEDRIVER).exists() || !Path::new(CHROMIUM).exists() {
        assert!(
            !required,
            "CLINICGATE_BROWSER_TESTS=1 but {CHROMEDRIVER} or {CHROMIUM} is missing: apt-get install chromium chromium-driver"
        );
        eprintln!(
            "browser tests NOT run: install Debian's chromium and chromium-driver (CI sets CLINICGATE_BROWSER_TESTS=1)"
        );
        return None;
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        // Its own process group, so that dropping the browser can stop Chromium too.
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session starts");
    Some(Browser {
        client,
        driver,
        _profile: profile,
    })
}

/// Saves a screenshot when `CLINICGATE_SCREENSHOT_DIR` is set (used to refresh docs/screenshots).
pub async fn screenshot(client: &Client, name: &str) {
    let Some(dir) = std::env::var_os("CLINICGATE_SCREENSHOT_DIR").map(PathBuf::from) else {
        return;
    };
    let png = client.screenshot().await.expect("screenshot");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The screenshots the browser tests take: the literal names their `screenshot` calls pass.
fn screenshots_taken() -> std::collections::BTreeSet<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let mut names = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for call in source.split("screenshot(client, \"").skip(1) {
            names.insert(call.split('"').next().unwrap().to_owned());
        }
    }
    names
}

/// docs/screenshots holds exactly what the browser tests take, so none can go stale unnoticed:
/// each is refreshed by `CLINICGATE_SCREENSHOT_DIR=docs/screenshots` on the browser tests, and
/// every one the README shows exists.
#[test]
fn every_screenshot_in_the_docs_is_taken_by_a_browser_test() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let taken = screenshots_taken();
    let in_docs: std::collections::BTreeSet<String> =
        std::fs::read_dir(root.join("docs/screenshots"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|name| name.strip_suffix(".png").map(str::to_owned))
            .collect();
    assert_eq!(
        in_docs, taken,
        "docs/screenshots vs the browser tests' screenshots"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for shown in readme.split("docs/screenshots/").skip(1) {
        let name = shown.split(".png").next().unwrap();
        assert!(
            taken.contains(name),
            "README shows {name}.png, which no test takes"
        );
    }
}
