//! The connection's read buffer: heads, framing bytes and whatever arrived with them.

/// Initial size of a read buffer.
const INITIAL: usize = 8 * 1024;

/// `buf[start..end]` holds received, unconsumed bytes; `buf[end..]` is room for the next
/// read. The buffer grows by doubling up to `max`, and compacts only when its tail is full,
/// so each byte is moved a bounded number of times (linear overall).
#[derive(Debug)]
pub(crate) struct InBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
}

impl InBuf {
    /// A buffer that never grows beyond `max` bytes (at least the initial size).
    pub(crate) fn new(max: usize) -> Self {
        InBuf {
            buf: Vec::new(),
            start: 0,
            end: 0,
            max: max.max(INITIAL),
        }
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// The memory of an empty buffer of the initial size, for reuse by another connection
    /// (its stale bytes are never read: a buffer's data is only what reads filled in).
    pub(crate) fn take_spare(&mut self) -> Option<Vec<u8>> {
        (self.is_empty() && self.buf.len() == INITIAL).then(|| std::mem::take(&mut self.buf))
    }

    /// Whether the buffer holds no memory (new, or released).
    pub(crate) fn has_no_memory(&self) -> bool {
        self.buf.is_empty()
    }

    /// Adopts `buf` (from [`take_spare`](InBuf::take_spare)) as the memory of a buffer that
    /// holds none; hands it back when it cannot be used.
    pub(crate) fn adopt(&mut self, buf: Vec<u8>) -> Option<Vec<u8>> {
        if self.buf.is_empty() && buf.len() == INITIAL {
            self.buf = buf;
            self.start = 0;
            self.end = 0;
            None
        } else {
            Some(buf)
        }
    }

    /// Drops everything buffered and the memory behind it.
    pub(crate) fn clear(&mut self) {
        *self = InBuf::new(self.max);
    }

    /// Room for the next read; empty when the buffer is full and may not grow. With
    /// `grow` false the buffer only compacts.
    pub(crate) fn space(&mut self, grow: bool) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = vec![0; INITIAL];
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if grow && self.buf.len() < self.max {
                let len = (self.buf.len() * 2).min(self.max);
                self.buf.resize(len, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records `n` bytes read into [`space`](InBuf::space).
    pub(crate) fn filled(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.buf.len());
    }
}
