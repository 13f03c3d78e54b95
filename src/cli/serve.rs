//! `tarp demo`: serves the demo service until Ctrl-C or SIGTERM, then shuts down gracefully.

use std::io::Write;
use std::sync::mpsc;
use std::sync::Arc;

use tarp_core::service::Service;

use super::{logger, CmdResult, DemoArgs, Exit, Failure, Runtime};

/// A server running in the background, whichever runtime serves it.
trait Running {
    /// The URL a local client reaches it at.
    fn url(&self) -> String;
    /// Stops accepting, finishes the requests in flight, joins; returns a summary.
    fn shutdown(self: Box<Self>) -> String;
}

/// Implements [`Running`] and a `start` function for one transport crate: both offer the same
/// builder (`bind_to`, `port`, `tls`, `build`, `spawn`) and handle (`url`, `shutdown`).
macro_rules! transport {
    ($handle:ident, $start:ident, $krate:ident) => {
        struct $handle($krate::ServerHandle);

        impl Running for $handle {
            fn url(&self) -> String {
                self.0.url()
            }

            fn shutdown(self: Box<Self>) -> String {
                let r = self.0.shutdown();
                format!(
                    "{} connection(s) cut, {} job(s) abandoned",
                    r.connections_cut + r.connections_stuck,
                    r.jobs_abandoned
                )
            }
        }

        fn $start(service: Arc<Service>, a: &DemoArgs) -> Result<Box<dyn Running>, Failure> {
            let mut builder = $krate::Server::builder(service)
                .bind_to(&a.bind)
                .port(a.port);
            if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
                builder = builder.tls(cert, key);
            }
            let server = builder.build().map_err(|e| match e {
                $krate::ServerError::Tls(e) => Failure::new(Exit::Usage, format!("TLS: {e}")),
                other => Failure::new(Exit::Local, other.to_string()),
            })?;
            let handle = server
                .spawn()
                .map_err(|e| Failure::new(Exit::Local, format!("cannot start the server: {e}")))?;
            Ok(Box::new($handle(handle)))
        }
    };
}

transport!(Blocking, start_blocking, tarp_blocking);
transport!(Smol, start_smol, tarp_smol);

/// Runs `tarp demo`.
pub(crate) fn demo(a: DemoArgs) -> CmdResult {
    logger::init(log::Level::Info);
    // Before the server starts, so a signal that comes early still stops it gracefully.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .map_err(|e| Failure::new(Exit::Local, format!("cannot handle Ctrl-C/SIGTERM: {e}")))?;

    let service = Arc::new(tarp::demo::service(a.delay));
    let server = match a.runtime {
        Runtime::Blocking => start_blocking(service, &a)?,
        Runtime::Smol => start_smol(service, &a)?,
    };
    let url = server.url();
    print_banner(&url, &a);

    // Wait for Ctrl-C or SIGTERM (a closed channel cannot happen: the handler keeps it).
    let _ = stop_rx.recv();
    println!("tarp demo: stopping (finishing the requests in flight)");
    let summary = server.shutdown();
    println!("tarp demo: stopped ({summary})");
    let _ = std::io::stdout().flush();
    Ok(())
}

fn print_banner(url: &str, a: &DemoArgs) {
    let delay = a.delay.as_secs_f64();
    let mut out = String::new();
    out.push_str(&format!(
        "tarp demo: serving on {url} ({} runtime, work time {delay} s)\n",
        a.runtime
    ));
    out.push_str("\nIn a browser, or with curl:\n");
    let urls = tarp::demo::urls_to_try(url);
    let width = urls.iter().map(|(u, _)| u.len()).max().unwrap_or(0);
    for (u, what) in urls {
        out.push_str(&format!("  {u:<width$}  {what}\n"));
    }
    let ca = match &a.tls_cert {
        Some(cert) => format!(" --cacert {}", cert.display()),
        None => String::new(),
    };
    out.push_str("\nWith the tarp command:\n");
    out.push_str(&format!("  tarp ls {url}{ca}\n"));
    out.push_str(&format!("  tarp call {url} my_function 1 2{ca}\n"));
    out.push_str(&format!(
        "  tarp call {url} asyncRPCExample 5 -k upper=1{ca}\n"
    ));
    out.push_str(&format!("  tarp get {url} get_plot -o plot.png{ca}\n"));
    out.push_str("\nStop with Ctrl-C.\n");
    print!("{out}");
    let _ = std::io::stdout().flush();
}
