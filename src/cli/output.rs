//! Where results go: JSON lines on stdout, raw payloads to `-o FILE` or a non-terminal stdout,
//! and the progress line of a job on stderr.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{CmdResult, Exit, Failure};

/// Writes `bytes` to stdout; a closed pipe (`| head`) is not an error.
fn to_stdout(bytes: &[u8]) -> CmdResult {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(
            Exit::Local,
            format!("cannot write to stdout: {e}"),
        )),
    }
}

fn to_file(path: &Path, bytes: &[u8]) -> CmdResult {
    std::fs::write(path, bytes)
        .map_err(|e| Failure::new(Exit::Local, format!("cannot write {}: {e}", path.display())))
}

/// Prints a JSON value as one line, on stdout or into `out`.
pub(crate) fn json(value: &serde_json::Value, out: Option<&Path>) -> CmdResult {
    let mut text = value.to_string();
    text.push('\n');
    match out {
        Some(path) => {
            to_file(path, text.as_bytes())?;
            eprintln!("wrote the result as JSON to {}", path.display());
            Ok(())
        }
        None => to_stdout(text.as_bytes()),
    }
}

/// Prints text as it is, with a final newline, on stdout or into `out` (without one).
pub(crate) fn text(s: &str, out: Option<&Path>) -> CmdResult {
    match out {
        Some(path) => {
            to_file(path, s.as_bytes())?;
            eprintln!("wrote {} bytes of text to {}", s.len(), path.display());
            Ok(())
        }
        None => to_stdout(format!("{s}\n").as_bytes()),
    }
}

/// Writes a binary payload raw: into `out`, or on stdout when it is not a terminal. To a
/// terminal it is refused (it would garble it), naming what came and how to save it.
pub(crate) fn raw(bytes: &[u8], mime: &str, what: &str, out: Option<&Path>) -> CmdResult {
    match out {
        Some(path) => {
            to_file(path, bytes)?;
            eprintln!("wrote {} bytes ({mime}) to {}", bytes.len(), path.display());
            Ok(())
        }
        None if std::io::stdout().is_terminal() => Err(Failure::new(
            Exit::Usage,
            format!(
                "{what} returned {} bytes of {mime}: save them with -o FILE (or redirect stdout)",
                bytes.len()
            ),
        )),
        None => to_stdout(bytes),
    }
}

/// Whether a progress line is on screen (so an error message starts on a fresh line).
static PROGRESS_SHOWN: AtomicBool = AtomicBool::new(false);

/// Clears the progress line, if one is on a terminal.
pub(crate) fn clear_progress() {
    if PROGRESS_SHOWN.swap(false, Ordering::SeqCst) {
        eprint!("\r\x1b[2K");
    }
}

/// The progress of a job on stderr: one line rewritten in place on a terminal, else one
/// line per update.
pub(crate) struct Progress {
    started: Instant,
    tty: bool,
    label: String,
}

impl Progress {
    /// Starts timing the job `id` of endpoint `name` (if known).
    pub(crate) fn new(id: &str, name: Option<&str>) -> Progress {
        let label = match name {
            Some(n) => format!("{n} (job {id})"),
            None => format!("job {id}"),
        };
        Progress {
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            label,
        }
    }

    /// Shows the status and the time elapsed.
    pub(crate) fn show(&self, status: &str) {
        let secs = self.started.elapsed().as_secs_f64();
        let line = format!("{}: {status}, {secs:.1} s elapsed", self.label);
        if self.tty {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
            PROGRESS_SHOWN.store(true, Ordering::SeqCst);
        } else {
            eprintln!("{line}");
        }
    }

    /// Whether updates between probes are worth showing (only on a terminal, where the line
    /// is rewritten in place).
    pub(crate) fn live(&self) -> bool {
        self.tty
    }

    /// Ends the progress display with a final status line.
    pub(crate) fn finish(&self, status: &str) {
        clear_progress();
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!("{}: {status} after {secs:.1} s", self.label);
    }
}
