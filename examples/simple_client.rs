//! The Python README's simple client: discovers the server's endpoints and calls
//! `my_function(1, 2)`.
//!
//! Start `cargo run --example simple_server` first, then:
//!
//! ```text
//! cargo run --example simple_client                          # http://localhost:8080
//! cargo run --example simple_client -- http://host:9000      # another server
//! ```
//!
//! It works against the Python server of the README as well.

use tarp::blocking::Client;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://localhost:8080".into());

    // Connecting reads the discovery document: the remote procedures are known by name.
    let client = Client::connect(&url)?;
    if let Some(endpoint) = client.endpoint("my_function") {
        // What Python's `help(client.my_function)` shows.
        println!("{}: {}", endpoint.name, endpoint.description);
    }

    let result: i64 = client.call("my_function", (1, 2))?;
    println!("{result}"); // 3
    Ok(())
}
