//! A minimal `log` backend for `tarp demo`: one line per record on stderr, with the time
//! since start, so the server's start, refused requests and failed jobs are visible.

use std::time::Instant;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    started: Instant,
    level: Level,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let t = self.started.elapsed().as_secs_f64();
            eprintln!(
                "[{t:9.3}s {:5} {}] {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Installs the logger at `level` (once; later calls do nothing).
pub(crate) fn init(level: Level) {
    let logger = Box::new(StderrLogger {
        started: Instant::now(),
        level,
    });
    // Leaked once per process: a logger lives as long as the program.
    if log::set_logger(Box::leak(logger)).is_ok() {
        log::set_max_level(level.to_level_filter().max(LevelFilter::Error));
    }
}
