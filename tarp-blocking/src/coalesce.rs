//! One send per small request: a ureq transport layer that holds a request head until its
//! body follows, so head and body leave in one write.
//!
//! ureq transmits a request's head and then its body as two writes. On a keep-alive
//! connection the server then wakes up for the head, parses it, and sleeps again until the
//! body arrives: a second wake-up (and a second system call here) per call. Measured on the
//! latency benchmark (`add(1, 2)` in sequence, blocking client and server): two `sendto` per
//! request. This layer keeps what ureq transmits in a small buffer (16 KiB at most) and sends
//! it when more would not fit or when ureq turns to reading the answer; nothing is reordered
//! and nothing waits on a timer.

use std::fmt;

use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};
use ureq::Error;

/// Requests and bodies up to this size are sent in one write.
const HOLD_MAX: usize = 16 * 1024;

/// The connector: wraps whatever transport the chain before it made.
#[derive(Debug, Default)]
pub(crate) struct Coalesce;

impl<In: Transport> Connector<In> for Coalesce {
    type Out = Coalescing<In>;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Coalescing<In>>, Error> {
        Ok(chained.map(|inner| Coalescing {
            inner,
            held: Vec::new(),
        }))
    }
}

/// A transport whose output is held until it must go.
pub(crate) struct Coalescing<T> {
    inner: T,
    /// Output transmitted by ureq and not yet sent.
    held: Vec<u8>,
}

impl<T> fmt::Debug for Coalescing<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalescing")
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Coalescing<T> {
    /// Sends what is held (through the inner transport's output buffer, a piece at a time).
    fn flush(&mut self, timeout: NextTimeout) -> Result<(), Error> {
        let mut sent = 0;
        while sent < self.held.len() {
            let out = self.inner.buffers().output();
            let n = out.len().min(self.held.len() - sent);
            out[..n].copy_from_slice(&self.held[sent..sent + n]);
            self.inner.transmit_output(n, timeout)?;
            sent += n;
        }
        self.held.clear();
        Ok(())
    }
}

impl<T: Transport> Transport for Coalescing<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        if self.held.len() + amount <= HOLD_MAX {
            let out = self.inner.buffers().output();
            self.held.extend_from_slice(&out[..amount]);
            return Ok(());
        }
        if self.held.is_empty() {
            return self.inner.transmit_output(amount, timeout);
        }
        let out = self.inner.buffers().output();
        let held = self.held.len();
        if held + amount <= out.len() {
            // What is held, then this output, in one write from the output buffer.
            out.copy_within(..amount, held);
            out[..held].copy_from_slice(&self.held);
            self.held.clear();
            return self.inner.transmit_output(held + amount, timeout);
        }
        // The output buffer is about to be reused for what is held: keep this output first.
        self.held.extend_from_slice(&out[..amount]);
        self.flush(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.flush(timeout)?;
        self.inner.await_input(timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.flush(timeout)?;
        self.inner.maybe_await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        // Held output belongs to a request still being written: the connection is in use.
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::LazyBuffers;

    /// Records every write it is asked to send.
    #[derive(Debug)]
    struct Recorder {
        buffers: LazyBuffers,
        writes: Vec<Vec<u8>>,
    }

    impl Transport for Recorder {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }
        fn transmit_output(&mut self, amount: usize, _: NextTimeout) -> Result<(), Error> {
            let out = self.buffers.output()[..amount].to_vec();
            self.writes.push(out);
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> Result<bool, Error> {
            Ok(true)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    fn coalescing(output: usize) -> Coalescing<Recorder> {
        Coalescing {
            inner: Recorder {
                buffers: LazyBuffers::new(1024, output),
                writes: Vec::new(),
            },
            held: Vec::new(),
        }
    }

    /// What ureq does: fill the output buffer, then transmit that much.
    fn transmit(t: &mut Coalescing<Recorder>, bytes: &[u8]) {
        for piece in bytes.chunks(t.buffers().output().len()) {
            t.buffers().output()[..piece.len()].copy_from_slice(piece);
            t.transmit_output(piece.len(), NextTimeout::default())
                .unwrap();
        }
    }

    #[test]
    fn a_small_request_leaves_in_one_write_when_the_answer_is_awaited() {
        let mut t = coalescing(128 * 1024);
        transmit(&mut t, b"POST /add HTTP/1.1\r\nContent-Length: 4\r\n\r\n");
        transmit(&mut t, b"body");
        assert!(
            t.inner.writes.is_empty(),
            "nothing sent before the answer is awaited"
        );
        t.await_input(NextTimeout::default()).unwrap();
        assert_eq!(
            t.inner.writes,
            vec![b"POST /add HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody".to_vec()]
        );
        // Nothing is held over to the next request.
        transmit(&mut t, b"GET / HTTP/1.1\r\n\r\n");
        t.maybe_await_input(NextTimeout::default()).unwrap();
        assert_eq!(t.inner.writes[1], b"GET / HTTP/1.1\r\n\r\n".to_vec());
    }

    #[test]
    fn large_bodies_go_out_in_order_with_little_held() {
        for output in [1000, 20_000, 128 * 1024] {
            let mut t = coalescing(output);
            let head = b"POST /echo HTTP/1.1\r\nContent-Length: 300000\r\n\r\n".to_vec();
            let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            transmit(&mut t, &head);
            transmit(&mut t, &body);
            assert!(t.held.len() <= HOLD_MAX);
            t.await_input(NextTimeout::default()).unwrap();
            let sent: Vec<u8> = t.inner.writes.concat();
            assert_eq!(sent.len(), head.len() + body.len(), "output {output}");
            assert!(
                sent.starts_with(&head) && sent.ends_with(&body),
                "output {output}"
            );
            assert!(t.held.is_empty());
        }
    }
}
