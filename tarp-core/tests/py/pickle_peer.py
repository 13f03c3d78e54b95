#!/usr/bin/env python3
"""The real peer for tarp-core's pickle cross-checks (tests/pickle_python.rs).

Both sides describe values in the same tagged JSON form, so a value can be compared across
languages exactly (floats by their bits, ints as decimal text, bytes as hex, sets unordered,
arrays by kind+itemsize, shape and elements in C order):

    python3 -W error pickle_peer.py check   < cases.jsonl   # unpickle what Rust encoded
    python3 -W error pickle_peer.py dump    > pickles.jsonl # pickle values for Rust to decode

The first output line is always {"python": version, "numpy": version or null}.
"""
import base64
import json
import pickle
import struct
import sys

try:
    import numpy as np
except ImportError:  # the Rust side decides whether that is acceptable
    np = None


def fbits(x):
    return struct.pack(">d", x).hex()


def canon(t):
    return json.dumps(t, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def tag(v):
    """The tagged description of a Python value (numpy scalars as the plain values they are)."""
    if v is None:
        return {"none": None}
    if np is not None:
        if isinstance(v, np.ndarray):
            data = [tag(x) for x in v.ravel(order="C").tolist()]
            return {"ndarray": {"dtype": v.dtype.kind + str(v.dtype.itemsize),
                                "shape": list(v.shape), "data": data}}
        if isinstance(v, np.complexfloating):
            return tag(np.asarray(v))
        if isinstance(v, np.generic):
            return tag(v.item())
    if isinstance(v, bool):
        return {"bool": v}
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": fbits(v)}
    if isinstance(v, complex):
        return {"complex": [fbits(v.real), fbits(v.imag)]}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, list):
        return {"list": [tag(x) for x in v]}
    if isinstance(v, tuple):
        return {"tuple": [tag(x) for x in v]}
    if isinstance(v, frozenset):
        return {"frozenset": sorted((tag(x) for x in v), key=canon)}
    if isinstance(v, set):
        return {"set": sorted((tag(x) for x in v), key=canon)}
    if isinstance(v, dict):
        return {"dict": [[tag(k), tag(x)] for k, x in v.items()]}
    raise TypeError("no tag for %s" % type(v).__name__)


def exact_types(v, path="value"):
    """Types our encoder must produce: bytes (never bytearray), real numpy arrays."""
    if isinstance(v, bytearray):
        raise AssertionError("%s is a bytearray, expected bytes" % path)
    if np is not None and isinstance(v, np.ndarray) and type(v) is not np.ndarray:
        raise AssertionError("%s is a %s" % (path, type(v).__name__))
    if isinstance(v, (list, tuple, set, frozenset)):
        for i, x in enumerate(v):
            exact_types(x, "%s[%d]" % (path, i))
    if isinstance(v, dict):
        for k, x in v.items():
            exact_types(k, path + ".key")
            exact_types(x, "%s[%r]" % (path, k))


def check(line):
    case = json.loads(line)
    name = case["name"]
    try:
        obj = pickle.loads(base64.b64decode(case["pickle"]))
        got = tag(obj)
        if got != case["expect"]:
            return {"name": name, "ok": False,
                    "error": "got %s, expected %s" % (canon(got)[:2000], canon(case["expect"])[:2000])}
        exact_types(obj)
        if name.startswith("shared"):
            if not (obj[0] is obj[1]):
                return {"name": name, "ok": False, "error": "obj[0] is not obj[1]"}
        if np is not None and isinstance(obj, np.ndarray):
            if not obj.flags["C_CONTIGUOUS"] or not obj.flags["WRITEABLE"]:
                return {"name": name, "ok": False, "error": "array flags %s" % obj.flags}
        return {"name": name, "ok": True}
    except Exception as e:  # report, never crash the batch
        return {"name": name, "ok": False, "error": "%s: %s" % (type(e).__name__, e)}


def plain_values():
    shared_list = [1, "x"]
    shared_dict = {"a": 1}
    shared_str = "a shared string, long enough to be worth memoising"
    inner = [0.5]
    mid = [inner, inner]
    return [
        ("none", None), ("true", True), ("false", False),
        ("ints", [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, -2**31, 2**31, 2**63 - 1,
                  -2**63, 2**63, 2**64 - 1, 2**64, -2**64 - 1]),
        ("int_googol", 10**100), ("int_neg_300_digits", -(10**300)), ("int_2_4000", 2**4000),
        ("floats", [0.0, -0.0, 1.5, float("nan"), float("inf"), float("-inf"), 1e308, 5e-324, 0.1,
                    -123456.789e-200]),
        ("str_empty", ""), ("str_unicode", "h\u00e9llo \u2603 \U0001F600"),
        ("str_escapes", "back\\slash \\u1234 \n\r\x00\x1a\t end\\"),
        ("str_long", "abc\u00e9" * 5000),
        ("bytes", [b"", b"\x00\xff", bytes(range(256)), b"x" * 300, b"y" * 70000]),
        ("bytearray", bytearray(b"abc")), ("bytearray_empty", bytearray()),
        ("tuples", ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((),))),
        ("list_batches", list(range(2500))),
        ("dict_batches", {"k%d" % i: i for i in range(1500)}),
        ("dict_keys", {1: "int", "s": "str", (1, 2): "tuple", None: "none", 2.5: "float",
                       b"b": "bytes", True: "bool-is-1-so-replaces-int"}),
        ("nested", {"a": [1, {"b": (2, 3)}], "c": {"d": None}, "e": [[[[[]]]]]}),
        ("sets", (set(), {1, 2, 3}, frozenset(), frozenset({"a", "b"}), ({"x"},))),
        ("shared_list", [shared_list, shared_list]),
        ("shared_dict", (shared_dict, shared_dict)),
        ("shared_str", [shared_str, shared_str]),
        ("shared_nested", [mid, mid]),
    ]


def numpy_values():
    if np is None:
        return []
    out = []
    for code in ["?", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16"]:
        dt = np.dtype(code)
        if dt.kind == "b":
            a = np.array([True, False, True, True, False, False])
        elif dt.kind in "iu":
            info = np.iinfo(dt)
            a = np.array([info.min, info.max, 0, 1, 2, 3], dtype=dt)
        elif dt.kind == "f":
            a = np.array([0.0, -0.0, 1.5, np.inf, -np.inf, np.nan], dtype=dt)
        else:
            a = np.array([1 + 2j, -0.5j, np.nan, 3, 0, complex(np.inf, -1)], dtype=dt)
        out.append(("array_" + dt.name, a))
        out.append(("array_%s_2x3" % dt.name, a.reshape(2, 3)))
        if dt.itemsize > 1:
            out.append(("array_%s_big_endian" % dt.name, a.astype(dt.newbyteorder(">"))))
        out.append(("array_%s_fortran" % dt.name, np.asfortranarray(a.reshape(3, 2))))
    out += [
        ("array_linspace", np.linspace(0, 100, 15)),
        ("array_3d", np.arange(24, dtype="<f8").reshape(2, 3, 4)),
        ("array_3d_fortran", np.asfortranarray(np.arange(24, dtype=">i4").reshape(2, 3, 4))),
        ("array_empty", np.zeros(0)), ("array_empty_2d", np.zeros((2, 0), dtype="i2")),
        ("array_0d", np.array(5.25)), ("array_0d_int", np.array(7, dtype="u2")),
        ("array_strided", np.arange(10.0)[::3]), ("array_transposed", np.arange(6).reshape(2, 3).T),
        ("array_large", np.arange(20000, dtype="<f4")),
        ("scalars", [np.float64(2.5), np.float32(0.5), np.float16(1.5), np.int8(-8), np.uint8(200),
                     np.int16(-300), np.uint16(60000), np.int32(-70000), np.uint32(4000000000),
                     np.int64(-2**63), np.uint64(2**64 - 1), np.bool_(True), np.bool_(False)]),
        ("scalar_complex", np.complex128(1 - 2j)),
        ("kwargs_scalars", {"lower": np.float64(1.0), "upper": np.int64(2)}),
        ("two_arrays", [np.zeros(2), np.ones(3), np.arange(3, dtype="i4")]),
    ]
    return out


def header():
    print(json.dumps({"python": sys.version.split()[0],
                      "numpy": None if np is None else np.__version__}), flush=True)


def main():
    mode = sys.argv[1]
    header()
    if mode == "check":
        failures = 0
        for line in sys.stdin:
            if line.strip():
                r = check(line)
                failures += not r["ok"]
                print(json.dumps(r), flush=True)
        sys.exit(1 if failures else 0)
    elif mode == "dump":
        for name, v in plain_values() + numpy_values():
            for proto in range(6):
                print(json.dumps({"name": name, "protocol": proto,
                                  "pickle": base64.b64encode(pickle.dumps(v, protocol=proto)).decode(),
                                  "expect": tag(v)}), flush=True)
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
