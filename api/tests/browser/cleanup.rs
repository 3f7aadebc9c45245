//! A test run leaves no browser behind: dropping a [`Browser`] whose session was never closed
//! (a test that panicked halfway) stops every Chromium process it started.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::browser::browser;

/// Live processes (zombies have an empty command line) whose command line mentions `needle`.
fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&needle))
        .collect()
}

#[tokio::test]
async fn dropping_a_browser_without_closing_its_session_leaves_no_chromium_running() {
    let Some(browser) = browser().await else {
        return;
    };
    browser.client.goto("about:blank").await.unwrap();
    let profile = browser.profile().to_path_buf();
    assert!(
        !processes_mentioning(&profile).is_empty(),
        "the test cannot see the browser it started"
    );
    drop(browser);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_mentioning(&profile);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still running after the browser was dropped:\n{}",
            left.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
