//! The commands that talk to a server: `ls`, `call`, `job`, `get`, `post`.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use tarp_blocking::{
    Client, ClientError, Endpoint, EndpointKind, JobHandle, JobStatus, Kwargs, WebBody, WebData,
};
use tarp_core::wire::pickle::{self, Value};

use super::output::{self, Progress};
use super::suggest::near;
use super::value::{parse_value, split_pair};
use super::{CallArgs, ClientOpts, CmdResult, Exit, Failure, GetArgs, JobArgs, LsArgs, PostArgs};

/// The URL without credentials, for messages.
fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let host = match rest[..end].rsplit_once('@') {
                Some((_, host)) => host,
                None => &rest[..end],
            };
            format!("{scheme}://{host}{}", &rest[end..])
        }
        None => url.to_owned(),
    }
}

/// What a client error means for the command line, while connecting (`connecting` true:
/// transport trouble means the server cannot be reached) or later.
fn failure(e: ClientError, url: &str, connecting: bool) -> Failure {
    let url = shown_url(url);
    match e {
        ClientError::Transport { source } => Failure::new(
            Exit::Unreachable,
            if connecting {
                format!("cannot reach {url}: {source}")
            } else {
                format!("connection to {url} failed: {source}")
            },
        ),
        ClientError::Tls { source } => Failure::new(
            Exit::Unreachable,
            format!("TLS with {url} failed: {source}"),
        ),
        ClientError::Timeout { source } if connecting => Failure::new(
            Exit::Unreachable,
            format!("cannot reach {url}: timed out ({source})"),
        ),
        ClientError::Timeout { source } => {
            Failure::new(Exit::Timeout, format!("timed out: {source}"))
        }
        ClientError::BadArgument { message } if connecting => Failure::new(Exit::Usage, message),
        ClientError::BadArgument { message } => Failure::new(
            Exit::BadArgument,
            format!("the server refused the arguments: {message}"),
        ),
        ClientError::NotFound { message } => {
            Failure::new(Exit::NotFound, format!("not found: {message}"))
        }
        ClientError::OperationInProgress {
            message,
            retry_after,
        } => Failure::new(
            Exit::InProgress,
            format!(
                "operation in progress: {message} (the server asks to retry after {} s)",
                retry_after.as_secs_f64()
            ),
        ),
        ClientError::InvalidServerState { message } => Failure::new(
            Exit::Remote,
            format!("remote failure InvalidServerState: {message}"),
        ),
        ClientError::Remote {
            status,
            kind,
            message,
        } => Failure::new(
            Exit::Remote,
            format!("remote failure {kind} (HTTP {status}): {message}"),
        ),
        ClientError::JobFailed { message } => {
            Failure::new(Exit::Remote, format!("the job failed: {message}"))
        }
        ClientError::Protocol(message) if connecting => Failure::new(
            Exit::Protocol,
            format!("{url} does not answer as a TARP server: {message}"),
        ),
        ClientError::Protocol(message) => {
            Failure::new(Exit::Protocol, format!("protocol error: {message}"))
        }
        ClientError::Decode(message) => {
            Failure::new(Exit::Protocol, format!("cannot read the result: {message}"))
        }
        other => Failure::new(Exit::Local, other.to_string()),
    }
}

/// Connects (reads the discovery document) with the common options.
fn connect(url: &str, opts: &ClientOpts) -> Result<Client, Failure> {
    let mut builder = Client::builder(url);
    if let Some(ca) = &opts.cacert {
        builder = builder.ca_file(ca);
    }
    if let Some(t) = opts.timeout {
        builder = builder.connect_timeout(Some(t)).call_timeout(Some(t));
    }
    builder.connect().map_err(|e| failure(e, url, true))
}

fn kind_word(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::Get => "a GET endpoint",
        EndpointKind::Post => "a POST endpoint",
        EndpointKind::Rpc => "an RPC endpoint",
        EndpointKind::AsyncRpc => "an async RPC endpoint",
    }
}

fn command_for(kind: EndpointKind) -> &'static str {
    match kind {
        EndpointKind::Get => "tarp get",
        EndpointKind::Post => "tarp post",
        EndpointKind::Rpc | EndpointKind::AsyncRpc => "tarp call",
    }
}

/// The endpoint `name` of one of `kinds`, or the error naming near names (unknown) or the
/// right command (wrong kind).
fn find<'c>(
    client: &'c Client,
    name: &str,
    kinds: &[EndpointKind],
) -> Result<&'c Endpoint, Failure> {
    let endpoints = client.endpoints();
    let python_name = |e: &Endpoint| e.name.replace('/', "_");
    let same = |e: &&Endpoint| e.name == name || python_name(e) == name;
    if let Some(e) = endpoints
        .iter()
        .filter(same)
        .find(|e| kinds.contains(&e.kind))
    {
        return Ok(e);
    }
    if let Some(e) = endpoints.iter().find(same) {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "{name} is {}: use `{} URL {name}`",
                kind_word(e.kind),
                command_for(e.kind)
            ),
        ));
    }
    let of_kind: Vec<&str> = endpoints
        .iter()
        .filter(|e| kinds.contains(&e.kind))
        .map(|e| e.name.as_str())
        .collect();
    let close = near(name, of_kind.iter().copied());
    let what = match kinds {
        [EndpointKind::Get] => "GET endpoint",
        [EndpointKind::Post] => "POST endpoint",
        _ => "RPC endpoint",
    };
    let hint = if !close.is_empty() {
        format!("; did you mean {}?", close.join(", "))
    } else if of_kind.is_empty() {
        format!("; the server has no {what}s")
    } else {
        let mut all: Vec<&str> = of_kind.clone();
        all.truncate(20);
        format!("; the server's {what}s: {}", all.join(", "))
    };
    Err(Failure::new(
        Exit::NotFound,
        format!(
            "unknown {what} {name:?} at {}{hint}",
            shown_url(client.base_url())
        ),
    ))
}

/// A result value printed as JSON, or written to `-o` (bytes raw, anything else as JSON).
fn print_value(v: &Value, out: Option<&Path>) -> CmdResult {
    if let (Some(path), Value::Bytes(b)) = (out, v) {
        return output::raw(b, "bytes", "the call", Some(path));
    }
    let json = pickle::to_json(v)
        .map_err(|e| Failure::new(Exit::Local, format!("cannot print the result as JSON: {e}")))?;
    output::json(&json, out)
}

// ---------------------------------------------------------------------------------------------
// tarp ls

fn signature(e: &Endpoint) -> String {
    match e.kind {
        EndpointKind::Rpc | EndpointKind::AsyncRpc => {
            if e.params.is_empty() {
                // The Python server does not publish parameters.
                return format!("{}(...)", e.name);
            }
            let params: Vec<String> = e
                .params
                .iter()
                .map(|p| match e.defaults.iter().find(|(n, _)| n == p) {
                    Some((_, d)) => format!("{p}={d}"),
                    None => p.clone(),
                })
                .collect();
            format!("{}({})", e.name, params.join(", "))
        }
        EndpointKind::Get | EndpointKind::Post => {
            let mut s = e.name.clone();
            for (i, q) in e.query_params.iter().enumerate() {
                s.push(if i == 0 { '?' } else { '&' });
                s.push_str(q);
                s.push('=');
            }
            s
        }
    }
}

fn details(e: &Endpoint) -> Vec<String> {
    let mut d = Vec::new();
    if let Some(w) = e.suggested_wait {
        d.push(format!("poll every {w} s"));
    }
    if let Some(m) = &e.payload_mimetype {
        d.push(format!("payload {m}"));
    }
    if let Some(s) = &e.payload_schema {
        d.push(format!("schema {s}"));
    }
    if let Some(m) = &e.mimetype {
        d.push(format!("returns {m}"));
    }
    d
}

/// Runs `tarp ls`.
pub(crate) fn ls(a: LsArgs) -> CmdResult {
    let client = connect(&a.url, &a.opts)?;
    if a.json {
        let doc = client
            .discovery_document()
            .map_err(|e| failure(e, &a.url, false))?;
        return output::json(&doc, None);
    }
    let groups = [
        (EndpointKind::Rpc, "RPC (tarp call URL NAME ARG...)"),
        (
            EndpointKind::AsyncRpc,
            "ASYNC RPC (tarp call URL NAME ARG...: a job, waited for)",
        ),
        (EndpointKind::Get, "GET (tarp get URL NAME KEY=VALUE...)"),
        (
            EndpointKind::Post,
            "POST (tarp post URL NAME KEY=VALUE... --json DATA)",
        ),
    ];
    let mut text = String::new();
    for (kind, title) in groups {
        let of_kind: Vec<&Endpoint> = client
            .endpoints()
            .iter()
            .filter(|e| e.kind == kind)
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(title);
        text.push('\n');
        for e in of_kind {
            let extra = details(e);
            text.push_str("  ");
            text.push_str(&super::one_line(&signature(e)));
            if !extra.is_empty() {
                text.push_str(&format!("  [{}]", super::one_line(&extra.join("; "))));
            }
            text.push('\n');
            let description: Vec<String> = e.description.lines().map(super::one_line).collect();
            text.push_str(&format!("      {}\n", description.join("\n      ")));
        }
    }
    if text.is_empty() {
        text.push_str("(no endpoints)\n");
    }
    output::text(text.trim_end(), None)
}

// ---------------------------------------------------------------------------------------------
// tarp call / tarp job

/// Runs `tarp call`.
pub(crate) fn call(a: CallArgs) -> CmdResult {
    let mut kwargs = Kwargs::new();
    for kv in &a.kwargs {
        let (k, v) = split_pair(kv, "keyword argument")?;
        kwargs.insert_value(k, parse_value(v));
    }
    let args: Vec<Value> = a.args.iter().map(|s| parse_value(s)).collect();
    let client = connect(&a.url, &a.opts)?;
    let endpoint = find(
        &client,
        &a.name,
        &[EndpointKind::Rpc, EndpointKind::AsyncRpc],
    )?;
    let (name, kind) = (endpoint.name.clone(), endpoint.kind);
    let out = a.output.as_deref();
    if kind == EndpointKind::Rpc {
        if a.no_wait {
            return Err(Failure::new(
                Exit::Usage,
                format!("--no-wait applies to async endpoints; {name} is a synchronous RPC"),
            ));
        }
        let v = client
            .call_value(&name, args, kwargs)
            .map_err(|e| failure(e, &a.url, false))?;
        return print_value(&v, out);
    }
    let handle = client
        .start_with(&name, args, kwargs)
        .map_err(|e| failure(e, &a.url, false))?;
    if a.no_wait {
        eprintln!(
            "started job {} of {name}; fetch it with: tarp job {} {} --wait",
            handle.id(),
            shown_url(&a.url),
            handle.id()
        );
        return output::text(handle.id(), None);
    }
    let v = wait(&handle, Some(&name), &a.url, &a.opts)?;
    print_value(&v, out)
}

/// Waits for a job with a progress line, honouring the server's suggested wait between
/// probes, and fetches its result.
fn wait(
    handle: &JobHandle,
    name: Option<&str>,
    url: &str,
    opts: &ClientOpts,
) -> Result<Value, Failure> {
    let progress = Progress::new(handle.id(), name);
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    loop {
        let probe = handle.probe().map_err(|e| failure(e, url, false))?;
        match probe.status {
            JobStatus::Completed => {
                progress.finish("completed");
                return match handle.try_get_value().map_err(|e| failure(e, url, false))? {
                    Some(v) => Ok(v),
                    // Probe said done but the result is not there: fetched by someone else.
                    None => Err(Failure::new(
                        Exit::Protocol,
                        "the job was reported completed but its result is not available",
                    )),
                };
            }
            JobStatus::Failed => {
                progress.finish("failed");
                let message = probe.error.unwrap_or_else(|| "no message".into());
                return Err(Failure::new(
                    Exit::Remote,
                    format!("the job failed: {message}"),
                ));
            }
            JobStatus::Other(s) => {
                return Err(Failure::new(
                    Exit::Protocol,
                    format!("unknown job status {s:?}"),
                ))
            }
            JobStatus::InProgress => {}
        }
        progress.show("in_progress");
        // Sleep the suggested wait (at least 50 ms, never past the deadline), refreshing the
        // elapsed time on a terminal in between.
        let mut pause = probe.suggested_wait.max(Duration::from_millis(50));
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::new(
                    Exit::Timeout,
                    format!("timed out: job {} still running", handle.id()),
                ));
            }
            pause = pause.min(left);
        }
        let until = Instant::now() + pause;
        while let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            let step = if progress.live() {
                left.min(Duration::from_millis(200))
            } else {
                left
            };
            std::thread::sleep(step);
            if progress.live() {
                progress.show("in_progress");
            }
        }
    }
}

/// Runs `tarp job`.
pub(crate) fn job(a: JobArgs) -> CmdResult {
    let client = connect(&a.url, &a.opts)?;
    let handle = client.job(a.id.clone());
    let not_found = |e: ClientError| match e {
        ClientError::NotFound { .. } => Failure::new(
            Exit::NotFound,
            format!(
                "no job {:?} at {} (a result is forgotten once fetched)",
                a.id,
                shown_url(&a.url)
            ),
        ),
        e => failure(e, &a.url, false),
    };
    if a.wait {
        // Probe once first so an unknown ID gets the clear message.
        handle.probe().map_err(not_found)?;
        let v = wait(&handle, None, &a.url, &a.opts)?;
        return print_value(&v, a.output.as_deref());
    }
    let probe = handle.probe().map_err(not_found)?;
    match probe.status {
        JobStatus::Completed => {
            let v = handle
                .try_get_value()
                .map_err(not_found)?
                .ok_or_else(|| Failure::new(Exit::Protocol, "completed job has no result"))?;
            print_value(&v, a.output.as_deref())
        }
        JobStatus::Failed => Err(Failure::new(
            Exit::Remote,
            format!(
                "the job failed: {}",
                probe.error.unwrap_or_else(|| "no message".into())
            ),
        )),
        JobStatus::InProgress => {
            let status = serde_json::json!({
                "id": a.id,
                "status": "in_progress",
                "suggested_wait": probe.suggested_wait.as_secs_f64(),
            });
            output::json(&status, None)?;
            Err(Failure::new(
                Exit::InProgress,
                format!("job {} is still running; add --wait to wait for it", a.id),
            ))
        }
        JobStatus::Other(s) => Err(Failure::new(
            Exit::Protocol,
            format!("unknown job status {s:?}"),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// tarp get / tarp post

fn query_pairs(params: &[String]) -> Result<Vec<(String, String)>, Failure> {
    params
        .iter()
        .map(|p| split_pair(p, "query parameter").map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// `@FILE` read from a file, `@-` from stdin, anything else the text itself.
fn read_data(spec: &str, option: &str) -> Result<Vec<u8>, Failure> {
    match spec.strip_prefix('@') {
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                Failure::new(Exit::Usage, format!("{option} @-: cannot read stdin: {e}"))
            })?;
            Ok(buf)
        }
        Some(path) => std::fs::read(path)
            .map_err(|e| Failure::new(Exit::Usage, format!("{option} @{path}: {e}"))),
        None => Ok(spec.as_bytes().to_vec()),
    }
}

fn print_web(name: &str, data: WebData, out: Option<&Path>) -> CmdResult {
    match data {
        WebData::Json(j) => output::json(&j, out),
        WebData::Text(t) => output::text(&t, out),
        WebData::Bytes(b) => match out {
            Some(_) => output::raw(&b, "application/octet-stream", name, out),
            None => {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(&b);
                output::json(&serde_json::Value::String(b64), None)
            }
        },
        WebData::Raw { mime, bytes } => output::raw(&bytes, &mime, name, out),
    }
}

/// Runs `tarp get`.
pub(crate) fn get(a: GetArgs) -> CmdResult {
    let pairs = query_pairs(&a.params)?;
    let client = connect(&a.url, &a.opts)?;
    let name = find(&client, &a.name, &[EndpointKind::Get])?.name.clone();
    let mut req = client.get(&name);
    for (k, v) in &pairs {
        req = req.query(k, v);
    }
    let (_mime, data) = req.send().map_err(|e| failure(e, &a.url, false))?;
    print_web(&name, data, a.output.as_deref())
}

/// Runs `tarp post`.
pub(crate) fn post(a: PostArgs) -> CmdResult {
    let pairs = query_pairs(&a.params)?;
    let body = match (&a.json, &a.data) {
        (Some(spec), _) => {
            let bytes = read_data(spec, "--json")?;
            let json: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| Failure::new(Exit::Usage, format!("--json: not valid JSON: {e}")))?;
            Some(WebBody::Json(json))
        }
        (None, Some(spec)) => Some(WebBody::Bytes(read_data(spec, "--data")?)),
        (None, None) => None,
    };
    let client = connect(&a.url, &a.opts)?;
    let name = find(&client, &a.name, &[EndpointKind::Post])?.name.clone();
    let mut req = client.post(&name);
    for (k, v) in &pairs {
        req = req.query(k, v);
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    let (_mime, data) = req.send().map_err(|e| failure(e, &a.url, false))?;
    print_web(&name, data, a.output.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        assert_eq!(shown_url("http://u:p@h:1/x"), "http://h:1/x");
        assert_eq!(shown_url("https://h"), "https://h");
        assert_eq!(shown_url("http://a@b@h/p?q"), "http://h/p?q");
        assert_eq!(shown_url("nonsense"), "nonsense");
    }

    #[test]
    fn errors_map_to_their_exit_codes() {
        let code = |e: ClientError, connecting: bool| failure(e, "http://h", connecting).exit;
        let io = || -> tarp_blocking::client::BoxError { "refused".into() };
        assert_eq!(
            code(ClientError::Transport { source: io() }, true),
            Exit::Unreachable
        );
        assert_eq!(
            code(ClientError::Timeout { source: io() }, true),
            Exit::Unreachable
        );
        assert_eq!(
            code(ClientError::Timeout { source: io() }, false),
            Exit::Timeout
        );
        assert_eq!(
            code(
                ClientError::NotFound {
                    message: "x".into()
                },
                false
            ),
            Exit::NotFound
        );
        assert_eq!(
            code(
                ClientError::BadArgument {
                    message: "x".into()
                },
                false
            ),
            Exit::BadArgument
        );
        assert_eq!(
            code(
                ClientError::BadArgument {
                    message: "x".into()
                },
                true
            ),
            Exit::Usage
        );
        assert_eq!(
            code(
                ClientError::Remote {
                    status: 500,
                    kind: "generic".into(),
                    message: "boom".into()
                },
                false
            ),
            Exit::Remote
        );
        assert_eq!(
            code(
                ClientError::OperationInProgress {
                    message: "x".into(),
                    retry_after: Duration::from_secs(1)
                },
                false
            ),
            Exit::InProgress
        );
        assert_eq!(
            code(ClientError::Protocol("x".into()), true),
            Exit::Protocol
        );
    }

    #[test]
    fn query_pairs_and_data() {
        assert_eq!(
            query_pairs(&["a=1".into(), "b=x y".into()]).unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
        );
        assert_eq!(query_pairs(&["nope".into()]).unwrap_err().exit, Exit::Usage);
        assert_eq!(read_data("text", "--data").unwrap(), b"text");
        assert_eq!(
            read_data("@/nonexistent/file", "--data").unwrap_err().exit,
            Exit::Usage
        );
    }
}
