//! Helpers of the `tests/cli_*.rs` tests: run the real `tarp` binary, and a `tarp demo`
//! in the background on 127.0.0.1 with a free port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub fn tarp_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tarp")
}

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Out {
    /// The exit code (-1 if killed by a signal).
    pub code: i32,
    /// Stdout as bytes.
    pub bytes: Vec<u8>,
    /// Stdout as text (lossy).
    pub stdout: String,
    /// Stderr as text (lossy).
    pub stderr: String,
}

impl Out {
    /// Panics, showing everything, unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Out {
        assert_eq!(
            self.code, code,
            "expected exit code {code}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Stdout without its final newline.
    pub fn line(&self) -> &str {
        self.stdout.trim_end_matches('\n')
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    /// The one error line on stderr (`tarp: ...`); panics if there is not exactly one.
    pub fn error_line(&self) -> &str {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("tarp: "))
            .collect();
        assert_eq!(lines.len(), 1, "stderr: {:?}", self.stderr);
        lines[0]
    }
}

fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Waits for a child, killing it (and failing the test) after `limit`.
pub fn wait_for(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `tarp` command line ready to run, with stdin closed.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(tarp_bin());
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// Runs a command to completion (at most a minute) and collects its output.
pub fn run_command(mut cmd: Command) -> Out {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tarp");
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let status = wait_for(&mut child, Duration::from_secs(60));
    let bytes = out.join().expect("stdout reader");
    let stderr = String::from_utf8_lossy(&err.join().expect("stderr reader")).into_owned();
    Out {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
        stderr,
    }
}

/// Runs `tarp ARGS...` to completion.
pub fn tarp(args: &[&str]) -> Out {
    run_command(command(args))
}

/// Sends a signal by name (`TERM`, `INT`) to a process, with the `kill` utility.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill(1) must be installed");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A fresh temporary directory for one test.
pub fn temp_dir(label: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tarp-cli-test-{}-{}-{label}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `tarp demo` running in the background, killed when dropped.
pub struct Demo {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>` (or `https://`).
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect_lines(r: impl BufRead + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in r.lines() {
            let Ok(line) = line else { break };
            let mut s = into.lock().unwrap_or_else(|e| e.into_inner());
            s.push_str(&line);
            s.push('\n');
        }
    })
}

impl Demo {
    /// `tarp demo --bind 127.0.0.1 --port 0` plus `extra`, with `--delay 1` unless `extra`
    /// sets it.
    pub fn start(extra: &[&str]) -> Demo {
        let mut args = vec!["demo", "--bind", "127.0.0.1", "--port", "0"];
        if !extra.contains(&"--delay") {
            args.extend_from_slice(&["--delay", "1"]);
        }
        args.extend_from_slice(extra);
        let mut child = command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tarp demo");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_reader = collect_lines(
            BufReader::new(child.stderr.take().expect("stderr")),
            Arc::clone(&stderr),
        );
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        // "tarp demo: serving on http://127.0.0.1:PORT (...)"
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(str::to_owned);
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            let _ = err_reader.join();
            panic!(
                "tarp demo did not start: {first:?}\n--- stderr ---\n{}",
                stderr.lock().unwrap()
            );
        };
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in the URL");
        let out = Arc::new(Mutex::new(first));
        let out_reader = collect_lines(stdout, Arc::clone(&out));
        Demo {
            child: Some(child),
            url,
            port,
            stdout: out,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal and waits (at most `limit`) for the demo to exit; returns its status,
    /// stdout and stderr.
    pub fn stop_with(mut self, signal_name: &str, limit: Duration) -> (ExitStatus, String, String) {
        let mut child = self.child.take().expect("running");
        signal(child.id(), signal_name);
        let status = wait_for(&mut child, limit);
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Checks the PNG signature and decodes the image; returns its width and height.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {:?}",
        &bytes[..bytes.len().min(16)]
    );
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().expect("PNG header decodes");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG image decodes");
    (info.width, info.height)
}
