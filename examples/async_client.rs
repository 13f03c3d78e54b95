//! The Python README's asynchronous client: calling an async endpoint gives a handle; `status()`
//! tells how the job is doing, `wait()` waits for its result, `wait_cycle()` waits one
//! suggested interval at a time.
//!
//! Start `cargo run --example async_server` first, then:
//!
//! ```text
//! cargo run --example async_client                          # http://localhost:8080
//! cargo run --example async_client -- http://host:9000
//! ```

use tarp::blocking::{Client, JobStatus};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://localhost:8080".into());
    let client = Client::connect(&url)?;

    // Call the asynchronous function: the server starts it and answers with a handle.
    let handle = client.start("my_long_function", (1, 2))?;
    match handle.status()? {
        JobStatus::InProgress => println!("The operation is still in progress"),
        JobStatus::Completed => println!("The operation has completed"),
        JobStatus::Failed => println!("The operation has failed"),
        JobStatus::Other(s) => println!("The server reports {s:?}"),
    }
    // Wait for the result, sleeping as long as the server's Retry-After asks each time.
    let result: i64 = handle.wait()?;
    println!("{result}"); // 3

    // Or probe and wait one suggested interval at a time, doing other work in between.
    let handle = client.start("my_long_function", (20, 22))?;
    let result: i64 = loop {
        match handle.wait_cycle()? {
            Some(result) => break result,
            None => println!("still running..."),
        }
    };
    println!("{result}"); // 42
    Ok(())
}
