//! numpy arrays as plain Rust data: a dtype, a shape, and the elements in C order, native
//! little-endian, converted once at decode time so handlers never deal with byte order or
//! Fortran layout.

use std::fmt;
use std::sync::Arc;

use super::ValueError;

/// Most dimensions numpy accepts (`NPY_MAXDIMS`); more is refused.
pub const MAX_NDIM: usize = 64;

/// Element type of an [`NdArray`], named after numpy's type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `bool` (`|b1`)
    Bool,
    /// `int8` (`|i1`)
    I8,
    /// `uint8` (`|u1`)
    U8,
    /// `int16` (`i2`)
    I16,
    /// `uint16` (`u2`)
    U16,
    /// `int32` (`i4`)
    I32,
    /// `uint32` (`u4`)
    U32,
    /// `int64` (`i8`)
    I64,
    /// `uint64` (`u8`)
    U64,
    /// `float16` (`f2`), kept as IEEE half-precision bit patterns.
    F16,
    /// `float32` (`f4`)
    F32,
    /// `float64` (`f8`)
    F64,
    /// `complex64` (`c8`), as `[re, im]` pairs of `f32`.
    C64,
    /// `complex128` (`c16`), as `[re, im]` pairs of `f64`.
    C128,
}

/// Byte order announced by a dtype (`<`, `>`, `|` or `=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteOrder {
    Little,
    Big,
}

impl DType {
    /// Every supported dtype, in a stable order.
    pub const ALL: [DType; 14] = [
        DType::Bool,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::F16,
        DType::F32,
        DType::F64,
        DType::C64,
        DType::C128,
    ];

    /// Size of one element in bytes.
    pub fn itemsize(self) -> usize {
        match self {
            DType::Bool | DType::I8 | DType::U8 => 1,
            DType::I16 | DType::U16 | DType::F16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 | DType::C64 => 8,
            DType::C128 => 16,
        }
    }

    /// numpy's type code without byte order, as `numpy.dtype(code)` accepts it (`"f8"`).
    pub fn code(self) -> &'static str {
        match self {
            DType::Bool => "b1",
            DType::I8 => "i1",
            DType::U8 => "u1",
            DType::I16 => "i2",
            DType::U16 => "u2",
            DType::I32 => "i4",
            DType::U32 => "u4",
            DType::I64 => "i8",
            DType::U64 => "u8",
            DType::F16 => "f2",
            DType::F32 => "f4",
            DType::F64 => "f8",
            DType::C64 => "c8",
            DType::C128 => "c16",
        }
    }

    /// numpy's `dtype.str` for this type in little-endian order (`"<f8"`, `"|b1"`).
    pub fn descr(self) -> &'static str {
        match self {
            DType::Bool => "|b1",
            DType::I8 => "|i1",
            DType::U8 => "|u1",
            DType::I16 => "<i2",
            DType::U16 => "<u2",
            DType::I32 => "<i4",
            DType::U32 => "<u4",
            DType::I64 => "<i8",
            DType::U64 => "<u8",
            DType::F16 => "<f2",
            DType::F32 => "<f4",
            DType::F64 => "<f8",
            DType::C64 => "<c8",
            DType::C128 => "<c16",
        }
    }

    /// numpy's name for the type (`"float64"`).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::U16 => "uint16",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::I64 => "int64",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::C64 => "complex64",
            DType::C128 => "complex128",
        }
    }

    /// Parses a type code as numpy writes it in pickles and `dtype.str` (`"f8"`, `"<i4"`,
    /// `"|b1"`, `"?"`) or a numpy name (`"float64"`). Returns the type and the byte order the
    /// text states, if any.
    pub fn parse(text: &str) -> Option<DType> {
        Self::parse_with_order(text).map(|(d, _)| d)
    }

    pub(crate) fn parse_with_order(text: &str) -> Option<(DType, Option<ByteOrder>)> {
        let (order, code) = match text.as_bytes().first() {
            Some(b'<') => (Some(ByteOrder::Little), &text[1..]),
            Some(b'>') => (Some(ByteOrder::Big), &text[1..]),
            Some(b'|') | Some(b'=') => (None, &text[1..]),
            _ => (None, text),
        };
        let dtype = match code {
            "b1" | "?" | "bool" | "bool_" => DType::Bool,
            "i1" | "b" | "int8" => DType::I8,
            "u1" | "B" | "uint8" => DType::U8,
            "i2" | "h" | "int16" => DType::I16,
            "u2" | "H" | "uint16" => DType::U16,
            "i4" | "i" | "int32" => DType::I32,
            "u4" | "I" | "uint32" => DType::U32,
            "i8" | "q" | "int64" => DType::I64,
            "u8" | "Q" | "uint64" => DType::U64,
            "f2" | "e" | "float16" => DType::F16,
            "f4" | "f" | "float32" => DType::F32,
            "f8" | "d" | "float64" => DType::F64,
            "c8" | "F" | "complex64" => DType::C64,
            "c16" | "D" | "complex128" => DType::C128,
            _ => return None,
        };
        Some((dtype, order))
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.descr())
    }
}

/// The elements of an [`NdArray`], one typed vector per dtype, in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// `bool`
    Bool(Vec<bool>),
    /// `int8`
    I8(Vec<i8>),
    /// `uint8`
    U8(Vec<u8>),
    /// `int16`
    I16(Vec<i16>),
    /// `uint16`
    U16(Vec<u16>),
    /// `int32`
    I32(Vec<i32>),
    /// `uint32`
    U32(Vec<u32>),
    /// `int64`
    I64(Vec<i64>),
    /// `uint64`
    U64(Vec<u64>),
    /// `float16` as IEEE half-precision bit patterns (see [`f16_to_f64`]).
    F16(Vec<u16>),
    /// `float32`
    F32(Vec<f32>),
    /// `float64`
    F64(Vec<f64>),
    /// `complex64` as `[re, im]`
    C64(Vec<[f32; 2]>),
    /// `complex128` as `[re, im]`
    C128(Vec<[f64; 2]>),
}

macro_rules! each_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            ArrayData::Bool($v) => $body,
            ArrayData::I8($v) => $body,
            ArrayData::U8($v) => $body,
            ArrayData::I16($v) => $body,
            ArrayData::U16($v) => $body,
            ArrayData::I32($v) => $body,
            ArrayData::U32($v) => $body,
            ArrayData::I64($v) => $body,
            ArrayData::U64($v) => $body,
            ArrayData::F16($v) => $body,
            ArrayData::F32($v) => $body,
            ArrayData::F64($v) => $body,
            ArrayData::C64($v) => $body,
            ArrayData::C128($v) => $body,
        }
    };
}

macro_rules! each_data_map {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            ArrayData::Bool($v) => ArrayData::Bool($body),
            ArrayData::I8($v) => ArrayData::I8($body),
            ArrayData::U8($v) => ArrayData::U8($body),
            ArrayData::I16($v) => ArrayData::I16($body),
            ArrayData::U16($v) => ArrayData::U16($body),
            ArrayData::I32($v) => ArrayData::I32($body),
            ArrayData::U32($v) => ArrayData::U32($body),
            ArrayData::I64($v) => ArrayData::I64($body),
            ArrayData::U64($v) => ArrayData::U64($body),
            ArrayData::F16($v) => ArrayData::F16($body),
            ArrayData::F32($v) => ArrayData::F32($body),
            ArrayData::F64($v) => ArrayData::F64($body),
            ArrayData::C64($v) => ArrayData::C64($body),
            ArrayData::C128($v) => ArrayData::C128($body),
        }
    };
}

impl ArrayData {
    /// The dtype these elements have.
    pub fn dtype(&self) -> DType {
        match self {
            ArrayData::Bool(_) => DType::Bool,
            ArrayData::I8(_) => DType::I8,
            ArrayData::U8(_) => DType::U8,
            ArrayData::I16(_) => DType::I16,
            ArrayData::U16(_) => DType::U16,
            ArrayData::I32(_) => DType::I32,
            ArrayData::U32(_) => DType::U32,
            ArrayData::I64(_) => DType::I64,
            ArrayData::U64(_) => DType::U64,
            ArrayData::F16(_) => DType::F16,
            ArrayData::F32(_) => DType::F32,
            ArrayData::F64(_) => DType::F64,
            ArrayData::C64(_) => DType::C64,
            ArrayData::C128(_) => DType::C128,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        each_data!(self, v => v.len())
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An empty vector of the given dtype with room for `n` elements.
    pub(crate) fn with_capacity(dtype: DType, n: usize) -> ArrayData {
        match dtype {
            DType::Bool => ArrayData::Bool(Vec::with_capacity(n)),
            DType::I8 => ArrayData::I8(Vec::with_capacity(n)),
            DType::U8 => ArrayData::U8(Vec::with_capacity(n)),
            DType::I16 => ArrayData::I16(Vec::with_capacity(n)),
            DType::U16 => ArrayData::U16(Vec::with_capacity(n)),
            DType::I32 => ArrayData::I32(Vec::with_capacity(n)),
            DType::U32 => ArrayData::U32(Vec::with_capacity(n)),
            DType::I64 => ArrayData::I64(Vec::with_capacity(n)),
            DType::U64 => ArrayData::U64(Vec::with_capacity(n)),
            DType::F16 => ArrayData::F16(Vec::with_capacity(n)),
            DType::F32 => ArrayData::F32(Vec::with_capacity(n)),
            DType::F64 => ArrayData::F64(Vec::with_capacity(n)),
            DType::C64 => ArrayData::C64(Vec::with_capacity(n)),
            DType::C128 => ArrayData::C128(Vec::with_capacity(n)),
        }
    }

    /// Reads `raw` (exactly `len * itemsize` bytes) in the given byte order.
    pub(crate) fn from_bytes(dtype: DType, raw: &[u8], big_endian: bool) -> ArrayData {
        let mut data = ArrayData::zeroed(dtype, raw.len() / dtype.itemsize());
        data.fill_from(0, raw, big_endian);
        data
    }

    /// `n` zero elements of the given dtype (a large one is fresh zeroed memory, resident
    /// only as it is written).
    pub(crate) fn zeroed(dtype: DType, n: usize) -> ArrayData {
        match dtype {
            DType::Bool => ArrayData::Bool(vec![false; n]),
            DType::I8 => ArrayData::I8(vec![0; n]),
            DType::U8 => ArrayData::U8(vec![0; n]),
            DType::I16 => ArrayData::I16(vec![0; n]),
            DType::U16 => ArrayData::U16(vec![0; n]),
            DType::I32 => ArrayData::I32(vec![0; n]),
            DType::U32 => ArrayData::U32(vec![0; n]),
            DType::I64 => ArrayData::I64(vec![0; n]),
            DType::U64 => ArrayData::U64(vec![0; n]),
            DType::F16 => ArrayData::F16(vec![0; n]),
            DType::F32 => ArrayData::F32(vec![0.0; n]),
            DType::F64 => ArrayData::F64(vec![0.0; n]),
            DType::C64 => ArrayData::C64(vec![[0.0; 2]; n]),
            DType::C128 => ArrayData::C128(vec![[0.0; 2]; n]),
        }
    }

    /// Overwrites the elements from index `at` on with those read from `raw` (whole elements
    /// in the given byte order; elements past the end are not written).
    pub(crate) fn fill_from(&mut self, at: usize, raw: &[u8], big_endian: bool) {
        macro_rules! read {
            ($v:expr, $t:ty, $n:expr) => {
                for (dst, c) in $v[at..].iter_mut().zip(raw.chunks_exact($n)) {
                    let mut b = [0u8; $n];
                    b.copy_from_slice(c);
                    *dst = if big_endian {
                        <$t>::from_be_bytes(b)
                    } else {
                        <$t>::from_le_bytes(b)
                    };
                }
            };
        }
        macro_rules! pairs {
            ($v:expr, $t:ty, $n:expr) => {
                for (dst, c) in $v[at..].iter_mut().zip(raw.chunks_exact(2 * $n)) {
                    for (part, c) in dst.iter_mut().zip(c.chunks_exact($n)) {
                        let mut b = [0u8; $n];
                        b.copy_from_slice(c);
                        *part = if big_endian {
                            <$t>::from_be_bytes(b)
                        } else {
                            <$t>::from_le_bytes(b)
                        };
                    }
                }
            };
        }
        match self {
            ArrayData::Bool(v) => {
                for (dst, &b) in v[at..].iter_mut().zip(raw) {
                    *dst = b != 0;
                }
            }
            ArrayData::I8(v) => {
                for (dst, &b) in v[at..].iter_mut().zip(raw) {
                    *dst = b as i8;
                }
            }
            ArrayData::U8(v) => {
                let n = raw.len().min(v.len() - at);
                v[at..at + n].copy_from_slice(&raw[..n]);
            }
            ArrayData::I16(v) => read!(v, i16, 2),
            ArrayData::U16(v) | ArrayData::F16(v) => read!(v, u16, 2),
            ArrayData::I32(v) => read!(v, i32, 4),
            ArrayData::U32(v) => read!(v, u32, 4),
            ArrayData::I64(v) => read!(v, i64, 8),
            ArrayData::U64(v) => read!(v, u64, 8),
            ArrayData::F32(v) => read!(v, f32, 4),
            ArrayData::F64(v) => read!(v, f64, 8),
            ArrayData::C64(v) => pairs!(v, f32, 4),
            ArrayData::C128(v) => pairs!(v, f64, 8),
        }
    }

    /// Appends the little-endian bytes of every element to `out`.
    ///
    /// Elements are converted a block at a time into a small buffer (a loop the compiler
    /// vectorizes; on a little-endian machine a plain copy) and each block appended with one
    /// copy: appending each element's bytes on its own cost a length check and update per
    /// element (7% of a server echoing a 100 MB array).
    pub(crate) fn write_le_bytes(&self, out: &mut Vec<u8>) {
        out.reserve(self.len() * self.dtype().itemsize());
        macro_rules! put {
            ($v:expr, $n:expr, $bytes:expr) => {{
                const BLOCK: usize = 512;
                let mut buf = [0u8; BLOCK * $n];
                for block in $v.chunks(BLOCK) {
                    for (dst, x) in buf.chunks_exact_mut($n).zip(block) {
                        dst.copy_from_slice(&$bytes(x));
                    }
                    out.extend_from_slice(&buf[..block.len() * $n]);
                }
            }};
        }
        match self {
            ArrayData::Bool(v) => out.extend(v.iter().map(|&b| b as u8)),
            ArrayData::I8(v) => out.extend(v.iter().map(|&b| b as u8)),
            ArrayData::U8(v) => out.extend_from_slice(v),
            ArrayData::I16(v) => put!(v, 2, |x: &i16| x.to_le_bytes()),
            ArrayData::U16(v) | ArrayData::F16(v) => put!(v, 2, |x: &u16| x.to_le_bytes()),
            ArrayData::I32(v) => put!(v, 4, |x: &i32| x.to_le_bytes()),
            ArrayData::U32(v) => put!(v, 4, |x: &u32| x.to_le_bytes()),
            ArrayData::I64(v) => put!(v, 8, |x: &i64| x.to_le_bytes()),
            ArrayData::U64(v) => put!(v, 8, |x: &u64| x.to_le_bytes()),
            ArrayData::F32(v) => put!(v, 4, |x: &f32| x.to_le_bytes()),
            ArrayData::F64(v) => put!(v, 8, |x: &f64| x.to_le_bytes()),
            ArrayData::C64(v) => put!(v, 8, |[re, im]: &[f32; 2]| {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&re.to_le_bytes());
                b[4..].copy_from_slice(&im.to_le_bytes());
                b
            }),
            ArrayData::C128(v) => put!(v, 16, |[re, im]: &[f64; 2]| {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&re.to_le_bytes());
                b[8..].copy_from_slice(&im.to_le_bytes());
                b
            }),
        }
    }

    /// Reorders elements stored in Fortran order into C order.
    fn fortran_to_c(self, shape: &[usize]) -> ArrayData {
        each_data_map!(self, v => fortran_to_c(&v, shape))
    }

    /// Element `i` as a scalar.
    pub fn get(&self, i: usize) -> Option<Scalar> {
        Some(match self {
            ArrayData::Bool(v) => Scalar::Bool(*v.get(i)?),
            ArrayData::I8(v) => Scalar::Int(i64::from(*v.get(i)?)),
            ArrayData::U8(v) => Scalar::Int(i64::from(*v.get(i)?)),
            ArrayData::I16(v) => Scalar::Int(i64::from(*v.get(i)?)),
            ArrayData::U16(v) => Scalar::Int(i64::from(*v.get(i)?)),
            ArrayData::I32(v) => Scalar::Int(i64::from(*v.get(i)?)),
            ArrayData::U32(v) => Scalar::Int(i64::from(*v.get(i)?)),
            ArrayData::I64(v) => Scalar::Int(*v.get(i)?),
            ArrayData::U64(v) => {
                let x = *v.get(i)?;
                match i64::try_from(x) {
                    Ok(s) => Scalar::Int(s),
                    Err(_) => Scalar::UInt(x),
                }
            }
            ArrayData::F16(v) => Scalar::Float(f16_to_f64(*v.get(i)?)),
            ArrayData::F32(v) => Scalar::Float(f64::from(*v.get(i)?)),
            ArrayData::F64(v) => Scalar::Float(*v.get(i)?),
            ArrayData::C64(v) => {
                let [re, im] = *v.get(i)?;
                Scalar::Complex(f64::from(re), f64::from(im))
            }
            ArrayData::C128(v) => {
                let [re, im] = *v.get(i)?;
                Scalar::Complex(re, im)
            }
        })
    }
}

/// One element of an array, widened to the Python type it becomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// from `bool`
    Bool(bool),
    /// from any integer dtype that fits in `i64`
    Int(i64),
    /// from `uint64` values above `i64::MAX`
    UInt(u64),
    /// from `float16/32/64`
    Float(f64),
    /// from `complex64/128`: `(re, im)`
    Complex(f64, f64),
}

/// Reorders `src`, laid out in Fortran order for `shape`, into C order.
fn fortran_to_c<T: Copy>(src: &[T], shape: &[usize]) -> Vec<T> {
    let n = src.len();
    if shape.len() < 2 || n == 0 {
        return src.to_vec();
    }
    let ndim = shape.len();
    // Fortran strides, in elements: the first axis is contiguous.
    let mut fstride = vec![0usize; ndim];
    let mut acc = 1usize;
    for k in 0..ndim {
        fstride[k] = acc;
        acc = acc.saturating_mul(shape[k]);
    }
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; ndim];
    let mut off = 0usize;
    for _ in 0..n {
        out.push(src[off]);
        // Advance the C-order index (last axis fastest), keeping `off` in step.
        let mut k = ndim;
        while k > 0 {
            k -= 1;
            idx[k] += 1;
            off += fstride[k];
            if idx[k] < shape[k] {
                break;
            }
            off -= fstride[k] * shape[k];
            idx[k] = 0;
        }
    }
    out
}

/// Converts an IEEE half-precision bit pattern to `f64` (exactly).
pub fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    let mag = match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => return f64::NAN.copysign(sign),
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    };
    sign * mag
}

/// Converts an `f64` to the nearest IEEE half-precision bit pattern (ties to even).
pub fn f64_to_f16(x: f64) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 48) & 0x8000) as u16;
    if x.is_nan() {
        return sign | 0x7e00;
    }
    let a = x.abs();
    if a >= 65520.0 {
        return sign | 0x7c00;
    }
    if a < 2f64.powi(-25) {
        // Below half the smallest subnormal (ties round to even zero).
        return sign;
    }
    let e = ((bits >> 52) & 0x7ff) as i32 - 1023;
    if e < -14 {
        // Subnormal: value = m * 2^-24 with m < 1024.
        let m = a / 2f64.powi(-24);
        let r = round_half_even(m) as u16;
        return sign | r;
    }
    // Normal: 10 fraction bits.
    let scaled = a / 2f64.powi(e) * 1024.0; // in [1024, 2048)
    let mut m = round_half_even(scaled) as u32;
    let mut e16 = e + 15;
    if m == 2048 {
        m = 1024;
        e16 += 1;
    }
    if e16 >= 31 {
        return sign | 0x7c00;
    }
    sign | ((e16 as u16) << 10) | ((m - 1024) as u16)
}

fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (r - x).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// A Rust type stored in [`ArrayData`] as-is (sealed).
pub trait Element: Copy + sealed::Sealed + 'static {
    /// The dtype a vector of this type becomes.
    const DTYPE: DType;
    /// The slice of this type, if `data` holds it.
    fn slice(data: &ArrayData) -> Option<&[Self]>;
    /// Wraps a vector.
    fn wrap(v: Vec<Self>) -> ArrayData;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn slice(data: &ArrayData) -> Option<&[Self]> {
                match data {
                    ArrayData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> ArrayData {
                ArrayData::$variant(v)
            }
        }
        impl From<Vec<$t>> for NdArray {
            fn from(v: Vec<$t>) -> NdArray {
                NdArray::from_vec(v)
            }
        }
    };
}
element!(bool, Bool);
element!(i8, I8);
element!(u8, U8);
element!(i16, I16);
element!(u16, U16);
element!(i32, I32);
element!(u32, U32);
element!(i64, I64);
element!(u64, U64);
element!(f32, F32);
element!(f64, F64);
element!([f32; 2], C64);
element!([f64; 2], C128);

#[derive(PartialEq)]
struct Inner {
    shape: Vec<usize>,
    data: ArrayData,
}

/// A numpy array: dtype, shape and elements in C order, native little-endian.
///
/// Cheap to clone (the elements are shared), so a pickle that references one array many
/// times costs one copy. Arrives in Python as a `numpy.ndarray` with the same dtype and shape
/// when encoded (directly, or through [`to_value`](super::to_value) as a handler's result), and
/// a handler argument of this type receives the caller's array (or a rectangular list of
/// numbers, converted).
#[derive(Clone)]
pub struct NdArray {
    inner: Arc<Inner>,
}

/// Truncates `buf` to `len` and, while `shrinking` and at least 1 MiB would come back,
/// returns the freed tail to the allocator. Shrinking stops for good the first time the
/// allocator moves the block (a copy) instead of shrinking it in place.
fn give_back(buf: &mut Vec<u8>, len: usize, shrinking: &mut bool) {
    buf.truncate(len);
    if *shrinking && buf.capacity() - buf.len() >= 1 << 20 {
        let before = buf.as_ptr();
        buf.shrink_to_fit();
        *shrinking = std::ptr::eq(before, buf.as_ptr());
    }
}

/// Number of elements a shape holds, or `None` on overflow.
pub(crate) fn shape_len(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

impl NdArray {
    /// An array of `shape` holding `data` (in C order). Fails when the element count does not
    /// match the shape or the shape has more than 64 dimensions.
    pub fn new(shape: Vec<usize>, data: ArrayData) -> Result<NdArray, ValueError> {
        if shape.len() > MAX_NDIM {
            return Err(ValueError::new(format!(
                "ndarray has {} dimensions, more than {MAX_NDIM}",
                shape.len()
            )));
        }
        match shape_len(&shape) {
            Some(n) if n == data.len() => Ok(NdArray {
                inner: Arc::new(Inner { shape, data }),
            }),
            _ => Err(ValueError::new(format!(
                "ndarray shape {} needs a different number of elements than the {} given",
                fmt_shape(&shape),
                data.len()
            ))),
        }
    }

    /// A one-dimensional array of the elements of `v`.
    pub fn from_vec<T: Element>(v: Vec<T>) -> NdArray {
        let shape = vec![v.len()];
        NdArray {
            inner: Arc::new(Inner {
                shape,
                data: T::wrap(v),
            }),
        }
    }

    /// An array of `shape` holding `v` in C order.
    pub fn from_shape_vec<T: Element>(shape: Vec<usize>, v: Vec<T>) -> Result<NdArray, ValueError> {
        NdArray::new(shape, T::wrap(v))
    }

    /// Builds an array from raw bytes as numpy stores them: `raw` holds exactly the elements of
    /// `shape` in the given byte order and memory order (`fortran` = column-major).
    pub fn from_raw(
        dtype: DType,
        shape: Vec<usize>,
        raw: &[u8],
        big_endian: bool,
        fortran: bool,
    ) -> Result<NdArray, ValueError> {
        NdArray::check_raw(dtype, &shape, raw.len())?;
        let big_endian = big_endian && dtype.itemsize() > 1;
        let mut data = ArrayData::from_bytes(dtype, raw, big_endian);
        if fortran && shape.len() > 1 {
            data = data.fortran_to_c(&shape);
        }
        Ok(NdArray {
            inner: Arc::new(Inner { shape, data }),
        })
    }

    /// Whether `len` raw bytes of `dtype` make an array of `shape` ([`NdArray::from_raw`]'s
    /// checks, made before any conversion).
    pub(crate) fn check_raw(dtype: DType, shape: &[usize], len: usize) -> Result<(), ValueError> {
        if shape.len() > MAX_NDIM {
            return Err(ValueError::new(format!(
                "ndarray has {} dimensions, more than {MAX_NDIM}",
                shape.len()
            )));
        }
        let expected = shape_len(shape).and_then(|n| n.checked_mul(dtype.itemsize()));
        if expected != Some(len) {
            return Err(ValueError::new(format!(
                "ndarray data has {len} bytes, but shape {} of {} needs {}",
                fmt_shape(shape),
                dtype.name(),
                match expected {
                    Some(n) => n.to_string(),
                    None => "more than memory can hold".into(),
                }
            )));
        }
        Ok(())
    }

    /// [`NdArray::from_raw`] of the last bytes of `buf`, from `start` on, giving `buf`'s
    /// memory back as the array fills: a C-order array is converted `chunk` bytes at a time
    /// from its end, `buf` truncated and shrunk after each, so the raw bytes and the array
    /// are never both whole in memory (given an allocator that shrinks in place, as glibc's
    /// does for large blocks; if it moves the block instead, shrinking stops). `buf` ends
    /// truncated to `start`.
    pub(crate) fn from_raw_tail(
        dtype: DType,
        shape: Vec<usize>,
        buf: &mut Vec<u8>,
        start: usize,
        big_endian: bool,
        fortran: bool,
        chunk: usize,
    ) -> Result<NdArray, ValueError> {
        let raw_len = buf.len().saturating_sub(start);
        NdArray::check_raw(dtype, &shape, raw_len)?;
        if fortran && shape.len() > 1 {
            let arr = NdArray::from_raw(dtype, shape, &buf[start..], big_endian, fortran)?;
            give_back(buf, start, &mut true);
            return Ok(arr);
        }
        let big_endian = big_endian && dtype.itemsize() > 1;
        let size = dtype.itemsize();
        let n = raw_len / size;
        let per_chunk = (chunk / size).max(1);
        let mut data = ArrayData::zeroed(dtype, n);
        let mut shrinking = true;
        let mut hi = n;
        while hi > 0 {
            let lo = hi.saturating_sub(per_chunk);
            data.fill_from(lo, &buf[start + lo * size..start + hi * size], big_endian);
            give_back(buf, start + lo * size, &mut shrinking);
            hi = lo;
        }
        give_back(buf, start, &mut shrinking);
        Ok(NdArray {
            inner: Arc::new(Inner { shape, data }),
        })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.inner.data.dtype()
    }

    /// The shape (empty for a 0-d array).
    pub fn shape(&self) -> &[usize] {
        &self.inner.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.inner.shape.len()
    }

    /// Number of elements (the product of the shape).
    pub fn len(&self) -> usize {
        self.inner.data.len()
    }

    /// True when the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements, in C order.
    pub fn data(&self) -> &ArrayData {
        &self.inner.data
    }

    /// The elements as a slice of `T`, if the dtype is `T`'s.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        T::slice(&self.inner.data)
    }

    /// The elements as `f64`s, if the dtype is `float64`.
    pub fn as_f64(&self) -> Option<&[f64]> {
        self.as_slice()
    }

    /// The elements as `f32`s, if the dtype is `float32`.
    pub fn as_f32(&self) -> Option<&[f32]> {
        self.as_slice()
    }

    /// The elements as `i64`s, if the dtype is `int64`.
    pub fn as_i64(&self) -> Option<&[i64]> {
        self.as_slice()
    }

    /// The elements as `i32`s, if the dtype is `int32`.
    pub fn as_i32(&self) -> Option<&[i32]> {
        self.as_slice()
    }

    /// The elements as bytes, if the dtype is `uint8`.
    pub fn as_u8(&self) -> Option<&[u8]> {
        self.as_slice()
    }

    /// The elements as `bool`s, if the dtype is `bool`.
    pub fn as_bool(&self) -> Option<&[bool]> {
        self.as_slice()
    }

    /// Every element converted to `f64` (as numpy's `astype(float)` does), for any real dtype;
    /// `None` for complex arrays.
    pub fn to_vec_f64(&self) -> Option<Vec<f64>> {
        let d = &self.inner.data;
        Some(match d {
            ArrayData::Bool(v) => v.iter().map(|&b| f64::from(u8::from(b))).collect(),
            ArrayData::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ArrayData::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ArrayData::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ArrayData::U16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ArrayData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ArrayData::U32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ArrayData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            ArrayData::U64(v) => v.iter().map(|&x| x as f64).collect(),
            ArrayData::F16(v) => v.iter().map(|&x| f16_to_f64(x)).collect(),
            ArrayData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ArrayData::F64(v) => v.clone(),
            ArrayData::C64(_) | ArrayData::C128(_) => return None,
        })
    }

    /// Every element converted to `i64`, for bool and integer dtypes whose values all fit.
    pub fn to_vec_i64(&self) -> Option<Vec<i64>> {
        let d = &self.inner.data;
        Some(match d {
            ArrayData::Bool(v) => v.iter().map(|&b| i64::from(b)).collect(),
            ArrayData::I8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            ArrayData::U8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            ArrayData::I16(v) => v.iter().map(|&x| i64::from(x)).collect(),
            ArrayData::U16(v) => v.iter().map(|&x| i64::from(x)).collect(),
            ArrayData::I32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            ArrayData::U32(v) => v.iter().map(|&x| i64::from(x)).collect(),
            ArrayData::I64(v) => v.clone(),
            ArrayData::U64(v) => v
                .iter()
                .map(|&x| i64::try_from(x).ok())
                .collect::<Option<Vec<i64>>>()?,
            _ => return None,
        })
    }

    /// Element `i` (C order) as a scalar.
    pub fn get(&self, i: usize) -> Option<Scalar> {
        self.inner.data.get(i)
    }

    /// The same elements under another shape with the same element count.
    pub fn reshape(&self, shape: Vec<usize>) -> Result<NdArray, ValueError> {
        NdArray::new(shape, self.inner.data.clone())
    }

    /// The elements as little-endian bytes in C order (what numpy's `tobytes()` gives for a
    /// little-endian C-contiguous array).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.inner.data.write_le_bytes(&mut out);
        out
    }

    /// True when both handles share the same elements (no copy was made between them).
    pub fn ptr_eq(a: &NdArray, b: &NdArray) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }

    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.inner) as *const () as usize
    }

    pub(crate) fn is_shared(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }

    /// Bit-for-bit equality (NaN equals NaN, `-0.0` differs from `0.0`).
    pub(crate) fn same(&self, other: &NdArray) -> bool {
        if NdArray::ptr_eq(self, other) {
            return true;
        }
        if self.shape() != other.shape() || self.dtype() != other.dtype() {
            return false;
        }
        match (self.data(), other.data()) {
            (ArrayData::F32(a), ArrayData::F32(b)) => {
                a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (ArrayData::F64(a), ArrayData::F64(b)) => {
                a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (ArrayData::C64(a), ArrayData::C64(b)) => a
                .iter()
                .zip(b)
                .all(|(x, y)| x[0].to_bits() == y[0].to_bits() && x[1].to_bits() == y[1].to_bits()),
            (ArrayData::C128(a), ArrayData::C128(b)) => a
                .iter()
                .zip(b)
                .all(|(x, y)| x[0].to_bits() == y[0].to_bits() && x[1].to_bits() == y[1].to_bits()),
            (a, b) => a == b,
        }
    }
}

impl PartialEq for NdArray {
    /// Same dtype, same shape, equal elements (IEEE comparison for floats).
    fn eq(&self, other: &NdArray) -> bool {
        self.inner == other.inner
    }
}

pub(crate) fn fmt_shape(shape: &[usize]) -> String {
    let mut s = String::from("(");
    for (i, d) in shape.iter().take(8).enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&d.to_string());
    }
    if shape.len() > 8 {
        s.push_str(", ...");
    }
    if shape.len() == 1 {
        s.push(',');
    }
    s.push(')');
    s
}

impl fmt::Debug for NdArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NdArray(dtype={}, shape={}, data=[",
            self.dtype().descr(),
            fmt_shape(self.shape())
        )?;
        const SHOW: usize = 16;
        for i in 0..self.len().min(SHOW) {
            if i > 0 {
                f.write_str(", ")?;
            }
            match self.get(i) {
                Some(Scalar::Bool(b)) => write!(f, "{b}")?,
                Some(Scalar::Int(x)) => write!(f, "{x}")?,
                Some(Scalar::UInt(x)) => write!(f, "{x}")?,
                Some(Scalar::Float(x)) => write!(f, "{x:?}")?,
                Some(Scalar::Complex(re, im)) => write!(f, "({re:?}{im:+?}j)")?,
                None => {}
            }
        }
        if self.len() > SHOW {
            write!(f, ", ... {} more", self.len() - SHOW)?;
        }
        f.write_str("])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_round_trips_every_pattern() {
        for bits in 0..=u16::MAX {
            let x = f16_to_f64(bits);
            let back = f64_to_f16(x);
            if x.is_nan() {
                assert!(f16_to_f64(back).is_nan());
            } else {
                assert_eq!(back, bits, "bits {bits:#06x} -> {x}");
            }
        }
        assert_eq!(f64_to_f16(1.0), 0x3c00);
        assert_eq!(f64_to_f16(65504.0), 0x7bff);
        assert_eq!(f64_to_f16(1e6), 0x7c00);
        assert_eq!(f64_to_f16(-2.0), 0xc000);
    }

    #[test]
    fn fortran_order_becomes_c_order() {
        // 2x3 array [[0,1,2],[3,4,5]] stored column-major: 0 3 1 4 2 5.
        let f = [0u8, 3, 1, 4, 2, 5];
        let a = NdArray::from_raw(DType::U8, vec![2, 3], &f, false, true).unwrap();
        assert_eq!(a.as_u8().unwrap(), &[0, 1, 2, 3, 4, 5]);
        // 2x3x2 checked against the index formula.
        let shape = [2usize, 3, 2];
        let mut fdata = [0u16; 12];
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..2 {
                    let c = (i * 3 + j) * 2 + k;
                    let fo = i + 2 * (j + 3 * k);
                    fdata[fo] = c as u16;
                }
            }
        }
        let raw: Vec<u8> = fdata.iter().flat_map(|x| x.to_be_bytes()).collect();
        let a = NdArray::from_raw(DType::U16, shape.to_vec(), &raw, true, true).unwrap();
        assert_eq!(
            a.as_slice::<u16>().unwrap(),
            &(0..12).collect::<Vec<u16>>()[..]
        );
    }

    #[test]
    fn little_endian_bytes_of_every_dtype_read_back() {
        // Lengths across the block size, so whole blocks and a partial one are written.
        for n in [0usize, 1, 511, 512, 513, 1500] {
            for dtype in [
                DType::I16,
                DType::U16,
                DType::F16,
                DType::I32,
                DType::U32,
                DType::F32,
                DType::I64,
                DType::U64,
                DType::F64,
                DType::C64,
                DType::C128,
                DType::Bool,
                DType::I8,
                DType::U8,
            ] {
                let size = dtype.itemsize();
                let raw: Vec<u8> = (0..n * size)
                    .map(|i| match dtype {
                        DType::Bool => (i % 2) as u8,
                        _ => (i * 37 + 11) as u8,
                    })
                    .collect();
                let data = ArrayData::from_bytes(dtype, &raw, false);
                let mut out = vec![7u8];
                data.write_le_bytes(&mut out);
                assert_eq!(out[0], 7);
                assert_eq!(&out[1..], &raw[..], "{dtype:?} x {n}");
                let big: Vec<u8> = raw
                    .chunks_exact(size.max(1))
                    .flat_map(|c| {
                        let mut c = c.to_vec();
                        match dtype {
                            DType::C64 | DType::C128 => {
                                let half = size / 2;
                                c[..half].reverse();
                                c[half..].reverse();
                            }
                            _ => c.reverse(),
                        }
                        c
                    })
                    .collect();
                let mut again = Vec::new();
                ArrayData::from_bytes(dtype, &big, true).write_le_bytes(&mut again);
                assert_eq!(again, raw, "{dtype:?} x {n} from big-endian");
            }
        }
    }

    #[test]
    fn raw_length_must_match_shape() {
        let e = NdArray::from_raw(DType::F64, vec![3], &[0; 16], false, false).unwrap_err();
        assert!(e.to_string().contains("16 bytes"), "{e}");
        let e = NdArray::from_raw(DType::F64, vec![usize::MAX, 4], &[], false, false).unwrap_err();
        assert!(e.to_string().contains("more than memory"), "{e}");
    }
}
