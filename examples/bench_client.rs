//! The latency client of `bench/run.sh` (scenario 5, see BENCHMARKS.md): calls RPC
//! `add(1, 2)` N times one after the other through our client over one keep-alive
//! connection, and prints the median and 99th percentile of the round trips.
//!
//! ```text
//! cargo run --release --example bench_server -- --runtime blocking --port 9000 &
//! cargo run --release --example bench_client -- --runtime blocking --port 9000 --n 20000
//! ```
//!
//! Output: `p50_us=… p99_us=… n=…` (microseconds; nearest-rank percentiles), after 1000
//! unmeasured calls (`--warmup`). `--runtime smol` uses the async client on `smol::block_on`.
//! Connects to 127.0.0.1 only; any failed or wrong answer exits with status 1.

use std::time::Instant;

fn usage() -> ! {
    eprintln!("usage: bench_client --runtime blocking|smol --port PORT [--n N] [--warmup N]");
    std::process::exit(2);
}

fn main() {
    let mut runtime = String::from("blocking");
    let mut port: Option<u16> = None;
    let mut n: usize = 20_000;
    let mut warmup: usize = 1_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = || {
            args.next()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--runtime" => runtime = args.next().unwrap_or_else(|| usage()),
            "--port" => port = Some(u16::try_from(num()).unwrap_or_else(|_| usage())),
            "--n" => n = num(),
            "--warmup" => warmup = num(),
            _ => usage(),
        }
    }
    let url = format!("http://127.0.0.1:{}", port.unwrap_or_else(|| usage()));
    let samples = match runtime.as_str() {
        "blocking" => blocking(&url, warmup, n),
        "smol" => smol::block_on(async_client(&url, warmup, n)),
        _ => usage(),
    };
    let mut samples = samples.unwrap_or_else(|e| {
        eprintln!("bench_client: {e}");
        std::process::exit(1);
    });
    samples.sort_unstable();
    let p = |q: f64| percentile(&samples, q) as f64 / 1000.0;
    println!("p50_us={:.1} p99_us={:.1} n={n}", p(50.0), p(99.0));
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn check(sum: i64) -> Result<()> {
    if sum != 3 {
        return Err(format!("add(1, 2) returned {sum}").into());
    }
    Ok(())
}

fn blocking(url: &str, warmup: usize, n: usize) -> Result<Vec<u64>> {
    let client = tarp::blocking::Client::connect(url)?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let t = Instant::now();
        let sum: i64 = client.call("add", (1, 2))?;
        let ns = t.elapsed().as_nanos() as u64;
        check(sum)?;
        if i >= warmup {
            samples.push(ns);
        }
    }
    Ok(samples)
}

async fn async_client(url: &str, warmup: usize, n: usize) -> Result<Vec<u64>> {
    let client = tarp::smol::Client::connect(url).await?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let t = Instant::now();
        let sum: i64 = client.call("add", (1, 2)).await?;
        let ns = t.elapsed().as_nanos() as u64;
        check(sum)?;
        if i >= warmup {
            samples.push(ns);
        }
    }
    Ok(samples)
}

/// Nearest-rank percentile of sorted samples (as the baseline latency client computes it).
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
