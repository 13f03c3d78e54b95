//! The envelope writer against CPython: for many generated JSON values, our bytes equal what
//! `json.dumps` writes for the same value (separators, `ensure_ascii` escapes, float `repr`,
//! key order), and so do whole envelopes.

mod service_util;

use serde_json::{json, Map, Value};
use service_util::python;
use tarp_core::wire::envelope::{error_body, success_body, to_python_json, ErrorKind};

/// SplitMix64, for reproducible values.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn float(&mut self) -> f64 {
        loop {
            let x = match self.below(4) {
                0 => f64::from_bits(self.next()),
                1 => (self.below(2_000_001) as f64 - 1e6) / 10f64.powi(self.below(12) as i32),
                2 => {
                    10f64.powi(self.below(40) as i32 - 20)
                        * if self.below(2) == 0 { 1.0 } else { -1.0 }
                }
                _ => self.below(1 << 20) as f64,
            };
            if x.is_finite() {
                return x;
            }
        }
    }

    fn string(&mut self) -> String {
        const CHARS: &[char] = &[
            'a', 'Z', ' ', '"', '\\', '/', '\n', '\t', '\u{0}', '\u{1f}', '\u{7f}', 'é', 'ß', '€',
            '\u{ffff}', '😀', '𝄞', '\u{2028}',
        ];
        (0..self.below(8))
            .map(|_| CHARS[self.below(CHARS.len() as u64) as usize])
            .collect()
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 3 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => json!(self.next() as i64 >> self.below(64)),
            3 => json!(self.float()),
            4 => Value::String(self.string()),
            5 => (0..self.below(4)).map(|_| self.value(depth + 1)).collect(),
            _ => {
                let mut m = Map::new();
                for _ in 0..self.below(4) {
                    m.insert(self.string(), self.value(depth + 1));
                }
                Value::Object(m)
            }
        }
    }
}

/// Python re-dumps each JSON text it loads (`json.dumps(json.loads(text))`); one per line.
fn python_redump(texts: &[String]) -> Vec<String> {
    let script = r#"
import json, sys
for line in sys.stdin.read().split("\n"):
    if line:
        print(json.dumps(json.loads(line)))
"#;
    let out = python(script, texts.join("\n").as_bytes());
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn our_json_is_byte_identical_to_python_json_dumps() {
    let mut gen = Gen(2026);
    let values: Vec<Value> = (0..3000).map(|_| gen.value(0)).collect();
    let ours: Vec<String> = values
        .iter()
        .map(|v| String::from_utf8(to_python_json(v).unwrap()).unwrap())
        .collect();
    // Our text is ASCII on one line, so it travels to Python and back unchanged.
    assert!(ours.iter().all(|t| t.is_ascii() && !t.contains('\n')));
    let theirs = python_redump(&ours);
    assert_eq!(theirs.len(), ours.len());
    let diffs: Vec<String> = ours
        .iter()
        .zip(&theirs)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("ours   {a}\npython {b}"))
        .take(10)
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn envelopes_match_the_python_library_api_success_and_api_error() {
    // The Python library's own functions, as in its server module.
    let script = r#"
import json, sys
def api_success(result, mimetype):
    return json.dumps({"status": "success", "mimetype": mimetype, "result": result})
def api_error(message, type="generic"):
    return json.dumps({"status": "error", "type": type, "message": message})
print(api_success({"payload": "gANHQAgAAAAAAAAu"}, "application/json"))
print(api_success({"ID": "5d0c8f5e-1b7c-4a3e-9f2d-0c1b2a3d4e5f", "suggested_wait": 5}, "application/json"))
print(api_success("h\u00e9llo", "text/plain"))
print(api_success(None, None))
print(api_error("Operation still underway", "OperationInProgress"))
print(api_error("Endpoint not found"))
"#;
    let out = String::from_utf8(python(script, b"")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let ours = [
        success_body(
            Some("application/json"),
            &json!({"payload": "gANHQAgAAAAAAAAu"}),
        )
        .unwrap(),
        success_body(
            Some("application/json"),
            &json!({"ID": "5d0c8f5e-1b7c-4a3e-9f2d-0c1b2a3d4e5f", "suggested_wait": 5}),
        )
        .unwrap(),
        success_body(Some("text/plain"), "héllo").unwrap(),
        success_body(None, &Value::Null).unwrap(),
        error_body(
            ErrorKind::OperationInProgress { retry_after: 5 },
            "Operation still underway",
        ),
        error_body(ErrorKind::NotFound, "Endpoint not found"),
    ];
    assert_eq!(lines.len(), ours.len());
    for (line, ours) in lines.iter().zip(ours) {
        assert_eq!(*line, String::from_utf8(ours).unwrap());
    }
}
