//! The `tarp` binary end to end: `tarp demo` on a free port, then `tarp ls`, `call`, `job`,
//! `get`, `post` against it, asserting outputs and exit codes, and a graceful stop on
//! SIGTERM and Ctrl-C.

mod cli_support;

use std::time::{Duration, Instant};

use cli_support::{png_size, run_command, tarp, temp_dir, Demo};

#[test]
fn ls_groups_endpoints_with_signatures_and_descriptions() {
    let demo = Demo::start(&[]);
    let out = tarp(&["ls", &demo.url]).expect(0);
    let text = &out.stdout;
    let pos = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing from:\n{text}"))
    };
    // Groups in order, each with its endpoints.
    assert!(pos("RPC (") < pos("ASYNC RPC ("));
    assert!(pos("ASYNC RPC (") < pos("GET ("));
    assert!(pos("GET (") < pos("POST ("));
    pos("  my_function(x, y)\n");
    pos("  rpcExample(value, lower=0, upper=10)\n");
    pos("  my_long_function(x, y)  [poll every 1 s]\n");
    pos("  asyncRPCExample(value, lower=0, upper=10)  [poll every 1 s]\n");
    pos("  set_params?lower=&upper=\n");
    pos("  setRange?lower=&upper=\n");
    for name in tarp::demo::ENDPOINTS {
        pos(name);
    }
    pos("      Adds two numbers");

    // --json: the discovery document itself.
    let doc = tarp(&["ls", &demo.url, "--json"]).expect(0).json();
    for kind in ["GET", "POST", "RPC", "ASYNCRPC"] {
        assert!(doc[kind].is_array(), "{kind} in {doc}");
    }
    assert_eq!(doc["RPC"][0]["name"], "my_function");
}

#[test]
fn sync_calls_print_json_results() {
    let demo = Demo::start(&[]);
    let call = |args: &[&str]| {
        let mut v = vec!["call", demo.url.as_str()];
        v.extend_from_slice(args);
        tarp(&v).expect(0)
    };
    assert_eq!(call(&["my_function", "1", "2"]).line(), "3");
    assert_eq!(call(&["my_function", "1.5", "2"]).line(), "3.5");
    assert_eq!(call(&["my_function", "-1", "-2"]).line(), "-3");
    assert_eq!(
        call(&["my_function", "hello", " world"]).line(),
        "\"hello world\""
    );
    assert_eq!(
        call(&["my_function", "[1]", "[\"a\", null]"]).line(),
        "[1,\"a\",null]"
    );
    assert_eq!(call(&["my_function", "True", "True"]).line(), "2");
    assert_eq!(
        call(&["my_function", "-k", "x=9223372036854775807", "-k", "y=1"]).line(),
        "9223372036854775808"
    );
    // rpcExample returns a float64 array: printed as a list. It takes the work time (1 s).
    let t0 = Instant::now();
    let out = call(&["rpcExample", "5", "-k", "upper=1"]);
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(out.json(), serde_json::json!([0.0, 0.25, 0.5, 0.75, 1.0]));
    let out = call(&["rpcExample", "3", "-k", "lower=-1", "-k", "upper=1"]);
    assert_eq!(out.json(), serde_json::json!([-1.0, 0.0, 1.0]));
    // -o writes the JSON into a file.
    let dir = temp_dir("call-o");
    let file = dir.join("sum.json");
    let out = call(&["my_function", "20", "22", "-o", file.to_str().unwrap()]);
    assert_eq!(out.stdout, "");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "42\n");
}

#[test]
fn async_calls_are_waited_for_with_progress() {
    let demo = Demo::start(&[]);
    let t0 = Instant::now();
    let out = tarp(&["call", &demo.url, "my_long_function", "1", "2"]).expect(0);
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(out.line(), "3");
    assert!(
        out.stderr.contains("my_long_function (job "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("in_progress, "), "{}", out.stderr);
    assert!(out.stderr.contains("s elapsed"), "{}", out.stderr);
    assert!(out.stderr.contains("completed after "), "{}", out.stderr);

    let out = tarp(&[
        "call",
        &demo.url,
        "asyncRPCExample",
        "3",
        "-k",
        "lower=0",
        "-k",
        "upper=2",
    ])
    .expect(0);
    assert_eq!(out.json(), serde_json::json!([0.0, 1.0, 2.0]));
}

#[test]
fn no_wait_then_job() {
    // A work time long enough that the first probe surely finds the job running.
    let demo = Demo::start(&["--delay", "3"]);
    let out = tarp(&[
        "call",
        &demo.url,
        "asyncRPCExample",
        "4",
        "-k",
        "upper=3",
        "--no-wait",
    ])
    .expect(0);
    let id = out.line().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id:?}");
    assert!(
        out.stderr
            .contains(&format!("tarp job {} {id} --wait", demo.url)),
        "{}",
        out.stderr
    );

    // Probed while running: the status as JSON, exit code 7.
    let out = tarp(&["job", &demo.url, &id]).expect(7);
    assert_eq!(out.json()["status"], "in_progress");
    assert_eq!(out.json()["id"], id.as_str());
    assert!(out.error_line().contains("still running"), "{}", out.stderr);

    // Waited for: the result.
    let out = tarp(&["job", &demo.url, &id, "--wait"]).expect(0);
    assert_eq!(out.json(), serde_json::json!([0.0, 1.0, 2.0, 3.0]));
    assert!(out.stderr.contains("completed after"), "{}", out.stderr);

    // Fetched results are forgotten.
    let out = tarp(&["job", &demo.url, &id]).expect(4);
    assert!(out.error_line().contains(&id), "{}", out.stderr);

    // A job that is done when probed is fetched at once.
    let id = tarp(&["call", &demo.url, "my_long_function", "2", "3", "--no-wait"])
        .expect(0)
        .line()
        .to_owned();
    let out = until_done(&["job", &demo.url, &id]);
    assert_eq!(out.line(), "5");
}

/// Runs the command until it stops answering "in progress" (exit 7), at most 20 s; returns
/// the first other outcome, which must be a success.
fn until_done(args: &[&str]) -> cli_support::Out {
    let t0 = Instant::now();
    loop {
        let out = tarp(args);
        if out.code != 7 {
            return out.expect(0);
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "still in progress");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn get_plot_as_png_file() {
    let demo = Demo::start(&[]);
    let dir = temp_dir("png");
    let file = dir.join("plot.png");
    let out = tarp(&["get", &demo.url, "get_plot", "-o", file.to_str().unwrap()]).expect(0);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("(image/png)"), "{}", out.stderr);
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(png_size(&bytes), (800, 400));

    // Stdout that is not a terminal gets the raw bytes.
    let out = tarp(&["get", &demo.url, "get_plot"]).expect(0);
    assert_eq!(png_size(&out.bytes), (800, 400));
}

#[test]
fn web_endpoints_walk_the_example_states() {
    // A work time long enough that the call right after generateData surely falls in it.
    let demo = Demo::start(&["--delay", "3"]);
    let url = demo.url.as_str();
    let out = tarp(&["get", url, "set_params", "lower=0", "upper=3.5"]).expect(0);
    assert_eq!(out.json(), serde_json::json!({"lower": 0.0, "upper": 3.5}));
    let data = tarp(&["get", url, "get_data"]).expect(0).json();
    assert_eq!(data["x"].as_array().unwrap().len(), 100);
    assert_eq!(data["x"][99], 3.5);
    assert_eq!(data["y"][0], 0.0);

    // POST with query parameters, and with a JSON body.
    let out = tarp(&["post", url, "setRange", "lower=1", "upper=2"]).expect(0);
    assert_eq!(out.json(), serde_json::json!({"lower": 1.0, "upper": 2.0}));
    let out = tarp(&["post", url, "setRange", "--json", r#"{"upper": 5}"#]).expect(0);
    assert_eq!(out.json(), serde_json::json!({"lower": 1.0, "upper": 5.0}));
    let dir = temp_dir("post");
    let body = dir.join("range.json");
    std::fs::write(&body, r#"{"lower": 0, "upper": 4}"#).unwrap();
    let arg = format!("@{}", body.display());
    let out = tarp(&["post", url, "setRange", "--json", &arg]).expect(0);
    assert_eq!(out.json(), serde_json::json!({"lower": 0.0, "upper": 4.0}));

    // Before generateData: invalid server state (a remote failure, 6).
    let out = tarp(&["get", url, "getData"]).expect(6);
    assert!(
        out.error_line().contains("InvalidServerState"),
        "{}",
        out.stderr
    );
    assert!(out.error_line().contains("generateData"), "{}", out.stderr);

    let out = tarp(&["get", url, "generateData"]).expect(0);
    assert_eq!(out.json()["generating"], true);
    // Within the work time: operation in progress (7), with the server's retry delay.
    let out = tarp(&["get", url, "showFigure"]).expect(7);
    assert!(
        out.error_line().contains("Figure is still being generated"),
        "{}",
        out.stderr
    );
    let line = out.error_line();
    assert!(
        line.contains("retry after 3 s") || line.contains("retry after 2 s"),
        "{line}"
    );
    let data = until_done(&["get", url, "getData"]).json();
    assert_eq!(data["x"][99], 4.0);
    let file = dir.join("figure.png");
    tarp(&["get", url, "showFigure", "-o", file.to_str().unwrap()]).expect(0);
    assert_eq!(png_size(&std::fs::read(&file).unwrap()), (800, 400));
}

#[test]
fn credentials_in_the_url_are_accepted() {
    let demo = Demo::start(&[]);
    let url = demo.url.replace("http://", "http://alice:s3cret@");
    assert_eq!(
        tarp(&["call", &url, "my_function", "1", "2"])
            .expect(0)
            .line(),
        "3"
    );
    // And never printed.
    let out = tarp(&["call", &url, "nope"]).expect(4);
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
}

#[test]
fn smol_runtime_serves_the_same_demo() {
    let demo = Demo::start(&["--runtime", "smol"]);
    assert_eq!(
        tarp(&["call", &demo.url, "my_function", "1", "2"])
            .expect(0)
            .line(),
        "3"
    );
    assert_eq!(
        tarp(&["call", &demo.url, "my_long_function", "1", "2"])
            .expect(0)
            .line(),
        "3"
    );
    let out = tarp(&["get", &demo.url, "get_plot"]).expect(0);
    assert_eq!(png_size(&out.bytes), (800, 400));
    let (status, stdout, _) = demo.stop_with("TERM", Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    assert!(stdout.contains("smol runtime"), "{stdout}");
    assert!(stdout.contains("tarp demo: stopped"), "{stdout}");
}

#[test]
fn sigterm_stops_gracefully_finishing_the_call_in_flight() {
    let demo = Demo::start(&["--delay", "3"]);
    // A sync call that takes the work time (3 s) is in flight when SIGTERM arrives.
    let mut cmd = cli_support::command(&["call", &demo.url, "rpcExample", "3"]);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let url = demo.url.clone();
    let in_flight = std::thread::spawn(move || run_command(cmd));
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    let (status, stdout, stderr) = demo.stop_with("TERM", Duration::from_secs(15));
    assert!(status.success(), "{status:?}\n{stdout}\n{stderr}");
    assert!(
        t0.elapsed() >= Duration::from_millis(800),
        "stopped before the call finished"
    );
    assert!(stdout.contains("tarp demo: stopping"), "{stdout}");
    assert!(
        stdout.contains("tarp demo: stopped (0 connection(s) cut"),
        "{stdout}"
    );
    assert!(stderr.contains("shutting down"), "{stderr}");
    let out = in_flight.join().unwrap().expect(0);
    assert_eq!(out.json(), serde_json::json!([0.0, 5.0, 10.0]));
    // Nothing listens any more.
    tarp(&["ls", &url]).expect(3);
}

#[test]
fn ctrl_c_stops_the_demo() {
    let demo = Demo::start(&[]);
    let (status, stdout, _) = demo.stop_with("INT", Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    assert!(stdout.contains("tarp demo: stopped"), "{stdout}");
}

#[test]
fn demo_prints_the_urls_to_try() {
    let demo = Demo::start(&[]);
    let (_, stdout, _) = demo.stop_with("TERM", Duration::from_secs(15));
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("tarp demo: serving on http://127.0.0.1:"),
        "{first}"
    );
    assert!(first.contains("work time 1 s"), "{first}");
    for path in [
        "/get_plot",
        "/get_data",
        "/set_params?lower=0&upper=3.14159",
        "/showFigure",
    ] {
        assert!(stdout.contains(path), "{path} in {stdout}");
    }
    assert!(stdout.contains("tarp call http://127.0.0.1:"), "{stdout}");
}

#[test]
fn help_documents_the_exit_codes() {
    let out = tarp(&["--help"]).expect(0);
    for line in [
        "Exit codes:",
        "3  cannot reach the server",
        "4  not found",
        "6  remote failure",
        "7  operation in progress",
    ] {
        assert!(out.stdout.contains(line), "{line:?} in {}", out.stdout);
    }
    let out = tarp(&["call", "--help"]).expect(0);
    assert!(out.stdout.contains("--no-wait"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Python's None, True and False"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Exit codes:"), "{}", out.stdout);
}
