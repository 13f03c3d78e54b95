//! `peer-hyper`: the TARP benchmark endpoints written by hand on hyper 1.x + tokio, the way a
//! Rust user would write them without TARP. It is the baseline our servers must beat.
//!
//! Endpoints (wire format per PROTOCOL.md sections 2, 4 and 6):
//! - `POST /add`: sync RPC; `{"args", "kwargs"}` base64 pickles in, the sum of the two
//!   positional numbers out as `{"payload": base64(pickle(result))}`.
//! - `POST /echo`: sync RPC returning its first positional argument (large-payload scenario;
//!   serde-pickle cannot decode numpy arrays, so send bytes or lists here).
//! - `GET /small`: a small JSON result in a success envelope.
//! - `GET /bytes1m`: 1 MiB of bytes, base64 in a success envelope (`application/octet-stream`).
//!
//! Usage: `peer-hyper --port PORT [--threads 2]`; binds 127.0.0.1 only. Every answer is built
//! per request (decode, compute, encode), as a real handler would.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_pickle::{DeOptions, SerOptions, Value};
use std::convert::Infallible;
use std::sync::Arc;
use tarp_bench_peers::Flags;

/// Largest request body accepted (the large-payload scenario sends about 270 MB of base64).
const MAX_BODY: u64 = 512 * 1024 * 1024;

/// The RPC request body (PROTOCOL.md section 4).
#[derive(Deserialize)]
struct RpcRequest {
    args: String,
    kwargs: String,
}

/// The RPC result carried in the success envelope.
#[derive(Serialize)]
struct Payload {
    payload: String,
}

/// The success envelope (PROTOCOL.md section 2).
#[derive(Serialize)]
struct Success<T> {
    status: &'static str,
    mimetype: &'static str,
    result: T,
}

/// The error envelope (PROTOCOL.md section 2).
#[derive(Serialize)]
struct Failure<'a> {
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// The small JSON GET's result.
#[derive(Serialize)]
struct Small {
    x: i64,
    y: [i64; 3],
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn success<T: Serialize>(mimetype: &'static str, result: T) -> Response<Full<Bytes>> {
    let env = Success {
        status: "success",
        mimetype,
        result,
    };
    match serde_json::to_vec(&env) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let env = Failure {
        status: "error",
        kind: "generic",
        message,
    };
    // Serialising three strings cannot fail; fall back to an empty object all the same.
    let body = serde_json::to_vec(&env).unwrap_or_else(|_| b"{}".to_vec());
    json_response(status, body)
}

/// Decodes an RPC body into its positional arguments (the kwargs must be a dict).
fn decode_call(body: &[u8]) -> Result<Vec<Value>, String> {
    let req: RpcRequest = serde_json::from_slice(body).map_err(|e| format!("bad body: {e}"))?;
    let args = B64
        .decode(req.args.as_bytes())
        .map_err(|e| format!("args: {e}"))?;
    let kwargs = B64
        .decode(req.kwargs.as_bytes())
        .map_err(|e| format!("kwargs: {e}"))?;
    let args = serde_pickle::value_from_slice(&args, DeOptions::new())
        .map_err(|e| format!("args: {e}"))?;
    let kwargs = serde_pickle::value_from_slice(&kwargs, DeOptions::new())
        .map_err(|e| format!("kwargs: {e}"))?;
    if !matches!(kwargs, Value::Dict(_)) {
        return Err("RPC kwargs should be a dict".into());
    }
    match args {
        Value::Tuple(items) => Ok(items),
        _ => Err("RPC args should be a tuple".into()),
    }
}

fn rpc_result(value: &Value) -> Response<Full<Bytes>> {
    match serde_pickle::value_to_vec(value, SerOptions::new()) {
        Ok(pickle) => success(
            "application/json",
            Payload {
                payload: B64.encode(pickle),
            },
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn add(body: &[u8]) -> Response<Full<Bytes>> {
    let args = match decode_call(body) {
        Ok(args) => args,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
    };
    let sum = match args.as_slice() {
        [Value::I64(a), Value::I64(b)] => match a.checked_add(*b) {
            Some(s) => Value::I64(s),
            None => return error(StatusCode::BAD_REQUEST, "integer overflow"),
        },
        [Value::F64(a), Value::F64(b)] => Value::F64(a + b),
        [Value::I64(a), Value::F64(b)] | [Value::F64(b), Value::I64(a)] => {
            Value::F64(*a as f64 + b)
        }
        _ => return error(StatusCode::BAD_REQUEST, "add takes two numbers"),
    };
    rpc_result(&sum)
}

fn echo(body: &[u8]) -> Response<Full<Bytes>> {
    match decode_call(body) {
        Ok(args) => match args.first() {
            Some(first) => rpc_result(first),
            None => error(StatusCode::BAD_REQUEST, "echo takes one argument"),
        },
        Err(msg) => error(StatusCode::BAD_REQUEST, &msg),
    }
}

async fn handle(
    req: Request<Incoming>,
    blob: Arc<Vec<u8>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let resp = match (req.method(), req.uri().path()) {
        (&Method::POST, "/add" | "/echo") => {
            if req.uri().query().is_some() {
                return Ok(error(
                    StatusCode::BAD_REQUEST,
                    "RPC endpoints should not have query parameters",
                ));
            }
            let is_add = req.uri().path() == "/add";
            let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY as usize);
            let body = match limited.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => return Ok(error(StatusCode::BAD_REQUEST, &e.to_string())),
            };
            if is_add {
                add(&body)
            } else {
                echo(&body)
            }
        }
        (&Method::GET, "/small") => success("application/json", Small { x: 1, y: [1, 2, 3] }),
        (&Method::GET, "/bytes1m") => success("application/octet-stream", B64.encode(&*blob)),
        _ => error(StatusCode::NOT_FOUND, "Endpoint not found"),
    };
    Ok(resp)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("peer-hyper: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.only(&["port", "threads"])?;
    let port: u16 = flags.get("port", 8080)?;
    let threads: usize = flags.get("threads", 2)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_io()
        .build()?;
    // 1 MiB of varied bytes so base64 is not trivially compressible work.
    let blob: Arc<Vec<u8>> = Arc::new((0..1024 * 1024u32).map(|i| (i * 31 % 251) as u8).collect());
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("peer-hyper listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("peer-hyper: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let blob = blob.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(req, blob.clone()));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tarp_bench_peers::{ADD_BODY, ADD_RESPONSE_BODY};

    async fn body_of(resp: Response<Full<Bytes>>) -> Vec<u8> {
        match resp.into_body().collect().await {
            Ok(c) => c.to_bytes().to_vec(),
            Err(never) => match never {},
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn add_answers_the_canned_limit_body() {
        let resp = add(ADD_BODY.as_bytes());
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(block_on(body_of(resp)), ADD_RESPONSE_BODY.as_bytes());
    }

    #[test]
    fn malformed_calls_are_400() {
        for body in [
            &b"nope"[..],
            br#"{"args": "!!", "kwargs": "gAR9lC4="}"#,
            // args = (1,) only
            br#"{"args": "gASVBQAAAAAAAABLAYWULg==", "kwargs": "gAR9lC4="}"#,
        ] {
            assert_eq!(add(body).status(), StatusCode::BAD_REQUEST);
        }
    }
}
