//! The chunked transfer coding (RFC 9112 section 7.1): a strict incremental decoder and an
//! encoder.
//!
//! Decoding rules, strict where parsers are known to disagree:
//! - `chunk-size` is 1*HEXDIG with no sign, prefix or whitespace, and must fit in 64 bits
//!   (leading zeros are accepted);
//! - the size is followed directly by `;` (extensions) or CRLF: whitespace before `;`
//!   (RFC 9112 BWS) is refused, so are control bytes other than HTAB in extensions;
//!   extensions are otherwise ignored, and a size line is at most 4 KiB;
//! - chunk data is followed by exactly CRLF;
//! - trailer fields are checked for shape (`token ":" value`, no obs-fold, no whitespace
//!   before the colon, no control bytes) and ignored; the trailer section is held to
//!   `Limits::max_head_bytes` and `Limits::max_headers`.

use super::body::BodyBuf;
use super::{HttpError, Limits};

/// Longest chunk-size line (size and extensions), in bytes.
const MAX_SIZE_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits; `digits` so far.
    Size { value: u64, digits: usize },
    /// Inside chunk extensions, until CR.
    Ext { value: u64 },
    /// Saw the CR ending a size line.
    SizeLf { value: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value.
    TrailerValue,
    /// Saw a CR in the trailer section; `last` if it ends the empty line.
    TrailerLf { last: bool },
    /// The final CRLF was read.
    Done,
}

/// Incremental decoder of one chunked body.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Bytes on the current size line, or in the trailer section.
    line_bytes: usize,
    trailer_lines: usize,
    /// Sum of the chunk sizes announced so far.
    total: u64,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

impl ChunkedDecoder {
    pub(crate) fn new() -> Self {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            line_bytes: 0,
            trailer_lines: 0,
            total: 0,
        }
    }

    /// Whether the whole body (with its trailer section) was read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Chunk data bytes that may be read straight into the body (0 outside chunk data).
    pub(crate) fn data_remaining(&self) -> u64 {
        match self.state {
            State::Data { remaining } => remaining,
            _ => 0,
        }
    }

    /// Records `n` chunk data bytes written straight into the body.
    pub(crate) fn data_done(&mut self, n: u64) {
        if let State::Data { remaining } = self.state {
            let left = remaining.saturating_sub(n);
            self.state = if left == 0 {
                State::DataCr
            } else {
                State::Data { remaining: left }
            };
        }
    }

    /// Decodes from `input`, appending chunk data to `body`. Returns the bytes consumed;
    /// stops early only when the body is complete.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        body: &mut BodyBuf,
        limits: &Limits,
        max_body: u64,
    ) -> Result<usize, HttpError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if let State::Data { remaining } = self.state {
                let take = (input.len() - i).min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let left = remaining - take as u64;
                body.append(&input[i..i + take], left);
                i += take;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining: left }
                };
                continue;
            }
            self.step(input[i], limits, max_body)?;
            i += 1;
        }
        Ok(i)
    }

    fn step(&mut self, b: u8, limits: &Limits, max_body: u64) -> Result<(), HttpError> {
        self.state = match self.state {
            State::Size { value, digits } => {
                self.line_bytes += 1;
                if self.line_bytes > MAX_SIZE_LINE {
                    return Err(HttpError::Chunk("chunk-size line longer than 4096 bytes"));
                }
                match (b as char).to_digit(16) {
                    Some(d) => {
                        let value = value
                            .checked_mul(16)
                            .and_then(|v| v.checked_add(u64::from(d)))
                            .ok_or(HttpError::Chunk("chunk size overflows 64 bits"))?;
                        State::Size {
                            value,
                            digits: digits + 1,
                        }
                    }
                    None if digits > 0 && b == b';' => State::Ext { value },
                    None if digits > 0 && b == b'\r' => State::SizeLf { value },
                    None => {
                        return Err(HttpError::Chunk(
                            "chunk size must be hex digits followed by `;` or CRLF",
                        ))
                    }
                }
            }
            State::Ext { value } => {
                self.line_bytes += 1;
                if self.line_bytes > MAX_SIZE_LINE {
                    return Err(HttpError::Chunk("chunk-size line longer than 4096 bytes"));
                }
                match b {
                    b'\r' => State::SizeLf { value },
                    _ if is_control(b) => {
                        return Err(HttpError::Chunk("control byte in a chunk extension"))
                    }
                    _ => State::Ext { value },
                }
            }
            State::SizeLf { value } => {
                if b != b'\n' {
                    return Err(HttpError::Chunk("chunk-size line must end with CRLF"));
                }
                self.line_bytes = 0;
                if value == 0 {
                    State::TrailerStart
                } else {
                    self.total = self
                        .total
                        .checked_add(value)
                        .filter(|&t| t <= max_body)
                        .ok_or(HttpError::BodyTooLarge { limit: max_body })?;
                    State::Data { remaining: value }
                }
            }
            State::Data { .. } | State::Done => self.state,
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size {
                value: 0,
                digits: 0,
            },
            State::DataCr | State::DataLf => {
                return Err(HttpError::Chunk("chunk data must be followed by CRLF"))
            }
            trailer => return self.trailer_step(trailer, b, limits),
        };
        Ok(())
    }

    fn trailer_step(&mut self, state: State, b: u8, limits: &Limits) -> Result<(), HttpError> {
        self.line_bytes += 1;
        if self.line_bytes > limits.max_head_bytes {
            return Err(HttpError::HeadTooLarge {
                limit: limits.max_head_bytes,
            });
        }
        self.state = match (state, b) {
            (State::TrailerStart, b'\r') => State::TrailerLf { last: true },
            (State::TrailerStart, b' ' | b'\t') => {
                return Err(HttpError::Chunk("obs-fold in the trailer section"))
            }
            (State::TrailerStart | State::TrailerName, _) if is_tchar(b) => State::TrailerName,
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerStart | State::TrailerName, _) => {
                return Err(HttpError::Chunk("invalid trailer field name"))
            }
            (State::TrailerValue, b'\r') => State::TrailerLf { last: false },
            (State::TrailerValue, _) if is_control(b) => {
                return Err(HttpError::Chunk("control byte in a trailer field"))
            }
            (State::TrailerValue, _) => State::TrailerValue,
            (State::TrailerLf { last: true }, b'\n') => State::Done,
            (State::TrailerLf { last: false }, b'\n') => {
                self.trailer_lines += 1;
                if self.trailer_lines > limits.max_headers {
                    return Err(HttpError::TooManyHeaders {
                        limit: limits.max_headers,
                    });
                }
                State::TrailerStart
            }
            _ => return Err(HttpError::Chunk("trailer lines must end with CRLF")),
        };
        Ok(())
    }
}

/// Appends `data` as one chunk (nothing for empty data, which would end the body).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk and an empty trailer section, ending a chunked body.
pub fn encode_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}
