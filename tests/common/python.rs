//! Running the standard-library Python scripts of `tests/py/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The Python interpreter (`$PYTHON`, else `python3`).
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `tests/py/` of the root package.
pub fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("py")
}

/// Fails the test (never skips it) when numpy is missing: the interop tests need it.
pub fn require_numpy() {
    let out = Command::new(python())
        .args(["-c", "import numpy"])
        .output()
        .expect("python3 must be installed to run the interop tests");
    assert!(
        out.status.success(),
        "numpy is required by this test: python3 -m pip install numpy\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `python_client.py URL [--server-key CA] -c CODE` and returns its output; panics with
/// the script's stdout and stderr when it fails (a failed `assert` in CODE, an exception...).
pub fn run_client(url: &str, ca_file: Option<&Path>, code: &str) -> Output {
    let out = client_command(url, ca_file, code)
        .output()
        .expect("python3 must be installed to run the interop tests");
    assert!(
        out.status.success(),
        "python_client.py failed ({})\n--- code ---\n{code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The command [`run_client`] runs, to spawn it in the background instead.
pub fn client_command(url: &str, ca_file: Option<&Path>, code: &str) -> Command {
    let mut cmd = Command::new(python());
    cmd.arg(py_dir().join("python_client.py")).arg(url);
    if let Some(ca) = ca_file {
        cmd.arg("--server-key").arg(ca);
    }
    cmd.arg("-c").arg(code);
    cmd.stdin(Stdio::null());
    cmd
}

/// `upstream_server.py` running in the background; killed when dropped (it also exits when
/// its standard input closes, should the test process die).
pub struct UpstreamServer {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// `http://127.0.0.1:<port>` or `https://...`.
    pub url: String,
}

impl UpstreamServer {
    /// Starts it on an ephemeral port with extra arguments (e.g. `--delay 0.2`).
    pub fn start(extra: &[&str]) -> UpstreamServer {
        Self::start_inner(extra, "http")
    }

    /// Starts it over TLS with this certificate chain and key.
    pub fn start_tls(cert: &Path, key: &Path, extra: &[&str]) -> UpstreamServer {
        let mut args: Vec<&str> = vec![
            "--certfile",
            cert.to_str().unwrap(),
            "--keyfile",
            key.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        Self::start_inner(&args, "https")
    }

    fn start_inner(extra: &[&str], scheme: &str) -> UpstreamServer {
        let mut child = Command::new(python())
            .arg(py_dir().join("upstream_server.py"))
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed to run the interop tests");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port: u16 = match line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
        {
            Some(p) => p,
            None => {
                let _ = child.kill();
                panic!("upstream_server.py did not start: {line:?}");
            }
        };
        UpstreamServer {
            child,
            port,
            url: format!("{scheme}://127.0.0.1:{port}"),
        }
    }
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a child with a timeout; kills it and panics past the timeout.
pub fn wait_child(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if t0.elapsed() > timeout {
            let _ = child.kill();
            panic!("child process still running after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
