//! The encoder: protocol 3 pickles that every CPython 3 loads to the natural value.
//!
//! Written iteratively (a value of any depth encodes without recursion), and shared containers
//! are written once and referenced through the memo afterwards, so a value that sharing makes
//! logically huge encodes in time and space linear in what it stores, and CPython gets the same
//! sharing back. Sets use `builtins.set(list)` (protocol 3 has no set opcodes); arrays use
//! numpy's own pickled form, `numpy.core.multiarray._reconstruct` plus a `BUILD` state, which
//! numpy 1.x and 2.x both load without warnings.

use std::collections::HashMap;
use std::sync::Arc;

use super::ndarray::{DType, NdArray};
use super::value::kind;
use super::Value;

/// Protocol written by [`encode`]: loadable by every CPython 3 (and has a bytes type).
pub const ENCODE_PROTOCOL: u8 = 3;

/// Items per `APPENDS`/`SETITEMS` batch, as CPython writes them.
const BATCH: usize = 1000;

enum Task<'a> {
    Val(&'a Value),
    /// Emit each value in order.
    Items(&'a [Value]),
    /// `MARK items APPENDS` in batches.
    Appends(&'a [Value]),
    /// `MARK k v ... SETITEMS` in batches.
    SetItems(&'a [(Value, Value)]),
    Op(&'static [u8]),
    Put((u8, usize)),
}

struct Encoder {
    out: Vec<u8>,
    memo: HashMap<(u8, usize), u32>,
}

/// Encodes a value as a protocol 3 pickle any CPython 3 loads: `Int`/`BigInt` to `int`,
/// `Bytes` to `bytes`, `Set`/`FrozenSet` through `builtins.set`/`frozenset`, `NdArray` to a
/// `numpy.ndarray` of the same dtype and shape (numpy must be importable on the loading side).
/// Containers shared in `value` are written once and stay shared after loading.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(INITIAL_CAPACITY);
    out.extend_from_slice(&[0x80, ENCODE_PROTOCOL]);
    let mut e = Encoder {
        out,
        memo: HashMap::new(),
    };
    if !e.flat(value) {
        e.run(value);
    }
    e.out.push(b'.');
    e.out
}

/// The output's first allocation: room for a small value's pickle and for the base64
/// envelope built in its memory afterwards (an RPC body or a result), so a small call's
/// pickle is allocated once and never grown.
const INITIAL_CAPACITY: usize = 128;

/// Whether `v` holds no other value (its encoding pushes no task).
fn is_leaf(v: &Value) -> bool {
    !matches!(
        v,
        Value::List(_) | Value::Tuple(_) | Value::Dict(_) | Value::Set(_) | Value::FrozenSet(_)
    )
}

fn arc_key<T: ?Sized>(v: &Value, a: &Arc<T>) -> (u8, usize) {
    (kind(v), Arc::as_ptr(a) as *const () as usize)
}

impl Encoder {
    /// The common shapes of a call, written without the task stack (no allocation): a leaf,
    /// a tuple of up to three leaves (an RPC's positional arguments), an empty dict (the
    /// `{}` kwargs of a positional call). The same bytes as [`run`](Self::run) (tested);
    /// returns false, having written nothing, for anything else.
    fn flat(&mut self, v: &Value) -> bool {
        // A leaf pushes no task: this stays empty, never allocated.
        let mut none = Vec::new();
        match v {
            _ if is_leaf(v) => self.value(v, &mut none),
            Value::Tuple(items) if items.len() <= 3 && items.iter().all(is_leaf) => {
                let key = arc_key(v, items);
                let shared = Arc::strong_count(items) > 1;
                if shared && self.get(key) {
                    return true;
                }
                if items.is_empty() {
                    self.out.push(b')');
                    return true;
                }
                for item in items.iter() {
                    self.value(item, &mut none);
                }
                self.out.push(0x84 + items.len() as u8);
                if shared {
                    self.put(key);
                }
            }
            Value::Dict(entries) if entries.is_empty() => {
                // As `value` writes a dict, without its (empty) SETITEMS task.
                let key = arc_key(v, entries);
                let shared = Arc::strong_count(entries) > 1;
                if shared && self.get(key) {
                    return true;
                }
                self.out.push(b'}');
                if shared {
                    self.put(key);
                }
            }
            _ => return false,
        }
        true
    }

    fn run<'a>(&mut self, root: &'a Value) {
        let mut tasks: Vec<Task<'a>> = vec![Task::Val(root)];
        while let Some(t) = tasks.pop() {
            match t {
                Task::Op(b) => self.out.extend_from_slice(b),
                Task::Put(key) => self.put(key),
                Task::Items(items) => {
                    if let Some((first, rest)) = items.split_first() {
                        tasks.push(Task::Items(rest));
                        tasks.push(Task::Val(first));
                    }
                }
                Task::Appends(items) => match items.len() {
                    0 => {}
                    1 => {
                        tasks.push(Task::Op(b"a"));
                        tasks.push(Task::Val(&items[0]));
                    }
                    n => {
                        let (chunk, rest) = items.split_at(n.min(BATCH));
                        self.out.push(b'(');
                        tasks.push(Task::Appends(rest));
                        tasks.push(Task::Op(b"e"));
                        tasks.push(Task::Items(chunk));
                    }
                },
                Task::SetItems(entries) => {
                    if entries.is_empty() {
                        continue;
                    }
                    let (chunk, rest) = entries.split_at(entries.len().min(BATCH));
                    tasks.push(Task::SetItems(rest));
                    if chunk.len() == 1 {
                        tasks.push(Task::Op(b"s"));
                    } else {
                        self.out.push(b'(');
                        tasks.push(Task::Op(b"u"));
                    }
                    for (k, v) in chunk.iter().rev() {
                        tasks.push(Task::Val(v));
                        tasks.push(Task::Val(k));
                    }
                }
                Task::Val(v) => self.value(v, &mut tasks),
            }
        }
    }

    /// Writes a `GET` if this shared object was already written; returns whether it did.
    fn get(&mut self, key: (u8, usize)) -> bool {
        match self.memo.get(&key) {
            Some(&i) => {
                if let Ok(b) = u8::try_from(i) {
                    self.out.extend_from_slice(&[b'h', b]);
                } else {
                    self.out.push(b'j');
                    self.out.extend_from_slice(&i.to_le_bytes());
                }
                true
            }
            None => false,
        }
    }

    fn put(&mut self, key: (u8, usize)) {
        let i = self.memo.len() as u32;
        self.memo.insert(key, i);
        if let Ok(b) = u8::try_from(i) {
            self.out.extend_from_slice(&[b'q', b]);
        } else {
            self.out.push(b'r');
            self.out.extend_from_slice(&i.to_le_bytes());
        }
    }

    fn value<'a>(&mut self, v: &'a Value, tasks: &mut Vec<Task<'a>>) {
        match v {
            Value::None => self.out.push(b'N'),
            Value::Bool(true) => self.out.push(0x88),
            Value::Bool(false) => self.out.push(0x89),
            Value::Int(i) => self.int(*i),
            Value::BigInt(b) => self.long(b),
            Value::Float(x) => {
                self.out.push(b'G');
                self.out.extend_from_slice(&x.to_be_bytes());
            }
            Value::Str(s) => {
                let key = arc_key(v, s);
                let shared = Arc::strong_count(s) > 1;
                if shared && self.get(key) {
                    return;
                }
                self.str(s);
                if shared {
                    self.put(key);
                }
            }
            Value::Bytes(b) => {
                let key = arc_key(v, b);
                let shared = Arc::strong_count(b) > 1;
                if shared && self.get(key) {
                    return;
                }
                self.bytes(b);
                if shared {
                    self.put(key);
                }
            }
            Value::List(items) => {
                let key = arc_key(v, items);
                let shared = Arc::strong_count(items) > 1;
                if shared && self.get(key) {
                    return;
                }
                self.out.push(b']');
                if shared {
                    self.put(key);
                }
                tasks.push(Task::Appends(items));
            }
            Value::Tuple(items) => {
                let key = arc_key(v, items);
                let shared = Arc::strong_count(items) > 1;
                if shared && self.get(key) {
                    return;
                }
                if items.is_empty() {
                    self.out.push(b')');
                    return;
                }
                if shared {
                    tasks.push(Task::Put(key));
                }
                match items.len() {
                    1 => tasks.push(Task::Op(&[0x85])),
                    2 => tasks.push(Task::Op(&[0x86])),
                    3 => tasks.push(Task::Op(&[0x87])),
                    _ => {
                        self.out.push(b'(');
                        tasks.push(Task::Op(b"t"));
                    }
                }
                tasks.push(Task::Items(items));
            }
            Value::Dict(entries) => {
                let key = arc_key(v, entries);
                let shared = Arc::strong_count(entries) > 1;
                if shared && self.get(key) {
                    return;
                }
                self.out.push(b'}');
                if shared {
                    self.put(key);
                }
                tasks.push(Task::SetItems(entries));
            }
            Value::Set(items) | Value::FrozenSet(items) => {
                let key = arc_key(v, items);
                let shared = Arc::strong_count(items) > 1;
                if shared && self.get(key) {
                    return;
                }
                let global: &[u8] = if matches!(v, Value::Set(_)) {
                    b"cbuiltins\nset\n"
                } else {
                    b"cbuiltins\nfrozenset\n"
                };
                self.out.extend_from_slice(global);
                self.out.push(b']');
                if shared {
                    tasks.push(Task::Put(key));
                }
                // set(list): TUPLE1, REDUCE
                tasks.push(Task::Op(&[0x85, b'R']));
                tasks.push(Task::Appends(items));
            }
            Value::NdArray(a) => {
                let key = (kind(v), a.addr());
                let shared = a.is_shared();
                if shared && self.get(key) {
                    return;
                }
                self.ndarray(a);
                if shared {
                    self.put(key);
                }
            }
        }
    }

    fn int(&mut self, i: i64) {
        if (0..=0xff).contains(&i) {
            self.out.extend_from_slice(&[b'K', i as u8]);
        } else if (0..=0xffff).contains(&i) {
            self.out.push(b'M');
            self.out.extend_from_slice(&(i as u16).to_le_bytes());
        } else if let Ok(x) = i32::try_from(i) {
            self.out.push(b'J');
            self.out.extend_from_slice(&x.to_le_bytes());
        } else {
            let b = i.to_le_bytes();
            // Minimal two's complement length.
            let mut n = 8;
            while n > 1 {
                let fill = if b[n - 1] == 0xff && b[n - 2] & 0x80 != 0 {
                    true
                } else {
                    b[n - 1] == 0 && b[n - 2] & 0x80 == 0
                };
                if !fill {
                    break;
                }
                n -= 1;
            }
            self.long(&b[..n]);
        }
    }

    fn long(&mut self, b: &[u8]) {
        if let Ok(n) = u8::try_from(b.len()) {
            self.out.extend_from_slice(&[0x8a, n]);
        } else {
            self.out.push(0x8b);
            self.out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        }
        self.out.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        match u32::try_from(s.len()) {
            Ok(n) => {
                self.out.push(b'X');
                self.out.extend_from_slice(&n.to_le_bytes());
            }
            Err(_) => {
                // Beyond 4 GiB: BINUNICODE8 (protocol 4 opcode, loaded by CPython 3.4+).
                self.out.push(0x8d);
                self.out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            }
        }
        self.out.extend_from_slice(s.as_bytes());
    }

    fn bytes(&mut self, b: &[u8]) {
        self.bytes_head(b.len());
        self.out.extend_from_slice(b);
    }

    /// The opcode and length of a bytes object of `len` bytes, whose contents follow.
    fn bytes_head(&mut self, len: usize) {
        if let Ok(n) = u8::try_from(len) {
            self.out.extend_from_slice(&[b'C', n]);
        } else if let Ok(n) = u32::try_from(len) {
            self.out.push(b'B');
            self.out.extend_from_slice(&n.to_le_bytes());
        } else {
            // Beyond 4 GiB: BINBYTES8 (protocol 4 opcode, loaded by CPython 3.4+).
            self.out.push(0x8e);
            self.out.extend_from_slice(&(len as u64).to_le_bytes());
        }
    }

    /// numpy's own pickled form: `_reconstruct(ndarray, (0,), b'b')` then
    /// `BUILD (1, shape, dtype, False, raw)` with a little-endian dtype and C-order bytes.
    fn ndarray(&mut self, a: &NdArray) {
        let o = &mut self.out;
        o.extend_from_slice(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n");
        o.extend_from_slice(&[b'K', 0, 0x85, b'C', 1, b'b', 0x87, b'R', b'(', b'K', 1]);
        let shape = a.shape();
        if shape.len() > 3 || shape.is_empty() {
            o.push(if shape.is_empty() { b')' } else { b'(' });
        }
        for &d in shape {
            self.int(i64::try_from(d).unwrap_or(i64::MAX));
        }
        let o = &mut self.out;
        match shape.len() {
            0 => {}
            1 => o.push(0x85),
            2 => o.push(0x86),
            3 => o.push(0x87),
            _ => o.push(b't'),
        }
        let dtype = a.dtype();
        o.extend_from_slice(b"cnumpy\ndtype\n");
        self.str(dtype.code());
        let order = if dtype.itemsize() == 1 || dtype == DType::Bool {
            "|"
        } else {
            "<"
        };
        let o = &mut self.out;
        o.extend_from_slice(&[0x89, 0x88, 0x87, b'R', b'(', b'K', 3]);
        self.str(order);
        let o = &mut self.out;
        o.extend_from_slice(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb");
        o.push(0x89); // is_fortran: data is written in C order
                      // The elements are written straight into the output (no intermediate copy of the
                      // array's bytes), with room reserved for them and the few opcodes that close the
                      // pickle, so a large array's output is allocated once at its final size.
        let len = a.len() * a.dtype().itemsize();
        self.bytes_head(len);
        self.out.reserve(len.saturating_add(64));
        a.data().write_le_bytes(&mut self.out);
        self.out.extend_from_slice(b"tb");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The task-stack encoder alone, without the flat path.
    fn by_run(v: &Value) -> Vec<u8> {
        let mut e = Encoder {
            out: vec![0x80, ENCODE_PROTOCOL],
            memo: HashMap::new(),
        };
        e.run(v);
        e.out.push(b'.');
        e.out
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::None),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            prop_oneof![
                Just(0i64),
                Just(255),
                Just(256),
                Just(65535),
                Just(65536),
                Just(-1)
            ]
            .prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            ".{0,8}".prop_map(|s| Value::Str(s.into())),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(|b| Value::Bytes(b.into())),
        ]
    }

    /// Values of the flat shapes and near them, some of them shared (kept twice).
    fn candidate() -> impl Strategy<Value = (Value, bool)> {
        let v = prop_oneof![
            leaf(),
            proptest::collection::vec(leaf(), 0..5).prop_map(|v| Value::Tuple(Arc::new(v))),
            proptest::collection::vec(leaf(), 0..2).prop_map(|v| Value::List(Arc::new(v))),
            proptest::collection::vec((leaf(), leaf()), 0..2)
                .prop_map(|v| Value::Dict(Arc::new(v))),
            proptest::collection::vec(leaf(), 0..3).prop_map(|v| {
                // A tuple holding a container: not flat.
                Value::Tuple(Arc::new(vec![Value::List(Arc::new(v))]))
            }),
        ];
        (v, any::<bool>())
    }

    proptest! {
        #[test]
        fn the_flat_path_writes_what_the_task_stack_writes((v, shared) in candidate()) {
            // A second handle makes the value's containers shared (memoized).
            let keep = shared.then(|| v.clone());
            let mut e = Encoder { out: vec![0x80, ENCODE_PROTOCOL], memo: HashMap::new() };
            if e.flat(&v) {
                e.out.push(b'.');
                prop_assert_eq!(&e.out, &by_run(&v));
            } else {
                prop_assert_eq!(e.out.len(), 2, "a declined value wrote nothing");
            }
            prop_assert_eq!(encode(&v), by_run(&v));
            drop(keep);
        }
    }

    #[test]
    fn the_flat_path_takes_the_shapes_of_a_call() {
        let args = Value::Tuple(Arc::new(vec![Value::Int(1), Value::Int(2)]));
        let kwargs = Value::Dict(Arc::new(Vec::new()));
        for v in [&args, &kwargs, &Value::Int(3)] {
            let mut e = Encoder {
                out: Vec::new(),
                memo: HashMap::new(),
            };
            assert!(e.flat(v), "{v:?}");
        }
        // The bytes CPython loads as `(1, 2)` and `{}` (unshared: no memo entries).
        assert_eq!(encode(&args), b"\x80\x03K\x01K\x02\x86.");
        assert_eq!(encode(&kwargs), b"\x80\x03}.");
        let nested = Value::Tuple(Arc::new(vec![Value::List(Arc::new(vec![]))]));
        let mut e = Encoder {
            out: Vec::new(),
            memo: HashMap::new(),
        };
        assert!(!e.flat(&nested));
    }
}
