//! Shared bytes and helpers for the TARP benchmark peers.
//!
//! Every peer and load generator must send and answer the *same* bytes, so that a ratio between
//! two servers measures the servers and nothing else. The request is exactly what the Python
//! client (`requests` 2.31) sends for `add(1, 2)`; the canned response has the byte size of the
//! hand-written hyper server's answer to it.

use std::fmt;

/// Body of the Python client's `add(1, 2)` call: `json.dumps` of the base64 pickles (protocol 4)
/// of the tuple `(1, 2)` and of the empty dict, with Python's default `", "`/`": "` separators.
pub const ADD_BODY: &str = r#"{"args": "gASVBwAAAAAAAABLAUsChpQu", "kwargs": "gAR9lC4="}"#;

/// Body of the success envelope that answers `add(1, 2)`: `payload` is base64 of the
/// protocol-3 pickle of `3` as serde-pickle writes it (`BININT`, so 4 bytes of integer).
pub const ADD_RESPONSE_BODY: &str =
    r#"{"status":"success","mimetype":"application/json","result":{"payload":"gANKAwAAAC4="}}"#;

/// The `add(1, 2)` request exactly as `requests` sends it to `host` (`ip:port`).
pub fn add_request(host: &str) -> Vec<u8> {
    format!(
        "POST /add HTTP/1.1\r\nHost: {host}\r\nUser-Agent: python-requests/2.31.0\r\n\
         Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\
         Content-Length: {}\r\nContent-Type: application/json\r\n\r\n{ADD_BODY}",
        ADD_BODY.len()
    )
    .into_bytes()
}

/// A canned HTTP/1.1 answer to `add(1, 2)` with the same headers and size as hyper's (hyper
/// lower-cases header names and adds a 29-byte `date`; a fixed date keeps the size exact).
pub fn add_response() -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         date: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n{ADD_RESPONSE_BODY}",
        ADD_RESPONSE_BODY.len()
    )
    .into_bytes()
}

/// Why a command line could not be understood.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Minimal `--name value` flag reader: the peers take a handful of numeric flags and nothing
/// else, which does not justify an argument-parsing dependency.
#[derive(Debug, Default)]
pub struct Flags {
    pairs: Vec<(String, String)>,
    /// Arguments that are not `--name value` pairs (e.g. a mode word).
    pub positional: Vec<String>,
}

impl Flags {
    /// Splits `args` (without the program name) into flags and positional words.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Flags, UsageError> {
        let mut flags = Flags::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            if let Some(name) = arg.strip_prefix("--") {
                let value = it
                    .next()
                    .ok_or_else(|| UsageError(format!("flag --{name} needs a value")))?;
                flags.pairs.push((name.to_string(), value));
            } else {
                flags.positional.push(arg);
            }
        }
        Ok(flags)
    }

    /// The value of `--name` parsed as `T`, or `default` when the flag is absent.
    pub fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, UsageError> {
        match self.pairs.iter().rev().find(|(n, _)| n == name) {
            None => Ok(default),
            Some((_, v)) => v
                .parse()
                .map_err(|_| UsageError(format!("--{name}: cannot parse {v:?}"))),
        }
    }

    /// Fails on any flag not in `known`, so a typo is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), UsageError> {
        match self
            .pairs
            .iter()
            .find(|(n, _)| !known.contains(&n.as_str()))
        {
            None => Ok(()),
            Some((n, _)) => Err(UsageError(format!(
                "unknown flag --{n} (known: {})",
                known.join(", ")
            ))),
        }
    }
}

/// Finds the end of an HTTP head (`\r\n\r\n`) in `buf`, returning the index just past it.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads the `Content-Length` value from a complete head, case-insensitively, without a full
/// parse. Returns 0 when the header is absent, `None` when its value is not a number.
pub fn content_length(head: &[u8]) -> Option<usize> {
    const NAME: &[u8] = b"\ncontent-length:";
    let pos = head
        .windows(NAME.len())
        .position(|w| w.eq_ignore_ascii_case(NAME));
    let Some(pos) = pos else { return Some(0) };
    let rest = &head[pos + NAME.len()..];
    let end = rest.iter().position(|&b| b == b'\r').unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.trim().parse().ok()
}

/// The request framing of the canned servers (`limit`'s logic, shared by `limit-threads` and
/// `limit-smol`): how many complete requests the buffered bytes hold, skipping their bodies.
#[derive(Debug, Default)]
pub struct Canned {
    /// Body bytes of the last request still to be skipped.
    skip: usize,
}

impl Canned {
    /// Consumes the complete requests at the start of `buf`: returns the bytes consumed and
    /// how many requests ended in them (each gets one canned answer). A request whose body
    /// is not all there yet is consumed as far as it goes and counted once it ends.
    pub fn answers(&mut self, buf: &[u8]) -> Result<(usize, usize), &'static str> {
        let mut pos = 0usize;
        let mut answers = 0usize;
        loop {
            if self.skip > 0 {
                let take = self.skip.min(buf.len() - pos);
                self.skip -= take;
                pos += take;
                if self.skip > 0 {
                    break;
                }
                answers += 1;
                continue;
            }
            let Some(end) = head_end(&buf[pos..]) else {
                break;
            };
            let len = content_length(&buf[pos..pos + end]).ok_or("bad Content-Length")?;
            pos += end;
            if len == 0 {
                answers += 1;
            } else {
                self.skip = len;
            }
        }
        Ok((pos, answers))
    }

    /// After a read into `buf[..*filled]`: consumes the complete requests, moves what is
    /// left to the front, and returns the bytes to write: `response` once per request that
    /// ended (empty when none did; several are gathered in `out`). Fails on a bad
    /// `Content-Length` or a head that fills the whole buffer.
    pub fn respond<'a>(
        &mut self,
        buf: &mut [u8],
        filled: &mut usize,
        response: &'a [u8],
        out: &'a mut Vec<u8>,
    ) -> std::io::Result<&'a [u8]> {
        let invalid = |e| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let (pos, answers) = self.answers(&buf[..*filled]).map_err(invalid)?;
        buf.copy_within(pos..*filled, 0);
        *filled -= pos;
        if *filled == buf.len() {
            return Err(invalid("head too large"));
        }
        Ok(match answers {
            0 => &[],
            1 => response,
            n => {
                out.clear();
                for _ in 0..n {
                    out.extend_from_slice(response);
                }
                out
            }
        })
    }
}

/// Sorted-sample percentile (nearest rank): `p` in 0..=100. `None` on an empty sample.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_responds_once_per_request_and_keeps_the_rest() {
        let mut canned = Canned::default();
        let mut buf = vec![0u8; 64];
        let input = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET";
        buf[..input.len()].copy_from_slice(input);
        let mut filled = input.len();
        let mut out = Vec::new();
        let reply = canned
            .respond(&mut buf, &mut filled, b"ok;", &mut out)
            .unwrap();
        assert_eq!(reply, b"ok;ok;");
        assert_eq!(&buf[..filled], b"GET");
        let mut full = vec![b'x'; 8];
        let mut filled = 8;
        assert!(canned
            .respond(&mut full, &mut filled, b"ok;", &mut out)
            .is_err());
    }

    #[test]
    fn canned_counts_pipelined_requests_and_skips_split_bodies() {
        let mut canned = Canned::default();
        let two = b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c";
        assert_eq!(canned.answers(two), Ok((38, 2)));
        let post = b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
        assert_eq!(canned.answers(post), Ok((post.len(), 0)));
        assert_eq!(canned.answers(b"cdeGET"), Ok((3, 1)));
        assert_eq!(
            canned.answers(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Err("bad Content-Length")
        );
    }

    #[test]
    fn add_request_is_the_python_clients_bytes() {
        let req = add_request("127.0.0.1:8080");
        let expected = b"POST /add HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: python-requests/2.31.0\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Length: 58\r\nContent-Type: application/json\r\n\r\n{\"args\": \"gASVBwAAAAAAAABLAUsChpQu\", \"kwargs\": \"gAR9lC4=\"}";
        assert_eq!(req, expected.to_vec());
    }

    #[test]
    fn canned_response_parses_and_has_its_length() {
        let resp = add_response();
        let end = head_end(&resp).unwrap();
        assert_eq!(content_length(&resp[..end]), Some(resp.len() - end));
        assert_eq!(&resp[end..], ADD_RESPONSE_BODY.as_bytes());
    }

    #[test]
    fn content_length_scan() {
        assert_eq!(
            content_length(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(0)
        );
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\nCONTENT-Length:  12 \r\n\r\n"),
            Some(12)
        );
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\ncontent-length: x\r\n\r\n"),
            None
        );
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
