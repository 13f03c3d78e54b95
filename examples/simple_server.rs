//! The Python README's simple server: one RPC endpoint, `my_function(x, y)`, returning `x + y`.
//!
//! Run it, then call it from another terminal:
//!
//! ```text
//! cargo run --example simple_server            # serves on port 8080, all interfaces
//! cargo run --example simple_client            # prints 3
//! ```
//!
//! `cargo run --example simple_server -- 9000` serves on another port. The Python client works
//! too: `tarp.client.client('http://localhost:8080').my_function(1, 2)` returns `3`, and
//! `help(client.my_function)` shows the description.

use std::sync::Arc;

use tarp::blocking::Server;
use tarp::core::service::Service;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse()?,
        None => 8080,
    };

    // A service with a random job-ID key (what every server should use).
    let mut service = Service::with_config(tarp::blocking::service_config());

    // The procedure to be called remotely: typed arguments, decoded from the caller's pickle.
    service
        .rpc("my_function", |x: i64, y: i64| Ok(x + y))
        .params(["x", "y"])
        .describe("Adds two numbers.");

    // Like `tarp.server.runServer(server, port=8080)`: all interfaces, until the process ends.
    let server = Server::builder(Arc::new(service)).port(port).build()?;
    println!("Serving HTTP on port {}", server.local_addr().port());
    server.serve()?;
    Ok(())
}
