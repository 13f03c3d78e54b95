//! The large-payload client of `bench/run.sh` (scenario 4, see BENCHMARKS.md): sends a
//! float64 array (100 MB by default, as a `numpy.ndarray` on the wire) to RPC `echo` of
//! `bench_server` and gets it back, end to end through our client and server, and measures
//! the unit of the target in the same process: one base64 decode of the array's bytes plus
//! one copy of the result.
//!
//! ```text
//! cargo run --release --example bench_server -- --runtime blocking --port 9000 &
//! cargo run --release --example bench_large -- --runtime blocking --port 9000 --mb 100 --runs 3
//! ```
//!
//! Output: `roundtrip_ms=… unit_ms=… ratio=… client_peak_rss_mb=… payload_mb=…` (medians
//! over `--runs`). The client's peak resident memory (`VmHWM`) is read after the round trips
//! and before the unit is measured, so the unit's own buffers do not count in it. Any error
//! or a returned array that differs from the one sent exits with status 1.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tarp::core::wire::pickle::NdArray;

fn usage() -> ! {
    eprintln!("usage: bench_large --runtime blocking|smol --port PORT [--mb MB] [--runs N]");
    std::process::exit(2);
}

fn main() {
    let mut runtime = String::from("blocking");
    let mut port: Option<u16> = None;
    let mut mb: usize = 100;
    let mut runs: usize = 3;
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
            "--mb" => mb = num(),
            "--runs" => runs = num().max(1),
            _ => usage(),
        }
    }
    let url = format!("http://127.0.0.1:{}", port.unwrap_or_else(|| usage()));
    let payload = mb * 1_000_000;
    let n = payload / 8;
    let sent = NdArray::from_vec((0..n).map(|i| i as f64 * 0.5).collect::<Vec<f64>>());

    let mut trips = Vec::with_capacity(runs);
    let result = match runtime.as_str() {
        "blocking" => tarp::blocking::Client::connect(&url)
            .map_err(|e| e.to_string())
            .and_then(|client| {
                for _ in 0..runs {
                    let t = Instant::now();
                    let back: NdArray = client
                        .call("echo", (sent.clone(),))
                        .map_err(|e| e.to_string())?;
                    trips.push(t.elapsed().as_secs_f64());
                    same(&sent, &back)?;
                }
                Ok(())
            }),
        "smol" => smol::block_on(async {
            let client = tarp::smol::Client::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            for _ in 0..runs {
                let t = Instant::now();
                let back: NdArray = client
                    .call("echo", (sent.clone(),))
                    .await
                    .map_err(|e| e.to_string())?;
                trips.push(t.elapsed().as_secs_f64());
                same(&sent, &back)?;
            }
            Ok(())
        }),
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("bench_large: {e}");
        std::process::exit(1);
    }
    let peak_kib = vm_hwm_kib();

    // The unit: one base64 decode of the same bytes, plus one copy of what it decoded.
    let raw: Vec<u8> = sent
        .as_slice::<f64>()
        .unwrap_or_default()
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let text = B64.encode(&raw);
    drop(raw);
    let mut units = Vec::with_capacity(runs);
    for _ in 0..runs.max(3) {
        let t = Instant::now();
        let decoded = B64.decode(text.as_bytes()).unwrap_or_default();
        let copy = decoded.clone();
        units.push(t.elapsed().as_secs_f64());
        std::hint::black_box((&decoded, &copy));
    }
    let trip = median(&mut trips);
    let unit = median(&mut units);
    println!(
        "roundtrip_ms={:.1} unit_ms={:.1} ratio={:.2} client_peak_rss_mb={:.1} payload_mb={:.1}",
        trip * 1e3,
        unit * 1e3,
        trip / unit,
        peak_kib as f64 * 1024.0 / 1e6,
        payload as f64 / 1e6
    );
}

fn same(a: &NdArray, b: &NdArray) -> Result<(), String> {
    if a.shape() != b.shape() || a.as_slice::<f64>() != b.as_slice::<f64>() {
        return Err("the array came back different".into());
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident memory of this process (`VmHWM` in `/proc/self/status`), KiB; 0 if unknown.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
