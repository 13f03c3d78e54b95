//! The async RPC client of `bench/run.sh` (scenario 3, see BENCHMARKS.md): N sequential round
//! trips of a job that returns at once: start `add_async(1, 2)`, probe it until it is no
//! longer in progress, get its result. Prints `calls_per_s=… probes_per_call=… n=…`.
//!
//! ```text
//! cargo run --release --example bench_server -- --runtime smol --port 9000 &
//! cargo run --release --example bench_async -- --port 9000 --n 2000
//! ```
//!
//! Uses the blocking client (`--runtime smol`: the async one). Connects to 127.0.0.1 only; a
//! failed job or a wrong result exits with status 1.

use std::time::Instant;

use tarp::blocking::JobStatus;

fn usage() -> ! {
    eprintln!("usage: bench_async --port PORT [--n N] [--runtime blocking|smol]");
    std::process::exit(2);
}

fn main() {
    let mut runtime = String::from("blocking");
    let mut port: Option<u16> = None;
    let mut n: usize = 2_000;
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
            _ => usage(),
        }
    }
    let url = format!("http://127.0.0.1:{}", port.unwrap_or_else(|| usage()));
    let t = Instant::now();
    let probes = match runtime.as_str() {
        "blocking" => blocking(&url, n),
        "smol" => smol::block_on(async_client(&url, n)),
        _ => usage(),
    }
    .unwrap_or_else(|e| {
        eprintln!("bench_async: {e}");
        std::process::exit(1);
    });
    let secs = t.elapsed().as_secs_f64();
    println!(
        "calls_per_s={:.1} probes_per_call={:.2} n={n}",
        n as f64 / secs,
        probes as f64 / n.max(1) as f64
    );
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn check(sum: i64) -> Result<()> {
    if sum != 3 {
        return Err(format!("add_async(1, 2) returned {sum}").into());
    }
    Ok(())
}

/// Runs the round trips; returns the number of probes sent.
fn blocking(url: &str, n: usize) -> Result<usize> {
    let client = tarp::blocking::Client::connect(url)?;
    let mut probes = 0;
    for _ in 0..n {
        let job = client.start("add_async", (1, 2))?;
        loop {
            probes += 1;
            match job.status()? {
                JobStatus::InProgress => std::thread::yield_now(),
                JobStatus::Completed => break,
                other => return Err(format!("job ended {other:?}").into()),
            }
        }
        let sum: i64 = job.wait()?;
        check(sum)?;
    }
    Ok(probes)
}

async fn async_client(url: &str, n: usize) -> Result<usize> {
    use tarp::smol::JobStatus;
    let client = tarp::smol::Client::connect(url).await?;
    let mut probes = 0;
    for _ in 0..n {
        let job = client.start("add_async", (1, 2)).await?;
        loop {
            probes += 1;
            match job.status().await? {
                JobStatus::InProgress => smol::future::yield_now().await,
                JobStatus::Completed => break,
                other => return Err(format!("job ended {other:?}").into()),
            }
        }
        let sum: i64 = job.wait().await?;
        check(sum)?;
    }
    Ok(probes)
}
