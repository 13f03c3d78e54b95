//! Routing a request to its answer (PROTOCOL.md sections 3 to 6).
//!
//! Routing: the endpoint name is the path without its leading `/`, percent-decoded (an
//! invalid escape, invalid UTF-8 or a NUL is a 400); a `#fragment` is ignored, as Python's
//! `urlparse` ignores it. `GET /` is discovery; `GET`/`HEAD` reach web GET endpoints and
//! `asyncProbe`/`asyncGet`; `POST` reaches RPC, async RPC and web POST endpoints. An unknown
//! name is a 404 `Endpoint not found` whatever the method; a known name asked with a method
//! it does not serve is a 405 with `Allow`.

use std::borrow::Cow;
use std::time::Instant;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::body::{self, ContentType};
use super::jobs::{Fetched, JobStatus};
use super::registry::{PostRoute, RpcEndpoint, WebEndpoint};
use super::{codec, Call, Dispatch, Job, JobDone, Service};
use crate::http::{Request, Response};
use crate::wire::discovery::seconds_json;
use crate::wire::envelope::{self, ErrorKind, JSON_MIME};
use crate::wire::pickle::{Limits, Value};
use crate::wire::query::{Charset, Query};

/// The Python server's message for a malformed RPC body.
const RPC_BODY_SHAPE: &str =
    r#"RPC body data should be a JSON object with "args" and "kwargs" keys"#;

/// Standard base64 as Python's `b64encode` writes it; padding optional on input.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn respond(response: Response) -> Dispatch {
    Dispatch::Respond(response)
}

fn bad_request(message: &str) -> Dispatch {
    respond(envelope::error(ErrorKind::BadRequest, message))
}

#[derive(Serialize)]
struct Payload<'a> {
    payload: &'a str,
}

#[derive(Serialize)]
struct Started<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    suggested_wait: serde_json::Value,
}

/// The answer of a synchronous RPC: its pickled result in a success envelope, or its error.
pub(crate) fn rpc_response(result: Result<Vec<u8>, super::Error>) -> Response {
    match result {
        Ok(pickle) => pickle_payload_response(pickle),
        Err(e) => e.to_response(),
    }
}

/// [`payload_response`] of `base64(pickle)`, written straight into the body: base64 needs no
/// JSON escaping, so the envelope is a fixed head, the base64 text and a fixed tail (the
/// same bytes; a test checks it). Saves the base64 string, the serializer's escape scan over
/// it and the body's regrowth: for a 100 MB result, two copies of 134 MB. The text is
/// encoded in the pickle's own memory ([`envelope::wrap_base64_in_place`]): no second
/// buffer, fresh from the kernel, of the text's size (134 MB of page faults and zeroing for
/// a 100 MB result).
fn pickle_payload_response(pickle: Vec<u8>) -> Response {
    const HEAD: &[u8] =
        br#"{"status": "success", "mimetype": "application/json", "result": {"payload": ""#;
    const TAIL: &[u8] = br#""}}"#;
    match envelope::wrap_base64_in_place(pickle, HEAD, TAIL) {
        Ok(body) => Response::new(200, Some(Cow::Borrowed(JSON_MIME)), body),
        Err(pickle) => payload_response(&base64::engine::general_purpose::STANDARD.encode(pickle)),
    }
}

/// The success envelope of an RPC result: `{"payload": "<base64 pickle>"}`.
fn payload_response(base64_pickle: &str) -> Response {
    envelope::success(
        Some(JSON_MIME),
        &Payload {
            payload: base64_pickle,
        },
    )
}

impl Service {
    /// Turns a request into what the adapter must do (see [`Dispatch`] for the contract).
    /// `now` is the current time, used by the async job table.
    pub fn dispatch(&self, mut req: Request, now: Instant) -> Dispatch {
        let body = req.take_body();
        let (path, query) = split_target(&req);
        let name = match endpoint_name(path) {
            Ok(name) => name,
            Err(message) => return bad_request(message),
        };
        let method = req.method();
        let get = matches!(method, "GET" | "HEAD");
        let post = method == "POST";
        let content_type = req.header("content-type");

        match name.as_ref() {
            "" if get => {
                return respond(Response::new(
                    200,
                    Some(Cow::Borrowed(JSON_MIME)),
                    self.discovery_body().to_vec(),
                ))
            }
            "asyncProbe" if get => return respond(self.async_probe(query, now)),
            "asyncGet" if get => return respond(self.async_get(query, method == "HEAD", now)),
            "" | "asyncProbe" | "asyncGet" => {
                return respond(not_allowed(method, &name, "GET, HEAD"))
            }
            _ => {}
        }
        let Some(route) = self.routes.get(name.as_ref()) else {
            return respond(envelope::error(ErrorKind::NotFound, "Endpoint not found"));
        };
        if get {
            if let Some(i) = route.get {
                return self.web_call(&self.webs[i], query, content_type, body);
            }
        }
        if post {
            match route.post {
                Some(PostRoute::Rpc(i)) => {
                    return self.rpc_call(&self.rpcs[i], query, content_type, body, now)
                }
                Some(PostRoute::Web(i)) => {
                    return self.web_call(&self.webs[i], query, content_type, body)
                }
                None => {}
            }
        }
        respond(not_allowed(method, &name, route.allow()))
    }

    /// Records an async job's outcome (from [`Job::run`] or [`Job::abandon`]) at `now`, from
    /// which the result's expiry runs. A job no longer held is ignored.
    pub fn complete(&self, done: JobDone, now: Instant) {
        self.lock_jobs().table.finish(&done.id, done.outcome, now);
    }

    fn web_call(
        &self,
        ep: &WebEndpoint,
        query: Option<&str>,
        content_type: Option<&[u8]>,
        body: Vec<u8>,
    ) -> Dispatch {
        let query = match Query::parse_with(
            query.unwrap_or("").as_bytes(),
            Charset::Utf8,
            &self.config.query_limits,
        ) {
            Ok(q) => q,
            Err(e) => return bad_request(&format!("query string: {e}")),
        };
        let body = match body::decode(content_type, body, &self.config.form_limits) {
            Ok(b) => b,
            Err(message) => return bad_request(&message),
        };
        let handler = std::sync::Arc::clone(&ep.handler);
        let mimetype = ep.mimetype.clone();
        Dispatch::Call(
            Call::new(move || match handler(&query, body) {
                Ok(reply) => reply.into_response(mimetype.as_deref()),
                Err(e) => e.to_response(),
            })
            .with_cheap(ep.cheap),
        )
    }

    /// An RPC call. The body is taken by value and freed as soon as both base64 texts are
    /// decoded, before the pickles are: for a large argument the body (4/3 of the pickle)
    /// is never alive with the decoded values.
    fn rpc_call(
        &self,
        ep: &RpcEndpoint,
        query: Option<&str>,
        content_type: Option<&[u8]>,
        body: Vec<u8>,
        now: Instant,
    ) -> Dispatch {
        if query.is_some_and(|q| !q.is_empty()) {
            return bad_request("RPC endpoints should not have query parameters");
        }
        // The plain shapes: the args text decoded in the body's own memory. Decoded base64
        // proves the text holds no quote or escape: the JSON reader would have read exactly
        // this text. Anything else (the body then restored as it came) takes its path.
        let plain = plain_rpc_body(content_type, &body).map(|(args, kwargs)| {
            let start = args.as_ptr() as usize - body.as_ptr() as usize;
            (start, start + args.len(), decode_base64("kwargs", kwargs))
        });
        let decoded = match plain {
            Some((start, end, kwargs)) => {
                match envelope::decode_in_place(body, start, end, &BASE64_LENIENT) {
                    Ok(args) => Ok((args, kwargs)),
                    Err(restored) => Err(restored),
                }
            }
            None => Err(body),
        };
        let (args_bytes, kwargs_bytes) = match decoded {
            Ok(parts) => parts,
            Err(body) => {
                let (args, kwargs) = match rpc_body(content_type, &body) {
                    Ok(parts) => parts,
                    Err(message) => return bad_request(message),
                };
                // Errors keep their order: the args' base64, the args' pickle, then the
                // kwargs'.
                let args = match decode_base64("args", &args) {
                    Ok(bytes) => bytes,
                    Err(message) => return bad_request(&message),
                };
                (args, decode_base64("kwargs", &kwargs))
                // The body is freed here, before the pickles are decoded.
            }
        };
        // The args pickle is given up to its decoder: a large array in it is converted as
        // the pickle's memory is given back.
        let args = match decode_pickle("args", args_bytes, &self.config.pickle_limits) {
            Ok(v) => v,
            Err(message) => return bad_request(&message),
        };
        let kwargs = match kwargs_bytes
            .and_then(|bytes| decode_pickle("kwargs", bytes, &self.config.pickle_limits))
        {
            Ok(v) => v,
            Err(message) => return bad_request(&message),
        };
        let Value::Tuple(args) = args else {
            return bad_request("RPC args should be a tuple");
        };
        let Value::Dict(kwargs) = kwargs else {
            return bad_request("RPC kwargs should be a dict");
        };
        let values = match ep.sig.bind(&args, &kwargs) {
            Ok(values) => values,
            Err(message) => return bad_request(&message),
        };
        if !ep.asynchronous {
            return match ep.handler.prepare_call(values, &ep.sig) {
                Ok(call) => Dispatch::Call(call.with_cheap(ep.cheap)),
                Err(message) => bad_request(&message),
            };
        }
        let invocation = match ep.handler.prepare(values, &ep.sig) {
            Ok(invocation) => invocation,
            Err(message) => return bad_request(&message),
        };
        let mut jobs = self.lock_jobs();
        let id = loop {
            let id = jobs.ids.next_uuid();
            if !jobs.table.contains(&id) {
                break id;
            }
        };
        if let Err(full) = jobs.table.start(id.clone(), ep.suggested_wait, now) {
            return respond(envelope::error(
                ErrorKind::ServiceUnavailable,
                &full.to_string(),
            ));
        }
        drop(jobs);
        let response = envelope::success(
            Some(JSON_MIME),
            &Started {
                id: &id,
                suggested_wait: seconds_json(ep.suggested_wait),
            },
        );
        Dispatch::Spawn {
            response,
            job: Job {
                id,
                work: invocation,
            },
        }
    }

    fn async_probe(&self, query: Option<&str>, now: Instant) -> Response {
        let id = match self.uuid_param(query) {
            Ok(id) => id,
            Err(response) => return response,
        };
        let mut jobs = self.lock_jobs();
        let Some((status, wait)) = jobs.table.probe(&id, now) else {
            return envelope::error(ErrorKind::NotFound, "UUID not found");
        };
        let mut result = serde_json::Map::new();
        result.insert("status".into(), status.as_str().into());
        result.insert("suggested_wait".into(), seconds_json(wait));
        if let JobStatus::Failed(message) = status {
            result.insert("error".into(), message.into());
        }
        envelope::success(Some(JSON_MIME), &result)
    }

    /// `asyncGet`; a `HEAD` answers the same without taking the result (its body would be
    /// dropped, and the result with it).
    fn async_get(&self, query: Option<&str>, head: bool, now: Instant) -> Response {
        let id = match self.uuid_param(query) {
            Ok(id) => id,
            Err(response) => return response,
        };
        let mut jobs = self.lock_jobs();
        let fetched = if head {
            jobs.table.peek(&id, now)
        } else {
            jobs.table.fetch(&id, now)
        };
        drop(jobs);
        match fetched {
            None => envelope::error(ErrorKind::NotFound, "UUID not found"),
            Some(Fetched::Running { suggested_wait }) => envelope::error(
                ErrorKind::OperationInProgress {
                    retry_after: retry_after(suggested_wait),
                },
                "Operation still underway",
            ),
            Some(Fetched::Completed(payload)) => payload_response(&payload),
            Some(Fetched::Failed(message)) => envelope::error(ErrorKind::Generic, &message),
        }
    }

    /// The `UUID` query parameter (its first value), or the 400 answering its absence.
    fn uuid_param(&self, query: Option<&str>) -> Result<String, Response> {
        let query = Query::parse_with(
            query.unwrap_or("").as_bytes(),
            Charset::Utf8,
            &self.config.query_limits,
        )
        .map_err(|e| envelope::error(ErrorKind::BadRequest, &format!("query string: {e}")))?;
        match query.first("UUID") {
            Some(id) if !id.is_empty() => Ok(id.to_owned()),
            _ => Err(envelope::error(
                ErrorKind::BadRequest,
                "UUID parameter is required",
            )),
        }
    }
}

/// Whole seconds for `Retry-After` (the Python client parses it with `int()`): rounded up.
fn retry_after(secs: f64) -> u64 {
    // `as` saturates; suggested waits are finite and not negative by construction.
    secs.ceil() as u64
}

fn not_allowed(method: &str, name: &str, allow: &'static str) -> Response {
    let target = if name.is_empty() {
        "/".to_owned()
    } else {
        format!("endpoint '{name}'")
    };
    envelope::error(
        ErrorKind::MethodNotAllowed,
        &format!("method {method} is not allowed on {target} (allowed: {allow})"),
    )
    .with_header("Allow", allow)
}

/// The path and query, without a `#fragment` (Python's `urlparse` drops it).
fn split_target(req: &Request) -> (&str, Option<&str>) {
    let path = req.path();
    if let Some(i) = path.find('#') {
        return (&path[..i], None);
    }
    (
        path,
        req.query().map(|q| q.find('#').map_or(q, |i| &q[..i])),
    )
}

/// The endpoint name: the path without its leading `/`, percent-decoded.
fn endpoint_name(path: &str) -> Result<Cow<'_, str>, &'static str> {
    const NUL: &str = "path contains a NUL character";
    let Some(rest) = path.strip_prefix('/') else {
        return Err("request target must be a path starting with '/'");
    };
    if !rest.contains('%') {
        return if rest.contains('\0') {
            Err(NUL)
        } else {
            Ok(Cow::Borrowed(rest))
        };
    }
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                _ => return Err("invalid percent-encoding in path"),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let name =
        String::from_utf8(out).map_err(|_| "path is not valid UTF-8 once percent-decoded")?;
    if name.contains('\0') {
        Err(NUL)
    } else {
        Ok(Cow::Owned(name))
    }
}

/// The `args` and `kwargs` texts of an RPC body in the two shapes clients write, without
/// reading the (large) args text: `{"args":"A","kwargs":"K"}` (ours, `serde_json`) and
/// `{"args": "A", "kwargs": "K"}` (Python's `json.dumps`). `K` must be printable ASCII
/// without a quote or backslash; `A` is returned unread (not even checked as UTF-8), and is
/// JSON's `A` if it decodes as base64 (the alphabet has no quote, backslash or control
/// character). `None` for
/// anything else, which [`rpc_body`] reads. Reading the args text as JSON was 7% of a server
/// echoing a 100 MB array (the escape scan and the UTF-8 check over 134 MB).
fn plain_rpc_body<'a>(content_type: Option<&[u8]>, body: &'a [u8]) -> Option<(&'a [u8], &'a str)> {
    const SHAPES: [(&[u8], &[u8]); 2] = [
        (br#"{"args":""#, br#"","kwargs":""#),
        (br#"{"args": ""#, br#"", "kwargs": ""#),
    ];
    let json = content_type
        .and_then(ContentType::parse)
        .is_some_and(|ct| ct.is("application/json"));
    let inner = body.strip_suffix(br#""}"#).filter(|_| json)?;
    let (head, sep) = SHAPES.iter().find(|(head, _)| inner.starts_with(head))?;
    // The kwargs text: back from the end to the separator, over plain characters only.
    let k_start = inner
        .iter()
        .rposition(|&b| !(0x20..0x7f).contains(&b) || b == b'"' || b == b'\\')
        .map_or(0, |i| i + 1);
    let args = inner[..k_start].strip_suffix(*sep)?.strip_prefix(*head)?;
    Some((args, std::str::from_utf8(&inner[k_start..]).ok()?))
}

#[derive(Deserialize)]
struct RpcBody<'a> {
    #[serde(borrow)]
    args: Cow<'a, str>,
    #[serde(borrow)]
    kwargs: Cow<'a, str>,
}

/// The `args` and `kwargs` texts of an RPC body, or the 400 message saying what is wrong.
fn rpc_body<'a>(
    content_type: Option<&[u8]>,
    body: &'a [u8],
) -> Result<(Cow<'a, str>, Cow<'a, str>), &'static str> {
    let json = content_type
        .and_then(ContentType::parse)
        .is_some_and(|ct| ct.is("application/json"));
    if !json || body.is_empty() {
        return Err(RPC_BODY_SHAPE);
    }
    if let Ok(parts) = serde_json::from_slice::<RpcBody<'a>>(body) {
        return Ok((parts.args, parts.kwargs));
    }
    // Not the expected shape: find out precisely why.
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| RPC_BODY_SHAPE)?;
    let object = value.as_object().ok_or(RPC_BODY_SHAPE)?;
    let (Some(args), Some(kwargs)) = (object.get("args"), object.get("kwargs")) else {
        return Err(RPC_BODY_SHAPE);
    };
    let args = args.as_str().ok_or("RPC args should be a base64 string")?;
    let kwargs = kwargs
        .as_str()
        .ok_or("RPC kwargs should be a base64 string")?;
    Ok((Cow::Owned(args.to_owned()), Cow::Owned(kwargs.to_owned())))
}

/// The bytes of one part's base64 text (`what` is `args` or `kwargs`), or the 400 message.
fn decode_base64(what: &str, text: &str) -> Result<Vec<u8>, String> {
    BASE64_LENIENT
        .decode(text)
        .map_err(|e| format!("RPC {what}: invalid base64: {e}"))
}

/// Decodes one part's pickle, or words the 400 message.
fn decode_pickle(what: &str, bytes: Vec<u8>, limits: &Limits) -> Result<Value, String> {
    codec::decode(bytes, limits).map_err(|e| format!("RPC {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_are_decoded_strictly() {
        assert_eq!(endpoint_name("/add").unwrap(), "add");
        assert_eq!(endpoint_name("/").unwrap(), "");
        assert_eq!(endpoint_name("/my%20name").unwrap(), "my name");
        assert_eq!(endpoint_name("/%C3%A9").unwrap(), "é");
        assert_eq!(endpoint_name("/a/b").unwrap(), "a/b");
        assert_eq!(
            endpoint_name("add"),
            Err("request target must be a path starting with '/'")
        );
        assert_eq!(
            endpoint_name("*"),
            Err("request target must be a path starting with '/'")
        );
        assert_eq!(
            endpoint_name("/%zz"),
            Err("invalid percent-encoding in path")
        );
        assert_eq!(
            endpoint_name("/%4"),
            Err("invalid percent-encoding in path")
        );
        assert_eq!(
            endpoint_name("/%ff"),
            Err("path is not valid UTF-8 once percent-decoded")
        );
        assert_eq!(endpoint_name("/a%00"), Err("path contains a NUL character"));
        assert_eq!(endpoint_name("/a\0"), Err("path contains a NUL character"));
    }

    #[test]
    fn pickle_payload_envelope_is_the_serialized_one() {
        let engine = &base64::engine::general_purpose::STANDARD;
        for len in [
            0usize, 1, 2, 3, 4, 5, 57, 1000, 3071, 3072, 3073, 6144, 100_003,
        ] {
            let pickle: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let direct = pickle_payload_response(pickle.clone());
            let serialized = payload_response(&engine.encode(&pickle));
            assert_eq!(direct.status, serialized.status);
            assert_eq!(direct.content_type, serialized.content_type);
            assert_eq!(direct.body, serialized.body, "pickle of {len} bytes");
        }
    }

    #[test]
    fn plain_rpc_bodies_are_read_as_the_json_reader_reads_them() {
        let json = Some(&b"application/json"[..]);
        let bodies: [&[u8]; 16] = [
            br#"{"args":"gAIpLg==","kwargs":"gAJ9cQAu"}"#,
            br#"{"args": "gAIpLg==", "kwargs": "gAJ9cQAu"}"#,
            br#"{"args":"","kwargs":""}"#,
            br#"{"args":"gAIp\u004cg==","kwargs":"gAJ9cQAu"}"#,
            br#"{"args":"gAIpLg==","kwargs":"gAJ9\/cQAu"}"#,
            br#"{"args":"gAIpLg==","kwargs":"gAJ9cQAu","args":"gAIpLg=="}"#,
            br#"{"kwargs":"gAJ9cQAu","args":"gAIpLg=="}"#,
            br#"{"args":"gAIpLg==" ,"kwargs":"gAJ9cQAu"}"#,
            br#"{"args":"gAIpLg==","kwargs":"gAJ9cQAu"} "#,
            br#"{"args":"gAI","kwargs":"x","kwargs":"gAJ9cQAu"}"#,
            br#"{"args":"gAIpLg==","kwargs":"gAJ9cQAu"}}"#,
            br#"{"args":"gA"IpLg==","kwargs":"gAJ9cQAu"}"#,
            b"{\"args\":\"gAIpLg==\",\"kwargs\":\"gAJ9\x01cQAu\"}",
            br#"{"args":"gAIpLg==","kwargs":"!!"}"#,
            br#"{"args":"@@","kwargs":"gAJ9cQAu"}"#,
            br#"{"args":"gAIpLg==","kwargs":"gAJ9cQAu""#,
        ];
        let mut fast = 0;
        for body in bodies {
            let Some((args, kwargs)) = plain_rpc_body(json, body) else {
                continue;
            };
            let Ok(_) = BASE64_LENIENT.decode(args) else {
                continue;
            };
            fast += 1;
            let (a, k) = rpc_body(json, body).expect("the JSON reader accepts it");
            assert_eq!(
                (a.as_bytes(), &*k),
                (args, kwargs),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // The two shapes, empty texts and a bad kwargs text (refused later, as on the
        // reader's path) take the plain path; escapes, other key orders, duplicated keys,
        // spaces, control characters and args that are not base64 are read as JSON.
        assert_eq!(fast, 4);
        assert_eq!(
            plain_rpc_body(json, bodies[1]),
            Some((&b"gAIpLg=="[..], "gAJ9cQAu"))
        );
        assert_eq!(plain_rpc_body(Some(b"text/plain"), bodies[0]), None);
        assert_eq!(plain_rpc_body(None, bodies[0]), None);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(5.0), 5);
        assert_eq!(retry_after(2.1), 3);
        assert_eq!(retry_after(0.0), 0);
    }
}
