//! The JSON envelope every non-raw answer travels in (PROTOCOL.md section 2).
//!
//! ```json
//! {"status": "success", "mimetype": "<mime of the result or null>", "result": <value>}
//! {"status": "error", "type": "<error type>", "message": "<text>"}
//! ```
//!
//! Bodies are written byte for byte as the Python library's `json.dumps` writes them: keys in
//! the order above, `", "` and `": "` separators, non-ASCII escaped as `\uXXXX`
//! (`ensure_ascii`), floats as Python's `repr`. The Python client does not need that, but it
//! makes our answers indistinguishable from the original server's and diffable against it.
//!
//! The `Content-Type` is exactly `application/json`, with no `charset` parameter: the Python
//! client compares the header with `!=` and treats anything else as a raw payload.

use std::borrow::Cow;
use std::io;

use serde::ser::Serialize;
use serde::Deserialize;

use crate::http::Response;

/// The one `Content-Type` of an envelope, without parameters (see the module doc).
pub const JSON_MIME: &str = "application/json";

/// What went wrong, which decides the status code, the envelope's `type` and extra headers.
///
/// The rows of PROTOCOL.md section 2 keep the Python library's `type` (`generic` for 400, 404
/// and 500); situations that table lacks get a descriptive type of ours, which the Python
/// client shows through the message since it only branches on the first two types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The handler says "operation in progress, retry after N seconds": 503, `Retry-After: N`.
    OperationInProgress {
        /// Whole seconds the client should wait before retrying (`Retry-After`).
        retry_after: u64,
    },
    /// The handler says the server is in an invalid state: 503.
    InvalidServerState,
    /// The handler failed otherwise: 500, type `generic`, message = the error's text.
    Generic,
    /// A malformed request (RPC body, arguments, query string, UUID...): 400, type `generic`.
    BadRequest,
    /// Unknown endpoint or async job: 404, type `generic`.
    NotFound,
    /// A known endpoint asked with a method it does not serve: 405, type `MethodNotAllowed`
    /// (the caller adds the `Allow` header).
    MethodNotAllowed,
    /// The request body is larger than the server accepts: 413, type `PayloadTooLarge`.
    PayloadTooLarge,
    /// The request lacks valid credentials: 401, type `Unauthorized`.
    Unauthorized,
    /// The server cannot take more work right now (e.g. the async job table is full): 503,
    /// type `ServiceUnavailable`.
    ServiceUnavailable,
}

impl ErrorKind {
    /// The HTTP status code this kind is answered with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::OperationInProgress { .. }
            | ErrorKind::InvalidServerState
            | ErrorKind::ServiceUnavailable => 503,
            ErrorKind::Generic => 500,
            ErrorKind::BadRequest => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::Unauthorized => 401,
        }
    }

    /// The envelope's `type` string.
    pub fn type_name(self) -> &'static str {
        match self {
            ErrorKind::OperationInProgress { .. } => "OperationInProgress",
            ErrorKind::InvalidServerState => "InvalidServerState",
            ErrorKind::Generic | ErrorKind::BadRequest | ErrorKind::NotFound => "generic",
            ErrorKind::MethodNotAllowed => "MethodNotAllowed",
            ErrorKind::PayloadTooLarge => "PayloadTooLarge",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::ServiceUnavailable => "ServiceUnavailable",
        }
    }
}

#[derive(serde::Serialize)]
struct SuccessBody<'a, T: ?Sized> {
    status: &'static str,
    mimetype: Option<&'a str>,
    result: &'a T,
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// The body of a success envelope: `{"status": "success", "mimetype": .., "result": ..}`.
///
/// Fails only if `result` cannot be serialized as JSON (e.g. a map with non-string keys).
pub fn success_body<T: Serialize + ?Sized>(
    mimetype: Option<&str>,
    result: &T,
) -> Result<Vec<u8>, serde_json::Error> {
    to_python_json(&SuccessBody {
        status: "success",
        mimetype,
        result,
    })
}

/// The body of an error envelope: `{"status": "error", "type": .., "message": ..}`.
pub fn error_body(kind: ErrorKind, message: &str) -> Vec<u8> {
    // Serializing three strings cannot fail.
    to_python_json(&ErrorBody {
        status: "error",
        kind: kind.type_name(),
        message,
    })
    .unwrap_or_default()
}

/// A 200 response carrying a success envelope.
///
/// If `result` cannot be serialized as JSON, the answer is a 500 error envelope naming the
/// problem instead (a handler bug, never a panic).
pub fn success<T: Serialize + ?Sized>(mimetype: Option<&str>, result: &T) -> Response {
    match success_body(mimetype, result) {
        Ok(body) => json_response(200, body),
        Err(e) => error(
            ErrorKind::Generic,
            &format!("result is not representable as JSON: {e}"),
        ),
    }
}

/// [`success`] with `base64(bytes)` as the result (a bytes result, PROTOCOL.md section 6),
/// written straight into the body: a fixed head, the base64 text encoded in place and a fixed
/// tail, the same bytes as [`success`] of the base64 string (base64 needs no JSON escaping),
/// without the intermediate string, the escape scan over it and the body's regrowth. A
/// `mimetype` that JSON would escape takes the general path.
pub fn success_base64(mimetype: Option<&str>, bytes: &[u8]) -> Response {
    use base64::Engine as _;
    let engine = &base64::engine::general_purpose::STANDARD;
    let plain = |m: &str| {
        m.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    };
    let text_len = base64::encoded_len(bytes.len(), true);
    let (Some(text_len), true) = (text_len, mimetype.map_or(true, plain)) else {
        return success(mimetype, &engine.encode(bytes));
    };
    let mut body = Vec::with_capacity(64 + mimetype.map_or(4, str::len) + text_len);
    body.extend_from_slice(br#"{"status": "success", "mimetype": "#);
    match mimetype {
        Some(m) => {
            body.push(b'"');
            body.extend_from_slice(m.as_bytes());
            body.push(b'"');
        }
        None => body.extend_from_slice(b"null"),
    }
    body.extend_from_slice(br#", "result": ""#);
    let at = body.len();
    body.resize(at + text_len, 0);
    match engine.encode_slice(bytes, &mut body[at..]) {
        Ok(n) if n == text_len => {}
        _ => return success(mimetype, &engine.encode(bytes)),
    }
    body.extend_from_slice(br#""}"#);
    json_response(200, body)
}

/// [`success`] with a result already written as JSON text by [`to_python_json`]: the same
/// bytes, with the text placed in the envelope as it is. `json` must be one JSON value in
/// the format [`to_python_json`] writes; [`crate::service::Reply::serialize`] makes it.
pub fn success_json_text(mimetype: Option<&str>, json: &[u8]) -> Response {
    let plain = |m: &str| {
        m.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    };
    // 49 bytes of fixed text, the quoted MIME type (or `null`) and the result.
    let mut body = Vec::with_capacity(51 + mimetype.map_or(4, str::len) + json.len());
    body.extend_from_slice(br#"{"status": "success", "mimetype": "#);
    match mimetype {
        Some(m) if plain(m) => {
            body.push(b'"');
            body.extend_from_slice(m.as_bytes());
            body.push(b'"');
        }
        // Escaping a string cannot fail.
        Some(m) => body.extend_from_slice(&to_python_json(m).unwrap_or_default()),
        None => body.extend_from_slice(b"null"),
    }
    body.extend_from_slice(br#", "result": "#);
    body.extend_from_slice(json);
    body.push(b'}');
    json_response(200, body)
}

/// An error response: the kind's status, an error envelope, and `Retry-After` for
/// [`ErrorKind::OperationInProgress`].
pub fn error(kind: ErrorKind, message: &str) -> Response {
    let response = json_response(kind.status(), error_body(kind, message));
    match kind {
        ErrorKind::OperationInProgress { retry_after } => {
            response.with_header("Retry-After", retry_after.to_string())
        }
        _ => response,
    }
}

fn json_response(status: u16, body: Vec<u8>) -> Response {
    Response::new(status, Some(Cow::Borrowed(JSON_MIME)), body)
}

/// The body of an RPC request (PROTOCOL.md section 4), `{"args":"<base64>","kwargs":"<base64>"}`
/// from the two pickles, as `serde_json::to_vec` writes that object. Base64 needs no JSON
/// escaping, so each pickle is encoded straight into a body of exact size: no base64 strings
/// and no escape scan over them (for a 100 MB argument, two copies of 134 MB saved).
pub fn rpc_request_body(args_pickle: &[u8], kwargs_pickle: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let engine = &base64::engine::general_purpose::STANDARD;
    let len = |p: &[u8]| base64::encoded_len(p.len(), true).unwrap_or(usize::MAX);
    let size = len(args_pickle)
        .saturating_add(len(kwargs_pickle))
        .saturating_add(24);
    let mut body = Vec::with_capacity(size.min(isize::MAX as usize / 2));
    let put = |body: &mut Vec<u8>, text: &[u8], pickle: &[u8]| {
        body.extend_from_slice(text);
        let at = body.len();
        body.resize(at + len(pickle), 0);
        let n = engine.encode_slice(pickle, &mut body[at..]).unwrap_or(0);
        body.truncate(at + n);
    };
    put(&mut body, br#"{"args":""#, args_pickle);
    put(&mut body, br#"","kwargs":""#, kwargs_pickle);
    body.extend_from_slice(br#""}"#);
    body
}

/// [`rpc_request_body`] built in the memory of the args pickle, which it takes (the base64
/// is written backward over the pickle, so no byte is read after it is overwritten). The same bytes as [`rpc_request_body`] (tested); a large
/// argument's pickle and its body are never both alive (for a 100 MB argument, 100 MB less
/// at the peak), and the pickle is not moved.
pub fn rpc_request_body_from(args_pickle: Vec<u8>, kwargs_pickle: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    if args_pickle.len() <= SMALL_ARGS {
        // Nothing to save in place: one allocation of the body's size instead of two.
        return rpc_request_body(&args_pickle, kwargs_pickle);
    }
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut tail = br#"","kwargs":""#.to_vec();
    let at = tail.len();
    match base64::encoded_len(kwargs_pickle.len(), true) {
        Some(k) => {
            tail.resize(at + k, 0);
            let written = engine
                .encode_slice(kwargs_pickle, &mut tail[at..])
                .unwrap_or(0);
            tail.truncate(at + written);
        }
        None => return rpc_request_body(&args_pickle, kwargs_pickle),
    }
    tail.extend_from_slice(br#""}"#);
    wrap_base64_in_place(args_pickle, br#"{"args":""#, &tail)
        .unwrap_or_else(|bytes| rpc_request_body(&bytes, kwargs_pickle))
}

/// Args pickles up to this size are copied into a new body rather than wrapped in place.
const SMALL_ARGS: usize = 4096;

/// `head`, the standard base64 of `bytes` and `tail`, built in the memory of `bytes`: the
/// allocation grows to its final size and the bytes are encoded backward, chunk by chunk
/// from their end, each chunk copied out before its text is written (the text of bytes from
/// offset `i` on starts at `head.len() + 4i/3`, never before `i`, so only bytes already read
/// are overwritten). No second buffer of the text's size, and the bytes are not moved.
/// `Err` gives the bytes back when the sizes overflow.
pub(crate) fn wrap_base64_in_place(
    bytes: Vec<u8>,
    head: &[u8],
    tail: &[u8],
) -> Result<Vec<u8>, Vec<u8>> {
    use base64::Engine as _;
    /// Bytes encoded per step: a multiple of 3, so every chunk but the last encodes to
    /// exactly 4/3 as many characters, without padding.
    const STEP: usize = 3 * 1024;
    let engine = &base64::engine::general_purpose::STANDARD;
    let n = bytes.len();
    let Some(text_len) = base64::encoded_len(n, true) else {
        return Err(bytes);
    };
    let Some(total) = [head.len(), tail.len()]
        .iter()
        .try_fold(text_len, |acc, &x| acc.checked_add(x))
    else {
        return Err(bytes);
    };
    let mut body = bytes;
    body.reserve_exact(total - n);
    body.resize(total, 0);
    // The tail lies past the bytes: the text starts at `head` and is longer than they are.
    body[head.len() + text_len..].copy_from_slice(tail);
    // Room for one step, no more than the bytes need (see `decode_in_place`).
    let mut scratch = Scratch::new(STEP.min(n));
    let chunk = scratch.as_mut();
    for first in (0..n).step_by(STEP).rev() {
        let len = STEP.min(n - first);
        chunk[..len].copy_from_slice(&body[first..first + len]);
        let at = head.len() + first / 3 * 4;
        // Cannot fail: the body has room for the whole text.
        let _ = engine.encode_slice(&chunk[..len], &mut body[at..head.len() + text_len]);
    }
    body[..head.len()].copy_from_slice(head);
    Ok(body)
}

/// Size up to which [`Scratch`] (and a restored prefix) stays on the stack.
const SMALL: usize = 96;

/// Zeroed scratch room for the in-place base64 passes: on the stack when small.
enum Scratch {
    Small([u8; SMALL], usize),
    Large(Vec<u8>),
}

impl Scratch {
    fn new(len: usize) -> Scratch {
        if len <= SMALL {
            Scratch::Small([0; SMALL], len)
        } else {
            Scratch::Large(vec![0; len])
        }
    }

    fn as_mut(&mut self) -> &mut [u8] {
        match self {
            Scratch::Small(bytes, len) => &mut bytes[..*len],
            Scratch::Large(bytes) => bytes,
        }
    }
}

/// What [`decode_payload_in_place`] found in an answer's body.
#[derive(Debug, PartialEq, Eq)]
pub enum PayloadBody {
    /// A success envelope of mimetype `application/json` whose `result.payload` is valid
    /// base64: the bytes it encodes, decoded in the body's own memory.
    Decoded(Vec<u8>),
    /// The same envelope, but its payload is not valid base64: why, exactly as the engine's
    /// decoding of the whole text says it.
    NotBase64(base64::DecodeError),
    /// Anything else: the body untouched, for the general path to read (an error envelope,
    /// another mimetype, no payload string, not JSON).
    Other(Vec<u8>),
}

#[derive(Deserialize)]
struct PayloadEnvelope<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    mimetype: Option<Cow<'a, str>>,
    #[serde(borrow)]
    result: PayloadResult<'a>,
}

#[derive(Deserialize)]
struct PayloadResult<'a> {
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

/// Decodes the `result.payload` of an RPC or `asyncGet` answer (a success envelope whose
/// mimetype is `application/json`, PROTOCOL.md section 4) without copying the envelope: the
/// base64 text is decoded in place, into the start of the body's own memory, and the
/// allocation shrunk to the decoded size. The base64 text and the bytes it decodes to are
/// never both alive (for a 100 MB result, 134 MB less than decoding into a buffer of its
/// own), and the envelope's owned copy of the text is not made at all.
///
/// The envelope exactly as a TARP server writes it (its fixed head and tail around the
/// text) is decoded without reading the text as JSON: when every chunk decodes, the text
/// holds only base64 characters, so it is a JSON string without escapes and the body is
/// that envelope. Otherwise the body is restored and read with serde, borrowing the text.
///
/// Decoding is `engine`'s (the standard alphabet, its padding rules): a text it refuses is
/// [`PayloadBody::NotBase64`] with the error it gives for the whole text. A body that is not
/// such an envelope, or that has a duplicated key, comes back as [`PayloadBody::Other`].
pub fn decode_payload_in_place<E: base64::Engine>(body: Vec<u8>, engine: &E) -> PayloadBody {
    const HEAD: &[u8] =
        br#"{"status": "success", "mimetype": "application/json", "result": {"payload": ""#;
    const TAIL: &[u8] = br#""}}"#;
    let mut body = body;
    if body.len() >= HEAD.len() + TAIL.len() && body.starts_with(HEAD) && body.ends_with(TAIL) {
        let end = body.len() - TAIL.len();
        match decode_in_place(body, HEAD.len(), end, engine) {
            Ok(bytes) => return PayloadBody::Decoded(bytes),
            Err(restored) => body = restored,
        }
    }
    let (start, end) = {
        let Ok(env) = serde_json::from_slice::<PayloadEnvelope<'_>>(&body) else {
            return PayloadBody::Other(body);
        };
        if env.status != "success" || env.mimetype.as_deref() != Some(JSON_MIME) {
            return PayloadBody::Other(body);
        }
        match env.result.payload {
            // Escapes in the text (`\/`, never written by a TARP server): decoded from the
            // unescaped copy.
            Cow::Owned(text) => {
                return match engine.decode(text) {
                    Ok(bytes) => PayloadBody::Decoded(bytes),
                    Err(e) => PayloadBody::NotBase64(e),
                }
            }
            Cow::Borrowed(text) => {
                let start = text.as_ptr() as usize - body.as_ptr() as usize;
                (start, start + text.len())
            }
        }
    };
    match decode_in_place(body, start, end, engine) {
        Ok(bytes) => PayloadBody::Decoded(bytes),
        // Refused, or a text whose padding is not at its end: the whole text's answer.
        Err(body) => match engine.decode(&body[start..end]) {
            Ok(bytes) => PayloadBody::Decoded(bytes),
            Err(e) => PayloadBody::NotBase64(e),
        },
    }
}

/// Decodes the base64 text `body[start..end]` into the start of `body`, chunk by chunk (each
/// chunk copied out before its bytes are written over), then shrinks `body` to the bytes.
/// Chunks are whole quads without padding but the last, so they decode exactly as the whole
/// text does. A text whose length quads do not divide is not tried; a chunk the engine
/// refuses, or that ends with `=` and is not the last, stops the decoding, and the body is restored as it
/// was (the bytes decoded so far encoded back, backward, over their text; the refused chunk
/// and the bytes before the text put back). Either way the body comes back unchanged in
/// `Err`.
pub(crate) fn decode_in_place<E: base64::Engine>(
    mut body: Vec<u8>,
    start: usize,
    end: usize,
    engine: &E,
) -> Result<Vec<u8>, Vec<u8>> {
    /// Base64 characters decoded per step: a multiple of 4.
    const STEP: usize = 4 * 1024;
    if (end - start) % 4 != 0 {
        return Err(body);
    }
    // What precedes the text, kept to restore the body on failure; and room for one step,
    // zeroed once, no larger than the text. Both on the stack for a small call (its text is
    // tens of bytes: zeroing a whole step, or two allocations, cost more than decoding it).
    let mut small_prefix = [0u8; SMALL];
    let large_prefix;
    let prefix: &[u8] = if start <= SMALL {
        small_prefix[..start].copy_from_slice(&body[..start]);
        &small_prefix[..start]
    } else {
        large_prefix = body[..start].to_vec();
        &large_prefix
    };
    let mut scratch = Scratch::new(STEP.min(end - start));
    let chunk = scratch.as_mut();
    let mut out = 0;
    let mut read = start;
    while read < end {
        let len = STEP.min(end - read);
        chunk[..len].copy_from_slice(&body[read..read + len]);
        // Padding ends only the last chunk: the engine refuses `=` inside a chunk, and
        // this refuses it at the end of any other (where the chunk alone would accept it).
        let padded = read + len < end && chunk[len - 2..len].contains(&b'=');
        // Writes end at 3/4 of what was read so far, before `read + len`.
        let decoded = if padded {
            None
        } else {
            engine.decode_slice(&chunk[..len], &mut body[out..]).ok()
        };
        match decoded {
            Some(written) => out += written,
            None => {
                // Every chunk before this one was STEP characters decoded to 3/4 as many
                // bytes; the text of bytes from offset i on starts at `start + 4i/3`, never
                // before i, so encoding backward only overwrites bytes already encoded.
                let mut bytes = [0u8; STEP / 4 * 3];
                for first in (0..out).step_by(STEP / 4 * 3).rev() {
                    let n = (STEP / 4 * 3).min(out - first);
                    bytes[..n].copy_from_slice(&body[first..first + n]);
                    let at = start + first / 3 * 4;
                    let _ = engine.encode_slice(&bytes[..n], &mut body[at..at + n / 3 * 4]);
                }
                body[read..read + len].copy_from_slice(&chunk[..len]);
                body[..start].copy_from_slice(prefix);
                return Err(body);
            }
        }
        read += len;
    }
    body.truncate(out);
    // A large text leaves a quarter of its memory spare: give it back. A small one's spare
    // room is not worth a reallocation.
    if body.capacity() - out > SHRINK_SPARE {
        body.shrink_to_fit();
    }
    Ok(body)
}

/// Spare room above which a decoded body is shrunk to its bytes.
const SHRINK_SPARE: usize = 4096;

/// Serializes `value` exactly as CPython's `json.dumps(value)` with default arguments would:
/// `", "` / `": "` separators, `ensure_ascii` escapes, Python float `repr`.
pub fn to_python_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

/// A `serde_json` formatter that writes what Python's `json.dumps` writes.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // `ensure_ascii`: everything outside ' '..='~' is escaped; serde_json already escapes
        // the control characters, quotes and backslashes before calling us.
        if fragment.bytes().all(|b| b < 0x7f) {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if (ch as u32) >= 0x7f {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
                start = i + ch.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(value))
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        write_python_float(w, value)
    }
}

/// Writes a finite float as Python's `repr` does. Rust's `Debug` picks the same shortest
/// digits and the same switch to exponent form (below 1e-4 or from 1e16 on); only the
/// exponent is spelled differently (`1e16` in Rust, `1e+16` in Python; `1e-5` vs `1e-05`).
fn write_python_float<W: ?Sized + io::Write>(w: &mut W, value: f64) -> io::Result<()> {
    let text = format!("{value:?}");
    match text.split_once('e') {
        None => w.write_all(text.as_bytes()),
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            write!(w, "{mantissa}e{sign}{digits:0>2}")
        }
    }
}

/// A parsed envelope, as a client reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// `{"status": "success", "mimetype": .., "result": ..}`
    Success {
        /// The result's MIME type, `None` for JSON `null`.
        mimetype: Option<String>,
        /// The result (`null` when absent).
        result: serde_json::Value,
    },
    /// `{"status": "error", "type": .., "message": ..}`
    Error {
        /// The `type` string (`generic`, `OperationInProgress`, ...).
        kind: String,
        /// The message.
        message: String,
    },
}

/// Why a body is not an envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("not a TARP envelope: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct RawEnvelope {
    status: String,
    #[serde(default)]
    mimetype: Option<String>,
    #[serde(default)]
    result: serde_json::Value,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl Envelope {
    /// Parses an envelope body. Lenient like the Python client: a missing `result` is `null`,
    /// a missing error `type` is `generic`, a missing `message` is empty.
    pub fn parse(body: &[u8]) -> Result<Envelope, EnvelopeError> {
        let raw: RawEnvelope =
            serde_json::from_slice(body).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        match raw.status.as_str() {
            "success" => Ok(Envelope::Success {
                mimetype: raw.mimetype,
                result: raw.result,
            }),
            "error" => Ok(Envelope::Error {
                kind: raw.kind.unwrap_or_else(|| "generic".to_owned()),
                message: raw.message.unwrap_or_default(),
            }),
            other => Err(EnvelopeError::Malformed(format!(
                "unknown status {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(r: &Response) -> &str {
        std::str::from_utf8(&r.body).unwrap()
    }

    #[test]
    fn success_envelope_is_python_shaped() {
        let r = success(Some("application/json"), &json!({"payload": "gAR="}));
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        assert!(r.headers.is_empty());
        assert_eq!(
            text(&r),
            r#"{"status": "success", "mimetype": "application/json", "result": {"payload": "gAR="}}"#
        );
        let r = success(None, &serde_json::Value::Null);
        assert_eq!(
            text(&r),
            r#"{"status": "success", "mimetype": null, "result": null}"#
        );
    }

    #[test]
    fn error_kinds_map_to_status_type_and_headers() {
        let cases = [
            (
                ErrorKind::OperationInProgress { retry_after: 7 },
                503,
                "OperationInProgress",
            ),
            (ErrorKind::InvalidServerState, 503, "InvalidServerState"),
            (ErrorKind::Generic, 500, "generic"),
            (ErrorKind::BadRequest, 400, "generic"),
            (ErrorKind::NotFound, 404, "generic"),
            (ErrorKind::MethodNotAllowed, 405, "MethodNotAllowed"),
            (ErrorKind::PayloadTooLarge, 413, "PayloadTooLarge"),
            (ErrorKind::Unauthorized, 401, "Unauthorized"),
            (ErrorKind::ServiceUnavailable, 503, "ServiceUnavailable"),
        ];
        for (kind, status, ty) in cases {
            let r = error(kind, "boom");
            assert_eq!(r.status, status);
            assert_eq!(r.content_type.as_deref(), Some("application/json"));
            assert_eq!(
                text(&r),
                format!(r#"{{"status": "error", "type": "{ty}", "message": "boom"}}"#)
            );
            let retry = r.header("Retry-After");
            match kind {
                ErrorKind::OperationInProgress { .. } => assert_eq!(retry, Some("7")),
                _ => assert_eq!(retry, None),
            }
        }
    }

    #[test]
    fn strings_are_ascii_escaped_like_python() {
        let body = to_python_json(&json!(["é", "😀", "\u{7f}", "a\"b\\c\n\u{1}"])).unwrap();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"["\u00e9", "\ud83d\ude00", "\u007f", "a\"b\\c\n\u0001"]"#
        );
    }

    #[test]
    fn rpc_request_body_is_the_serialized_object() {
        use base64::Engine as _;
        let b64 = |p: &[u8]| base64::engine::general_purpose::STANDARD.encode(p);
        for (a, k) in [
            (0usize, 0usize),
            (1, 2),
            (2, 3),
            (3, 4),
            (1000, 7),
            (65_537, 11),
        ] {
            let args: Vec<u8> = (0..a).map(|i| (i * 31 + 7) as u8).collect();
            let kwargs: Vec<u8> = (0..k).map(|i| (i * 17 + 3) as u8).collect();
            let expected = serde_json::to_vec(
                &serde_json::json!({"args": b64(&args), "kwargs": b64(&kwargs)}),
            )
            .unwrap();
            assert_eq!(
                rpc_request_body(&args, &kwargs),
                expected,
                "{a} + {k} bytes"
            );
        }
    }

    #[test]
    fn base64_success_is_the_serialized_one() {
        use base64::Engine as _;
        let b64 = |p: &[u8]| base64::engine::general_purpose::STANDARD.encode(p);
        for mime in [
            None,
            Some("application/octet-stream"),
            Some("image/png"),
            Some("x/\"quoted\""),
            Some("x/caf\u{e9}"),
        ] {
            for len in [0usize, 1, 2, 3, 4, 100, 65_537] {
                let bytes: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
                let direct = success_base64(mime, &bytes);
                let serialized = success(mime, &b64(&bytes));
                assert_eq!(direct, serialized, "{mime:?}, {len} bytes");
            }
        }
    }

    #[test]
    fn floats_are_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e-7, "1.5e-07"),
            (1.5e300, "1.5e+300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                to_python_json(&value).unwrap(),
                expected.as_bytes(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn parse_round_trips_both_shapes() {
        let ok = success_body(Some("text/plain"), &json!("hi")).unwrap();
        assert_eq!(
            Envelope::parse(&ok).unwrap(),
            Envelope::Success {
                mimetype: Some("text/plain".into()),
                result: json!("hi")
            }
        );
        let err = error_body(ErrorKind::InvalidServerState, "nope");
        assert_eq!(
            Envelope::parse(&err).unwrap(),
            Envelope::Error {
                kind: "InvalidServerState".into(),
                message: "nope".into()
            }
        );
        assert!(Envelope::parse(b"[1]").is_err());
        assert!(Envelope::parse(br#"{"status": "maybe"}"#).is_err());
        assert!(Envelope::parse(b"\xff").is_err());
    }

    #[test]
    fn rpc_request_body_from_is_the_same_bytes() {
        for (a, k) in [
            (0usize, 0usize),
            (1, 2),
            (2, 3),
            (3, 4),
            (1000, 7),
            (3071, 1),
            (3072, 0),
            (3073, 5),
            (6144, 3),
            (65_537, 11),
            (200_000, 4000),
        ] {
            let args: Vec<u8> = (0..a).map(|i| (i * 31 + 7) as u8).collect();
            let kwargs: Vec<u8> = (0..k).map(|i| (i * 17 + 3) as u8).collect();
            assert_eq!(
                rpc_request_body_from(args.clone(), &kwargs),
                rpc_request_body(&args, &kwargs),
                "{a} + {k} bytes"
            );
        }
    }

    fn payload_envelope(text: &str) -> Vec<u8> {
        format!(
            r#"{{"status": "success", "mimetype": "application/json", "result": {{"payload": "{text}"}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn payloads_decode_in_place_as_the_whole_text_decodes() {
        use base64::Engine as _;
        let engine = &base64::engine::general_purpose::STANDARD;
        for n in [0usize, 1, 2, 3, 4, 3071, 3072, 3073, 3074, 10_000, 100_001] {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 131 + 5) as u8).collect();
            let body = payload_envelope(&engine.encode(&bytes));
            assert_eq!(
                decode_payload_in_place(body, engine),
                PayloadBody::Decoded(bytes),
                "{n} bytes"
            );
        }
        // Other key orders and extra keys, as JSON allows; an escaped `/` takes the copy.
        let body = br#"{"result": {"x": 1, "payload": "AAEC"}, "extra": [1], "mimetype": "application/json", "status": "success"}"#;
        assert_eq!(
            decode_payload_in_place(body.to_vec(), engine),
            PayloadBody::Decoded(vec![0, 1, 2])
        );
        let body = payload_envelope(r"A\/8=");
        assert_eq!(
            decode_payload_in_place(body, engine),
            PayloadBody::Decoded(vec![3, 255])
        );
    }

    #[test]
    fn a_bad_payload_gets_the_whole_texts_error() {
        use base64::Engine as _;
        let engine = &base64::engine::general_purpose::STANDARD;
        let good = engine.encode((0..20_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let mut cases: Vec<String> = Vec::new();
        for at in [0usize, 5, 4095, 4096, 9000, good.len() - 1] {
            let mut t = good.clone().into_bytes();
            t[at] = b'!';
            cases.push(String::from_utf8(t).unwrap());
            let mut t = good.clone().into_bytes();
            t[at] = b'=';
            cases.push(String::from_utf8(t).unwrap());
        }
        cases.push(good[..good.len() - 1].to_owned()); // a length the quads do not divide
        cases.push(format!("{good}AB")); // the same
        cases.push(format!("{good}AB==")); // fine
        cases.push(format!("{good}AB=")); // bad padding
        cases.push(format!("{good}AF==")); // trailing bits set in the last symbol
        cases.push(format!("{good}A===")); // a lone symbol
        cases.push("QQ==QUJD".to_owned()); // padding inside
        for text in &cases {
            let expected = match engine.decode(text) {
                Ok(bytes) => PayloadBody::Decoded(bytes),
                Err(e) => PayloadBody::NotBase64(e),
            };
            let got = decode_payload_in_place(payload_envelope(text), engine);
            assert_eq!(got, expected, "text of {} chars", text.len());
        }
    }

    #[test]
    fn anything_but_a_json_payload_envelope_comes_back_untouched() {
        let engine = &base64::engine::general_purpose::STANDARD;
        for body in [
            &br#"{"status": "error", "type": "generic", "message": "no"}"#[..],
            br#"{"status": "success", "mimetype": null, "result": {"payload": "AAAA"}}"#,
            br#"{"status": "success", "mimetype": "text/plain", "result": {"payload": "AAAA"}}"#,
            br#"{"status": "success", "mimetype": "application/json", "result": {"payload": 1}}"#,
            br#"{"status": "success", "mimetype": "application/json", "result": "AAAA"}"#,
            br#"{"status": "success", "mimetype": "application/json", "result": {}}"#,
            br#"{"status": "success", "status": "success", "mimetype": "application/json", "result": {"payload": "AAAA"}}"#,
            b"[1]",
            b"\xff",
            b"",
        ] {
            assert_eq!(
                decode_payload_in_place(body.to_vec(), engine),
                PayloadBody::Other(body.to_vec()),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_server_shaped_body_that_is_not_plain_base64_is_restored_and_read_as_json() {
        use base64::Engine as _;
        let engine = &base64::engine::general_purpose::STANDARD;
        let bytes: Vec<u8> = (0..30_000u32).map(|i| (i * 7) as u8).collect();
        let good = engine.encode(&bytes);
        for at in [0usize, 3, 4096, 4100, 12_288, 20_000, good.len() - 1] {
            // A quote: not JSON any more; the body must come back byte for byte.
            let mut text = good.clone().into_bytes();
            text[at] = b'"';
            let body = payload_envelope(std::str::from_utf8(&text).unwrap());
            assert_eq!(
                decode_payload_in_place(body.clone(), engine),
                PayloadBody::Other(body),
                "quote at {at}"
            );
            // An escaped slash where a '/' is: valid JSON, decoded from the unescaped text.
            let mut text = good.clone();
            text.insert(at, '\\');
            text.insert(at + 1, '/');
            text.remove(at + 2);
            let expected = engine
                .decode(text.replace("\\/", "/"))
                .map_err(|e| e.to_string());
            let got = match decode_payload_in_place(payload_envelope(&text), engine) {
                PayloadBody::Decoded(b) => Ok(b),
                PayloadBody::NotBase64(e) => Err(e.to_string()),
                PayloadBody::Other(_) => Err("other".into()),
            };
            assert_eq!(got, expected, "escape at {at}");
        }
    }

    #[test]
    fn bodies_with_short_and_long_prefixes_are_restored_byte_for_byte() {
        use base64::Engine as _;
        let engine = &base64::engine::general_purpose::STANDARD;
        // Prefixes on both sides of the size kept on the stack, texts of a few symbols and of
        // many steps, each broken at its start, middle and end.
        for pad in [0usize, SMALL - 40, SMALL, SMALL + 1, 500] {
            for n in [3usize, 60, 72, 10_000] {
                let good = engine.encode((0..n).map(|i| (i * 13) as u8).collect::<Vec<u8>>());
                for at in [0, good.len() / 2, good.len() - 1] {
                    let mut text = good.clone().into_bytes();
                    text[at] = b'!';
                    let body = format!(
                        r#"{{"pad": "{}", "result": {{"payload": "{}"}}, "status": "success", "mimetype": "application/json"}}"#,
                        "p".repeat(pad),
                        String::from_utf8(text).unwrap()
                    )
                    .into_bytes();
                    let start = body
                        .windows(12)
                        .position(|w| w == br#""payload": ""#)
                        .unwrap()
                        + 12;
                    let end = start + good.len();
                    assert_eq!(
                        decode_in_place(body.clone(), start, end, engine),
                        Err(body),
                        "prefix {start}, text {n} bytes, broken at {at}"
                    );
                }
            }
        }
    }
}
