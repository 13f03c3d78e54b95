//! Spare connection buffers, recycled between connections that release theirs while idle.

/// Read and write buffers given back by idle connections
/// ([`ServerConn::release_buffers_into`](super::ServerConn::release_buffers_into)) for the
/// next connection that has bytes to read
/// ([`ServerConn::reuse_buffers_from`](super::ServerConn::reuse_buffers_from)).
///
/// An adapter holding many idle keep-alive connections frees their buffers while they wait,
/// so an idle connection costs only its small state; without a pool that costs a fresh,
/// zeroed read buffer and a regrown write buffer per request. The pool holds at most
/// `max` buffers of each kind, none above 8 KiB: memory kept for reuse stays bounded (1 MiB
/// with the default 64) however many connections come and go. It is plain data, not
/// shared: keep one per thread.
#[derive(Debug)]
pub struct BufferPool {
    reads: Vec<Vec<u8>>,
    writes: Vec<Vec<u8>>,
    max: usize,
}

impl BufferPool {
    /// A pool keeping at most `max` spare buffers of each kind.
    pub fn new(max: usize) -> Self {
        BufferPool {
            reads: Vec::new(),
            writes: Vec::new(),
            max,
        }
    }

    /// Spare buffers held now (both kinds).
    pub fn spare(&self) -> usize {
        self.reads.len() + self.writes.len()
    }

    pub(crate) fn put_read(&mut self, buf: Vec<u8>) {
        if self.reads.len() < self.max {
            self.reads.push(buf);
        }
    }

    pub(crate) fn put_write(&mut self, buf: Vec<u8>) {
        if self.writes.len() < self.max {
            self.writes.push(buf);
        }
    }

    pub(crate) fn take_read(&mut self) -> Option<Vec<u8>> {
        self.reads.pop()
    }

    pub(crate) fn take_write(&mut self) -> Option<Vec<u8>> {
        self.writes.pop()
    }
}

impl Default for BufferPool {
    /// A pool of up to 64 spare buffers of each kind (1 MiB at most).
    fn default() -> Self {
        BufferPool::new(64)
    }
}
