//! Hostile pickles (issue 9): each is refused with an error naming the problem, or decoded
//! without expanding, in bounded time. Memory bounds are asserted in `pickle_memory.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tarp_core::wire::pickle::{
    decode, encode, from_value, to_json, NdArray, PickleError, Value, MAX_DEPTH, MAX_WALK_DEPTH,
};

/// The floor of the time bound: every case takes milliseconds in a release build.
const TIME_LIMIT: Duration = Duration::from_secs(2);

/// The time bound for one hostile decode: [`TIME_LIMIT`], or 50 times what this build takes
/// to decode a benign 1 MB pickle on this machine now, whichever is larger. Every case here
/// is at most a few MB and must decode in time linear in its size, so an expansion or a
/// quadratic walk (minutes for a million operands) still blows far past the bound, while a
/// debug build on a loaded machine does not.
fn time_limit() -> Duration {
    static LIMIT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        let mut benign = vec![0x80, 2, b']', b'('];
        for _ in 0..500_000 {
            benign.extend_from_slice(b"K\x01");
        }
        benign.extend_from_slice(b"e.");
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                assert!(matches!(decode(&benign), Ok(Value::List(l)) if l.len() == 500_000));
                t.elapsed()
            })
            .min()
            .unwrap_or_default();
        TIME_LIMIT.max(best * 50)
    })
}

fn timed<T>(f: impl FnOnce() -> T) -> T {
    let limit = time_limit();
    let t = Instant::now();
    let r = f();
    let e = t.elapsed();
    assert!(e < limit, "took {e:?} (bound {limit:?})");
    r
}

/// Decoding `data` fails within the time limit with a short message containing `needle`.
#[track_caller]
fn refused(data: &[u8], needle: &str) -> PickleError {
    let e = timed(|| decode(data)).expect_err("must be refused");
    let msg = e.to_string();
    assert!(msg.contains(needle), "expected {needle:?} in: {msg}");
    assert!(
        msg.len() < 400,
        "message too long ({} bytes): {msg:.400}",
        msg.len()
    );
    e
}

fn p2(body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 2];
    v.extend_from_slice(body);
    v.push(b'.');
    v
}

// ---- length prefixes ----

#[test]
fn length_prefix_of_2_pow_62_is_truncation_not_allocation() {
    let big = (1u64 << 62).to_le_bytes();
    for op in [0x8d_u8, 0x8e, 0x96] {
        let mut d = vec![0x80, 5, op];
        d.extend_from_slice(&big);
        d.extend_from_slice(b"abc.");
        refused(
            &d,
            "length prefix 4611686018427387904 exceeds the 4 bytes that remain",
        );
    }
    // FRAME announcing 2^62 bytes.
    let mut d = vec![0x80, 4, 0x95];
    d.extend_from_slice(&big);
    d.extend_from_slice(b"N.");
    refused(&d, "truncated");
    // 32-bit prefixes at their maximum.
    for op in [b'X', b'B'] {
        let mut d = vec![0x80, 3, op];
        d.extend_from_slice(&u32::MAX.to_le_bytes());
        d.push(b'.');
        refused(&d, "length prefix 4294967295 exceeds");
    }
    let mut d = vec![0x80, 2, 0x8b];
    d.extend_from_slice(&i32::MAX.to_le_bytes());
    refused(&d, "exceeds");
    let mut d = vec![0x80, 2, 0x8b];
    d.extend_from_slice(&(-5i32).to_le_bytes());
    refused(&d, "negative byte count");
}

// ---- nesting ----

#[test]
fn nesting_100_000_deep_is_refused_without_recursion() {
    let n = 100_000;
    // Lists: EMPTY_LIST x n, then APPEND x (n - 1).
    let mut body = vec![b']'; n];
    body.extend(std::iter::repeat(b'a').take(n - 1));
    refused(&p2(&body), &format!("nested deeper than {MAX_DEPTH}"));
    // Tuples: MARK x n, EMPTY_TUPLE, TUPLE x n.
    let mut body = vec![b'('; n];
    body.push(b')');
    body.extend(std::iter::repeat(b't').take(n));
    refused(&p2(&body), "nested deeper");
    // Dicts: {0: {0: {...}}} via EMPTY_DICT BININT1 ... SETITEM.
    let mut body = Vec::new();
    for _ in 0..n {
        body.extend_from_slice(b"}K\x00");
    }
    body.push(b'}');
    body.extend(std::iter::repeat(b's').take(n));
    refused(&p2(&body), "nested deeper");
    // TUPLE1 chains need no MARK at all.
    let mut body = vec![b'N'];
    body.extend(std::iter::repeat(0x85).take(n));
    refused(&p2(&body), "nested deeper");
}

#[test]
fn nesting_exactly_at_the_limit_is_accepted() {
    let chain = |depth: usize| {
        let mut body = vec![b'N'];
        body.extend(std::iter::repeat(0x85).take(depth));
        p2(&body)
    };
    let v = decode(&chain(MAX_DEPTH)).expect("1000 levels are fine");
    let mut d = 0;
    let mut cur = &v;
    while let Value::Tuple(t) = cur {
        d += 1;
        cur = &t[0];
    }
    assert_eq!(d, MAX_DEPTH);
    // Encoding and comparing are iterative; the serde walks refuse rather than recurse 1000
    // levels deep, and accept their own limit.
    assert_eq!(decode(&encode(&v)).unwrap(), v);
    let e = to_json(&v).unwrap_err();
    assert!(e.to_string().contains("nested deeper than 128"), "{e}");
    let e = from_value::<serde_json::Value>(&v).unwrap_err();
    assert!(e.to_string().contains("nested deeper than 128"), "{e}");
    let shallow = decode(&chain(MAX_WALK_DEPTH)).unwrap();
    assert!(to_json(&shallow).is_ok());
    assert!(from_value::<serde_json::Value>(&shallow).is_ok());
    assert!(serde_json::to_string(&shallow).is_ok());
    assert!(serde_json::to_string(&v).is_err());
    refused(&chain(MAX_DEPTH + 1), "nested deeper");
}

#[test]
fn depth_counts_through_shared_references() {
    // A chain of 600 built first, then referenced from inside another chain of 600: the
    // value is 1200 deep although no single run of opcodes is.
    let mut body = vec![b'N'];
    body.extend(std::iter::repeat(0x85).take(600));
    body.extend_from_slice(b"q\x00"); // BINPUT 0
    body.push(b'0'); // POP
    body.extend_from_slice(b"h\x00");
    body.extend(std::iter::repeat(0x85).take(600));
    refused(&p2(&body), "nested deeper");
}

// ---- sharing ----

/// `[[0]*10000]*10000` as CPython's protocol 2 writes it: 40 KB.
fn ten_thousand_squared() -> Vec<u8> {
    // outer = []; MARK; inner = [] with 10 batches of 1000 zeros; 999 more refs; APPENDS;
    // then 9 batches of 1000 refs.
    let mut b = vec![0x80, 2, b']', b'q', 0, b'(', b']', b'q', 1];
    for _ in 0..10 {
        b.push(b'(');
        b.extend(std::iter::repeat([b'K', 0]).take(1000).flatten());
        b.push(b'e');
    }
    b.extend(std::iter::repeat([b'h', 1]).take(999).flatten());
    b.push(b'e');
    for _ in 0..9 {
        b.push(b'(');
        b.extend(std::iter::repeat([b'h', 1]).take(1000).flatten());
        b.push(b'e');
    }
    b.push(b'.');
    b
}

#[test]
fn ten_thousand_squared_decodes_fast_and_shared() {
    let data = ten_thousand_squared();
    assert!(data.len() < 45_000);
    let v = timed(|| decode(&data)).unwrap();
    let outer = v.as_seq().unwrap();
    let Value::List(inner) = &outer[0] else {
        panic!("not a list")
    };
    assert_eq!(inner.len(), 10_000);
    assert!(inner.iter().all(|x| *x == Value::Int(0)));
    assert_eq!(outer.len(), 10_000);
    assert!(outer
        .iter()
        .all(|x| matches!(x, Value::List(l) if Arc::ptr_eq(l, inner))));
    assert!(v.footprint() < 30_000, "footprint {}", v.footprint());
    // Expanding it into owned Rust data would take 100 M elements: refused, fast.
    let e = timed(|| from_value::<Vec<Vec<i64>>>(&v)).unwrap_err();
    assert!(
        e.to_string().contains("expands through shared references"),
        "{e}"
    );
    let e = timed(|| to_json(&v)).unwrap_err();
    assert!(e.to_string().contains("expands"), "{e}");
    // Our encoding keeps the sharing: about as small as the input.
    let enc = timed(|| encode(&v));
    assert!(enc.len() < 2 * data.len(), "{} bytes", enc.len());
    assert!(timed(|| decode(&enc)).unwrap().same(&v));
    // Debug output is cut short.
    assert!(format!("{v:?}").len() < 100_000);
}

#[test]
fn billion_laughs_through_memo_decodes_in_linear_time_without_expanding() {
    // l0 = [0]; l(k+1) = [lk, lk] for 60 levels: 2^60 leaves logically.
    let mut body = vec![b']', b'q', 0, b'K', 0, b'a'];
    for level in 0..60u32 {
        body.extend_from_slice(b"]r");
        body.extend_from_slice(&(level + 1).to_le_bytes());
        body.extend_from_slice(b"(j");
        body.extend_from_slice(&level.to_le_bytes());
        body.push(b'j');
        body.extend_from_slice(&level.to_le_bytes());
        body.push(b'e');
    }
    let data = p2(&body);
    let v = timed(|| decode(&data)).unwrap();
    assert!(v.footprint() < 1000);
    let e = timed(|| from_value::<serde_json::Value>(&v)).unwrap_err();
    assert!(e.to_string().contains("expands"), "{e}");
    assert!(timed(|| to_json(&v)).is_err());
    let enc = timed(|| encode(&v));
    assert!(enc.len() < 4 * data.len());
    assert!(timed(|| decode(&enc)).unwrap().same(&v));
    assert!(timed(|| v == v.clone()));
    let _ = timed(|| format!("{v:?}"));
}

#[test]
fn billion_laughs_through_dup_decodes_in_linear_time() {
    // DUP, TUPLE2 sixty times: ((x, x), (x, x)) ... 2^60 leaves, 122 bytes.
    let mut body = vec![b'K', 7];
    for _ in 0..60 {
        body.extend_from_slice(&[b'2', 0x86]);
    }
    let v = timed(|| decode(&p2(&body))).unwrap();
    let mut depth = 0;
    let mut cur = &v;
    while let Value::Tuple(t) = cur {
        assert!(
            matches!((&t[0], &t[1]), (Value::Tuple(a), Value::Tuple(b)) if Arc::ptr_eq(a, b))
                || matches!(t[0], Value::Int(7))
        );
        depth += 1;
        cur = &t[0];
    }
    assert_eq!(depth, 60);
    assert!(timed(|| from_value::<Vec<serde_json::Value>>(&v)).is_err());
}

#[test]
fn dup_flood_is_linear() {
    // A 1000-item list duplicated 30,000 times onto the stack, collected into a tuple.
    let mut body = vec![b'(', b']', b'('];
    body.extend(std::iter::repeat([b'K', 1]).take(1000).flatten());
    body.push(b'e');
    body.extend(std::iter::repeat(b'2').take(30_000));
    body.push(b't');
    let v = timed(|| decode(&p2(&body))).unwrap();
    assert_eq!(v.as_seq().unwrap().len(), 30_001);
}

#[test]
fn copying_a_memoised_list_into_sets_is_budgeted() {
    // set(L) copies L; doing it 10,000 times with a 10,000-item L would copy 100 M entries.
    let mut body = vec![b']', b'q', 0, b'('];
    body.extend(std::iter::repeat([b'M', 1, 2]).take(10_000).flatten());
    body.push(b'e');
    for _ in 0..10_000 {
        body.extend_from_slice(b"cbuiltins\nset\nh\x00\x85R0");
    }
    refused(&p2(&body), "too many container entries created by copying");
}

#[test]
fn converting_a_memoised_string_to_bytes_is_budgeted() {
    // _codecs.encode(s, 'latin1') of a 1 MB memoised str, 100 times.
    let mut body = vec![b'X'];
    body.extend_from_slice(&1_000_000u32.to_le_bytes());
    body.extend(std::iter::repeat(b'a').take(1_000_000));
    body.extend_from_slice(b"q\x00X\x06\x00\x00\x00latin1q\x01");
    for _ in 0..100 {
        body.extend_from_slice(b"c_codecs\nencode\nh\x00h\x01\x86R0");
    }
    refused(&p2(&body), "too many bytes created by conversion");
}

// ---- globals and calls ----

#[test]
fn unknown_globals_are_named_and_never_imported() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"cos\nsystem\n(S'echo pwned'\ntR.",
            "global 'os.system' is not allowed",
        ),
        (b"cposix\nsystem\n(S'id'\ntR.", "global 'posix.system'"),
        (
            b"cbuiltins\neval\n(S'1+1'\ntR.",
            "global 'builtins.eval' is not allowed",
        ),
        (b"c__builtin__\neval\n.", "global '__builtin__.eval'"),
        (b"csubprocess\nPopen\n.", "global 'subprocess.Popen'"),
        (b"cbuiltins\ngetattr\n.", "global 'builtins.getattr'"),
        (b"cnumpy\nload\n.", "global 'numpy.load'"),
        (
            b"cnumpy.core.multiarray\n_reconstruct_evil\n.",
            "_reconstruct_evil",
        ),
        (b"ccopy_reg\n_reconstructor\n.", "copy_reg._reconstructor"),
        (
            b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94.",
            "global 'os.system'",
        ),
    ];
    for (data, needle) in cases {
        refused(data, needle);
    }
    // A global name of 8 MiB is clipped in the message.
    let mut d = b"c".to_vec();
    d.extend(std::iter::repeat(b'x').take(8 << 20));
    d.extend_from_slice(b"\ny\n.");
    let e = refused(&d, "is not allowed");
    assert!(e.to_string().contains("bytes)"), "{e}");
}

#[test]
fn reduce_build_inst_obj_are_limited_to_the_known_forms() {
    let cases: &[(&[u8], &str)] = &[
        // REDUCE on a list, a str, an int.
        (b"\x80\x02]]R.", "REDUCE on a list"),
        (b"\x80\x02X\x01\x00\x00\x00a)R.", "REDUCE on a str"),
        // Allowed global, arguments not a tuple / wrong form.
        (b"\x80\x02cbuiltins\nset\nK\x01R.", "must be a tuple, not int"),
        (b"\x80\x02cbuiltins\nset\nX\x01\x00\x00\x00a\x85R.", "expected a list"),
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00utf-8\x86R.", "only latin1"),
        (b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00a\x85R.", "_codecs.encode() accepts only"),
        (b"\x80\x02cnumpy\nndarray\n)R.", "calling numpy.ndarray directly"),
        (
            b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncbuiltins\nset\nK\x00\x85C\x01b\x87R.",
            "only numpy.ndarray",
        ),
        (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x85R.", "Python objects"),
        (b"\x80\x02cnumpy\ndtype\nX\x03\x00\x00\x00<U5\x85R.", "unsupported numpy dtype"),
        (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f8\x85R.", "numpy.dtype cannot be a value"),
        (b"\x80\x02cbuiltins\nset\n.", "a global (class or function) cannot be a value"),
        // BUILD on anything but arrays and dtypes.
        (b"\x80\x02}}b.", "BUILD on a dict"),
        (b"\x80\x02]Nb.", "BUILD on a list"),
        (b"\x80\x02NNb.", "BUILD cannot be applied to a NoneType"),
        (b"\x80\x02cbuiltins\nset\n}b.", "BUILD on a global"),
        // ndarray BUILD with a bad state.
        (
            b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R)b.",
            "state has 0 items",
        ),
        (
            b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01K\x02\x85K\x05\x89C\x00tb.",
            "expected a numpy.dtype",
        ),
        (
            b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R.",
            "without state",
        ),
        // INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT, persistent IDs.
        (b"(ios\nsystem\nS'id'\n.", "INST (instantiating \"os\".\"system\") is not supported"),
        (b"(cbuiltins\nset\no.", "OBJ (instantiating a class) is not supported"),
        (b"\x80\x02cbuiltins\nset\n)\x81.", "NEWOBJ (instantiating a class) is not supported"),
        (b"\x80\x04cbuiltins\nset\n)}\x92.", "NEWOBJ_EX"),
        (b"\x80\x02\x82\x01.", "extension registry"),
        (b"Pfoo\n.", "persistent IDs"),
        (b"\x80\x02NQ.", "persistent IDs"),
        // Protocol 5 out-of-band buffers.
        (b"\x80\x05\x97.", "out-of-band buffers"),
        (b"\x80\x05C\x01a\x98.", "out-of-band buffers"),
    ];
    for (data, needle) in cases {
        refused(data, needle);
    }
}

#[test]
fn container_opcodes_on_the_wrong_target_are_refused() {
    let cases: &[(&[u8], &str)] = &[
        (b"\x80\x02}K\x01a.", "APPEND to a dict"),
        (b"\x80\x02)(K\x01e.", "APPENDS to a tuple"),
        (b"\x80\x02]K\x01K\x02s.", "SETITEM on a list"),
        (b"\x80\x02](K\x01K\x02u.", "SETITEMS on a list"),
        (b"\x80\x02}(K\x01u.", "odd number of items for SETITEMS"),
        (b"\x80\x02(K\x01d.", "odd number of items for DICT"),
        (b"\x80\x04](K\x01\x90.", "ADDITEMS to a list"),
        (b"\x80\x02K\x01a.", "stack underflow"),
        (b"\x80\x02a.", "stack underflow"),
        (b"\x80\x02(a.", "stack underflow"),
        (b"\x80\x02t.", "could not find MARK"),
        (b"\x80\x02(.", "stack underflow"),
        (b"\x80\x02h\x05.", "memo value not found at index 5"),
        (b"g99999999999999999999\n.", "invalid memo index"),
        (b"\x80\x02q\x00.", "stack underflow"),
        (b"\x80\x02\xff.", "unknown opcode 0xff"),
        (b"\x80\x02\x85.", "stack underflow"),
    ];
    for (data, needle) in cases {
        refused(data, needle);
    }
}

#[test]
fn text_arguments_are_checked() {
    refused(b"I12x\n.", "invalid literal for int()");
    refused(b"Fabc\n.", "could not convert string to float");
    refused(b"S'abc\n.", "must be quoted");
    refused(b"S'\xc3\xa9'\n.", "non-ASCII");
    refused(b"V\\u12\n.", "truncated \\u escape");
    refused(b"V\\ud800\n.", "lone surrogate");
    refused(b"\x80\x03X\x02\x00\x00\x00\xed\xa0.", "not valid UTF-8");
    assert_eq!(decode(b"I01\n.").unwrap(), Value::Bool(true));
    assert_eq!(
        decode(b"S'a\\'b\\x41\\n'\n.").unwrap(),
        Value::str("a'bA\n")
    );
    assert_eq!(decode(b"V\\u00e9\\\\x\n.").unwrap(), Value::str("é\\\\x"));
}

// ---- truncation, protocol, trailing bytes ----

#[test]
fn every_proper_prefix_of_every_vector_is_refused_as_truncated() {
    let doc: serde_json::Value = serde_json::from_str(include_str!("pickle_vectors.json")).unwrap();
    let mut n = 0;
    for case in doc["cases"].as_array().unwrap() {
        for data in case["pickles"].as_object().unwrap().values() {
            let full = base64::engine::general_purpose::STANDARD
                .decode(data.as_str().unwrap())
                .unwrap();
            let reject = case["expect"].get("reject").is_some();
            // Every cut of short pickles; for long ones, every 7th cut and the last 32.
            let cuts = (0..full.len())
                .filter(|&c| full.len() <= 400 || c % 7 == 0 || c + 32 >= full.len());
            for cut in cuts {
                let e = decode(&full[..cut]).expect_err("a prefix must be refused");
                assert!(
                    reject || e.to_string().contains("truncated"),
                    "{} prefix {cut}: {e}",
                    case["name"]
                );
                n += 1;
            }
        }
    }
    assert!(n > 30_000, "{n} prefixes");
}

#[test]
fn protocol_6_and_above_are_refused() {
    refused(b"\x80\x06N.", "unsupported pickle protocol: 6");
    refused(b"\x80\xffN.", "unsupported pickle protocol: 255");
    assert_eq!(decode(b"\x80\x05N.").unwrap(), Value::None);
}

#[test]
fn bytes_after_stop_are_ignored_as_cpython_does() {
    assert_eq!(decode(b"\x80\x02K\x05.garbage\xff").unwrap(), Value::Int(5));
    refused(b"", "truncated");
}

// ---- amplification by text and marks ----

#[test]
fn a_million_marks_are_cheap() {
    let mut d = vec![b'('; 1_000_000];
    d.extend_from_slice(b"N.");
    assert_eq!(timed(|| decode(&d)).unwrap(), Value::None);
    // Closing them all nests a million deep: refused.
    let mut d = vec![b'('; 1_000_000];
    d.extend(std::iter::repeat(b't').take(1_000_000));
    d.push(b'.');
    refused(&d, "nested deeper");
    // Popping them all leaves nothing.
    let mut d = vec![b'('; 1_000_000];
    d.extend(std::iter::repeat(b'1').take(1_000_000));
    d.extend_from_slice(b"K\x01.");
    assert_eq!(timed(|| decode(&d)).unwrap(), Value::Int(1));
}

#[test]
fn a_million_digit_text_int_is_refused_like_cpython() {
    for op in [b'I', b'L'] {
        let mut d = vec![op];
        d.extend(std::iter::repeat(b'7').take(1_000_000));
        d.extend_from_slice(b"\n.");
        refused(
            &d,
            "integer text of 1000000 digits exceeds the limit of 4300 digits",
        );
    }
    // 4300 digits are fine (and exact); 4301 are not.
    let digits = "9".repeat(4300);
    let v = decode(format!("L{digits}L\n.").as_bytes()).unwrap();
    assert_eq!(v.int_to_string().unwrap(), digits);
    refused(format!("I-{digits}1\n.").as_bytes(), "4301 digits");
}

#[test]
fn errors_about_huge_operands_stay_short() {
    let huge = "z".repeat(8 << 20);
    for (prefix, needle) in [
        ("I", "invalid literal"),
        ("F", "could not convert"),
        ("g", "invalid memo index"),
    ] {
        let d = format!("{prefix}{huge}\n.");
        refused(d.as_bytes(), needle);
    }
    // An 8 MiB str fed to numpy.dtype(): the message quotes 80 bytes of it.
    let mut d = b"\x80\x02cnumpy\ndtype\nX".to_vec();
    d.extend_from_slice(&(huge.len() as u32).to_le_bytes());
    d.extend_from_slice(huge.as_bytes());
    d.extend_from_slice(b"\x85R.");
    refused(&d, "unsupported numpy dtype");
    // An 8 MiB array whose data does not match its shape.
    let arr = NdArray::from_vec(vec![0u8; 8 << 20]);
    let mut enc = encode(&Value::NdArray(arr));
    // Shape (8388608,) is written as BININT; make it one element longer.
    let pos = enc
        .windows(5)
        .position(|w| w == [b'J', 0, 0, 0x80, 0])
        .unwrap();
    enc[pos + 1] = 1;
    refused(&enc, "ndarray data has 8388608 bytes");
}

#[test]
fn memo_indices_are_sparse_safe() {
    // LONG_BINPUT / LONG_BINGET at 2^32 - 1, and a text PUT of 10^18.
    let d = b"\x80\x02K\x07r\xff\xff\xff\xff0j\xff\xff\xff\xff.";
    assert_eq!(timed(|| decode(d)).unwrap(), Value::Int(7));
    let d = b"I7\np1000000000000000000\n0g1000000000000000000\n.";
    assert_eq!(timed(|| decode(d)).unwrap(), Value::Int(7));
    // A million MEMOIZEs of one list.
    let mut d = vec![0x80, 4, b']'];
    d.extend(std::iter::repeat(0x94).take(1_000_000));
    d.push(b'.');
    assert_eq!(timed(|| decode(&d)).unwrap(), Value::list(vec![]));
}
