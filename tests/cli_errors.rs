//! Every failure of the `tarp` command: one clear line on stderr naming the problem, and its
//! own exit code (the table in `tarp --help`).

mod cli_support;

use std::io::{Read, Write};
use std::net::TcpListener;

use cli_support::{closed_port, tarp, Demo};

#[test]
fn unreachable_server_is_3() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    for args in [
        vec!["ls", url.as_str()],
        vec!["call", url.as_str(), "my_function", "1", "2"],
        vec!["get", url.as_str(), "get_plot", "-o", "/dev/null"],
        vec!["job", url.as_str(), "some-id"],
    ] {
        let out = tarp(&args).expect(3);
        let line = out.error_line();
        assert!(
            line.starts_with(&format!("tarp: cannot reach {url}")),
            "{line}"
        );
        assert!(line.contains("refused"), "{line}");
        assert_eq!(out.stdout, "");
    }
}

#[test]
fn unknown_endpoint_is_4_with_the_near_names() {
    let demo = Demo::start(&[]);
    let out = tarp(&["call", &demo.url, "my_functon", "1", "2"]).expect(4);
    assert_eq!(
        out.error_line(),
        format!(
            "tarp: unknown RPC endpoint \"my_functon\" at {}; did you mean my_function?",
            demo.url
        )
    );
    let out = tarp(&["get", &demo.url, "getdata"]).expect(4);
    assert!(
        out.error_line()
            .ends_with("did you mean getData, get_data?"),
        "{}",
        out.stderr
    );
    // Nothing near: the endpoints of that kind are listed.
    let out = tarp(&["post", &demo.url, "zzzzzzzz"]).expect(4);
    assert!(
        out.error_line()
            .ends_with("the server's POST endpoints: setRange"),
        "{}",
        out.stderr
    );
}

#[test]
fn wrong_kind_of_endpoint_is_a_usage_error() {
    let demo = Demo::start(&[]);
    let out = tarp(&["call", &demo.url, "get_plot"]).expect(2);
    assert_eq!(
        out.error_line(),
        "tarp: get_plot is a GET endpoint: use `tarp get URL get_plot`"
    );
    let out = tarp(&["get", &demo.url, "my_function"]).expect(2);
    assert!(
        out.error_line().contains("`tarp call URL my_function`"),
        "{}",
        out.stderr
    );
    let out = tarp(&["call", &demo.url, "my_function", "1", "2", "--no-wait"]).expect(2);
    assert!(out.error_line().contains("synchronous"), "{}", out.stderr);
}

#[test]
fn bad_command_lines_are_2() {
    let demo = Demo::start(&[]);
    let out = tarp(&["call", &demo.url, "my_function", "-k", "novalue"]).expect(2);
    assert_eq!(
        out.error_line(),
        "tarp: bad keyword argument \"novalue\": expected KEY=VALUE"
    );
    let out = tarp(&["get", &demo.url, "set_params", "lower"]).expect(2);
    assert!(
        out.error_line().contains("expected KEY=VALUE"),
        "{}",
        out.stderr
    );
    let out = tarp(&["post", &demo.url, "setRange", "--json", "{nope"]).expect(2);
    assert!(
        out.error_line().starts_with("tarp: --json: not valid JSON"),
        "{}",
        out.stderr
    );
    let out = tarp(&[
        "post",
        &demo.url,
        "setRange",
        "--data",
        "@/nonexistent/body",
    ])
    .expect(2);
    assert!(
        out.error_line().contains("/nonexistent/body"),
        "{}",
        out.stderr
    );
    // URL problems are caught before any connection.
    let out = tarp(&["ls", "ftp://127.0.0.1:1"]).expect(2);
    assert!(out.error_line().contains("scheme"), "{}", out.stderr);
    // clap's own usage errors.
    tarp(&["call"]).expect(2);
    tarp(&["frobnicate"]).expect(2);
    tarp(&["ls", &demo.url, "--timeout", "-1"]).expect(2);
    tarp(&["demo", "--tls-cert", "x.pem"]).expect(2);
    tarp(&["demo", "--runtime", "tokio"]).expect(2);
}

#[test]
fn arguments_the_server_refuses_are_5() {
    let demo = Demo::start(&[]);
    let out = tarp(&["call", &demo.url, "my_function", "1"]).expect(5);
    assert_eq!(
        out.error_line(),
        "tarp: the server refused the arguments: my_function() missing required argument 'y'"
    );
    let out = tarp(&["call", &demo.url, "my_function", "1", "2", "-k", "z=3"]).expect(5);
    assert!(
        out.error_line().contains("unexpected keyword argument 'z'"),
        "{}",
        out.stderr
    );
    let out = tarp(&["call", &demo.url, "rpcExample", "lots"]).expect(5);
    assert!(out.error_line().contains("'value'"), "{}", out.stderr);
    let out = tarp(&["get", &demo.url, "set_params", "lower=abc"]).expect(5);
    assert!(
        out.error_line()
            .contains("could not convert string to float"),
        "{}",
        out.stderr
    );
}

#[test]
fn remote_failures_are_6_with_type_and_message() {
    let demo = Demo::start(&[]);
    let out = tarp(&["call", &demo.url, "my_function", "1", "x"]).expect(6);
    assert_eq!(
        out.error_line(),
        "tarp: remote failure generic (HTTP 500): unsupported operand type(s) for +: 'int' and 'str'"
    );
    // An async job that fails: reported by its probe.
    let out = tarp(&["call", &demo.url, "my_long_function", "1", "x"]).expect(6);
    assert_eq!(
        out.error_line(),
        "tarp: the job failed: unsupported operand type(s) for +: 'int' and 'str'"
    );
    let out = tarp(&["call", &demo.url, "rpcExample", "-5"]).expect(6);
    assert!(
        out.error_line().contains("must be non-negative"),
        "{}",
        out.stderr
    );
    let out = tarp(&["get", &demo.url, "showFigure"]).expect(6);
    assert_eq!(
        out.error_line(),
        "tarp: remote failure InvalidServerState: No figure generated yet. Call generateData first."
    );
}

#[test]
fn operation_in_progress_is_7() {
    let demo = Demo::start(&["--delay", "5"]);
    tarp(&["get", &demo.url, "generateData"]).expect(0);
    let out = tarp(&["get", &demo.url, "getData"]).expect(7);
    assert!(
        out.error_line().starts_with(
            "tarp: operation in progress: Data is still being generated. Please wait a moment."
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.error_line().contains("retry after 5 s")
            || out.error_line().contains("retry after 4 s")
    );
}

#[test]
fn timeouts_are_8() {
    let demo = Demo::start(&["--delay", "3"]);
    // A sync call longer than --timeout.
    let out = tarp(&["call", &demo.url, "rpcExample", "3", "--timeout", "0.5"]).expect(8);
    assert!(
        out.error_line().starts_with("tarp: timed out"),
        "{}",
        out.stderr
    );
    // Waiting for a job longer than --timeout.
    let out = tarp(&[
        "call",
        &demo.url,
        "my_long_function",
        "1",
        "2",
        "--timeout",
        "1",
    ])
    .expect(8);
    assert!(out.error_line().contains("still running"), "{}", out.stderr);
}

#[test]
fn a_server_that_is_not_tarp_is_9() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        // Answers one request with a web page.
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let body = "<html>hello</html>";
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let out = tarp(&["ls", &url]).expect(9);
    assert!(
        out.error_line()
            .starts_with(&format!("tarp: {url} does not answer as a TARP server")),
        "{}",
        out.stderr
    );
    server.join().unwrap();
}

#[test]
fn a_raw_payload_is_not_written_to_a_terminal() {
    // `script` runs the command with a pseudo-terminal as its stdout.
    let demo = Demo::start(&[]);
    let script = std::process::Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} get {} get_plot; echo \"exit=$?\"",
            cli_support::tarp_bin(),
            demo.url
        ))
        .arg("/dev/null")
        .stdin(std::process::Stdio::null())
        .output();
    // `script` (util-linux) is part of every Debian system.
    let out = script.expect("the script(1) utility runs the command on a terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("exit=2"), "{text}");
    assert!(text.contains("save them with -o FILE"), "{text}");
}

#[test]
fn a_port_in_use_is_a_local_failure() {
    let demo = Demo::start(&[]);
    let port = demo.port.to_string();
    let out = tarp(&["demo", "--bind", "127.0.0.1", "--port", &port]).expect(1);
    assert!(
        out.error_line()
            .starts_with(&format!("tarp: cannot listen on 127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
}

/// `tarp completions SHELL` prints a script that the shell parses and that knows every
/// subcommand; an unknown shell is a usage error naming the valid ones.
#[test]
fn completion_scripts_parse_and_know_every_command() {
    let out = tarp(&["completions", "bash"]).expect(0);
    let dir = cli_support::temp_dir("completions");
    let script = dir.join("tarp.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". {} && complete -p tarp && COMP_WORDS=(tarp c) && COMP_CWORD=1 \
             && COMP_LINE='tarp c' && COMP_POINT=6 && _tarp tarp c tarp \
             && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Completing `tarp c` offers both commands starting with c.
    let offered: Vec<&str> = stdout.lines().skip(1).collect();
    assert!(offered.contains(&"call"), "{stdout}");
    assert!(offered.contains(&"completions"), "{stdout}");
    for cmd in ["demo", "ls", "call", "job", "get", "post"] {
        assert!(
            out.stdout.contains(cmd),
            "{cmd} missing from the bash script"
        );
    }
    let zsh = tarp(&["completions", "zsh"]).expect(0);
    assert!(zsh.stdout.starts_with("#compdef tarp"), "{}", zsh.stdout);
    let bad = tarp(&["completions", "nosh"]).expect(2);
    assert!(
        bad.stderr.contains("invalid value 'nosh'"),
        "{}",
        bad.stderr
    );
    assert!(bad.stderr.contains("bash"), "{}", bad.stderr);
}
