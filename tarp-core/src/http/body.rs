//! Receiving a message body: the growing body buffer and the readers of each framing.
//!
//! Body bytes go to their final `Vec` once: either copied from the connection's read buffer
//! (bytes that arrived with the head) or read by the transport straight into the `Vec`
//! (`direct_buf` / `direct_done`). The `Vec` never grows more than 64 KiB, or as much as was
//! already received, ahead of the data: a hostile `Content-Length` allocates nothing.

use super::chunked::ChunkedDecoder;
use super::head::BodyKind;
use super::{HttpError, Limits};

/// Smallest growth step of a body buffer.
const GROW_MIN: u64 = 64 * 1024;

/// A body being received: `vec[..filled]` is data; `vec[filled..]` is zeroed room handed
/// to the transport.
#[derive(Debug, Default)]
pub(crate) struct BodyBuf {
    vec: Vec<u8>,
    filled: usize,
}

impl BodyBuf {
    /// How far ahead of the data the buffer may grow: `min(expected, max(64 KiB, filled))`.
    fn step(&self, expected: u64) -> usize {
        let ahead = GROW_MIN.max(self.filled as u64);
        usize::try_from(expected.min(ahead)).unwrap_or(usize::MAX)
    }

    /// Appends bytes; `expected_after` is how many more are expected (a bound for growth).
    pub(crate) fn append(&mut self, data: &[u8], expected_after: u64) {
        // First into the zeroed room a direct read left, then beyond.
        let room = self.vec.len() - self.filled;
        let (now, rest) = data.split_at(room.min(data.len()));
        self.vec[self.filled..self.filled + now.len()].copy_from_slice(now);
        self.filled += now.len();
        if !rest.is_empty() {
            if self.vec.capacity() - self.vec.len() < rest.len() {
                let extra = self.step(expected_after);
                self.vec.reserve_exact(rest.len().saturating_add(extra));
            }
            self.vec.extend_from_slice(rest);
            self.filled = self.vec.len();
        }
    }

    /// Room to receive into, at most `expected` bytes (at least 1 when `expected > 0`).
    pub(crate) fn spare(&mut self, expected: u64) -> &mut [u8] {
        if self.vec.len() == self.filled && expected > 0 {
            let add = self.step(expected);
            if self.vec.capacity() - self.vec.len() < add {
                self.vec.reserve_exact(add);
            }
            self.vec.resize(self.filled + add, 0);
        }
        let room = usize::try_from(expected).unwrap_or(usize::MAX);
        let end = self.vec.len().min(self.filled.saturating_add(room));
        &mut self.vec[self.filled..end]
    }

    /// Records `n` bytes written into [`spare`](BodyBuf::spare).
    pub(crate) fn filled(&mut self, n: usize) {
        self.filled = self.filled.saturating_add(n).min(self.vec.len());
    }

    pub(crate) fn len(&self) -> usize {
        self.filled
    }

    pub(crate) fn into_vec(mut self) -> Vec<u8> {
        self.vec.truncate(self.filled);
        self.vec
    }
}

#[derive(Debug)]
enum Framing {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
    UntilClose,
}

/// Reads one body of a given framing.
#[derive(Debug)]
pub(crate) struct BodyReader {
    framing: Framing,
    buf: BodyBuf,
    max_body: u64,
}

impl BodyReader {
    /// A reader for `kind`; `None` for [`BodyKind::Empty`].
    pub(crate) fn new(kind: BodyKind, max_body: u64) -> Option<Self> {
        let framing = match kind {
            BodyKind::Empty => return None,
            BodyKind::Length(n) => Framing::Length { remaining: n },
            BodyKind::Chunked => Framing::Chunked(ChunkedDecoder::new()),
            BodyKind::UntilClose => Framing::UntilClose,
        };
        Some(BodyReader {
            framing,
            buf: BodyBuf::default(),
            max_body,
        })
    }

    pub(crate) fn is_done(&self) -> bool {
        match &self.framing {
            Framing::Length { remaining } => *remaining == 0,
            Framing::Chunked(d) => d.is_done(),
            Framing::UntilClose => false,
        }
    }

    /// Whether the body's length is known exactly (`Content-Length`).
    pub(crate) fn is_exact(&self) -> bool {
        matches!(self.framing, Framing::Length { .. })
    }

    /// Body bytes received so far.
    pub(crate) fn received(&self) -> u64 {
        self.buf.len() as u64
    }

    /// Consumes buffered input; returns how many bytes were body (or framing).
    pub(crate) fn decode(&mut self, input: &[u8], limits: &Limits) -> Result<usize, HttpError> {
        match &mut self.framing {
            Framing::Length { remaining } => {
                let take = input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= take as u64;
                self.buf.append(&input[..take], *remaining);
                Ok(take)
            }
            Framing::Chunked(d) => d.decode(input, &mut self.buf, limits, self.max_body),
            Framing::UntilClose => {
                if self.received().saturating_add(input.len() as u64) > self.max_body {
                    return Err(HttpError::BodyTooLarge {
                        limit: self.max_body,
                    });
                }
                self.buf.append(input, 0);
                Ok(input.len())
            }
        }
    }

    /// How many bytes may next be read straight into the body (0: read into the connection
    /// buffer instead, since framing bytes come next).
    pub(crate) fn direct_len(&self) -> u64 {
        match &self.framing {
            Framing::Length { remaining } => *remaining,
            Framing::Chunked(d) => d.data_remaining(),
            Framing::UntilClose => self.max_body.saturating_sub(self.received()).max(1),
        }
    }

    /// Room in the body for a direct read of at most [`direct_len`](Self::direct_len) bytes.
    pub(crate) fn direct_buf(&mut self) -> &mut [u8] {
        let want = self.direct_len();
        self.buf.spare(want)
    }

    /// Records `n` bytes read into [`direct_buf`](Self::direct_buf).
    pub(crate) fn direct_done(&mut self, n: usize) -> Result<(), HttpError> {
        let before = self.buf.len();
        self.buf.filled(n);
        let n = (self.buf.len() - before) as u64;
        let received = self.received();
        match &mut self.framing {
            Framing::Length { remaining } => *remaining = remaining.saturating_sub(n),
            Framing::Chunked(d) => d.data_done(n),
            Framing::UntilClose if received > self.max_body => {
                return Err(HttpError::BodyTooLarge {
                    limit: self.max_body,
                })
            }
            Framing::UntilClose => {}
        }
        Ok(())
    }

    /// The end of input: completes a close-delimited body, else the body is incomplete.
    pub(crate) fn finish_at_eof(&self) -> Result<(), HttpError> {
        match self.framing {
            Framing::UntilClose => Ok(()),
            _ => Err(HttpError::Incomplete("body")),
        }
    }

    pub(crate) fn into_body(self) -> Vec<u8> {
        self.buf.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_stays_near_the_data() {
        let mut b = BodyBuf::default();
        // A claim of 1 GiB yields 64 KiB of room, not 1 GiB.
        assert_eq!(b.spare(1 << 30).len(), 64 * 1024);
        b.filled(10);
        assert_eq!(b.spare(1 << 30).len(), 64 * 1024 - 10);
        b.filled(64 * 1024 - 10);
        // Then it doubles with the data.
        assert_eq!(b.spare(1 << 30).len(), 64 * 1024);
        // An exact small length is allocated exactly.
        let mut small = BodyBuf::default();
        small.append(b"abc", 7);
        assert_eq!(small.vec.capacity(), 10);
        assert_eq!(small.spare(7).len(), 7);
    }
}
