//! The Python README's asynchronous server: `my_long_function(x, y)` takes ten seconds, so a
//! call starts a job and returns its handle at once.
//!
//! ```text
//! cargo run --example async_server             # port 8080; my_long_function takes 10 s
//! cargo run --example async_server -- 9000 2   # port 9000; it takes 2 s
//! cargo run --example async_client             # in another terminal
//! ```
//!
//! Jobs run on a pool of 10 worker threads (`ServerBuilder::job_workers` changes it). The
//! Python library's `multiThreaded` flag has no counterpart: Python needs processes to run
//! jobs in parallel past its interpreter lock, Rust threads already do.

use std::sync::Arc;
use std::time::Duration;

use tarp::blocking::Server;
use tarp::core::service::Service;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(8080);
    let work = Duration::from_secs_f64(args.next().map(|s| s.parse()).transpose()?.unwrap_or(10.0));

    let mut service = Service::with_config(tarp::blocking::service_config());
    service
        .async_rpc("my_long_function", move |x: i64, y: i64| {
            std::thread::sleep(work); // simulate a long-running operation
            Ok(x + y)
        })
        .params(["x", "y"])
        .describe("Adds two numbers, slowly.")
        // How long clients should wait between polls (the Python default is 5 s).
        .suggested_wait(work.as_secs_f64().clamp(1.0, 5.0));

    let server = Server::builder(Arc::new(service)).port(port).build()?;
    println!("Serving HTTP on port {}", server.local_addr().port());
    server.serve()?;
    Ok(())
}
