//! Structure-aware fuzzing of the server connection machine: the input is decoded (with
//! `arbitrary`) into a few pipelined requests whose framing is mutated in the ways request
//! smuggling works (RFC 9112 sections 6 and 11.2, the HTTP Garden / smuggler / PortSwigger
//! permutations): `Content-Length` and `Transfer-Encoding` spelled, repeated, combined, signed,
//! listed and overflowed; chunk sizes, extensions, data ends and trailers broken; bare CR and
//! LF line ends; absolute, asterisk and authority targets; versions other than 1.0 and 1.1.
//!
//! The rendered bytes go through the same invariant checks as the `http_server` target
//! (`tarp_core::http::check::check_server_stream`, with the default and the small limits).
//! Because the renderer knows what each message is, it adds an oracle on top, message by
//! message, in order:
//! - a message with a definite defect is refused: nothing from it on is served, the error is
//!   set, and its status is the one the defect calls for when that is unambiguous;
//! - a well-formed message is served exactly: same method, path, query and body (so no byte
//!   of a body, even one holding a whole request, is ever read as a request);
//! - after a message that closes the connection (HTTP/1.0, `Connection: close`) nothing else
//!   is served;
//! - a message with a piece of raw fuzzer bytes (or a length that is deliberately wrong) may
//!   go either way: checking stops there (the generic invariants still apply).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tarp_core::http::check::{check_server_stream, small_limits};
use tarp_core::http::Limits;

/// A complete request hidden in bodies: serving it would be a desync.
const SMUGGLED: &[u8] = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

const MAX_MESSAGES: usize = 4;
const MAX_LINES: usize = 6;
const MAX_CHUNKS: usize = 6;
const MAX_DATA: usize = 64;
const MAX_RAW: usize = 32;

#[derive(Arbitrary, Debug)]
struct Input {
    messages: Vec<Plan>,
    tail: Vec<u8>,
}

/// A well-formed request, then at most two mutations: most messages are valid or carry a
/// single defect, so the oracle can demand the exact status.
#[derive(Arbitrary, Debug)]
struct Plan {
    method: GoodMethod,
    query: bool,
    version: GoodVer,
    fields: Vec<GoodField>,
    framing: GoodFraming,
    framing_at: u8,
    mutations: Vec<Mutation>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum GoodMethod {
    Get,
    Post,
    Post2,
    Put,
    Head,
    Delete,
    Lowercase,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum GoodVer {
    Http11,
    Http11b,
    Http11c,
    Http10,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum GoodField {
    Host,
    Accept,
    ContentType,
    Latin1Value,
    EmptyValue,
    ConnectionKeepAlive,
    Expect100,
    ConnectionClose,
}

#[derive(Arbitrary, Debug)]
enum GoodFraming {
    None,
    Cl {
        name: GoodName,
        value: GoodCl,
        body: Vec<u8>,
        smuggle: bool,
    },
    Te {
        name: GoodName,
        value: (Case, Ws, Ws),
        chunks: Vec<GoodChunk>,
        last_zeros: u8,
        last_ext: GoodExt,
        trailers: Vec<bool>,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum GoodName {
    Canonical,
    Lower,
    Upper,
    NoSpace,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum GoodCl {
    Exact,
    LeadingZeros(u8),
    Ows(Ws, Ws),
}

#[derive(Arbitrary, Debug)]
struct GoodChunk {
    size: GoodSize,
    ext: GoodExt,
    data: Vec<u8>,
    smuggle: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum GoodSize {
    Lower,
    Upper,
    LeadingZeros(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum GoodExt {
    None,
    Name,
    NameValue,
    Quoted,
}

/// One change to a well-formed request (most of them break it).
#[derive(Arbitrary, Debug)]
enum Mutation {
    Method([u8; 4]),
    Target(Target),
    Version(Ver),
    RequestLineEnd(Eol),
    HeadEnd(Eol),
    LineEnd(u8, Eol),
    InsertField(u8, Field),
    FramingName(Name),
    FramingAt(u8),
    SetCl(ClValue),
    SetTe(TeValue),
    AddCl(bool, ClValue),
    AddTe(TeValue),
    ChunkSize(u8, SizeRepr),
    ChunkExt(u8, Ext),
    ChunkEol(u8, Eol),
    DataEnd(u8, DataEnd),
    LastZeros(u8),
    LastExt(Ext),
    LastEol(Eol),
    Trailer(Trailer),
    End(Eol),
}

/// The message a plan describes, as the renderer takes it.
#[derive(Debug)]
struct Message {
    method: Method,
    target: Target,
    version: Ver,
    line_end: Eol,
    lines: Vec<Line>,
    framing: Framing,
    framing_at: u8,
    head_end: Eol,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
    Post2,
    Put,
    Head,
    Delete,
    Lowercase,
    Raw([u8; 4]),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Target {
    Origin,
    Origin2,
    Query,
    PercentPath,
    Absolute,
    Asterisk,
    Authority,
    NonAscii,
    Empty,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ver {
    Http11,
    Http11b,
    Http11c,
    Http10,
    Http12,
    Http20,
    Lowercase,
    NoMinor,
    TrailingSpace,
}

/// A line end: CRLF most of the time.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Eol {
    Crlf,
    Crlf2,
    Crlf3,
    Crlf4,
    Crlf5,
    Lf,
    Cr,
}

#[derive(Debug)]
struct Line {
    field: Field,
    eol: Eol,
}

/// A header line other than the framing ones.
#[derive(Arbitrary, Debug, Clone)]
enum Field {
    Host,
    Accept,
    ContentType,
    Latin1Value,
    EmptyValue,
    ConnectionClose,
    ConnectionKeepAlive,
    ConnectionBoth,
    ConnectionUpper,
    Expect100,
    ObsFold,
    SpaceBeforeColon,
    TabBeforeColon,
    NulInValue,
    CtlInValue,
    DelInValue,
    VtabInValue,
    BareCrInValue,
    Raw { name: Vec<u8>, value: Vec<u8> },
}

#[derive(Debug)]
enum Framing {
    None,
    Cl {
        name: Name,
        value: ClValue,
        body: Vec<u8>,
        smuggle: bool,
    },
    Te {
        name: Name,
        value: TeValue,
        chunks: Chunks,
    },
    ClTe {
        cl_first: bool,
        cl: ClValue,
        te: TeValue,
        chunks: Chunks,
    },
    ClTwice {
        a: ClValue,
        b: ClValue,
        body: Vec<u8>,
    },
    TeTwice {
        a: TeValue,
        b: TeValue,
        chunks: Chunks,
    },
}

/// How a framing header's name is written.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Name {
    Canonical,
    Lower,
    Upper,
    NoSpace,
    SpaceBeforeColon,
    TabBeforeColon,
    LeadingSpace,
    Underscore,
}

#[derive(Arbitrary, Debug, Clone)]
enum ClValue {
    Exact,
    Exact2,
    LeadingZeros(u8),
    Ows(Ws, Ws),
    Plus,
    Minus,
    ListSame,
    ListDiff,
    ListNoSpace,
    TwoNumbers,
    Hex,
    Decimal,
    Overflow,
    Overflow2,
    TooLarge,
    Empty,
    Off(i8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ws {
    None,
    Space,
    Tab,
    Spaces,
}

#[derive(Arbitrary, Debug, Clone)]
enum TeValue {
    Chunked(Case, Ws, Ws),
    Chunked2,
    Identity,
    ChunkedIdentity,
    GzipChunked,
    ChunkedGzip,
    ChunkedChunked,
    ChunkedParam,
    TrailingComma,
    LeadingComma,
    ChunkedX,
    Vtab,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Case {
    Lower,
    Upper,
    Title,
    Mixed,
}

#[derive(Debug)]
struct Chunks {
    chunks: Vec<Chunk>,
    last_zeros: u8,
    last_ext: Ext,
    last_eol: Eol,
    trailers: Vec<Trailer>,
    end: Eol,
}

#[derive(Debug)]
struct Chunk {
    size: SizeRepr,
    ext: Ext,
    size_eol: Eol,
    data: Vec<u8>,
    smuggle: bool,
    data_end: DataEnd,
}

#[derive(Arbitrary, Debug, Clone)]
enum SizeRepr {
    Lower,
    Lower2,
    Upper,
    LeadingZeros(u8),
    SpaceBefore,
    SpaceAfter,
    TabAfter,
    SpaceBeforeExt,
    Plus,
    Minus,
    Prefix0x,
    Overflow,
    Huge,
    Off(i8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ext {
    None,
    None2,
    None3,
    Name,
    NameValue,
    Quoted,
    Nul,
    Long,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum DataEnd {
    Crlf,
    Crlf2,
    Crlf3,
    Lf,
    Cr,
    Missing,
    ExtraByte,
}

#[derive(Arbitrary, Debug, Clone)]
enum Trailer {
    Valid,
    Valid2,
    ObsFold,
    NoColon,
    SpaceBeforeColon,
    Ctl,
    BareLf,
    Raw { name: Vec<u8>, value: Vec<u8> },
}

fn empty_chunks() -> Chunks {
    Chunks {
        chunks: Vec::new(),
        last_zeros: 0,
        last_ext: Ext::None,
        last_eol: Eol::Crlf,
        trailers: Vec::new(),
        end: Eol::Crlf,
    }
}

fn good_ext(e: GoodExt) -> Ext {
    match e {
        GoodExt::None => Ext::None,
        GoodExt::Name => Ext::Name,
        GoodExt::NameValue => Ext::NameValue,
        GoodExt::Quoted => Ext::Quoted,
    }
}

fn good_name(n: GoodName) -> Name {
    match n {
        GoodName::Canonical => Name::Canonical,
        GoodName::Lower => Name::Lower,
        GoodName::Upper => Name::Upper,
        GoodName::NoSpace => Name::NoSpace,
    }
}

/// The well-formed message of a plan, then its mutations applied.
fn build(plan: &Plan) -> Message {
    let mut m = Message {
        method: match plan.method {
            GoodMethod::Get => Method::Get,
            GoodMethod::Post | GoodMethod::Post2 => Method::Post,
            GoodMethod::Put => Method::Put,
            GoodMethod::Head => Method::Head,
            GoodMethod::Delete => Method::Delete,
            GoodMethod::Lowercase => Method::Lowercase,
        },
        target: if plan.query {
            Target::Query
        } else {
            Target::Origin
        },
        version: match plan.version {
            GoodVer::Http10 => Ver::Http10,
            _ => Ver::Http11,
        },
        line_end: Eol::Crlf,
        lines: plan
            .fields
            .iter()
            .take(MAX_LINES)
            .map(|f| Line {
                field: match f {
                    GoodField::Host => Field::Host,
                    GoodField::Accept => Field::Accept,
                    GoodField::ContentType => Field::ContentType,
                    GoodField::Latin1Value => Field::Latin1Value,
                    GoodField::EmptyValue => Field::EmptyValue,
                    GoodField::ConnectionKeepAlive => Field::ConnectionKeepAlive,
                    GoodField::Expect100 => Field::Expect100,
                    GoodField::ConnectionClose => Field::ConnectionClose,
                },
                eol: Eol::Crlf,
            })
            .collect(),
        framing: match &plan.framing {
            GoodFraming::None => Framing::None,
            GoodFraming::Cl {
                name,
                value,
                body,
                smuggle,
            } => Framing::Cl {
                name: good_name(*name),
                value: match value {
                    GoodCl::Exact => ClValue::Exact,
                    GoodCl::LeadingZeros(n) => ClValue::LeadingZeros(*n),
                    GoodCl::Ows(a, b) => ClValue::Ows(*a, *b),
                },
                body: body.clone(),
                smuggle: *smuggle,
            },
            GoodFraming::Te {
                name,
                value,
                chunks,
                last_zeros,
                last_ext,
                trailers,
            } => Framing::Te {
                name: good_name(*name),
                value: TeValue::Chunked(value.0, value.1, value.2),
                chunks: Chunks {
                    chunks: chunks
                        .iter()
                        .take(MAX_CHUNKS)
                        .map(|c| Chunk {
                            size: match c.size {
                                GoodSize::Lower => SizeRepr::Lower,
                                GoodSize::Upper => SizeRepr::Upper,
                                GoodSize::LeadingZeros(n) => SizeRepr::LeadingZeros(n),
                            },
                            ext: good_ext(c.ext),
                            size_eol: Eol::Crlf,
                            data: c.data.clone(),
                            smuggle: c.smuggle,
                            data_end: DataEnd::Crlf,
                        })
                        .collect(),
                    last_zeros: *last_zeros,
                    last_ext: good_ext(*last_ext),
                    last_eol: Eol::Crlf,
                    trailers: trailers
                        .iter()
                        .take(MAX_LINES)
                        .map(|&t| if t { Trailer::Valid } else { Trailer::Valid2 })
                        .collect(),
                    end: Eol::Crlf,
                },
            },
        },
        framing_at: plan.framing_at,
        head_end: Eol::Crlf,
    };
    for mutation in plan.mutations.iter().take(2) {
        mutate(&mut m, mutation);
    }
    m
}

fn chunks_of(f: &mut Framing) -> Option<&mut Chunks> {
    match f {
        Framing::Te { chunks, .. }
        | Framing::ClTe { chunks, .. }
        | Framing::TeTwice { chunks, .. } => Some(chunks),
        _ => None,
    }
}

fn mutate(m: &mut Message, mutation: &Mutation) {
    match mutation {
        Mutation::Method(bytes) => m.method = Method::Raw(*bytes),
        Mutation::Target(t) => m.target = *t,
        Mutation::Version(v) => m.version = *v,
        Mutation::RequestLineEnd(e) => m.line_end = *e,
        Mutation::HeadEnd(e) => m.head_end = *e,
        Mutation::LineEnd(at, e) => {
            let n = m.lines.len();
            if n > 0 {
                m.lines[usize::from(*at) % n].eol = *e;
            }
        }
        Mutation::InsertField(at, f) => {
            let at = usize::from(*at) % (m.lines.len() + 1);
            m.lines.insert(
                at,
                Line {
                    field: f.clone(),
                    eol: Eol::Crlf,
                },
            );
        }
        Mutation::FramingName(n) => match &mut m.framing {
            Framing::Cl { name, .. } | Framing::Te { name, .. } => *name = *n,
            _ => {}
        },
        Mutation::FramingAt(at) => m.framing_at = *at,
        Mutation::SetCl(v) => {
            let framing = std::mem::replace(&mut m.framing, Framing::None);
            m.framing = match framing {
                Framing::Cl {
                    name,
                    body,
                    smuggle,
                    ..
                } => Framing::Cl {
                    name,
                    value: v.clone(),
                    body,
                    smuggle,
                },
                Framing::Te { value, chunks, .. } => Framing::ClTe {
                    cl_first: true,
                    cl: v.clone(),
                    te: value,
                    chunks,
                },
                Framing::None => Framing::Cl {
                    name: Name::Canonical,
                    value: v.clone(),
                    body: b"hello".to_vec(),
                    smuggle: false,
                },
                other => other,
            };
        }
        Mutation::SetTe(v) => {
            let framing = std::mem::replace(&mut m.framing, Framing::None);
            m.framing = match framing {
                Framing::Te { name, chunks, .. } => Framing::Te {
                    name,
                    value: v.clone(),
                    chunks,
                },
                Framing::Cl { value, .. } => Framing::ClTe {
                    cl_first: true,
                    cl: value,
                    te: v.clone(),
                    chunks: empty_chunks(),
                },
                Framing::None => Framing::Te {
                    name: Name::Canonical,
                    value: v.clone(),
                    chunks: empty_chunks(),
                },
                other => other,
            };
        }
        Mutation::AddCl(first, v) => {
            let framing = std::mem::replace(&mut m.framing, Framing::None);
            m.framing = match framing {
                Framing::Cl { value, body, .. } => Framing::ClTwice {
                    a: value,
                    b: v.clone(),
                    body,
                },
                Framing::Te { value, chunks, .. } => Framing::ClTe {
                    cl_first: *first,
                    cl: v.clone(),
                    te: value,
                    chunks,
                },
                Framing::None => Framing::Cl {
                    name: Name::Canonical,
                    value: v.clone(),
                    body: Vec::new(),
                    smuggle: true,
                },
                other => other,
            };
        }
        Mutation::AddTe(v) => {
            let framing = std::mem::replace(&mut m.framing, Framing::None);
            m.framing = match framing {
                Framing::Te { value, chunks, .. } => Framing::TeTwice {
                    a: value,
                    b: v.clone(),
                    chunks,
                },
                Framing::Cl { value, .. } => Framing::ClTe {
                    cl_first: true,
                    cl: value,
                    te: v.clone(),
                    chunks: empty_chunks(),
                },
                Framing::None => Framing::Te {
                    name: Name::Canonical,
                    value: v.clone(),
                    chunks: empty_chunks(),
                },
                other => other,
            };
        }
        Mutation::ChunkSize(at, s) => {
            if let Some(c) = chunks_of(&mut m.framing).and_then(|c| nth(&mut c.chunks, *at)) {
                c.size = s.clone();
            }
        }
        Mutation::ChunkExt(at, e) => {
            if let Some(c) = chunks_of(&mut m.framing).and_then(|c| nth(&mut c.chunks, *at)) {
                c.ext = *e;
            }
        }
        Mutation::ChunkEol(at, e) => {
            if let Some(c) = chunks_of(&mut m.framing).and_then(|c| nth(&mut c.chunks, *at)) {
                c.size_eol = *e;
            }
        }
        Mutation::DataEnd(at, d) => {
            if let Some(c) = chunks_of(&mut m.framing).and_then(|c| nth(&mut c.chunks, *at)) {
                c.data_end = *d;
            }
        }
        Mutation::LastZeros(n) => {
            if let Some(c) = chunks_of(&mut m.framing) {
                c.last_zeros = *n;
            }
        }
        Mutation::LastExt(e) => {
            if let Some(c) = chunks_of(&mut m.framing) {
                c.last_ext = *e;
            }
        }
        Mutation::LastEol(e) => {
            if let Some(c) = chunks_of(&mut m.framing) {
                c.last_eol = *e;
            }
        }
        Mutation::Trailer(t) => {
            if let Some(c) = chunks_of(&mut m.framing) {
                c.trailers.push(t.clone());
            }
        }
        Mutation::End(e) => {
            if let Some(c) = chunks_of(&mut m.framing) {
                c.end = *e;
            }
        }
    }
}

fn nth<T>(items: &mut [T], at: u8) -> Option<&mut T> {
    let n = items.len();
    if n == 0 {
        None
    } else {
        items.get_mut(usize::from(at) % n)
    }
}

/// What the renderer knows about one message.
#[derive(Debug, Default)]
struct Spec {
    method: String,
    path: String,
    query: Option<String>,
    body: Vec<u8>,
    /// Statuses the definite defects call for (`None`: refused, status not certain).
    defects: Vec<Option<u16>>,
    /// Raw fuzzer bytes (or a deliberately wrong length) in the head.
    head_unknown: bool,
    /// The same in the body: body defects after it are not definite.
    body_unknown: bool,
    /// The connection closes after this message's response.
    closing: bool,
    /// Defects that what follows can undo: (index in `defects`, position in the rendered
    /// bytes, what found there undoes it). A bare CR followed by an LF from the next part
    /// is a plain CRLF; chunk data "missing" its CRLF is followed by one when the next part
    /// happens to start with it. Checked once everything is rendered.
    fragile: Vec<(usize, usize, &'static [u8])>,
}

impl Spec {
    fn defect(&mut self, status: u16) {
        self.defects.push(Some(status));
    }

    fn body_defect(&mut self, status: u16) {
        if self.head_unknown || self.body_unknown {
            self.body_unknown = true;
        } else {
            self.defects.push(Some(status));
        }
    }

    /// Registers the last defect pushed, if any was, as undone by `undo` found at `pos`.
    fn fragile_last(&mut self, pushed_before: usize, pos: usize, undo: &'static [u8]) {
        if self.defects.len() > pushed_before {
            self.fragile.push((self.defects.len() - 1, pos, undo));
        }
    }

    /// Drops the defects from the first one the rendered `bytes` undo on (what follows it
    /// may be framed differently): the message's outcome is then not known.
    fn settle(&mut self, bytes: &[u8]) {
        let undone = self
            .fragile
            .iter()
            .filter(|&&(_, pos, undo)| bytes.get(pos..).is_some_and(|rest| rest.starts_with(undo)))
            .map(|&(i, _, _)| i)
            .min();
        if let Some(i) = undone {
            self.defects.truncate(i);
            self.head_unknown = true;
        }
    }

    fn unknown(&self) -> bool {
        self.head_unknown || self.body_unknown
    }

    /// The status a refusal must have, when the defects agree on one.
    fn status(&self) -> Option<u16> {
        if self.unknown() {
            return None;
        }
        let first = *self.defects.first()?;
        self.defects.iter().all(|&d| d == first).then_some(first)?
    }
}

fn raw(bytes: &[u8]) -> Vec<u8> {
    // Raw pieces stay inside their line: no CR or LF.
    bytes
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .take(MAX_RAW)
        .collect()
}

fn eol(out: &mut Vec<u8>, e: Eol, spec: &mut Spec, in_body: bool) {
    let before = spec.defects.len();
    let bad = match e {
        Eol::Lf => {
            out.push(b'\n');
            true
        }
        Eol::Cr => {
            out.push(b'\r');
            true
        }
        _ => {
            out.extend_from_slice(b"\r\n");
            false
        }
    };
    if bad {
        if in_body {
            spec.body_defect(400);
        } else {
            spec.defect(400);
        }
        if matches!(e, Eol::Cr) {
            spec.fragile_last(before, out.len(), b"\n");
        }
    }
}

fn ws(w: Ws) -> &'static str {
    match w {
        Ws::None => "",
        Ws::Space => " ",
        Ws::Tab => "\t",
        Ws::Spaces => "   ",
    }
}

/// Writes `Name: ` for a framing header; says whether the server will see it as that header.
fn framing_name(out: &mut Vec<u8>, canonical: &str, name: Name, spec: &mut Spec) {
    match name {
        Name::Canonical => out.extend_from_slice(format!("{canonical}: ").as_bytes()),
        Name::Lower => {
            out.extend_from_slice(format!("{}: ", canonical.to_ascii_lowercase()).as_bytes())
        }
        Name::Upper => {
            out.extend_from_slice(format!("{}: ", canonical.to_ascii_uppercase()).as_bytes())
        }
        Name::NoSpace => out.extend_from_slice(format!("{canonical}:").as_bytes()),
        Name::SpaceBeforeColon => {
            out.extend_from_slice(format!("{canonical} : ").as_bytes());
            spec.defect(400);
        }
        Name::TabBeforeColon => {
            out.extend_from_slice(format!("{canonical}\t: ").as_bytes());
            spec.defect(400);
        }
        Name::LeadingSpace => {
            // obs-fold after another line, whitespace before the first field otherwise.
            out.extend_from_slice(format!(" {canonical}: ").as_bytes());
            spec.defect(400);
        }
        Name::Underscore => {
            // Another header altogether: the body is then read as the next request.
            out.extend_from_slice(format!("{}: ", canonical.replace('-', "_")).as_bytes());
            spec.head_unknown = true;
        }
    }
}

/// Writes a `Content-Length` value for a body of `len` bytes.
fn cl_value(out: &mut Vec<u8>, v: &ClValue, len: usize, spec: &mut Spec) {
    let text = match v {
        ClValue::Exact | ClValue::Exact2 => len.to_string(),
        ClValue::LeadingZeros(n) => format!("{}{len}", "0".repeat(usize::from(n % 5))),
        ClValue::Ows(a, b) => format!("{}{len}{}", ws(*a), ws(*b)),
        ClValue::Plus => {
            spec.defect(400);
            format!("+{len}")
        }
        ClValue::Minus => {
            spec.defect(400);
            format!("-{len}")
        }
        ClValue::ListSame => {
            spec.defect(400);
            format!("{len}, {len}")
        }
        ClValue::ListDiff => {
            spec.defect(400);
            format!("{len}, {}", len + 1)
        }
        ClValue::ListNoSpace => {
            spec.defect(400);
            format!("{len},{len}")
        }
        ClValue::TwoNumbers => {
            spec.defect(400);
            format!("{len} {len}")
        }
        ClValue::Hex => {
            spec.defect(400);
            format!("0x{len:x}")
        }
        ClValue::Decimal => {
            spec.defect(400);
            format!("{len}.0")
        }
        ClValue::Overflow => {
            spec.defect(400);
            "18446744073709551616".to_owned()
        }
        ClValue::Overflow2 => {
            spec.defect(400);
            format!("99999999999999999999999{len}")
        }
        ClValue::TooLarge => {
            spec.defect(413);
            "2147483648".to_owned()
        }
        ClValue::Empty => {
            spec.defect(400);
            String::new()
        }
        ClValue::Off(d) => {
            spec.head_unknown = true;
            let d = if *d == 0 { 1 } else { i64::from(*d) };
            let n = len as i64 + d;
            (if n < 0 { len as i64 + 1 } else { n }).to_string()
        }
        ClValue::Raw(bytes) => {
            spec.head_unknown = true;
            out.extend_from_slice(&raw(bytes));
            return;
        }
    };
    out.extend_from_slice(text.as_bytes());
}

/// Writes a `Transfer-Encoding` value; returns whether it is a single `chunked`.
fn te_value(out: &mut Vec<u8>, v: &TeValue, spec: &mut Spec) -> Option<bool> {
    let text = match v {
        TeValue::Chunked(case, a, b) => {
            let word = match case {
                Case::Lower => "chunked",
                Case::Upper => "CHUNKED",
                Case::Title => "Chunked",
                Case::Mixed => "cHuNkEd",
            };
            out.extend_from_slice(format!("{}{word}{}", ws(*a), ws(*b)).as_bytes());
            return Some(true);
        }
        TeValue::Chunked2 => {
            out.extend_from_slice(b"chunked");
            return Some(true);
        }
        TeValue::Identity => "identity",
        TeValue::ChunkedIdentity => "chunked, identity",
        TeValue::GzipChunked => "gzip, chunked",
        TeValue::ChunkedGzip => "chunked, gzip",
        TeValue::ChunkedChunked => "chunked, chunked",
        TeValue::ChunkedParam => "chunked;q=1",
        TeValue::TrailingComma => "chunked,",
        TeValue::LeadingComma => ", chunked",
        TeValue::ChunkedX => "chunkedx",
        TeValue::Vtab => {
            out.extend_from_slice(b"\x0bchunked");
            spec.defect(400);
            return None;
        }
        TeValue::Raw(bytes) => {
            spec.head_unknown = true;
            out.extend_from_slice(&raw(bytes));
            return None;
        }
    };
    out.extend_from_slice(text.as_bytes());
    Some(false)
}

fn ext(out: &mut Vec<u8>, e: Ext, spec: &mut Spec) {
    match e {
        Ext::None | Ext::None2 | Ext::None3 => {}
        Ext::Name => out.extend_from_slice(b";name"),
        Ext::NameValue => out.extend_from_slice(b";a=b;c=\xff"),
        Ext::Quoted => out.extend_from_slice(b";a=\"q;x\""),
        Ext::Nul => {
            out.extend_from_slice(b";a=\0");
            spec.body_defect(400);
        }
        Ext::Long => {
            out.push(b';');
            out.extend(std::iter::repeat(b'a').take(5000));
            spec.body_defect(400);
        }
    }
}

/// Writes a chunked body; returns the bytes it carries.
fn chunked_body(out: &mut Vec<u8>, c: &Chunks, spec: &mut Spec) -> Vec<u8> {
    let mut body = Vec::new();
    for chunk in c.chunks.iter().take(MAX_CHUNKS) {
        let mut data: Vec<u8> = chunk.data.iter().copied().take(MAX_DATA).collect();
        if chunk.smuggle {
            data.extend_from_slice(SMUGGLED);
        }
        if data.is_empty() {
            data.push(b'x'); // a zero size would be the last chunk
        }
        let len = data.len();
        match &chunk.size {
            SizeRepr::Lower | SizeRepr::Lower2 => {
                out.extend_from_slice(format!("{len:x}").as_bytes())
            }
            SizeRepr::Upper => out.extend_from_slice(format!("{len:X}").as_bytes()),
            SizeRepr::LeadingZeros(n) => out
                .extend_from_slice(format!("{}{len:x}", "0".repeat(usize::from(n % 6))).as_bytes()),
            SizeRepr::SpaceBefore => {
                out.extend_from_slice(format!(" {len:x}").as_bytes());
                spec.body_defect(400);
            }
            SizeRepr::SpaceAfter => {
                out.extend_from_slice(format!("{len:x} ").as_bytes());
                spec.body_defect(400);
            }
            SizeRepr::TabAfter => {
                out.extend_from_slice(format!("{len:x}\t").as_bytes());
                spec.body_defect(400);
            }
            SizeRepr::SpaceBeforeExt => {
                out.extend_from_slice(format!("{len:x} ;a").as_bytes());
                spec.body_defect(400);
            }
            SizeRepr::Plus => {
                out.extend_from_slice(format!("+{len:x}").as_bytes());
                spec.body_defect(400);
            }
            SizeRepr::Minus => {
                out.extend_from_slice(format!("-{len:x}").as_bytes());
                spec.body_defect(400);
            }
            SizeRepr::Prefix0x => {
                out.extend_from_slice(format!("0x{len:x}").as_bytes());
                spec.body_defect(400);
            }
            SizeRepr::Overflow => {
                // 17 hex digits: beyond 64 bits.
                out.extend_from_slice(format!("1{len:016x}").as_bytes());
                spec.body_defect(400);
            }
            SizeRepr::Huge => {
                // Within 64 bits, beyond the default body limit.
                out.extend_from_slice(b"ffffffffffffffff");
                spec.body_defect(413);
            }
            SizeRepr::Off(d) => {
                spec.body_unknown = true;
                let d = if *d == 0 { 1 } else { i64::from(*d) };
                let n = len as i64 + d;
                let n = if n <= 0 { len as i64 + 1 } else { n };
                out.extend_from_slice(format!("{n:x}").as_bytes());
            }
            SizeRepr::Raw(bytes) => {
                spec.body_unknown = true;
                out.extend_from_slice(&raw(bytes));
            }
        }
        ext(out, chunk.ext, spec);
        eol(out, chunk.size_eol, spec, true);
        out.extend_from_slice(&data);
        body.extend_from_slice(&data);
        match chunk.data_end {
            DataEnd::Crlf | DataEnd::Crlf2 | DataEnd::Crlf3 => out.extend_from_slice(b"\r\n"),
            DataEnd::Lf => {
                out.push(b'\n');
                spec.body_defect(400);
            }
            DataEnd::Cr => {
                out.push(b'\r');
                let before = spec.defects.len();
                spec.body_defect(400);
                spec.fragile_last(before, out.len(), b"\n");
            }
            DataEnd::Missing => {
                let before = spec.defects.len();
                spec.body_defect(400);
                spec.fragile_last(before, out.len(), b"\r\n");
            }
            DataEnd::ExtraByte => {
                out.extend_from_slice(b"X\r\n");
                spec.body_defect(400);
            }
        }
    }
    out.extend_from_slice("0".repeat(1 + usize::from(c.last_zeros % 4)).as_bytes());
    ext(out, c.last_ext, spec);
    eol(out, c.last_eol, spec, true);
    for t in c.trailers.iter().take(MAX_LINES) {
        match t {
            Trailer::Valid => out.extend_from_slice(b"X-Trailer: 1\r\n"),
            Trailer::Valid2 => out.extend_from_slice(b"Checksum: abc\r\n"),
            Trailer::ObsFold => {
                out.extend_from_slice(b" folded\r\n");
                spec.body_defect(400);
            }
            Trailer::NoColon => {
                out.extend_from_slice(b"NoColon\r\n");
                spec.body_defect(400);
            }
            Trailer::SpaceBeforeColon => {
                out.extend_from_slice(b"Space : x\r\n");
                spec.body_defect(400);
            }
            Trailer::Ctl => {
                out.extend_from_slice(b"Ctl: \x01\r\n");
                spec.body_defect(400);
            }
            Trailer::BareLf => {
                out.extend_from_slice(b"Bare: lf\n");
                spec.body_defect(400);
            }
            Trailer::Raw { name, value } => {
                spec.body_unknown = true;
                out.extend_from_slice(&raw(name));
                out.extend_from_slice(b": ");
                out.extend_from_slice(&raw(value));
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    eol(out, c.end, spec, true);
    body
}

fn field(
    out: &mut Vec<u8>,
    f: &Field,
    spec: &mut Spec,
    hosts: &mut usize,
    close: &mut bool,
    keep: &mut bool,
) {
    let text: &[u8] = match f {
        Field::Host => {
            *hosts += 1;
            if *hosts > 1 {
                spec.defect(400);
            }
            b"Host: x"
        }
        Field::Accept => b"Accept: */*",
        Field::ContentType => b"Content-Type: application/json",
        Field::Latin1Value => b"X-Latin: caf\xe9",
        Field::EmptyValue => b"X-Empty:",
        Field::ConnectionClose => {
            *close = true;
            b"Connection: close"
        }
        Field::ConnectionKeepAlive => {
            *keep = true;
            b"Connection: keep-alive"
        }
        Field::ConnectionBoth => {
            *close = true;
            *keep = true;
            b"Connection: keep-alive, close"
        }
        Field::ConnectionUpper => {
            *close = true;
            b"Connection: CLOSE"
        }
        Field::Expect100 => b"Expect: 100-continue",
        Field::ObsFold => {
            spec.defect(400);
            b" folded: x"
        }
        Field::SpaceBeforeColon => {
            spec.defect(400);
            b"X-Space : x"
        }
        Field::TabBeforeColon => {
            spec.defect(400);
            b"X-Tab\t: x"
        }
        Field::NulInValue => {
            spec.defect(400);
            b"X-Nul: a\0b"
        }
        Field::CtlInValue => {
            spec.defect(400);
            b"X-Ctl: a\x01b"
        }
        Field::DelInValue => {
            spec.defect(400);
            b"X-Del: a\x7fb"
        }
        Field::VtabInValue => {
            spec.defect(400);
            b"X-Vt: \x0bx"
        }
        Field::BareCrInValue => {
            spec.defect(400);
            b"X-Cr: a\rb"
        }
        Field::Raw { name, value } => {
            spec.head_unknown = true;
            out.extend_from_slice(&raw(name));
            out.push(b':');
            out.extend_from_slice(&raw(value));
            return;
        }
    };
    out.extend_from_slice(text);
}

/// Renders message number `i`, appending its bytes to `out`.
fn render(out: &mut Vec<u8>, i: usize, m: &Message) -> Spec {
    let mut spec = Spec::default();
    spec.method = match m.method {
        Method::Get => "GET".into(),
        Method::Post | Method::Post2 => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Head => "HEAD".into(),
        Method::Delete => "DELETE".into(),
        Method::Lowercase => "post".into(),
        Method::Raw(bytes) => {
            spec.head_unknown = true;
            String::from_utf8_lossy(&raw(&bytes)).into_owned()
        }
    };
    out.extend_from_slice(spec.method.as_bytes());
    out.push(b' ');
    spec.path = format!("/m{i}");
    let target: Vec<u8> = match m.target {
        Target::Origin | Target::Origin2 => spec.path.clone().into_bytes(),
        Target::Query => {
            spec.query = Some("a=1&b=%00%ff&c".into());
            format!("{}?a=1&b=%00%ff&c", spec.path).into_bytes()
        }
        Target::PercentPath => {
            spec.path = format!("/m{i}%2F%00%C3%28");
            spec.path.clone().into_bytes()
        }
        Target::Absolute => {
            spec.defect(400);
            format!("http://x{}", spec.path).into_bytes()
        }
        Target::Asterisk => {
            spec.defect(400);
            b"*".to_vec()
        }
        Target::Authority => {
            spec.defect(400);
            b"x:80".to_vec()
        }
        Target::NonAscii => {
            spec.defect(400);
            [spec.path.as_bytes(), b"\xc3\xa9"].concat()
        }
        Target::Empty => {
            spec.defect(400);
            Vec::new()
        }
    };
    out.extend_from_slice(&target);
    let http10 = matches!(m.version, Ver::Http10);
    out.extend_from_slice(match m.version {
        Ver::Http11 | Ver::Http11b | Ver::Http11c => b" HTTP/1.1",
        Ver::Http10 => b" HTTP/1.0",
        Ver::Http12 => {
            spec.defect(505);
            b" HTTP/1.2"
        }
        Ver::Http20 => {
            spec.defect(505);
            b" HTTP/2.0"
        }
        Ver::Lowercase => {
            spec.defect(400);
            b" http/1.1"
        }
        Ver::NoMinor => {
            spec.defect(400);
            b" HTTP/1"
        }
        Ver::TrailingSpace => {
            spec.defect(400);
            b" HTTP/1.1 "
        }
    });
    eol(out, m.line_end, &mut spec, false);

    let lines: Vec<&Line> = m.lines.iter().take(MAX_LINES).collect();
    let at = usize::from(m.framing_at) % (lines.len() + 1);
    let (mut hosts, mut close, mut keep) = (0, false, false);
    let mut body_bytes: Option<Vec<u8>> = None; // a Content-Length body
    let mut chunks: Option<&Chunks> = None;
    for (n, line) in lines.iter().enumerate() {
        if n == at {
            framing_lines(out, m, &mut spec, http10, &mut body_bytes, &mut chunks);
        }
        field(
            out,
            &line.field,
            &mut spec,
            &mut hosts,
            &mut close,
            &mut keep,
        );
        eol(out, line.eol, &mut spec, false);
    }
    if at == lines.len() {
        framing_lines(out, m, &mut spec, http10, &mut body_bytes, &mut chunks);
    }
    eol(out, m.head_end, &mut spec, false);
    spec.closing = close || (http10 && !keep);
    if let Some(body) = body_bytes {
        out.extend_from_slice(&body);
        spec.body = body;
    } else if let Some(c) = chunks {
        spec.body = chunked_body(out, c, &mut spec);
    }
    spec
}

/// Writes the framing header lines of `m` (each ending in CRLF) and says what body follows.
fn framing_lines<'m>(
    out: &mut Vec<u8>,
    m: &'m Message,
    spec: &mut Spec,
    http10: bool,
    body_bytes: &mut Option<Vec<u8>>,
    chunks: &mut Option<&'m Chunks>,
) {
    let cl_body = |body: &[u8], smuggle: bool| {
        let mut b: Vec<u8> = body.iter().copied().take(MAX_DATA).collect();
        if smuggle {
            b.extend_from_slice(SMUGGLED);
        }
        b
    };
    match &m.framing {
        Framing::None => {}
        Framing::Cl {
            name,
            value,
            body,
            smuggle,
        } => {
            let b = cl_body(body, *smuggle);
            framing_name(out, "Content-Length", *name, spec);
            if matches!(name, Name::Underscore) {
                // Not a Content-Length to the server: what its value says does not matter.
                cl_value(out, value, b.len(), &mut Spec::default());
            } else {
                cl_value(out, value, b.len(), spec);
            }
            out.extend_from_slice(b"\r\n");
            *body_bytes = Some(b);
        }
        Framing::Te {
            name,
            value,
            chunks: c,
        } => {
            framing_name(out, "Transfer-Encoding", *name, spec);
            let chunked = te_value(out, value, spec);
            out.extend_from_slice(b"\r\n");
            let seen = !matches!(name, Name::Underscore);
            if seen && http10 {
                spec.defect(400);
            } else if seen && chunked == Some(false) {
                spec.defect(501);
            }
            *chunks = Some(c);
        }
        Framing::ClTe {
            cl_first,
            cl,
            te,
            chunks: c,
        } => {
            // The length announced is that of the chunked encoding (the CL.TE shape).
            let mut probe = Vec::new();
            let mut scratch = Spec::default();
            chunked_body(&mut probe, c, &mut scratch);
            let write_cl = |out: &mut Vec<u8>, spec: &mut Spec| {
                out.extend_from_slice(b"Content-Length: ");
                cl_value(out, cl, probe.len(), spec);
                out.extend_from_slice(b"\r\n");
            };
            if *cl_first {
                write_cl(out, spec);
            }
            out.extend_from_slice(b"Transfer-Encoding: ");
            te_value(out, te, spec);
            out.extend_from_slice(b"\r\n");
            if !*cl_first {
                write_cl(out, spec);
            }
            spec.defect(400);
            *chunks = Some(c);
        }
        Framing::ClTwice { a, b, body } => {
            let bytes = cl_body(body, false);
            for v in [a, b] {
                out.extend_from_slice(b"Content-Length: ");
                cl_value(out, v, bytes.len(), spec);
                out.extend_from_slice(b"\r\n");
            }
            spec.defect(400);
            *body_bytes = Some(bytes);
        }
        Framing::TeTwice { a, b, chunks: c } => {
            for v in [a, b] {
                out.extend_from_slice(b"Transfer-Encoding: ");
                te_value(out, v, spec);
                out.extend_from_slice(b"\r\n");
            }
            spec.defect(400);
            *chunks = Some(c);
        }
    }
}

fn check(input: &Input) {
    let mut bytes = Vec::new();
    let mut specs = Vec::new();
    for (i, plan) in input.messages.iter().take(MAX_MESSAGES).enumerate() {
        specs.push(render(&mut bytes, i, &build(plan)));
    }
    bytes.extend(input.tail.iter().take(MAX_DATA));
    for spec in &mut specs {
        spec.settle(&bytes);
    }

    // The generic invariants, as in the `http_server` target.
    check_server_stream(&bytes, &small_limits());
    let run = check_server_stream(&bytes, &Limits::default());

    // The oracle, message by message.
    let shown = || String::from_utf8_lossy(&bytes).into_owned();
    for (i, spec) in specs.iter().enumerate() {
        if !spec.defects.is_empty() {
            assert_eq!(
                run.requests.len(),
                i,
                "message {i} is refused ({spec:?}) but {} requests were served: {:?}\n{}",
                run.requests.len(),
                run.requests,
                shown()
            );
            let error = run.error.as_ref().unwrap_or_else(|| {
                panic!(
                    "message {i} ({spec:?}) refused without an error\n{}",
                    shown()
                )
            });
            if let Some(status) = spec.status() {
                assert_eq!(
                    error.status(),
                    status,
                    "message {i} ({spec:?}): {error}\n{}",
                    shown()
                );
            }
            return;
        }
        if spec.unknown() {
            return;
        }
        let req = run.requests.get(i).unwrap_or_else(|| {
            panic!(
                "well-formed message {i} ({spec:?}) not served ({:?})\n{}",
                run.error,
                shown()
            )
        });
        assert_eq!(req.method(), spec.method, "{}", shown());
        assert_eq!(req.path(), spec.path, "{}", shown());
        assert_eq!(req.query(), spec.query.as_deref(), "{}", shown());
        assert_eq!(req.body(), &spec.body[..], "message {i}\n{}", shown());
        if spec.closing {
            assert_eq!(
                run.requests.len(),
                i + 1,
                "served after a close\n{}",
                shown()
            );
            return;
        }
    }
}

fuzz_target!(|input: Input| {
    check(&input);
});
