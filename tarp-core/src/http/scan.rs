//! Finding the end of a message head, incrementally and strictly.
//!
//! The scanner keeps its position between calls, so a head fed one byte at a time is
//! scanned once overall (linear time), and it enforces the byte-level rules httparse is
//! lenient about, before httparse sees the head:
//! - lines end in CRLF: a bare LF or a bare CR is refused (RFC 9112 section 2.2 lets a
//!   server accept a bare LF; we do not, since parsers that disagree on line ends are how
//!   requests get smuggled);
//! - no NUL anywhere;
//! - no line (after the first) starts with whitespace: obs-fold is refused (section 5.2).
//!
//! The head ends at the first empty line. Only `limit` bytes are ever examined: a head with
//! no end within them is too large (431), however the bytes were split into reads.

use super::HttpError;

/// Incremental scanner state for one head.
#[derive(Debug, Default)]
pub(crate) struct HeadScanner {
    /// Next byte to examine, relative to the head's first byte.
    pos: usize,
    /// Bytes on the current line so far (excluding CR).
    line_len: usize,
    /// The previous byte was a CR.
    after_cr: bool,
    /// Complete lines seen so far.
    lines: usize,
}

impl HeadScanner {
    /// Scans `buf` (the bytes from the head's start) from where the last call stopped.
    /// Returns `Ok(Some(len))` with the head's length (through its empty line) once complete,
    /// `Ok(None)` when more bytes are needed.
    pub(crate) fn scan(&mut self, buf: &[u8], limit: usize) -> Result<Option<usize>, HttpError> {
        let bytes = &buf[..buf.len().min(limit)];
        let mut pos = self.pos;
        let result = loop {
            let Some(&b) = bytes.get(pos) else {
                break Ok(None);
            };
            pos += 1;
            if self.after_cr {
                if b != b'\n' {
                    break Err(HttpError::Malformed(
                        "bare CR in the head (lines end in CRLF)",
                    ));
                }
                self.after_cr = false;
                if self.line_len == 0 {
                    break Ok(Some(pos));
                }
                self.line_len = 0;
                self.lines += 1;
                continue;
            }
            match b {
                b'\r' => self.after_cr = true,
                b'\n' => {
                    break Err(HttpError::Malformed(
                        "bare LF in the head (lines end in CRLF)",
                    ))
                }
                0 => break Err(HttpError::Malformed("NUL byte in the head")),
                b' ' | b'\t' if self.line_len == 0 => {
                    break Err(if self.lines == 0 {
                        HttpError::Malformed("the first line starts with whitespace")
                    } else {
                        HttpError::Malformed("obs-fold (a header line starting with whitespace)")
                    });
                }
                _ => {
                    self.line_len += 1;
                    // Skip the rest of a plain run eight bytes at a time: CR, LF, NUL and
                    // every other control byte are below 0x20. In the word that holds one,
                    // the bytes before the first are plain too: skip them as well.
                    while let Some(chunk) = bytes.get(pos..pos + 8) {
                        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
                        let controls = control_bytes(word);
                        if controls != 0 {
                            let plain = (controls.trailing_zeros() / 8) as usize;
                            pos += plain;
                            self.line_len += plain;
                            break;
                        }
                        pos += 8;
                        self.line_len += 8;
                    }
                }
            }
        };
        self.pos = pos;
        match result {
            Ok(None) if buf.len() >= limit => Err(HttpError::HeadTooLarge { limit }),
            other => other,
        }
    }

    /// Whether the scanner has not looked at any byte yet.
    pub(crate) fn at_start(&self) -> bool {
        self.pos == 0
    }

    /// How many bytes of the head have been examined so far (each exactly once).
    pub(crate) fn examined(&self) -> usize {
        self.pos
    }
}

/// The high bit of each byte of `word` (little-endian) below 0x20, by the classic "has
/// less than" bit trick: zero exactly when no byte is, and its lowest set bit always marks
/// the first such byte (a borrow only carries upwards, so the only false positives sit
/// above a true one).
fn control_bytes(word: u64) -> u64 {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    word.wrapping_sub(ONES * 0x20) & !word & HIGH
}

/// Number of leading empty lines (`\r\n`) to skip before a head (RFC 9112 section 2.2: a
/// server should ignore at least one empty line before a request line). A lone trailing
/// `\r` is left for more input.
pub(crate) fn leading_empty_lines(buf: &[u8]) -> usize {
    let mut n = 0;
    while buf.len() >= n + 2 && buf[n] == b'\r' && buf[n + 1] == b'\n' {
        n += 2;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(input: &[u8], limit: usize) -> Result<Option<usize>, HttpError> {
        let mut whole = HeadScanner::default();
        let expected = whole.scan(input, limit);
        // Byte by byte gives the same answer.
        let mut s = HeadScanner::default();
        let mut got = Ok(None);
        for end in 1..=input.len() {
            got = s.scan(&input[..end], limit);
            if !matches!(got, Ok(None)) {
                break;
            }
        }
        assert_eq!(got, expected, "split changed the outcome for {input:?}");
        expected
    }

    #[test]
    fn finds_the_end() {
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody", 100),
            Ok(Some(24))
        );
        assert_eq!(scan_all(b"GET / HTTP/1.1\r\n\r\n", 100), Ok(Some(18)));
        assert_eq!(scan_all(b"GET / HTTP/1.1\r\nA: b\r\n", 100), Ok(None));
    }

    #[test]
    fn refuses_bad_bytes() {
        for bad in [
            &b"GET / HTTP/1.1\nA: b\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nA: b\rX\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: \0\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
            b" GET / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(scan_all(bad, 100), Err(HttpError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limit_counts_every_buffered_byte() {
        let head = b"GET / HTTP/1.1\r\nA: b\r\n\r\n";
        assert_eq!(scan_all(head, head.len()), Ok(Some(head.len())));
        assert_eq!(
            scan_all(head, head.len() - 1),
            Err(HttpError::HeadTooLarge { limit: 23 })
        );
        // One big read past the limit is refused even though the head is unfinished.
        let big = vec![b'a'; 1 << 20];
        assert_eq!(
            scan_all(&big, 64),
            Err(HttpError::HeadTooLarge { limit: 64 })
        );
    }

    #[test]
    fn control_detection_finds_exactly_the_first_control_byte() {
        // Every word over bytes at the edges of the range: below 0x20 or not, with borrows.
        let values = [0x00u8, 0x1f, 0x20, 0x21, 0x80];
        for n in 0..values.len().pow(8) {
            let mut w = [0u8; 8];
            let mut k = n;
            for b in &mut w {
                *b = values[k % values.len()];
                k /= values.len();
            }
            let mask = control_bytes(u64::from_le_bytes(w));
            match w.iter().position(|&b| b < 0x20) {
                None => assert_eq!(mask, 0, "{w:?}"),
                Some(first) => {
                    assert_eq!((mask.trailing_zeros() / 8) as usize, first, "{w:?}")
                }
            }
        }
        assert_eq!(control_bytes(u64::from_le_bytes(*b"\xff \x7f~!abc")), 0);
    }

    #[test]
    fn long_lines_take_the_fast_path_and_still_stop_at_bad_bytes() {
        let mut head = b"GET / HTTP/1.1\r\nX: ".to_vec();
        head.extend(std::iter::repeat(b'a').take(100));
        head.extend_from_slice(b"\0");
        head.extend(std::iter::repeat(b'a').take(100));
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            scan_all(&head, 1000),
            Err(HttpError::Malformed("NUL byte in the head"))
        );
        let ok = String::from_utf8(head.clone()).unwrap().replace('\0', "b");
        assert_eq!(scan_all(ok.as_bytes(), 1000), Ok(Some(ok.len())));
        assert_eq!(
            scan_all(ok.as_bytes(), 100),
            Err(HttpError::HeadTooLarge { limit: 100 })
        );
    }

    #[test]
    fn leading_empty_lines_are_counted() {
        assert_eq!(leading_empty_lines(b"\r\n\r\nGET"), 4);
        assert_eq!(leading_empty_lines(b"\r\n\r"), 2);
        assert_eq!(leading_empty_lines(b"GET"), 0);
    }
}
