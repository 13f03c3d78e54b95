//! The Python README's web-like server: `set_params`, `get_data` and `get_plot`, which any HTTP
//! client (a browser, curl) can call.
//!
//! ```text
//! cargo run --example web_server
//! ```
//!
//! then open in a browser:
//!
//! ```text
//! http://localhost:8080/set_params?lower=0&upper=3.14159
//! http://localhost:8080/get_data
//! http://localhost:8080/get_plot                  (a PNG plot of the sine wave)
//! ```
//!
//! or run `cargo run --example web_client`. `cargo run --example web_server -- 9000` serves on
//! another port.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tarp::core::service::{Body, Error, Reply, Service};
use tarp::core::wire::query::Query;

/// The sine wave's range, shared by the three endpoints.
#[derive(Clone, Copy)]
struct Range {
    lower: f64,
    upper: f64,
}

fn param(query: &Query, name: &str) -> Result<Option<f64>, Error> {
    match query.first(name) {
        None => Ok(None),
        Some(text) => {
            let value: f64 = text.parse().map_err(|_| {
                Error::bad_request(format!("{name} must be a number, got {text:?}"))
            })?;
            if !value.is_finite() {
                return Err(Error::bad_request(format!("{name} must be finite")));
            }
            Ok(Some(value))
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse()?,
        None => 8080,
    };
    let range = Arc::new(Mutex::new(Range {
        lower: 0.0,
        upper: 10.0,
    }));
    let mut service = Service::with_config(tarp::blocking::service_config());

    // Sets the lower and upper bounds of the sine wave plot.
    let r = Arc::clone(&range);
    service
        .get("set_params", move |params: &Query, _body: Body| {
            let mut range = r.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(lower) = param(params, "lower")? {
                range.lower = lower;
            }
            if let Some(upper) = param(params, "upper")? {
                range.upper = upper;
            }
            Ok(Reply::json(
                json!({"lower": range.lower, "upper": range.upper}),
            ))
        })
        .query_params(["lower", "upper"])
        .describe("Sets the lower and upper bounds of the sine wave.");

    // The data of the sine wave plot, as JSON.
    let r = Arc::clone(&range);
    service
        .get("get_data", move |_params: &Query, _body: Body| {
            let Range { lower, upper } = *r.lock().unwrap_or_else(|p| p.into_inner());
            let (x, y) = tarp::plot::sine_wave(lower, upper);
            Ok(Reply::json(json!({"x": x, "y": y})))
        })
        .describe("The sine wave's 100 points.");

    // A PNG image of the plot: a raw payload, sent without the JSON envelope so a browser
    // shows it.
    let r = Arc::clone(&range);
    service
        .get("get_plot", move |_params: &Query, _body: Body| {
            let Range { lower, upper } = *r.lock().unwrap_or_else(|p| p.into_inner());
            let png = tarp::plot::sine_wave_png(lower, upper)
                .map_err(|e| Error::failed(e.to_string()))?;
            Ok(Reply::raw("image/png", png))
        })
        .describe("The sine wave as a PNG image.");

    let server = tarp::blocking::Server::builder(Arc::new(service))
        .port(port)
        .build()?;
    println!("Serving HTTP on port {}", server.local_addr().port());
    server.serve()?;
    Ok(())
}
