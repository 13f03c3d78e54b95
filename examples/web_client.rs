//! The Python README's web-like client: sets the range, reads the data, saves the plot.
//!
//! Start `cargo run --example web_server` first, then:
//!
//! ```text
//! cargo run --example web_client                     # writes sine_wave.png
//! cargo run --example web_client -- http://host:9000
//! ```

use tarp::blocking::{Client, WebData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://localhost:8080".into());
    let client = Client::connect(&url)?;

    // Set the lower and upper bounds for the sine wave plot (query parameters).
    let (_, range) = client
        .get("set_params")
        .query("lower", 0)
        .query("upper", std::f64::consts::PI)
        .send()?;
    println!("range: {range:?}");

    // Get the data for the sine wave plot: (mimetype, data).
    let (mimetype, data) = client.get("get_data").send()?;
    if let WebData::Json(data) = data {
        let x = data["x"].as_array().map(Vec::len).unwrap_or(0);
        println!(
            "{mimetype:?}: {x} points, x[1] = {}, y[1] = {}",
            data["x"][1], data["y"][1]
        );
    }

    // Get the sine wave plot as a PNG image and save it.
    match client.get("get_plot").send()? {
        (_, WebData::Raw { mime, bytes }) => {
            std::fs::write("sine_wave.png", &bytes)?;
            println!("saved sine_wave.png ({mime}, {} bytes)", bytes.len());
        }
        (mimetype, other) => println!("unexpected answer: {mimetype:?} {other:?}"),
    }
    Ok(())
}
