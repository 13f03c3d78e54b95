//! The serde bridge: handlers take and return natural Rust types; `NdArray` and `Value` pass
//! through intact; property tests round-trip Rust values and `Value`s through pickles.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tarp_core::wire::pickle::{
    decode, encode, from_pickle, from_value, to_json, to_pickle, to_value, ArrayData, DType,
    NdArray, Value,
};

fn list(items: Vec<Value>) -> Value {
    Value::list(items)
}

fn ints(xs: &[i64]) -> Vec<Value> {
    xs.iter().map(|&x| Value::Int(x)).collect()
}

#[test]
fn sequences_of_numbers_come_from_lists_tuples_and_arrays() {
    let want = vec![1.0, 2.5, -3.0];
    let l = list(vec![Value::Float(1.0), Value::Float(2.5), Value::Int(-3)]);
    assert_eq!(from_value::<Vec<f64>>(&l).unwrap(), want);
    let t = Value::tuple(vec![Value::Int(1), Value::Float(2.5), Value::Float(-3.0)]);
    assert_eq!(from_value::<Vec<f64>>(&t).unwrap(), want);
    let a = Value::NdArray(NdArray::from_vec(want.clone()));
    assert_eq!(from_value::<Vec<f64>>(&a).unwrap(), want);
    let a32 = Value::NdArray(NdArray::from_vec(vec![1.0f32, 2.5, -3.0]));
    assert_eq!(from_value::<Vec<f64>>(&a32).unwrap(), want);
    let ai = Value::NdArray(NdArray::from_vec(vec![1i32, 2, -3]));
    assert_eq!(from_value::<Vec<i64>>(&ai).unwrap(), vec![1, 2, -3]);
    assert_eq!(from_value::<[f64; 3]>(&a).unwrap(), [1.0, 2.5, -3.0]);
    // An n-D array is its elements in C order.
    let m = NdArray::from_shape_vec(vec![2, 2], vec![1u8, 2, 3, 4]).unwrap();
    assert_eq!(
        from_value::<Vec<u8>>(&Value::NdArray(m)).unwrap(),
        vec![1, 2, 3, 4]
    );
    // A 0-d array is its element.
    let z = NdArray::from_shape_vec(vec![], vec![7.5f64]).unwrap();
    assert_eq!(from_value::<f64>(&Value::NdArray(z)).unwrap(), 7.5);
    // bytes into Vec<u8>.
    assert_eq!(
        from_value::<Vec<u8>>(&Value::bytes(&b"ab"[..])).unwrap(),
        b"ab"
    );
    // Sets are sequences too.
    let s = Value::Set(Arc::new(ints(&[3, 1])));
    assert_eq!(from_value::<Vec<i64>>(&s).unwrap(), vec![3, 1]);
}

#[test]
fn integers_are_range_checked_and_big_ones_are_exact() {
    let e = from_value::<u8>(&Value::Int(300)).unwrap_err().to_string();
    assert!(e.contains("300") && e.contains("u8"), "{e}");
    let e = from_value::<u32>(&Value::Int(-1)).unwrap_err().to_string();
    assert!(e.contains("-1"), "{e}");
    let big = decode(b"L1180591620717411303424L\n.").unwrap();
    let e = from_value::<i64>(&big).unwrap_err().to_string();
    assert!(e.contains("does not fit in 64 bits"), "{e}");
    let e = from_value::<serde_json::Value>(&big)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not fit in 64 bits"), "{e}");
    assert_eq!(from_value::<i128>(&big).unwrap(), 1 << 70);
    assert_eq!(from_value::<u128>(&big).unwrap(), 1 << 70);
    assert_eq!(
        from_value::<String>(&big).unwrap(),
        "1180591620717411303424"
    );
    assert_eq!(from_value::<f64>(&big).unwrap(), 2f64.powi(70));
    let umax = decode(b"L18446744073709551615L\n.").unwrap();
    assert!(matches!(umax, Value::BigInt(_)));
    assert_eq!(from_value::<u64>(&umax).unwrap(), u64::MAX);
    assert!(from_value::<i64>(&umax).is_err());
    let huge = decode(format!("L-{}L\n.", "9".repeat(100)).as_bytes()).unwrap();
    assert!(from_value::<i128>(&huge)
        .unwrap_err()
        .to_string()
        .contains("i128"));
    assert_eq!(
        from_value::<String>(&huge).unwrap(),
        format!("-{}", "9".repeat(100))
    );
    // A float is not an int.
    assert!(from_value::<i64>(&Value::Float(2.0)).is_err());
    // An int is a float (as Python callers expect).
    assert_eq!(from_value::<f64>(&Value::Int(2)).unwrap(), 2.0);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Point {
    x: f64,
    y: f64,
    label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Empty,
    Circle(f64),
    Rect { w: f64, h: f64 },
    Pair(i64, i64),
}

#[test]
fn structs_enums_options_and_errors_with_paths() {
    let p = Value::dict(vec![
        (Value::str("x"), Value::Float(1.0)),
        (Value::str("y"), Value::Int(2)),
        (Value::str("label"), Value::None),
    ]);
    assert_eq!(
        from_value::<Point>(&p).unwrap(),
        Point {
            x: 1.0,
            y: 2.0,
            label: None
        }
    );
    let bad = list(vec![
        p.clone(),
        Value::dict(vec![
            (Value::str("x"), Value::str("one")),
            (Value::str("y"), Value::Int(2)),
        ]),
    ]);
    let e = from_value::<Vec<Point>>(&bad).unwrap_err();
    assert_eq!(e.path(), "[1].x");
    assert!(
        e.to_string().contains("invalid type: string \"one\""),
        "{e}"
    );
    let e = from_value::<Point>(&Value::dict(vec![])).unwrap_err();
    assert!(e.to_string().contains("missing field `x`"), "{e}");
    for (v, want) in [
        (Value::str("Empty"), Shape::Empty),
        (
            Value::dict(vec![(Value::str("Circle"), Value::Float(1.5))]),
            Shape::Circle(1.5),
        ),
        (
            Value::dict(vec![(
                Value::str("Rect"),
                Value::dict(vec![
                    (Value::str("w"), Value::Float(2.0)),
                    (Value::str("h"), Value::Float(3.0)),
                ]),
            )]),
            Shape::Rect { w: 2.0, h: 3.0 },
        ),
        (
            Value::dict(vec![(Value::str("Pair"), Value::tuple(ints(&[1, 2])))]),
            Shape::Pair(1, 2),
        ),
    ] {
        assert_eq!(from_value::<Shape>(&v).unwrap(), want);
        // And back: externally tagged, tuples as tuples.
        assert_eq!(to_value(&want).unwrap(), v);
    }
    assert_eq!(from_value::<Option<i64>>(&Value::None).unwrap(), None);
    assert_eq!(from_value::<Option<i64>>(&Value::Int(4)).unwrap(), Some(4));
    assert_eq!(from_value::<()>(&Value::None).unwrap(), ());
    assert_eq!(from_value::<()>(&Value::tuple(vec![])).unwrap(), ());
    let kwargs = Value::dict(vec![
        (Value::str("lower"), Value::Int(0)),
        (Value::str("upper"), Value::Int(100)),
    ]);
    let m: HashMap<String, i64> = from_value(&kwargs).unwrap();
    assert_eq!(m["upper"], 100);
    let t: (i64, String, bool) = from_value(&Value::tuple(vec![
        Value::Int(1),
        Value::str("a"),
        Value::Bool(true),
    ]))
    .unwrap();
    assert_eq!(t, (1, "a".into(), true));
}

struct Raw(Vec<u8>);

impl Serialize for Raw {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

#[test]
fn to_value_maps_rust_types_to_natural_python_values() {
    assert_eq!(to_value(&()).unwrap(), Value::None);
    assert_eq!(to_value(&Option::<i32>::None).unwrap(), Value::None);
    assert_eq!(
        to_value(&Raw(b"\x00\xff".to_vec())).unwrap(),
        Value::bytes(&b"\x00\xff"[..])
    );
    assert_eq!(
        to_value(&(1u8, "a", 2.5f32)).unwrap(),
        Value::tuple(vec![Value::Int(1), Value::str("a"), Value::Float(2.5)])
    );
    assert_eq!(to_value(&vec![1, 2]).unwrap(), list(ints(&[1, 2])));
    let mut m = BTreeMap::new();
    m.insert(1, "a");
    assert_eq!(
        to_value(&m).unwrap(),
        Value::dict(vec![(Value::Int(1), Value::str("a"))])
    );
    let p = Point {
        x: 1.0,
        y: 2.0,
        label: Some("p".into()),
    };
    assert_eq!(
        to_value(&p).unwrap(),
        Value::dict(vec![
            (Value::str("x"), Value::Float(1.0)),
            (Value::str("y"), Value::Float(2.0)),
            (Value::str("label"), Value::str("p")),
        ])
    );
    assert_eq!(
        to_value(&u64::MAX).unwrap().int_to_string().unwrap(),
        u64::MAX.to_string()
    );
    assert_eq!(
        to_value(&i128::MIN).unwrap().int_to_string().unwrap(),
        i128::MIN.to_string()
    );
    assert_eq!(to_value(&'é').unwrap(), Value::str("é"));
}

#[test]
fn ndarray_passes_through_serde_as_a_real_array() {
    let a = NdArray::from_shape_vec(vec![2, 3], vec![0.5f64, 1., 2., 3., 4., 5.]).unwrap();
    // A handler returning NdArray: the value is the very same array.
    match to_value(&a).unwrap() {
        Value::NdArray(b) => assert!(NdArray::ptr_eq(&a, &b)),
        other => panic!("{other:?}"),
    }
    #[derive(Serialize, Deserialize)]
    struct Out {
        name: String,
        data: NdArray,
    }
    let v = to_value(&Out {
        name: "m".into(),
        data: a.clone(),
    })
    .unwrap();
    let entries = v.as_dict().unwrap();
    assert!(matches!(&entries[1].1, Value::NdArray(b) if NdArray::ptr_eq(&a, b)));
    // And back: a handler argument typed NdArray receives the caller's array.
    let out: Out = from_value(&v).unwrap();
    assert!(NdArray::ptr_eq(&out.data, &a));
    assert_eq!(out.data.shape(), &[2, 3]);
    // A rectangular list is converted; a ragged one or strings are refused.
    let nested = list(vec![list(ints(&[1, 2, 3])), list(ints(&[4, 5, 6]))]);
    let m: NdArray = from_value(&nested).unwrap();
    assert_eq!((m.dtype(), m.shape()), (DType::I64, &[2usize, 3][..]));
    assert_eq!(m.as_i64().unwrap(), &[1, 2, 3, 4, 5, 6]);
    let f: NdArray = from_value(&list(vec![Value::Int(1), Value::Float(0.5)])).unwrap();
    assert_eq!(f.as_f64().unwrap(), &[1.0, 0.5]);
    let b: NdArray = from_value(&list(vec![Value::Bool(true)])).unwrap();
    assert_eq!(b.as_bool().unwrap(), &[true]);
    let ragged = list(vec![list(ints(&[1, 2])), list(ints(&[3]))]);
    assert!(from_value::<NdArray>(&ragged)
        .unwrap_err()
        .to_string()
        .contains("ragged"));
    assert!(from_value::<NdArray>(&Value::str("x"))
        .unwrap_err()
        .to_string()
        .contains("expected a numpy array"));
    // Through a pickle, end to end.
    let bytes = to_pickle(&a).unwrap();
    let back: NdArray = from_pickle(&bytes).unwrap();
    assert_eq!(back, a);
    // Other formats see a plain struct and read it back.
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"dtype": "<f8", "shape": [2, 3], "data": [0.5, 1.0, 2.0, 3.0, 4.0, 5.0]})
    );
    let again: NdArray = serde_json::from_value(json).unwrap();
    assert_eq!(again, a);
    let c = NdArray::from_vec(vec![[1.0f64, -2.0]]);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["data"], serde_json::json!([[1.0, -2.0]]));
    assert_eq!(serde_json::from_value::<NdArray>(json).unwrap(), c);
    let nested: NdArray = serde_json::from_str("[[1, 2], [3, 4]]").unwrap();
    assert_eq!(nested.shape(), &[2, 2]);
}

#[test]
fn value_passes_through_serde_unchanged() {
    let shared = list(ints(&[1, 2]));
    let v = Value::tuple(vec![
        shared.clone(),
        shared.clone(),
        Value::Set(Arc::new(ints(&[1]))),
        Value::FrozenSet(Arc::new(vec![])),
        Value::from_i128(1 << 100),
        Value::NdArray(NdArray::from_vec(vec![true, false])),
    ]);
    let back: Value = from_value(&v).unwrap();
    assert!(back.same(&v));
    assert!(matches!((&v, &back), (Value::Tuple(a), Value::Tuple(b)) if Arc::ptr_eq(a, b)));
    assert!(to_value(&v).unwrap().same(&v));
    #[derive(Serialize, Deserialize)]
    struct Holder {
        any: Value,
    }
    let h: Holder = from_value(&Value::dict(vec![(Value::str("any"), v.clone())])).unwrap();
    assert!(h.any.same(&v));
    // serde_json sees natural JSON and gives back lists.
    let j = serde_json::to_string(&v).unwrap();
    assert!(
        j.starts_with("[[1,2],[1,2],[1],[],1267650600228229401496703205376,{\"dtype\":\"|b1\""),
        "{j}"
    );
    let from_json: Value =
        serde_json::from_value(serde_json::json!({"a": [1, 2.5, null]})).unwrap();
    assert_eq!(
        from_json,
        Value::dict(vec![(
            Value::str("a"),
            list(vec![Value::Int(1), Value::Float(2.5), Value::None])
        )])
    );
}

#[test]
fn to_json_prints_values_for_people() {
    let v = Value::dict(vec![
        (Value::str("f"), Value::Float(f64::NAN)),
        (Value::Int(1), Value::Float(f64::NEG_INFINITY)),
        (Value::None, Value::bytes(&b"\x00\x01"[..])),
        (Value::Bool(true), Value::from_i128(-(1 << 100))),
        (
            Value::str("a"),
            Value::NdArray(NdArray::from_shape_vec(vec![2, 1], vec![1u8, 2]).unwrap()),
        ),
        (
            Value::str("big"),
            decode(format!("L{}L\n.", "1".repeat(4300)).as_bytes()).unwrap(),
        ),
        (Value::str("u"), Value::from(u64::MAX)),
    ]);
    let j = to_json(&v).unwrap();
    assert_eq!(j["f"], "NaN");
    assert_eq!(j["1"], "-Infinity");
    assert_eq!(j["null"], "AAE=");
    assert_eq!(j["true"], "-1267650600228229401496703205376");
    assert_eq!(j["a"], serde_json::json!([[1], [2]]));
    assert_eq!(j["big"].as_str().unwrap().len(), 4300);
    assert_eq!(j["u"], serde_json::json!(u64::MAX));
}

// ---- property tests ----

fn arb_array() -> impl Strategy<Value = NdArray> {
    let shape = prop::collection::vec(0usize..4, 0..4);
    (shape, 0usize..DType::ALL.len(), any::<u64>()).prop_map(|(shape, d, seed)| {
        let n: usize = shape.iter().product();
        let mut x = seed | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let dtype = DType::ALL[d];
        let data = match dtype {
            DType::Bool => ArrayData::Bool((0..n).map(|_| next() & 1 == 1).collect()),
            DType::I8 => ArrayData::I8((0..n).map(|_| next() as i8).collect()),
            DType::U8 => ArrayData::U8((0..n).map(|_| next() as u8).collect()),
            DType::I16 => ArrayData::I16((0..n).map(|_| next() as i16).collect()),
            DType::U16 => ArrayData::U16((0..n).map(|_| next() as u16).collect()),
            DType::I32 => ArrayData::I32((0..n).map(|_| next() as i32).collect()),
            DType::U32 => ArrayData::U32((0..n).map(|_| next() as u32).collect()),
            DType::I64 => ArrayData::I64((0..n).map(|_| next() as i64).collect()),
            DType::U64 => ArrayData::U64((0..n).map(|_| next()).collect()),
            DType::F16 => ArrayData::F16((0..n).map(|_| next() as u16).collect()),
            DType::F32 => ArrayData::F32((0..n).map(|_| f32::from_bits(next() as u32)).collect()),
            DType::F64 => ArrayData::F64((0..n).map(|_| f64::from_bits(next())).collect()),
            DType::C64 => ArrayData::C64(
                (0..n)
                    .map(|_| [f32::from_bits(next() as u32), f32::from_bits(next() as u32)])
                    .collect(),
            ),
            DType::C128 => ArrayData::C128(
                (0..n)
                    .map(|_| [f64::from_bits(next()), f64::from_bits(next())])
                    .collect(),
            ),
        };
        NdArray::new(shape, data).unwrap()
    })
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<i128>().prop_map(Value::from_i128),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| Value::int_from_le_bytes(&b)),
        any::<u64>().prop_map(|b| Value::Float(f64::from_bits(b))),
        prop::num::f64::ANY.prop_map(Value::Float),
        ".{0,20}".prop_map(Value::str),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Value::bytes),
        arb_array().prop_map(Value::NdArray),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::list),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::tuple),
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| Value::Set(Arc::new(v))),
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| Value::FrozenSet(Arc::new(v))),
            prop::collection::vec((inner.clone(), inner.clone()), 0..5).prop_map(Value::dict),
            // Sharing: the same container twice.
            inner.prop_map(|x| Value::list(vec![x.clone(), x])),
        ]
    })
}

fn sharing_kept(a: &Value, b: &Value) -> bool {
    // Wherever `a` holds the same Arc twice in a list of two, `b` must too.
    match (a, b) {
        (Value::List(x), Value::List(y)) if x.len() == 2 && y.len() == 2 => {
            let both = |v: &[Value]| match (&v[0], &v[1]) {
                (Value::List(p), Value::List(q)) => Arc::ptr_eq(p, q),
                // `()` is written as EMPTY_TUPLE, unshared (a singleton in Python anyway).
                (Value::Tuple(p), Value::Tuple(q)) => !p.is_empty() && Arc::ptr_eq(p, q),
                (Value::Dict(p), Value::Dict(q)) => Arc::ptr_eq(p, q),
                (Value::NdArray(p), Value::NdArray(q)) => NdArray::ptr_eq(p, q),
                _ => false,
            };
            (!both(x) || both(y)) && sharing_kept(&x[0], &y[0]) && sharing_kept(&x[1], &y[1])
        }
        (Value::List(x), Value::List(y))
        | (Value::Tuple(x), Value::Tuple(y))
        | (Value::Set(x), Value::Set(y))
        | (Value::FrozenSet(x), Value::FrozenSet(y)) => {
            x.iter().zip(y.iter()).all(|(p, q)| sharing_kept(p, q))
        }
        (Value::Dict(x), Value::Dict(y)) => x
            .iter()
            .zip(y.iter())
            .all(|((k1, v1), (k2, v2))| sharing_kept(k1, k2) && sharing_kept(v1, v2)),
        _ => true,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    delta: i32,
    score: f64,
    name: String,
    tags: Vec<String>,
    counts: BTreeMap<String, i64>,
    pair: (u8, bool),
    maybe: Option<Vec<f64>>,
    big: i128,
    shape: Vec<Shape>,
}

fn arb_shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Empty),
        any::<f64>().prop_map(Shape::Circle),
        (any::<f64>(), any::<f64>()).prop_map(|(w, h)| Shape::Rect { w, h }),
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| Shape::Pair(a, b)),
    ]
}

fn arb_record() -> impl Strategy<Value = Record> {
    (
        (any::<u64>(), any::<i32>(), any::<f64>(), ".{0,12}"),
        prop::collection::vec(".{0,6}", 0..4),
        prop::collection::btree_map(".{0,6}", any::<i64>(), 0..4),
        (any::<u8>(), any::<bool>()),
        prop::option::of(prop::collection::vec(any::<f64>(), 0..5)),
        any::<i128>(),
        prop::collection::vec(arb_shape(), 0..3),
    )
        .prop_map(
            |((id, delta, score, name), tags, counts, pair, maybe, big, shape)| Record {
                id,
                delta,
                score,
                name,
                tags,
                counts,
                pair,
                maybe,
                big,
                shape,
            },
        )
}

proptest! {
    #[test]
    fn values_round_trip_through_our_pickles(v in arb_value()) {
        let bytes = encode(&v);
        let back = decode(&bytes).unwrap();
        prop_assert!(back.same(&v), "{:?} became {:?}", v, back);
        prop_assert!(sharing_kept(&v, &back));
        // And through serde unchanged.
        prop_assert!(to_value(&from_value::<Value>(&v).unwrap()).unwrap().same(&v));
    }

    #[test]
    fn rust_values_round_trip_through_pickles(r in arb_record()) {
        let bytes = to_pickle(&r).unwrap();
        let back: Record = from_pickle(&bytes).unwrap();
        // NaN-safe comparison through the bit patterns of the value model.
        prop_assert!(to_value(&back).unwrap().same(&to_value(&r).unwrap()));
    }

    #[test]
    fn arrays_round_trip_with_dtype_and_shape(a in arb_array()) {
        let back: NdArray = from_pickle(&to_pickle(&a).unwrap()).unwrap();
        prop_assert_eq!(back.dtype(), a.dtype());
        prop_assert_eq!(back.shape(), a.shape());
        prop_assert!(Value::NdArray(back).same(&Value::NdArray(a)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = tarp_core::wire::pickle::roundtrip_check(&data).map_err(|e| panic!("{e}"));
    }
}
