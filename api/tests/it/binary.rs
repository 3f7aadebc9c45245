//! The `clinicgate` binary as an operator runs it.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_clinicgate");

/// A command with a clean ClinicGate environment (none of the developer's CLINICGATE_* vars).
pub(crate) fn clinicgate(data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("CLINICGATE_") {
            command.env_remove(key);
        }
    }
    command
        .env("CLINICGATE_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn");
    command
}

/// A spawned server that is killed if the test ends without stopping it (a failed assertion must
/// not leave a server running).
pub(crate) struct Running(pub(crate) std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_invalid_setting_stops_the_program_naming_the_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let output = clinicgate(dir.path())
        .env("CLINICGATE_PUBLIC_URL", "ftp://clinics.example.com")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("CLINICGATE_PUBLIC_URL"), "{stderr}");
    assert!(stderr.contains("http:// or https://"), "{stderr}");
}

#[test]
fn an_allowed_network_that_is_not_a_cidr_stops_the_program_saying_how_to_write_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = clinicgate(dir.path())
        .env(
            "CLINICGATE_OUTBOUND__ALLOWED_NETWORKS",
            "127.0.0.0/8,10.0.0.0/33",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("CLINICGATE_OUTBOUND__ALLOWED_NETWORKS"),
        "{stderr}"
    );
    assert!(stderr.contains("\"10.0.0.0/33\""), "{stderr}");
    assert!(stderr.contains("CIDR notation"), "{stderr}");
}

/// Starts the server with `RUST_LOG=info` and `env`, and returns the first line of its log that
/// contains `needle` (panicking with everything it logged if none does within 30 s).
fn first_log_line_with(env: &[(&str, &str)], needle: &str) -> String {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let mut command = clinicgate(dir.path());
    command
        .env("CLINICGATE_BIND", format!("127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let _server = Running(child);
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            if lines.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "no line with {needle:?}; the server logged:\n{}",
                seen.join("\n")
            ),
        }
    }
}

#[test]
fn the_server_says_at_start_how_many_networks_the_outbound_guard_allows() {
    let line = first_log_line_with(
        &[(
            "CLINICGATE_OUTBOUND__ALLOWED_NETWORKS",
            "127.0.0.0/8, fd00::/8",
        )],
        "outbound guard:",
    );
    assert!(
        line.contains("outbound guard: 2 allowed networks"),
        "{line}"
    );
    assert!(line.contains("127.0.0.0/8,fd00::/8"), "{line}");
}

#[test]
fn the_server_says_at_start_which_url_to_open() {
    let line = first_log_line_with(
        &[("CLINICGATE_PUBLIC_URL", "http://clinics.localhost:8123")],
        "is listening",
    );
    assert!(
        line.contains("open http://clinics.localhost:8123/ in a browser"),
        "{line}"
    );
}

#[test]
fn production_refuses_to_start_without_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = clinicgate(dir.path())
        .env("CLINICGATE_ENV", "production")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("CLINICGATE_MASTER_KEY"), "{stderr}");
    assert!(
        !dir.path().join("master.key").exists(),
        "production must never generate a key"
    );
}

#[test]
fn secrets_can_be_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "too-short\n").unwrap();
    let output = clinicgate(dir.path())
        .env("CLINICGATE_MASTER_KEY_FILE", &key_file)
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "the file's content must be validated like the variable"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("CLINICGATE_MASTER_KEY") && !stderr.contains("too-short"),
        "{stderr}"
    );
}

#[test]
fn migrate_creates_the_sqlite_database_on_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let status = clinicgate(dir.path()).arg("migrate").status().unwrap();
    assert!(status.success());
    assert!(dir.path().join("clinicgate.db").exists());
    // Running it again is a no-op, not an error.
    assert!(
        clinicgate(dir.path())
            .arg("migrate")
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn the_openapi_command_prints_the_committed_document() {
    let output = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(output.status.success());
    let committed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../openapi/openapi.json"
    ))
    .unwrap();
    assert!(
        output.stdout == committed,
        "run `cargo run -- openapi > openapi/openapi.json`"
    );
}

/// Starts `clinicgate serve` on `bind` with `data_dir` and waits until its healthcheck passes.
fn start_server(data_dir: &std::path::Path, bind: &str) -> Running {
    let server = Running(
        clinicgate(data_dir)
            .env("CLINICGATE_BIND", bind)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let healthy = loop {
        let check = clinicgate(data_dir)
            .env("CLINICGATE_BIND", bind)
            .arg("healthcheck")
            .stderr(Stdio::null())
            .status()
            .unwrap();
        if check.success() {
            break true;
        }
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(healthy, "the healthcheck never passed");
    server
}

#[test]
fn the_data_folder_and_the_sqlite_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let parent = tempfile::tempdir().unwrap();
    let data_dir = parent.path().join("data");
    let bind = format!("127.0.0.1:{}", free_port());
    // A server that is running has the database, its WAL and its shared-memory file open.
    let _server = start_server(&data_dir, &bind);
    let mode = |name: &str| {
        std::fs::metadata(data_dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data folder");
    for file in [
        "master.key",
        "clinicgate.db",
        "clinicgate.db-wal",
        "clinicgate.db-shm",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}

#[test]
fn the_server_passes_its_healthcheck_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("127.0.0.1:{}", free_port());
    let mut server = start_server(dir.path(), &bind);

    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");

    let check = clinicgate(dir.path())
        .env("CLINICGATE_BIND", &bind)
        .arg("healthcheck")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(
        !check.success(),
        "the healthcheck must fail when nothing answers"
    );
}

/// Starts `clinicgate serve --demo` and returns it with what it printed up to the sandbox line.
#[cfg(feature = "cliniko-sandbox")]
fn start_demo(dir: &std::path::Path, port: u16) -> (Running, String) {
    use std::io::BufRead as _;
    let mut child = clinicgate(dir)
        .env("CLINICGATE_BIND", format!("127.0.0.1:{port}"))
        .env("CLINICGATE_PUBLIC_URL", format!("http://localhost:{port}"))
        .args(["serve", "--demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("Cliniko sandbox:") {
            break;
        }
    }
    (Running(child), printed)
}

#[cfg(feature = "cliniko-sandbox")]
fn stop(mut child: Running) {
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "the demo did not stop cleanly: {status}");
}

#[cfg(feature = "cliniko-sandbox")]
#[tokio::test]
async fn the_demo_runs_a_clinic_connected_to_the_sandbox_with_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, printed) = start_demo(dir.path(), port);
    let password = printed
        .lines()
        .find_map(|l| l.split(" / ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no demo login printed:\n{printed}"))
        .to_owned();
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let host = format!("demo.localhost:{port}");
    let client = reqwest::Client::builder()
        .resolve("demo.localhost", address)
        .build()
        .unwrap();
    let login = client
        .post(format!("http://{host}/api/session"))
        .header("origin", format!("http://{host}"))
        .json(&serde_json::json!({"email": "owner@demo-clinic.example", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let key: serde_json::Value = client
        .get(format!("http://{host}/api/tenant/cliniko-key"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key["connected"], true, "{key}");
    assert_eq!(key["cliniko_user"]["role"], "receptionist");
    stop(child);

    // A second run reuses the clinic: no new password, still connected to the (restarted) sandbox.
    let (child, printed) = start_demo(dir.path(), port);
    assert!(
        printed.contains("password printed when the demo clinic was created"),
        "{printed}"
    );
    assert!(!printed.contains(&password));
    stop(child);
}

/// A build without the Cliniko sandbox (`--no-default-features`, as in the container image) has
/// neither `serve --demo` nor `cliniko-sandbox`: both are usage errors, not a silent plain serve.
#[cfg(not(feature = "cliniko-sandbox"))]
#[test]
fn a_build_without_the_sandbox_has_no_demo_and_no_sandbox_command() {
    let dir = tempfile::tempdir().unwrap();
    for (args, named) in [
        (&["serve", "--demo"][..], "--demo"),
        (&["cliniko-sandbox", "--port", "0"][..], "cliniko-sandbox"),
    ] {
        let output = clinicgate(dir.path())
            .args(args)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}
