//! The bounded pickle decoder: CPython's unpickler as a small stack machine over an arena.
//!
//! Containers live in an arena of nodes while the pickle runs (they can still be appended to
//! through the memo); the stack and the memo hold either a finished leaf [`Value`] or a node
//! index, so `GET`, `DUP` and `PUT` cost O(1) whatever they reference. At `STOP` the reachable
//! nodes are turned into `Arc`-shared values once each, bottom-up and without recursion,
//! refusing a cycle (a list containing itself) and any nesting deeper than the limit.
//!
//! Nothing is ever imported or called: `GLOBAL` resolves against a closed list (builtins
//! containers, `_codecs.encode`, the numpy reconstructors), `REDUCE` and `BUILD` accept only
//! the argument shapes those produce, and anything else is an error naming what was refused.
//!
//! Every allocation is bounded by the input: length prefixes are checked against the bytes
//! that remain before anything is reserved; each stack entry is pushed by an opcode that used
//! at least one input byte; container entries created by copying (a `set(list)` reduce) and
//! bytes created by conversion (`_codecs.encode`, arrays) draw from budgets of twice the input.
//!
//! A bytes operand longer than [`INLINE_BYTES`] is not copied when read: it stays a range of
//! the input (an arena node) until the value needs it. A numpy array's data is converted
//! straight from that range, so decoding a pickled array holds the input and the array, not
//! a third copy in between; bytes that end up in the value are copied once, when converted.
//! [`decode_vec`] goes further when the caller gives the input up: large arrays are converted
//! after the whole pickle is read, from the end of the input backwards, and the input is
//! truncated and shrunk behind them, so the input and the array are never both whole.

use std::collections::HashMap;
use std::sync::Arc;

use super::bigint::{self, ParseIntError, MAX_STR_DIGITS};
use super::ndarray::{ByteOrder, DType, NdArray, MAX_NDIM};
use super::{PickleError, Value};

/// Deepest nesting of containers accepted in a decoded value (CPython's own pickler stops at
/// its recursion limit, 1000, so no genuine pickle is deeper).
pub const MAX_DEPTH: usize = 1000;

/// Highest pickle protocol understood (CPython's `pickle.HIGHEST_PROTOCOL` as of 3.14).
pub const HIGHEST_PROTOCOL: u8 = 5;

/// Limits applied while decoding. The defaults suit any pickle CPython writes; budgets are
/// relative to the input size so a small body can never make a large value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deepest container nesting accepted (default [`MAX_DEPTH`]).
    pub max_depth: usize,
    /// Container entries and bytes created by copying or conversion may reach this many times
    /// the input length, plus 64 KiB (default 2; each entry read from the input is already
    /// bounded by the input itself).
    pub copy_factor: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: MAX_DEPTH,
            copy_factor: 2,
        }
    }
}

type NodeId = u32;

/// Bytes operands up to this length are copied when read; longer ones are kept as a range of
/// the input until the value needs them (see the module doc).
const INLINE_BYTES: usize = 4096;

/// A stack or memo entry: a finished leaf, or a container still in the arena.
#[derive(Clone)]
enum Slot {
    V(Value),
    N(NodeId),
}

/// A global from the closed allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Global {
    Set,
    FrozenSet,
    ByteArray,
    Bytes,
    CodecsEncode,
    NdArrayType,
    Dtype,
    Reconstruct,
    Scalar,
    FromBuffer,
}

impl Global {
    fn resolve(module: &str, name: &str) -> Option<Global> {
        Some(match (module, name) {
            ("builtins" | "__builtin__", "set") => Global::Set,
            ("builtins" | "__builtin__", "frozenset") => Global::FrozenSet,
            ("builtins" | "__builtin__", "bytearray") => Global::ByteArray,
            ("builtins" | "__builtin__", "bytes") => Global::Bytes,
            ("_codecs", "encode") => Global::CodecsEncode,
            ("numpy", "ndarray") => Global::NdArrayType,
            ("numpy", "dtype") => Global::Dtype,
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => {
                Global::Reconstruct
            }
            ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar") => Global::Scalar,
            ("numpy.core.numeric" | "numpy._core.numeric", "_frombuffer") => Global::FromBuffer,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Global::Set => "builtins.set",
            Global::FrozenSet => "builtins.frozenset",
            Global::ByteArray => "builtins.bytearray",
            Global::Bytes => "builtins.bytes",
            Global::CodecsEncode => "_codecs.encode",
            Global::NdArrayType => "numpy.ndarray",
            Global::Dtype => "numpy.dtype",
            Global::Reconstruct => "numpy.core.multiarray._reconstruct",
            Global::Scalar => "numpy.core.multiarray.scalar",
            Global::FromBuffer => "numpy.core.numeric._frombuffer",
        }
    }
}

/// An arena entry.
enum Node {
    List(Vec<Slot>),
    Tuple(Vec<Slot>),
    Dict(Vec<(Slot, Slot)>),
    Set(Vec<Slot>),
    FrozenSet(Vec<Slot>),
    Global(Global),
    /// `numpy.dtype(code)`, its byte order possibly set by a later `BUILD`.
    Dtype(DType, ByteOrder),
    /// `_reconstruct(ndarray, ...)` waiting for its `BUILD` state.
    PendingArray,
    /// A finished value (an array after `BUILD`, or a container after conversion).
    Done(Value),
    /// A bytes object not yet copied: the range `start..end` of the input.
    Raw(usize, usize),
    /// A large array whose data is still the range of the input it was read from, converted
    /// once the whole pickle is read (only when decoding an input given up by the caller).
    Deferred(Box<Deferred>),
}

/// An array checked and counted, converted later from `start..end` of the input.
struct Deferred {
    dtype: DType,
    big_endian: bool,
    shape: Vec<usize>,
    fortran: bool,
    start: usize,
    end: usize,
}

/// An array operand at least this long, in an input the caller gave up ([`decode_vec`]), is
/// converted after the rest of the pickle, from its end backwards, giving the input's memory
/// back as the array fills.
const DEFER_BYTES: usize = 1 << 20;

/// How much of a deferred array is converted between two returns of input memory.
const GIVE_BACK_CHUNK: usize = 8 << 20;

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::List(_) => "list",
            Node::Tuple(_) => "tuple",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::FrozenSet(_) => "frozenset",
            Node::Global(_) => "global",
            Node::Dtype(..) => "numpy.dtype",
            Node::PendingArray => "numpy.ndarray without state",
            Node::Done(v) => v.type_name(),
            Node::Raw(..) => "bytes",
            Node::Deferred(_) => "numpy.ndarray",
        }
    }

    /// Child `i` in storage order (dict entries flattened key, value), or `None` past the end.
    fn child(&self, i: usize) -> Option<&Slot> {
        match self {
            Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => v.get(i),
            Node::Dict(v) => v.get(i / 2).map(|(k, x)| if i % 2 == 0 { k } else { x }),
            _ => None,
        }
    }
}

/// Opcode names for messages.
fn op_name(op: u8) -> &'static str {
    match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown opcode",
    }
}

/// Shortens text from the input for an error message (never format a huge operand).
fn clip(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let cut = (0..=MAX)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    format!("{:?}… ({} bytes)", &s[..cut], s.len())
}

fn clip_bytes(b: &[u8]) -> String {
    clip(&String::from_utf8_lossy(&b[..b.len().min(120)]))
}

type Res<T> = Result<T, PickleError>;

struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    op_pos: usize,
    op: u8,
    stack: Vec<Slot>,
    marks: Vec<usize>,
    memo: Vec<Option<Slot>>,
    memo_sparse: HashMap<u64, Slot>,
    memo_count: usize,
    nodes: Vec<Node>,
    copies_left: usize,
    bytes_left: usize,
    max_depth: usize,
    /// Arrays with at least this many bytes in the input become [`Node::Deferred`] (see
    /// [`decode_vec`]); `None`: none do.
    defer: Option<usize>,
}

/// Decodes a pickle (protocols 0 to 5) without executing or importing anything, with the
/// default [`Limits`]. Bytes after `STOP` are ignored, as CPython's `pickle.loads` does.
pub fn decode(data: &[u8]) -> Result<Value, PickleError> {
    decode_with_limits(data, &Limits::default())
}

/// [`decode`] with explicit limits.
pub fn decode_with_limits(data: &[u8], limits: &Limits) -> Result<Value, PickleError> {
    if let Some(value) = decode_flat(data, limits) {
        return Ok(value);
    }
    let mut d = Decoder::new(data, limits);
    let root = d.run()?;
    d.finish(root)
}

/// [`decode`] of a pickle the caller gives up, for large payloads: the same value and the
/// same errors, but the data of a large numpy array (1 MiB or more, kept in the input as
/// read) is converted once the whole pickle is read, from its end backwards, with the input
/// truncated and its memory given back as the array fills. Decoding a pickled array then
/// needs about the array's size in memory, not the input's plus the array's.
pub fn decode_vec(data: Vec<u8>) -> Result<Value, PickleError> {
    decode_vec_with_limits(data, &Limits::default())
}

/// [`decode_vec`] with explicit limits.
pub fn decode_vec_with_limits(data: Vec<u8>, limits: &Limits) -> Result<Value, PickleError> {
    if let Some(value) = decode_flat(&data, limits) {
        return Ok(value);
    }
    decode_vec_in_chunks(data, limits, DEFER_BYTES, GIVE_BACK_CHUNK)
}

/// The value of the smallest common pickles, read without the machine: a lone scalar, a
/// tuple of up to three (`(1, 2)`, `3.5`, `True`: a typical call's arguments or result), or
/// an empty dict (`{}`: a call's keyword arguments, mostly), with CPython's optional
/// `PROTO`, `FRAME` and memo store. `None` for anything else, which
/// the machine then reads: this path only ever accepts input the machine reads as the same
/// value (a property test compares the two on such input and its mutations). It saves the
/// machine's setup, a third of a small call's decoding work.
fn decode_flat(data: &[u8], limits: &Limits) -> Option<Value> {
    let mut pos = 0;
    let byte = |pos: &mut usize| {
        let b = *data.get(*pos)?;
        *pos += 1;
        Some(b)
    };
    let take = |pos: &mut usize, n: usize| {
        let b = data.get(*pos..pos.checked_add(n)?)?;
        *pos += n;
        Some(b)
    };
    if data.first() == Some(&0x80) {
        pos = 1;
        if byte(&mut pos)? > HIGHEST_PROTOCOL {
            return None;
        }
    }
    if data.get(pos) == Some(&0x95) {
        pos += 1;
        let len = u64::from_le_bytes(take(&mut pos, 8)?.try_into().ok()?);
        if len > (data.len() - pos) as u64 {
            return None;
        }
    }
    let mut items: [Value; 3] = [Value::None, Value::None, Value::None];
    let mut n = 0;
    let root = loop {
        let scalar = match byte(&mut pos)? {
            b'K' => Value::Int(i64::from(byte(&mut pos)?)),
            b'M' => Value::Int(i64::from(u16::from_le_bytes(
                take(&mut pos, 2)?.try_into().ok()?,
            ))),
            b'J' => Value::Int(i64::from(i32::from_le_bytes(
                take(&mut pos, 4)?.try_into().ok()?,
            ))),
            b'G' => Value::Float(f64::from_be_bytes(take(&mut pos, 8)?.try_into().ok()?)),
            b'N' => Value::None,
            0x88 => Value::Bool(true),
            0x89 => Value::Bool(false),
            // An empty dict: the `kwargs` of every call without keyword arguments. Like a
            // tuple it has depth 1, refused by the machine only under a limit of 0.
            b'}' if n == 0 && limits.max_depth > 0 => break Value::Dict(Default::default()),
            op => {
                let arity = match op {
                    b')' => 0,
                    0x85 => 1,
                    0x86 => 2,
                    0x87 => 3,
                    _ => return None,
                };
                // A tuple has depth 1: the machine refuses it only under a limit of 0.
                if arity != n || limits.max_depth == 0 {
                    return None;
                }
                break Value::Tuple(std::sync::Arc::new(items[..n].to_vec()));
            }
        };
        if n == items.len() {
            return None;
        }
        items[n] = scalar;
        n += 1;
        if n == 1 && data.get(pos) == Some(&b'.') {
            // A lone scalar (its memo store would come before STOP: not this shape).
            return Some(std::mem::replace(&mut items[0], Value::None));
        }
    };
    // The memo store CPython writes after a tuple; nothing reads it back before STOP.
    match data.get(pos) {
        Some(0x94) => pos += 1,
        Some(b'q') => pos += 2,
        Some(b'r') => pos += 5,
        _ => {}
    }
    (data.get(pos) == Some(&b'.')).then_some(root)
}

/// [`decode_vec`] deferring arrays of `defer_min` bytes or more, converted `chunk` bytes at a
/// time.
pub(crate) fn decode_vec_in_chunks(
    mut data: Vec<u8>,
    limits: &Limits,
    defer_min: usize,
    chunk: usize,
) -> Result<Value, PickleError> {
    let (mut d, root) = {
        let mut d = Decoder::new(&data, limits);
        d.defer = Some(defer_min);
        let root = d.run()?;
        (d.rebind(&[]), root)
    };
    d.realize_deferred(&root, &mut data, chunk)?;
    d.rebind(&data).finish(root)
}

impl<'a> Decoder<'a> {
    fn new(data: &'a [u8], limits: &Limits) -> Decoder<'a> {
        let budget = data
            .len()
            .saturating_mul(limits.copy_factor)
            .saturating_add(64 * 1024);
        Decoder {
            data,
            pos: 0,
            op_pos: 0,
            op: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: Vec::new(),
            memo_sparse: HashMap::new(),
            memo_count: 0,
            nodes: Vec::new(),
            copies_left: budget,
            bytes_left: budget,
            max_depth: limits.max_depth,
            defer: None,
        }
    }

    /// The same decoder over other input (positions are kept: they are still those of the
    /// input read, for messages).
    fn rebind<'b>(self, data: &'b [u8]) -> Decoder<'b> {
        Decoder {
            data,
            pos: self.pos,
            op_pos: self.op_pos,
            op: self.op,
            stack: self.stack,
            marks: self.marks,
            memo: self.memo,
            memo_sparse: self.memo_sparse,
            memo_count: self.memo_count,
            nodes: self.nodes,
            copies_left: self.copies_left,
            bytes_left: self.bytes_left,
            max_depth: self.max_depth,
            defer: self.defer,
        }
    }

    fn err(&self, msg: impl std::fmt::Display) -> PickleError {
        PickleError(format!(
            "invalid pickle at byte {} ({}): {msg}",
            self.op_pos,
            op_name(self.op)
        ))
    }

    fn truncated(&self, what: &str, need: u64) -> PickleError {
        self.err(format!(
            "pickle data was truncated: {what} needs {need} bytes, {} remain",
            self.data.len() - self.pos
        ))
    }

    // ---- reading the input ----

    fn take(&mut self, n: u64, what: &str) -> Res<&'a [u8]> {
        let remaining = (self.data.len() - self.pos) as u64;
        if n > remaining {
            return Err(self.truncated(what, n));
        }
        let n = n as usize;
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self, what: &str) -> Res<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut b = [0u8; N];
        b.copy_from_slice(s);
        Ok(b)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.fixed::<1>("the argument")?[0])
    }

    fn u16(&mut self) -> Res<u16> {
        Ok(u16::from_le_bytes(self.fixed("the argument")?))
    }

    fn u32(&mut self) -> Res<u32> {
        Ok(u32::from_le_bytes(self.fixed("the argument")?))
    }

    fn i32(&mut self) -> Res<i32> {
        Ok(i32::from_le_bytes(self.fixed("the argument")?))
    }

    fn u64(&mut self) -> Res<u64> {
        Ok(u64::from_le_bytes(self.fixed("the argument")?))
    }

    /// The text up to the next `\n` (excluded), which is consumed.
    fn line(&mut self) -> Res<&'a [u8]> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(self.err("pickle data was truncated: a text argument has no newline")),
        }
    }

    /// A length-prefixed payload: the length is checked against what remains first.
    fn counted(&mut self, len: u64) -> Res<&'a [u8]> {
        let remaining = (self.data.len() - self.pos) as u64;
        if len > remaining {
            return Err(self.err(format!(
                "pickle data was truncated: length prefix {len} exceeds the {remaining} bytes that remain"
            )));
        }
        self.take(len, "the payload")
    }

    // ---- the stack ----

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, s: Slot) {
        self.stack.push(s);
    }

    fn push_node(&mut self, n: Node) -> Res<()> {
        let id = self.new_node(n)?;
        self.stack.push(Slot::N(id));
        Ok(())
    }

    fn new_node(&mut self, n: Node) -> Res<NodeId> {
        let id = NodeId::try_from(self.nodes.len()).map_err(|_| self.err("too many objects"))?;
        self.nodes.push(n);
        Ok(id)
    }

    fn pop(&mut self) -> Res<Slot> {
        if self.stack.len() <= self.fence() {
            return Err(self.err("unpickling stack underflow"));
        }
        Ok(self.stack.pop().expect("checked above"))
    }

    fn top(&self) -> Res<&Slot> {
        if self.stack.len() <= self.fence() {
            return Err(self.err("unpickling stack underflow"));
        }
        Ok(self.stack.last().expect("checked above"))
    }

    fn pop_mark(&mut self) -> Res<Vec<Slot>> {
        match self.marks.pop() {
            Some(m) => Ok(self.stack.split_off(m)),
            None => Err(self.err("could not find MARK")),
        }
    }

    /// The arena index of the node on top of the stack (which stays there).
    fn top_node(&self) -> Res<NodeId> {
        let kind = match self.top()? {
            Slot::N(id) => match &self.nodes[*id as usize] {
                // Bytes not yet copied are a leaf, as the copied ones are.
                Node::Raw(..) => "bytes",
                _ => return Ok(*id),
            },
            Slot::V(v) => v.type_name(),
        };
        Err(self.err(format!(
            "{} cannot be applied to a {kind}",
            op_name(self.op)
        )))
    }

    /// Pushes a bytes operand just read (`b`, the last `b.len()` bytes consumed): copied if
    /// short, else kept as a range of the input.
    fn push_bytes(&mut self, b: &'a [u8]) -> Res<()> {
        if b.len() <= INLINE_BYTES {
            self.push(Slot::V(Value::Bytes(Arc::from(b))));
            return Ok(());
        }
        let end = self.pos;
        self.push_node(Node::Raw(end - b.len(), end))
    }

    /// The contents of a bytes slot (copied or still in the input), or `None` if it is not
    /// bytes.
    fn bytes_of(&self, s: &Slot) -> Option<BytesRef<'a>> {
        match s {
            Slot::V(Value::Bytes(b)) => Some(BytesRef::Shared(Arc::clone(b))),
            Slot::N(id) => match self.nodes[*id as usize] {
                Node::Raw(start, end) => Some(BytesRef::Input(&self.data[start..end])),
                _ => None,
            },
            Slot::V(_) => None,
        }
    }

    fn slot_kind(&self, s: &Slot) -> &'static str {
        match s {
            Slot::V(v) => v.type_name(),
            Slot::N(id) => self.nodes[*id as usize].kind(),
        }
    }

    fn charge_copies(&mut self, n: usize) -> Res<()> {
        match self.copies_left.checked_sub(n) {
            Some(left) => {
                self.copies_left = left;
                Ok(())
            }
            None => Err(self
                .err("too many container entries created by copying for the size of the pickle")),
        }
    }

    fn charge_bytes(&mut self, n: usize) -> Res<()> {
        match self.bytes_left.checked_sub(n) {
            Some(left) => {
                self.bytes_left = left;
                Ok(())
            }
            None => {
                Err(self.err("too many bytes created by conversion for the size of the pickle"))
            }
        }
    }

    // ---- the memo ----

    fn memo_get(&self, idx: u64) -> Res<Slot> {
        let found = if idx < self.memo.len() as u64 {
            self.memo[idx as usize].clone()
        } else {
            self.memo_sparse.get(&idx).cloned()
        };
        found.ok_or_else(|| self.err(format!("memo value not found at index {idx}")))
    }

    fn memo_put(&mut self, idx: u64) -> Res<()> {
        let value = self.top()?.clone();
        // Dense storage up to the input length (no pickle needs more entries), sparse beyond,
        // so a huge index cannot make a huge allocation.
        let dense_cap = self.data.len() as u64 + 1;
        let fresh = if idx < dense_cap {
            let i = idx as usize;
            if i >= self.memo.len() {
                self.memo.resize(i + 1, None);
            }
            self.memo[i].replace(value).is_none()
        } else {
            self.memo_sparse.insert(idx, value).is_none()
        };
        if fresh {
            self.memo_count += 1;
        }
        Ok(())
    }

    fn text_index(&self, line: &[u8]) -> Res<u64> {
        let t = line.trim_ascii();
        let ok = !t.is_empty() && t.len() <= 19 && t.iter().all(u8::is_ascii_digit);
        match std::str::from_utf8(t)
            .ok()
            .filter(|_| ok)
            .and_then(|s| s.parse().ok())
        {
            Some(i) => Ok(i),
            None => Err(self.err(format!("invalid memo index {}", clip_bytes(line)))),
        }
    }

    // ---- text arguments ----

    fn utf8(&self, b: &'a [u8]) -> Res<&'a str> {
        std::str::from_utf8(b).map_err(|e| {
            self.err(format!(
                "string is not valid UTF-8 at offset {} (lone surrogates are not supported)",
                e.valid_up_to()
            ))
        })
    }

    fn text_int(&self, line: &[u8]) -> Res<Value> {
        bigint::parse_decimal(line).map_err(|e| match e {
            ParseIntError::Invalid => {
                self.err(format!("invalid literal for int(): {}", clip_bytes(line)))
            }
            ParseIntError::TooManyDigits(n) => self.err(format!(
                "integer text of {n} digits exceeds the limit of {MAX_STR_DIGITS} digits (as CPython refuses)"
            )),
        })
    }

    /// Python's `raw-unicode-escape` decoding (the `UNICODE` opcode): bytes are Latin-1
    /// characters except `\uXXXX` and `\UXXXXXXXX`.
    fn raw_unicode_escape(&self, b: &[u8]) -> Res<String> {
        let mut out = String::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            i += 1;
            if c != b'\\' || i >= b.len() {
                out.push(char::from(c));
                continue;
            }
            let n = match b[i] {
                b'u' => 4,
                b'U' => 8,
                other => {
                    out.push('\\');
                    out.push(char::from(other));
                    i += 1;
                    continue;
                }
            };
            i += 1;
            let hex = b
                .get(i..i + n)
                .ok_or_else(|| self.err("truncated \\u escape in UNICODE"))?;
            let code = std::str::from_utf8(hex)
                .ok()
                .filter(|h| h.bytes().all(|x| x.is_ascii_hexdigit()))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .ok_or_else(|| self.err("truncated \\u escape in UNICODE"))?;
            let ch = char::from_u32(code).ok_or_else(|| {
                self.err(format!(
                    "UNICODE escape U+{code:04X} is a lone surrogate or out of range (not supported)"
                ))
            })?;
            out.push(ch);
            i += n;
        }
        Ok(out)
    }

    /// Protocol 0/1 `str` of Python 2 (`STRING` family): decoded as ASCII, as Python 3's
    /// `pickle.loads` does by default.
    fn py2_str(&self, b: &[u8]) -> Res<Value> {
        if !b.is_ascii() {
            return Err(self.err(
                "Python 2 str holds non-ASCII bytes (CPython's default ASCII decoding refuses it)",
            ));
        }
        Ok(Value::Str(Arc::from(
            std::str::from_utf8(b).expect("ascii"),
        )))
    }

    /// The `STRING` opcode's quoted repr, unescaped as `codecs.escape_decode` does.
    fn quoted_string(&self, line: &[u8]) -> Res<Vec<u8>> {
        let s = line.trim_ascii_end();
        if s.len() < 2 || s[0] != s[s.len() - 1] || !(s[0] == b'\'' || s[0] == b'"') {
            return Err(self.err("the STRING opcode argument must be quoted"));
        }
        let s = &s[1..s.len() - 1];
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            let c = s[i];
            i += 1;
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let Some(&e) = s.get(i) else {
                return Err(self.err("trailing \\ in STRING"));
            };
            i += 1;
            match e {
                b'\n' => {}
                b'\\' => out.push(b'\\'),
                b'\'' => out.push(b'\''),
                b'"' => out.push(b'"'),
                b'a' => out.push(7),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(11),
                b'0'..=b'7' => {
                    let mut v = u32::from(e - b'0');
                    for _ in 0..2 {
                        match s.get(i) {
                            Some(&d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    out.push(v as u8);
                }
                b'x' => {
                    let hex = s
                        .get(i..i + 2)
                        .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                        .ok_or_else(|| self.err("invalid \\x escape in STRING"))?;
                    let v = u8::from_str_radix(std::str::from_utf8(hex).expect("hex"), 16)
                        .expect("two hex digits");
                    out.push(v);
                    i += 2;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
        }
        Ok(out)
    }

    // ---- the machine ----

    fn run(&mut self) -> Res<Slot> {
        loop {
            self.op_pos = self.pos;
            if self.pos >= self.data.len() {
                self.op = 0;
                return Err(PickleError(format!(
                    "invalid pickle: data was truncated at byte {} (no STOP opcode)",
                    self.pos
                )));
            }
            let op = self.data[self.pos];
            self.op = op;
            self.pos += 1;
            match op {
                b'.' => return self.pop(),
                0x80 => {
                    let proto = self.u8()?;
                    if proto > HIGHEST_PROTOCOL {
                        return Err(self.err(format!(
                            "unsupported pickle protocol: {proto} (the highest known is {HIGHEST_PROTOCOL})"
                        )));
                    }
                }
                0x95 => {
                    let len = self.u64()?;
                    let remaining = (self.data.len() - self.pos) as u64;
                    if len > remaining {
                        return Err(self.err(format!(
                            "pickle data was truncated: frame of {len} bytes, {remaining} remain"
                        )));
                    }
                }
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?.clone();
                    self.push(top);
                }
                // ---- scalars ----
                b'N' => self.push(Slot::V(Value::None)),
                0x88 => self.push(Slot::V(Value::Bool(true))),
                0x89 => self.push(Slot::V(Value::Bool(false))),
                b'I' => {
                    let line = self.line()?;
                    let v = match line {
                        b"00" => Value::Bool(false),
                        b"01" => Value::Bool(true),
                        _ => self.text_int(line)?,
                    };
                    self.push(Slot::V(v));
                }
                b'L' => {
                    let line = self.line()?;
                    let line = line.strip_suffix(b"L").unwrap_or(line);
                    let v = self.text_int(line)?;
                    self.push(Slot::V(v));
                }
                b'J' => {
                    let x = self.i32()?;
                    self.push(Slot::V(Value::Int(i64::from(x))));
                }
                b'K' => {
                    let x = self.u8()?;
                    self.push(Slot::V(Value::Int(i64::from(x))));
                }
                b'M' => {
                    let x = self.u16()?;
                    self.push(Slot::V(Value::Int(i64::from(x))));
                }
                0x8a => {
                    let n = self.u8()?;
                    let b = self.counted(u64::from(n))?;
                    self.push(Slot::V(bigint::from_le_signed(b)));
                }
                0x8b => {
                    let n = self.i32()?;
                    if n < 0 {
                        return Err(self.err("LONG pickle has negative byte count"));
                    }
                    let b = self.counted(n as u64)?;
                    self.push(Slot::V(bigint::from_le_signed(b)));
                }
                b'F' => {
                    let line = self.line()?;
                    let x = std::str::from_utf8(line)
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                        .ok_or_else(|| {
                            self.err(format!(
                                "could not convert string to float: {}",
                                clip_bytes(line)
                            ))
                        })?;
                    self.push(Slot::V(Value::Float(x)));
                }
                b'G' => {
                    let x = f64::from_be_bytes(self.fixed("the argument")?);
                    self.push(Slot::V(Value::Float(x)));
                }
                // ---- text ----
                b'X' => {
                    let n = self.u32()?;
                    let b = self.counted(u64::from(n))?;
                    let s = self.utf8(b)?;
                    self.push(Slot::V(Value::Str(Arc::from(s))));
                }
                0x8c => {
                    let n = self.u8()?;
                    let b = self.counted(u64::from(n))?;
                    let s = self.utf8(b)?;
                    self.push(Slot::V(Value::Str(Arc::from(s))));
                }
                0x8d => {
                    let n = self.u64()?;
                    let b = self.counted(n)?;
                    let s = self.utf8(b)?;
                    self.push(Slot::V(Value::Str(Arc::from(s))));
                }
                b'V' => {
                    let line = self.line()?;
                    let s = self.raw_unicode_escape(line)?;
                    self.push(Slot::V(Value::Str(Arc::from(s))));
                }
                b'S' => {
                    let line = self.line()?;
                    let b = self.quoted_string(line)?;
                    let v = self.py2_str(&b)?;
                    self.push(Slot::V(v));
                }
                b'T' => {
                    let n = self.i32()?;
                    if n < 0 {
                        return Err(self.err("BINSTRING pickle has negative byte count"));
                    }
                    let b = self.counted(n as u64)?;
                    let v = self.py2_str(b)?;
                    self.push(Slot::V(v));
                }
                b'U' => {
                    let n = self.u8()?;
                    let b = self.counted(u64::from(n))?;
                    let v = self.py2_str(b)?;
                    self.push(Slot::V(v));
                }
                // ---- bytes ----
                b'B' => {
                    let n = self.u32()?;
                    let b = self.counted(u64::from(n))?;
                    self.push_bytes(b)?;
                }
                b'C' => {
                    let n = self.u8()?;
                    let b = self.counted(u64::from(n))?;
                    self.push(Slot::V(Value::Bytes(Arc::from(b))));
                }
                0x8e | 0x96 => {
                    let n = self.u64()?;
                    let b = self.counted(n)?;
                    self.push_bytes(b)?;
                }
                0x97 | 0x98 => {
                    return Err(self.err(
                        "out-of-band buffers (pickle protocol 5 buffer_callback) are not supported",
                    ))
                }
                // ---- containers ----
                b')' => self.push_node(Node::Tuple(Vec::new()))?,
                b']' => self.push_node(Node::List(Vec::new()))?,
                b'}' => self.push_node(Node::Dict(Vec::new()))?,
                0x8f => self.push_node(Node::Set(Vec::new()))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < self.fence() + n {
                        return Err(self.err("unpickling stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push_node(Node::Tuple(items))?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items))?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    self.push_node(Node::Dict(pairs))?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::FrozenSet(items))?;
                }
                b'a' => {
                    let v = self.pop()?;
                    let id = self.top_node()?;
                    match &mut self.nodes[id as usize] {
                        Node::List(items) => items.push(v),
                        other => {
                            let k = other.kind();
                            return Err(self.err(format!("APPEND to a {k} (only lists)")));
                        }
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let id = self.top_node()?;
                    match &mut self.nodes[id as usize] {
                        Node::List(list) => list.extend(items),
                        other => {
                            let k = other.kind();
                            return Err(self.err(format!("APPENDS to a {k} (only lists)")));
                        }
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let id = self.top_node()?;
                    match &mut self.nodes[id as usize] {
                        Node::Dict(d) => d.push((k, v)),
                        other => {
                            let k = other.kind();
                            return Err(self.err(format!("SETITEM on a {k} (only dicts)")));
                        }
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = self.pairs(items)?;
                    let id = self.top_node()?;
                    match &mut self.nodes[id as usize] {
                        Node::Dict(d) => d.extend(pairs),
                        other => {
                            let k = other.kind();
                            return Err(self.err(format!("SETITEMS on a {k} (only dicts)")));
                        }
                    }
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let id = self.top_node()?;
                    match &mut self.nodes[id as usize] {
                        Node::Set(s) => s.extend(items),
                        other => {
                            let k = other.kind();
                            return Err(self.err(format!("ADDITEMS to a {k} (only sets)")));
                        }
                    }
                }
                // ---- memo ----
                b'g' => {
                    let line = self.line()?;
                    let idx = self.text_index(line)?;
                    let s = self.memo_get(idx)?;
                    self.push(s);
                }
                b'h' => {
                    let idx = self.u8()?;
                    let s = self.memo_get(u64::from(idx))?;
                    self.push(s);
                }
                b'j' => {
                    let idx = self.u32()?;
                    let s = self.memo_get(u64::from(idx))?;
                    self.push(s);
                }
                b'p' => {
                    let line = self.line()?;
                    let idx = self.text_index(line)?;
                    self.memo_put(idx)?;
                }
                b'q' => {
                    let idx = self.u8()?;
                    self.memo_put(u64::from(idx))?;
                }
                b'r' => {
                    let idx = self.u32()?;
                    self.memo_put(u64::from(idx))?;
                }
                0x94 => {
                    let idx = self.memo_count as u64;
                    self.memo_put(idx)?;
                }
                // ---- globals and calls ----
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let module = self.utf8(module)?;
                    let name = self.utf8(name)?;
                    let g = self.global(module, name)?;
                    self.push_node(Node::Global(g))?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&module, &name) {
                        (Slot::V(Value::Str(m)), Slot::V(Value::Str(n))) => {
                            let g = self.global(m, n)?;
                            self.push_node(Node::Global(g))?;
                        }
                        _ => return Err(self.err("STACK_GLOBAL requires str module and name")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let result = self.reduce(callable, args)?;
                    self.push(result);
                }
                b'b' => {
                    let state = self.pop()?;
                    let id = self.top_node()?;
                    self.build(id, state)?;
                }
                b'i' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    return Err(self.err(format!(
                        "INST (instantiating {}.{}) is not supported",
                        clip_bytes(module),
                        clip_bytes(name)
                    )));
                }
                b'o' => return Err(self.err("OBJ (instantiating a class) is not supported")),
                0x81 | 0x92 => {
                    return Err(self.err(format!(
                        "{} (instantiating a class) is not supported",
                        op_name(op)
                    )))
                }
                0x82..=0x84 => {
                    return Err(self.err("the extension registry (EXT1/2/4) is not supported"))
                }
                b'P' | b'Q' => return Err(self.err("persistent IDs are not supported")),
                _ => {
                    return Err(PickleError(format!(
                        "invalid pickle at byte {}: unknown opcode 0x{op:02x}",
                        self.op_pos
                    )))
                }
            }
        }
    }

    fn pairs(&self, items: Vec<Slot>) -> Res<Vec<(Slot, Slot)>> {
        if items.len() % 2 != 0 {
            return Err(self.err(format!("odd number of items for {}", op_name(self.op))));
        }
        let mut out = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            out.push((k, v));
        }
        Ok(out)
    }

    fn global(&self, module: &str, name: &str) -> Res<Global> {
        Global::resolve(module, name).ok_or_else(|| {
            self.err(format!(
                "global '{}.{}' is not allowed (only builtin sets/bytes and numpy arrays/scalars are accepted; nothing is imported)",
                clip(module).trim_matches('"'),
                clip(name).trim_matches('"')
            ))
        })
    }

    /// The items of a tuple node given as call arguments or state.
    fn tuple_items(&self, s: &Slot, what: &str) -> Res<Vec<Slot>> {
        match s {
            Slot::N(id) => match &self.nodes[*id as usize] {
                // Argument tuples are small; a longer one is refused before copying.
                Node::Tuple(items) if items.len() <= 8 => Ok(items.clone()),
                Node::Tuple(items) => Err(self.err(format!(
                    "{what} has {} items, far more than expected",
                    items.len()
                ))),
                other => Err(self.err(format!("{what} must be a tuple, not {}", other.kind()))),
            },
            Slot::V(v) => Err(self.err(format!("{what} must be a tuple, not {}", v.type_name()))),
        }
    }

    fn arity(&self, g: Global, args: &[Slot], allowed: &[usize]) -> Res<()> {
        if allowed.contains(&args.len()) {
            Ok(())
        } else {
            Err(self.err(format!(
                "{}() called with {} arguments, not in the form a pickle of it has",
                g.name(),
                args.len()
            )))
        }
    }

    fn reduce(&mut self, callable: Slot, args: Slot) -> Res<Slot> {
        let g = match &callable {
            Slot::N(id) => match &self.nodes[*id as usize] {
                Node::Global(g) => *g,
                other => {
                    return Err(self.err(format!(
                        "REDUCE on a {} (only allowed globals can be called)",
                        other.kind()
                    )))
                }
            },
            Slot::V(v) => {
                return Err(self.err(format!(
                    "REDUCE on a {} (only allowed globals can be called)",
                    v.type_name()
                )))
            }
        };
        let args = self.tuple_items(&args, &format!("the arguments of {}()", g.name()))?;
        match g {
            Global::Set | Global::FrozenSet => {
                self.arity(g, &args, &[0, 1])?;
                let items = match args.first() {
                    None => Vec::new(),
                    Some(Slot::N(id)) => match &self.nodes[*id as usize] {
                        Node::List(v) | Node::Tuple(v) | Node::Set(v) | Node::FrozenSet(v) => {
                            let n = v.len();
                            let copy = v.clone();
                            self.charge_copies(n)?;
                            copy
                        }
                        other => {
                            return Err(self.err(format!(
                                "{}() of a {} (expected a list)",
                                g.name(),
                                other.kind()
                            )))
                        }
                    },
                    Some(Slot::V(v)) => {
                        return Err(self.err(format!(
                            "{}() of a {} (expected a list)",
                            g.name(),
                            v.type_name()
                        )))
                    }
                };
                let node = if g == Global::Set {
                    Node::Set(items)
                } else {
                    Node::FrozenSet(items)
                };
                Ok(Slot::N(self.new_node(node)?))
            }
            Global::Bytes | Global::ByteArray => {
                self.arity(g, &args, &[0, 1, 2])?;
                match args.as_slice() {
                    [] => Ok(Slot::V(Value::Bytes(Arc::from(&[][..])))),
                    [Slot::V(Value::Bytes(b))] => Ok(Slot::V(Value::Bytes(b.clone()))),
                    [s @ Slot::N(id)] if matches!(self.nodes[*id as usize], Node::Raw(..)) => {
                        Ok(s.clone())
                    }
                    [Slot::V(Value::Str(s)), Slot::V(Value::Str(enc))] => {
                        Ok(Slot::V(self.latin1(s, enc)?))
                    }
                    _ => Err(self.err(format!(
                        "{}() accepts only bytes (or str and 'latin1') here",
                        g.name()
                    ))),
                }
            }
            Global::CodecsEncode => match args.as_slice() {
                [Slot::V(Value::Str(s)), Slot::V(Value::Str(enc))] => {
                    Ok(Slot::V(self.latin1(s, enc)?))
                }
                _ => Err(self.err("_codecs.encode() accepts only (str, 'latin1') here")),
            },
            Global::Reconstruct => {
                self.arity(g, &args, &[3])?;
                match &args[0] {
                    Slot::N(id)
                        if matches!(
                            self.nodes[*id as usize],
                            Node::Global(Global::NdArrayType)
                        ) =>
                    {
                        Ok(Slot::N(self.new_node(Node::PendingArray)?))
                    }
                    other => Err(self.err(format!(
                        "_reconstruct() of a {} (only numpy.ndarray; subclasses are not supported)",
                        self.slot_kind(other)
                    ))),
                }
            }
            Global::Dtype => {
                self.arity(g, &args, &[1, 2, 3])?;
                let code = match &args[0] {
                    Slot::V(Value::Str(s)) => s.clone(),
                    other => {
                        return Err(self.err(format!(
                            "numpy.dtype() of a {} (expected a type code)",
                            self.slot_kind(other)
                        )))
                    }
                };
                let (dtype, order) = DType::parse_with_order(&code).ok_or_else(|| {
                    if code.starts_with('O') || code.starts_with("|O") {
                        self.err(format!(
                            "numpy dtype {} holds Python objects: numpy arrays of Python objects are not supported",
                            clip(&code)
                        ))
                    } else {
                        self.err(format!(
                            "unsupported numpy dtype {} (bool, int8-64, uint8-64, float16/32/64 and complex64/128 are)",
                            clip(&code)
                        ))
                    }
                })?;
                let order = order.unwrap_or(ByteOrder::Little);
                Ok(Slot::N(self.new_node(Node::Dtype(dtype, order))?))
            }
            Global::Scalar => {
                self.arity(g, &args, &[2])?;
                let (dtype, order) = self.dtype_of(&args[0])?;
                let raw = self.bytes_of(&args[1]).ok_or_else(|| {
                    self.err(format!(
                        "numpy scalar data must be bytes, not {}",
                        self.slot_kind(&args[1])
                    ))
                })?;
                let arr =
                    NdArray::from_raw(dtype, Vec::new(), &raw, order == ByteOrder::Big, false)
                        .map_err(|e| self.err(format!("numpy scalar: {e}")))?;
                Ok(Slot::V(scalar_value(arr)))
            }
            Global::FromBuffer => {
                self.arity(g, &args, &[4])?;
                let raw = self.bytes_of(&args[0]).ok_or_else(|| {
                    self.err(format!(
                        "_frombuffer() data must be bytes, not {}",
                        self.slot_kind(&args[0])
                    ))
                })?;
                let (dtype, order) = self.dtype_of(&args[1])?;
                let shape = self.shape(&args[2])?;
                let fortran = match &args[3] {
                    Slot::V(Value::Str(s)) if &**s == "C" => false,
                    Slot::V(Value::Str(s)) if &**s == "F" => true,
                    _ => return Err(self.err("_frombuffer() order must be 'C' or 'F'")),
                };
                match self.deferrable(&raw) {
                    Some((start, end)) => {
                        let node = self.defer_array(dtype, order, shape, start, end, fortran)?;
                        Ok(Slot::N(self.new_node(node)?))
                    }
                    None => {
                        let arr = self.array(dtype, order, shape, &raw, fortran)?;
                        Ok(Slot::V(Value::NdArray(arr)))
                    }
                }
            }
            Global::NdArrayType => {
                Err(self
                    .err("calling numpy.ndarray directly is not supported (only its pickled form)"))
            }
        }
    }

    fn latin1(&mut self, s: &str, enc: &str) -> Res<Value> {
        if !matches!(
            enc.to_ascii_lowercase().as_str(),
            "latin1" | "latin-1" | "latin_1" | "iso-8859-1" | "iso8859-1" | "l1"
        ) {
            return Err(self.err(format!(
                "encoding {} is not supported (only latin1)",
                clip(enc)
            )));
        }
        self.charge_bytes(s.len())?;
        let mut out = Vec::with_capacity(s.len());
        for c in s.chars() {
            let b = u8::try_from(u32::from(c))
                .map_err(|_| self.err("'latin1' codec can't encode a character beyond U+00FF"))?;
            out.push(b);
        }
        Ok(Value::Bytes(Arc::from(out)))
    }

    fn dtype_of(&self, s: &Slot) -> Res<(DType, ByteOrder)> {
        match s {
            Slot::N(id) => match &self.nodes[*id as usize] {
                Node::Dtype(d, o) => Ok((*d, *o)),
                other => Err(self.err(format!("expected a numpy.dtype, got a {}", other.kind()))),
            },
            Slot::V(v) => Err(self.err(format!("expected a numpy.dtype, got a {}", v.type_name()))),
        }
    }

    fn shape(&self, s: &Slot) -> Res<Vec<usize>> {
        let items = match s {
            Slot::N(id) => match &self.nodes[*id as usize] {
                Node::Tuple(items) => items,
                other => {
                    return Err(self.err(format!(
                        "ndarray shape must be a tuple, not {}",
                        other.kind()
                    )))
                }
            },
            Slot::V(v) => {
                return Err(self.err(format!(
                    "ndarray shape must be a tuple, not {}",
                    v.type_name()
                )))
            }
        };
        if items.len() > MAX_NDIM {
            return Err(self.err(format!(
                "ndarray has {} dimensions, more than numpy's {MAX_NDIM}",
                items.len()
            )));
        }
        items
            .iter()
            .map(|x| match x {
                Slot::V(Value::Int(d)) if *d >= 0 => {
                    usize::try_from(*d).map_err(|_| self.err("ndarray dimension too large"))
                }
                _ => Err(self.err("ndarray shape must hold non-negative ints")),
            })
            .collect()
    }

    /// Where `raw` lies in the input, if it is to be converted later: only when deferring,
    /// for large data still in the input (not a copy).
    fn deferrable(&self, raw: &[u8]) -> Option<(usize, usize)> {
        if !self.defer.is_some_and(|min| raw.len() >= min) {
            return None;
        }
        let base = self.data.as_ptr() as usize;
        let at = (raw.as_ptr() as usize).checked_sub(base)?;
        (at + raw.len() <= self.data.len()).then_some((at, at + raw.len()))
    }

    /// The checks and budget of [`Decoder::array`] now, the conversion later.
    fn defer_array(
        &mut self,
        dtype: DType,
        order: ByteOrder,
        shape: Vec<usize>,
        start: usize,
        end: usize,
        fortran: bool,
    ) -> Res<Node> {
        self.charge_bytes(end - start)?;
        NdArray::check_raw(dtype, &shape, end - start).map_err(|e| self.err(e))?;
        Ok(Node::Deferred(Box::new(Deferred {
            dtype,
            big_endian: order == ByteOrder::Big,
            shape,
            fortran,
            start,
            end,
        })))
    }

    /// Converts the deferred arrays reachable from `root`, and the bytes kept in the input
    /// they would otherwise outlive, highest in the input first, truncating `data` behind
    /// them. Unreachable nodes are left as they are: nothing converts them later.
    fn realize_deferred(&mut self, root: &Slot, data: &mut Vec<u8>, chunk: usize) -> Res<()> {
        let Slot::N(root) = root else {
            return Ok(());
        };
        if !self.nodes.iter().any(|n| matches!(n, Node::Deferred(_))) {
            return Ok(());
        }
        let mut seen = vec![false; self.nodes.len()];
        let mut todo = vec![*root];
        seen[*root as usize] = true;
        // (start, end, id) of every reachable node holding a range of the input.
        let mut ranged: Vec<(usize, usize, NodeId)> = Vec::new();
        while let Some(id) = todo.pop() {
            let node = &self.nodes[id as usize];
            match node {
                Node::Raw(start, end) => ranged.push((*start, *end, id)),
                Node::Deferred(a) => ranged.push((a.start, a.end, id)),
                _ => {}
            }
            let mut i = 0;
            while let Some(child) = node.child(i) {
                i += 1;
                if let Slot::N(c) = child {
                    if !std::mem::replace(&mut seen[*c as usize], true) {
                        todo.push(*c);
                    }
                }
            }
        }
        // Ranges are disjoint or equal (each is one operand of the input).
        ranged.sort_unstable_by(|a, b| b.cmp(a));
        let mut i = 0;
        while i < ranged.len() {
            let (start, end, _) = ranged[i];
            let same = ranged[i..]
                .iter()
                .take_while(|r| (r.0, r.1) == (start, end))
                .count();
            let group = &ranged[i..i + same];
            i += same;
            if end > data.len() {
                return Err(self.err("internal error: a range past the input"));
            }
            data.truncate(end);
            for (k, &(_, _, id)) in group.iter().enumerate() {
                let last = k + 1 == group.len();
                let node = std::mem::replace(&mut self.nodes[id as usize], Node::PendingArray);
                let value = match node {
                    Node::Raw(..) => Value::Bytes(Arc::from(&data[start..end])),
                    Node::Deferred(a) => {
                        let arr = if last {
                            // The last user of these bytes: converted as they are given back.
                            NdArray::from_raw_tail(
                                a.dtype,
                                a.shape,
                                data,
                                start,
                                a.big_endian,
                                a.fortran,
                                chunk,
                            )
                        } else {
                            NdArray::from_raw(
                                a.dtype,
                                a.shape,
                                &data[start..end],
                                a.big_endian,
                                a.fortran,
                            )
                        };
                        Value::NdArray(arr.map_err(|e| self.err(e))?)
                    }
                    _ => return Err(self.err("internal error: not a range")),
                };
                self.nodes[id as usize] = Node::Done(value);
            }
            data.truncate(start);
        }
        Ok(())
    }

    fn array(
        &mut self,
        dtype: DType,
        order: ByteOrder,
        shape: Vec<usize>,
        raw: &[u8],
        fortran: bool,
    ) -> Res<NdArray> {
        self.charge_bytes(raw.len())?;
        NdArray::from_raw(dtype, shape, raw, order == ByteOrder::Big, fortran)
            .map_err(|e| self.err(e))
    }

    fn build(&mut self, id: NodeId, state: Slot) -> Res<()> {
        match &self.nodes[id as usize] {
            Node::Dtype(dtype, _) => {
                let dtype = *dtype;
                let st = self.tuple_items(&state, "numpy.dtype state")?;
                // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
                if st.len() < 8 || !matches!(st[0], Slot::V(Value::Int(_))) {
                    return Err(self.err("unsupported numpy.dtype state layout"));
                }
                let order = match &st[1] {
                    Slot::V(Value::Str(s)) => match &**s {
                        "<" | "|" | "=" => ByteOrder::Little,
                        ">" => ByteOrder::Big,
                        _ => return Err(self.err("invalid numpy.dtype byte order")),
                    },
                    _ => return Err(self.err("invalid numpy.dtype byte order")),
                };
                if !st[2..5].iter().all(|s| matches!(s, Slot::V(Value::None))) {
                    return Err(self.err("structured or subarray numpy dtypes are not supported"));
                }
                match &st[7] {
                    // NPY_ITEM_REFCOUNT: the dtype holds Python objects.
                    Slot::V(Value::Int(flags)) if flags & 1 == 0 => {}
                    Slot::V(Value::Int(_)) => {
                        return Err(self.err("numpy arrays of Python objects are not supported"))
                    }
                    _ => return Err(self.err("invalid numpy.dtype flags")),
                }
                self.nodes[id as usize] = Node::Dtype(dtype, order);
                Ok(())
            }
            Node::PendingArray => {
                let st = self.tuple_items(&state, "numpy.ndarray state")?;
                // (version, shape, dtype, is_fortran, data) or the older form without version.
                let st = match st.len() {
                    5 => &st[1..],
                    4 => &st[..],
                    n => {
                        return Err(self.err(format!(
                            "numpy.ndarray state has {n} items (expected 4 or 5)"
                        )))
                    }
                };
                let shape = self.shape(&st[0])?;
                let (dtype, order) = self.dtype_of(&st[1])?;
                let fortran = match &st[2] {
                    Slot::V(Value::Bool(b)) => *b,
                    Slot::V(Value::Int(i)) => *i != 0,
                    _ => return Err(self.err("numpy.ndarray state: is_fortran must be a bool")),
                };
                let raw = self.bytes_of(&st[3]).ok_or_else(|| {
                    self.err(format!(
                        "numpy.ndarray data must be bytes, not {} (arrays of Python objects are not supported)",
                        self.slot_kind(&st[3])
                    ))
                })?;
                self.nodes[id as usize] = match self.deferrable(&raw) {
                    Some((start, end)) => {
                        self.defer_array(dtype, order, shape, start, end, fortran)?
                    }
                    None => Node::Done(Value::NdArray(
                        self.array(dtype, order, shape, &raw, fortran)?,
                    )),
                };
                Ok(())
            }
            other => Err(self.err(format!(
                "BUILD on a {} (only numpy arrays and dtypes accept state)",
                other.kind()
            ))),
        }
    }

    // ---- from the arena to values ----

    /// Converts the reachable nodes into values, each once, children first, without recursion.
    fn finish(&mut self, root: Slot) -> Res<Value> {
        let root = match root {
            Slot::V(v) => return Ok(v),
            Slot::N(id) => id,
        };
        self.op = b'.';
        self.op_pos = self.pos.saturating_sub(1);
        // The usual argument tuple or keyword dict holds only plain values: converted at
        // once, without the walk's bookkeeping (three vectors, a third of the allocations of
        // decoding `(1, 2)`). Its height is 1, within any depth limit but 0.
        let root_node = &self.nodes[root as usize];
        let flat = !(0..)
            .map_while(|i| root_node.child(i))
            .any(|c| matches!(c, Slot::N(_)));
        if flat && self.max_depth >= 1 {
            self.convert(root)?;
            return match std::mem::replace(&mut self.nodes[root as usize], Node::PendingArray) {
                Node::Done(v) => Ok(v),
                _ => Err(self.err("internal error: root not converted")),
            };
        }
        // 0 = not visited, 1 = on the current path, 2 = done.
        let mut state = vec![0u8; self.nodes.len()];
        let mut height = vec![0u32; self.nodes.len()];
        let mut path: Vec<(NodeId, usize)> = vec![(root, 0)];
        state[root as usize] = 1;
        while let Some(&mut (id, ref mut next)) = path.last_mut() {
            let node = &self.nodes[id as usize];
            // Find the next child still to convert.
            let mut descend = None;
            while let Some(child) = node.child(*next) {
                *next += 1;
                if let Slot::N(c) = child {
                    match state[*c as usize] {
                        0 => {
                            descend = Some(*c);
                            break;
                        }
                        1 => {
                            return Err(self.err(format!(
                                "recursive structure: a {} contains itself (not supported)",
                                self.nodes[*c as usize].kind()
                            )))
                        }
                        _ => {}
                    }
                }
            }
            if let Some(c) = descend {
                if path.len() >= self.max_depth {
                    return Err(self.nesting_error());
                }
                state[c as usize] = 1;
                path.push((c, 0));
                continue;
            }
            // All children are done: build this node's value.
            let mut h = 0u32;
            let mut i = 0;
            while let Some(child) = node.child(i) {
                if let Slot::N(c) = child {
                    h = h.max(height[*c as usize]);
                }
                i += 1;
            }
            let is_container = matches!(
                node,
                Node::List(_) | Node::Tuple(_) | Node::Dict(_) | Node::Set(_) | Node::FrozenSet(_)
            );
            if is_container {
                h += 1;
                if h as usize > self.max_depth {
                    return Err(self.nesting_error());
                }
            }
            self.convert(id)?;
            height[id as usize] = h;
            state[id as usize] = 2;
            path.pop();
        }
        match std::mem::replace(&mut self.nodes[root as usize], Node::PendingArray) {
            Node::Done(v) => Ok(v),
            _ => Err(self.err("internal error: root not converted")),
        }
    }

    /// Converts node `id`, whose children are converted already, into its value (stored back
    /// as `Node::Done`).
    fn convert(&mut self, id: NodeId) -> Res<()> {
        let taken = std::mem::replace(&mut self.nodes[id as usize], Node::PendingArray);
        let data = self.data;
        let nodes = &self.nodes;
        let val = |s: Slot| -> Value {
            match s {
                Slot::V(v) => v,
                Slot::N(c) => match &nodes[c as usize] {
                    Node::Done(v) => v.clone(),
                    _ => Value::None, // unreachable: children are converted first
                },
            }
        };
        let value = match taken {
            Node::List(v) => Value::List(Arc::new(v.into_iter().map(val).collect())),
            Node::Tuple(v) => Value::Tuple(Arc::new(v.into_iter().map(val).collect())),
            Node::Set(v) => Value::Set(Arc::new(v.into_iter().map(val).collect())),
            Node::FrozenSet(v) => Value::FrozenSet(Arc::new(v.into_iter().map(val).collect())),
            Node::Dict(v) => Value::Dict(Arc::new(
                v.into_iter().map(|(k, x)| (val(k), val(x))).collect(),
            )),
            Node::Done(v) => v,
            // The one copy of bytes kept in the input: memo hits and `DUP` share this value.
            Node::Raw(start, end) => Value::Bytes(Arc::from(&data[start..end])),
            other => {
                let k = other.kind();
                self.nodes[id as usize] = other;
                return Err(self.err(match k {
                    "global" => "a global (class or function) cannot be a value; only its pickled calls are supported".to_string(),
                    k => format!("a {k} cannot be a value"),
                }));
            }
        };
        self.nodes[id as usize] = Node::Done(value);
        Ok(())
    }

    fn nesting_error(&self) -> PickleError {
        self.err(format!(
            "containers nested deeper than {} levels (refused)",
            self.max_depth
        ))
    }
}

/// The contents of a bytes operand: still in the input, or already a shared copy.
enum BytesRef<'a> {
    Input(&'a [u8]),
    Shared(Arc<[u8]>),
}

impl std::ops::Deref for BytesRef<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            BytesRef::Input(b) => b,
            BytesRef::Shared(b) => b,
        }
    }
}

/// A numpy scalar as the plain Python value it stands for (complex stays a 0-d array).
fn scalar_value(arr: NdArray) -> Value {
    use super::ndarray::Scalar;
    match arr.get(0) {
        Some(Scalar::Bool(b)) => Value::Bool(b),
        Some(Scalar::Int(i)) => Value::Int(i),
        Some(Scalar::UInt(u)) => bigint::from_u128(u128::from(u)),
        Some(Scalar::Float(x)) => Value::Float(x),
        Some(Scalar::Complex(..)) | None => Value::NdArray(arr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// The machine alone, without the flat path.
    fn machine(data: &[u8], limits: &Limits) -> Result<Value, PickleError> {
        let mut d = Decoder::new(data, limits);
        let root = d.run()?;
        d.finish(root)
    }

    /// One piece of a pickle of the flat shape, or something near it.
    fn piece() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            (0u8..8).prop_map(|p| vec![0x80, p]),
            (0u64..24).prop_map(|n| {
                let mut v = vec![0x95];
                v.extend_from_slice(&n.to_le_bytes());
                v
            }),
            scalar(),
            Just(vec![b')']),
            Just(vec![b'}']),
            Just(vec![0x85]),
            Just(vec![0x86]),
            Just(vec![0x87]),
            Just(vec![0x94]),
            any::<u8>().prop_map(|i| vec![b'q', i]),
            any::<u32>().prop_map(|i| [&[b'r'][..], &i.to_le_bytes()].concat()),
            Just(vec![b'.']),
            Just(vec![b'(']),
            Just(vec![b't']),
            Just(vec![b'h', 0]),
            any::<u8>().prop_map(|b| vec![b]),
        ]
    }

    /// One scalar opcode with its operand, as the flat path reads them.
    fn scalar() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            any::<u8>().prop_map(|x| vec![b'K', x]),
            any::<u16>().prop_map(|x| [&[b'M'][..], &x.to_le_bytes()].concat()),
            any::<i32>().prop_map(|x| [&[b'J'][..], &x.to_le_bytes()].concat()),
            any::<u64>().prop_map(|x| [&[b'G'][..], &x.to_be_bytes()].concat()),
            Just(vec![b'N']),
            Just(vec![0x88]),
            Just(vec![0x89]),
        ]
    }

    /// A pickle of the flat shape (optional `PROTO` and `FRAME`, up to four scalars, an
    /// optional tuple opcode and memo store, `STOP`), often broken afterwards.
    fn flat_candidate() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        // The tuple opcode: mostly the one matching the scalars' count, else any.
        let tuple = prop_oneof![
            3 => Just(None),
            1 => proptest::sample::select(vec![vec![], vec![b')'], vec![b'}'], vec![0x85], vec![0x86], vec![0x87], vec![b't']]).prop_map(Some),
        ];
        let memo = prop_oneof![
            Just(vec![]),
            Just(vec![0x94]),
            any::<u8>().prop_map(|i| vec![b'q', i]),
            any::<u32>().prop_map(|i| [&[b'r'][..], &i.to_le_bytes()].concat()),
            Just(vec![b'2']),
        ];
        (
            proptest::option::of(0u8..7),
            proptest::option::of(0u64..40),
            proptest::collection::vec(scalar(), 0..5),
            tuple,
            memo,
            proptest::collection::vec(any::<u8>(), 0..3),
            // A mutation: (position, new byte), or a truncation.
            proptest::option::weighted(0.2, (any::<usize>(), any::<u8>())),
            proptest::option::weighted(0.1, any::<usize>()),
        )
            .prop_map(|(proto, frame, scalars, tuple, memo, tail, flip, cut)| {
                let tuple = tuple.unwrap_or_else(|| match scalars.len() {
                    0 => vec![b')'],
                    1 => vec![],
                    2 => vec![0x86],
                    3 => vec![0x87],
                    _ => vec![0x87],
                });
                let body: Vec<u8> = [scalars.concat(), tuple, memo, vec![b'.'], tail].concat();
                let mut data = Vec::new();
                if let Some(p) = proto {
                    data.extend_from_slice(&[0x80, p]);
                }
                if let Some(len) = frame {
                    data.push(0x95);
                    // Often the true length of what follows, sometimes not.
                    let len = if len < 20 {
                        body.len() as u64
                    } else {
                        len - 20
                    };
                    data.extend_from_slice(&len.to_le_bytes());
                }
                data.extend_from_slice(&body);
                if let Some((at, b)) = flip {
                    if !data.is_empty() {
                        let at = at % data.len();
                        data[at] = b;
                    }
                }
                if let Some(cut) = cut {
                    data.truncate(cut % (data.len() + 1));
                }
                data
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8_000))]
        #[test]
        fn the_flat_path_reads_only_what_the_machine_reads_the_same(
            data in proptest::prop_oneof![
                flat_candidate(),
                proptest::strategy::Strategy::prop_map(
                    proptest::collection::vec(piece(), 0..9),
                    |p: Vec<Vec<u8>>| p.concat()
                ),
            ],
            depth in 0usize..3,
        ) {
            for limits in [Limits::default(), Limits { max_depth: depth, ..Limits::default() }] {
                if let Some(fast) = decode_flat(&data, &limits) {
                    let slow = machine(&data, &limits);
                    // Debug text compares NaN payloads too.
                    proptest::prop_assert_eq!(
                        format!("{:?}", Ok::<_, PickleError>(fast)),
                        format!("{slow:?}"),
                        "input {:?}", data
                    );
                }
            }
        }
    }

    #[test]
    fn the_flat_path_takes_cpythons_small_tuples_and_scalars() {
        // pickle.dumps(x, protocol=p) by CPython.
        let cases: [(&[u8], Value); 8] = [
            (
                b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00K\x01K\x02\x86\x94.",
                Value::Tuple(std::sync::Arc::new(vec![Value::Int(1), Value::Int(2)])),
            ),
            (b"\x80\x04K\x03.", Value::Int(3)),
            (
                b"\x80\x02K\x01K\x02\x86q\x00.",
                Value::Tuple(std::sync::Arc::new(vec![Value::Int(1), Value::Int(2)])),
            ),
            (
                b"\x80\x05\x95\x0a\x00\x00\x00\x00\x00\x00\x00G@\t!\xfbTD-\x18.",
                Value::Float(std::f64::consts::PI),
            ),
            (b"\x80\x04\x88.", Value::Bool(true)),
            (b"\x80\x04).", Value::Tuple(Default::default())),
            (b"\x80\x04}\x94.", Value::Dict(Default::default())),
            (b"\x80\x02}q\x00.", Value::Dict(Default::default())),
        ];
        for (bytes, value) in cases {
            assert_eq!(
                decode_flat(bytes, &Limits::default()),
                Some(value.clone()),
                "{bytes:?}"
            );
            assert_eq!(
                machine(bytes, &Limits::default()).unwrap(),
                value,
                "{bytes:?}"
            );
        }
        // Not the flat shape: the machine reads them.
        for bytes in [
            &b"\x80\x04K\x03\x94."[..],
            b"(K\x01t.",
            b"\x80\x04]\x94.",
            b"K\x01K\x02",
        ] {
            assert_eq!(decode_flat(bytes, &Limits::default()), None, "{bytes:?}");
        }
    }

    /// CPython's pickles of numpy arrays large enough to stay in the input (every dtype, both
    /// byte orders, C and Fortran order, protocols 3 to 5), inside containers, shared, and
    /// with the array's data bytes also returned as a value of their own.
    const ARRAYS_PY: &str = r#"
import base64, json, pickle, pickletools, sys
import numpy as np
out = []
def add(name, data):
    out.append([name, base64.b64encode(data).decode()])
codes = ["?", "i1", "u1", "<i2", ">i2", "<u2", "<i4", ">u4", "<i8", ">u8", "<f2", ">f2",
         "<f4", ">f4", "<f8", ">f8", "<c8", ">c8", "<c16", ">c16"]
for code in codes:
    a = (np.arange(6000) % 251 - 120).astype(code)
    if a.dtype.kind == "c":
        a = a + 1j * a[::-1]
        a = a.astype(code)
    for proto in (3, 4, 5):
        add(f"{code} p{proto}", pickle.dumps(a, proto))
    add(f"{code} fortran", pickle.dumps(np.asfortranarray(a.reshape(60, 100)), 4))
a = np.linspace(0, 1, 3000).reshape(30, 100)
b = np.arange(2000, dtype="<i4")
add("two arrays", pickle.dumps([a, b, {"x": a, "n": 1}], 4))
add("shared array", pickle.dumps((a, a), 5))
add("bytes beside", pickle.dumps({"raw": bytes(range(256)) * 40, "a": a}, 4))
add("empty", pickle.dumps(np.zeros((0, 7)), 4))
# The array's data operand referenced again as a bytes value: (array, its data bytes).
p = pickle.dumps(b, 3)
memo = None
ops = list(pickletools.genops(p))
for i, (op, arg, pos) in enumerate(ops):
    if op.name == "BINBYTES":
        memo = ops[i + 1][1]
assert memo is not None
add("data shared as bytes", p[:-1] + b"h" + bytes([memo]) + b"\x86.")
json.dump(out, sys.stdout)
"#;

    fn python_pickles() -> Vec<(String, Vec<u8>)> {
        let out = std::process::Command::new("python3")
            .args(["-c", ARRAYS_PY])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: Vec<(String, String)> = serde_json::from_slice(&out.stdout).unwrap();
        list.into_iter()
            .map(|(name, b64)| {
                (
                    name,
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn decoding_a_given_up_input_gives_the_same_values() {
        let limits = Limits::default();
        let mut deferred = 0;
        for (name, p) in python_pickles() {
            let want = decode(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Every array of the input deferred; converted an element (chunk 1) to the whole
            // array at a time.
            for chunk in [1, 24, 1000, 1 << 20] {
                let got = decode_vec_in_chunks(p.clone(), &limits, 1, chunk)
                    .unwrap_or_else(|e| panic!("{name} chunk {chunk}: {e}"));
                assert!(got == want, "{name} chunk {chunk}: {got:?}");
            }
            assert!(decode_vec(p.clone()).unwrap() == want, "{name}");
            // Proof that the deferred path ran: the arrays were seen as deferrable.
            let mut d = Decoder::new(&p, &limits);
            d.defer = Some(1);
            d.run().unwrap();
            deferred += d
                .nodes
                .iter()
                .filter(|n| matches!(n, Node::Deferred(_)))
                .count();
        }
        assert!(deferred >= 80, "{deferred} arrays deferred");
    }

    #[test]
    fn errors_of_a_given_up_input_are_the_same() {
        let limits = Limits::default();
        for (name, p) in python_pickles() {
            // Truncated anywhere, or with one byte changed: the same answer either way.
            let cuts = [p.len() / 3, p.len() / 2, p.len() - 1];
            let mut cases: Vec<Vec<u8>> = cuts.iter().map(|&n| p[..n].to_vec()).collect();
            for at in [2, 20, 60, p.len() - 2] {
                let mut q = p.clone();
                q[at] ^= 0x5a;
                cases.push(q);
            }
            for q in cases {
                let want = format!("{:?}", decode(&q));
                let got = format!("{:?}", decode_vec_in_chunks(q.clone(), &limits, 1, 24));
                assert_eq!(got, want, "{name}");
            }
        }
    }

    #[test]
    fn the_input_is_given_back_as_the_array_fills() {
        // 4 MiB of float64 data after 100 other bytes: the array is exact, and the buffer ends
        // truncated to the data's start with its memory given back (the allocator may move
        // the block once, then shrinking stops, so at most a copy is kept).
        let values: Vec<f64> = (0..(1 << 19)).map(|i| i as f64 * 0.25).collect();
        let mut buf = vec![7u8; 100];
        buf.extend(values.iter().flat_map(|x| x.to_le_bytes()));
        let arr = NdArray::from_raw_tail(
            DType::F64,
            vec![1 << 19],
            &mut buf,
            100,
            false,
            false,
            1 << 20,
        )
        .unwrap();
        assert_eq!(arr.as_slice::<f64>().unwrap(), &values[..]);
        assert_eq!(buf, vec![7u8; 100]);
        assert!(buf.capacity() < 2 << 20, "capacity {}", buf.capacity());
        // Big-endian data, converted a few elements at a time.
        let mut buf: Vec<u8> = values.iter().flat_map(|x| x.to_be_bytes()).collect();
        let arr = NdArray::from_raw_tail(DType::F64, vec![1 << 19], &mut buf, 0, true, false, 40)
            .unwrap();
        assert_eq!(arr.as_slice::<f64>().unwrap(), &values[..]);
        assert!(buf.is_empty());
    }
}
