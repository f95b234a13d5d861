//! Harness for Credence's end-to-end tests: runs the real `credence` binary as a server on a
//! loopback port and as a CLI, the way a user would.
//!
//! The test files live in `tests/tests/` and are declared by the root package (so that cargo
//! builds the binary first and names it in `CARGO_BIN_EXE_credence`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming a PostgreSQL database for the Postgres variants.
pub const PG_ENV: &str = "CREDENCE_TEST_DATABASE_URL";

/// The PostgreSQL URL to test against, or `None` with a printed notice.
pub fn postgres_url() -> Option<String> {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("note: {PG_ENV} is not set; PostgreSQL variant skipped");
            None
        }
    }
}

/// A `credence serve` process on a loopback port.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub base: String,
    pub listen: String,
}

impl Server {
    /// Starts `credence serve` with `extra` arguments and waits until `/ready` answers.
    pub fn start(binary: &Path, extra: &[&str]) -> Self {
        let listen = free_loopback_address();
        Self::start_on(binary, &listen, extra)
    }

    /// Starts on a given address (to restart a server where it was).
    pub fn start_on(binary: &Path, listen: &str, extra: &[&str]) -> Self {
        Self::start_command(binary, &["serve"], listen, extra)
    }

    /// Starts `credence <command...> --listen <listen> <extra...>` (e.g. `registry serve`).
    pub fn start_command(binary: &Path, command: &[&str], listen: &str, extra: &[&str]) -> Self {
        let child = Command::new(binary)
            .args(command)
            .args(["--listen", listen])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn credence serve");
        let mut server = Self {
            child,
            base: format!("http://{listen}"),
            listen: listen.to_owned(),
        };
        server.wait_ready();
        server
    }

    /// The registry base URL clients use.
    pub fn registry(&self) -> String {
        format!("{}/registry", self.base)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/ready", self.base);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited before becoming ready: {status} (its stderr is above)");
            }
            if let Ok((200, _)) = http::get(&url) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server at {} did not become ready within 30 s", self.base);
    }

    /// Sends `signal` (e.g. "TERM", "KILL") and waits for the exit status.
    pub fn signal(mut self, signal: &str) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal} {pid} failed");
        self.child.wait().expect("wait for server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI and returns its output.
pub fn cli(binary: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("CREDENCE_LOG_STATE", log_state_dir())
        .output()
        .expect("run credence")
}

/// Runs the CLI and returns its standard output; a failure fails the test with the command and
/// its standard error.
pub fn cli_ok(binary: &Path, args: &[&str]) -> String {
    let output = cli(binary, args);
    assert!(
        output.status.success(),
        "credence {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// `text` as JSON; anything else fails the test, showing the text.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A name no earlier run used (PostgreSQL runs share a database, in which tenant ids and
/// `vct`s are unique): `prefix`, the process id and the time.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos();
    format!("{prefix}-{:x}{:x}", std::process::id(), nanos % 0xffff_ffff)
}

/// Where the CLI runs of this test process remember accepted checkpoints: a directory of its
/// own, so runs against the many short-lived test logs (some sharing the test key) never meet
/// the user's state or another test process's.
pub fn log_state_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("log state dir"))
        .path()
}

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}

/// A scratch directory removed at the end of the test.
pub fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// `GET url` over plain HTTP/1.1 (loopback test servers): the status code and the body.
pub fn http_get(url: &str) -> std::io::Result<(u16, String)> {
    http::get(url)
}

mod http {
    //! A minimal blocking HTTP GET over std's TcpStream, so the harness needs no HTTP client
    //! runtime of its own (readiness probes, reading a log key).
    use std::io::{Read as _, Write as _};
    use std::net::TcpStream;
    use std::time::Duration;

    pub(super) fn get(url: &str) -> std::io::Result<(u16, String)> {
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut stream = TcpStream::connect(host)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
            .to_owned();
        Ok((status, body))
    }
}
