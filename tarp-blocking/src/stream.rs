//! A server-side byte stream: a TCP socket, plain or wrapped in rustls.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// One accepted connection's transport. Timeouts are set on the TCP socket underneath, so
/// they bound the TLS handshake and record I/O too.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    /// Wraps an accepted socket; with a TLS configuration the handshake happens on the first
    /// read or write.
    pub(crate) fn new(tcp: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Stream> {
        Ok(match tls {
            None => Stream::Plain(tcp),
            Some(config) => {
                let conn = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
                Stream::Tls(Box::new(StreamOwned::new(conn, tcp)))
            }
        })
    }

    /// The TCP socket underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Sets the socket's read timeout (`None` for none; a zero duration is raised to 1 ms,
    /// since the OS reads zero as "no timeout").
    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp()
            .set_read_timeout(t.map(|d| d.max(Duration::from_millis(1))))
    }

    /// Sets the socket's write timeout (same conventions).
    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp()
            .set_write_timeout(t.map(|d| d.max(Duration::from_millis(1))))
    }

    /// Whether TLS output is still buffered in rustls, waiting to be written.
    pub(crate) fn wants_write(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(s) => s.conn.wants_write(),
        }
    }

    /// Ends the stream politely: a TLS `close_notify` (best effort), then a TCP half-close.
    pub(crate) fn finish(&mut self) {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        let _ = self.tcp().shutdown(Shutdown::Write);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => read_plaintext(s, buf),
        }
    }
}

/// Reads plaintext from a TLS stream, waiting for the peer no longer than the socket's read
/// timeout *in total*. rustls' own `Stream::read` loops until a whole record (or the whole
/// handshake) is in, restarting the socket timeout at every byte: a peer trickling one byte
/// at a time would hold the read, and the connection's deadlines with it, indefinitely.
/// A peer that closes without close_notify is an ordinary end of stream here: HTTP framing
/// (Content-Length, chunked) already tells a truncated request.
fn read_plaintext(
    s: &mut StreamOwned<ServerConnection, TcpStream>,
    buf: &mut [u8],
) -> io::Result<usize> {
    let timeout = s.sock.read_timeout()?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut waited = false;
    let mut modified = false;
    let result = 'read: loop {
        match s.conn.reader().read(buf) {
            Ok(n) => break Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Ok(0),
            Err(e) => break Err(e),
        }
        // Handshake messages (and alerts) go out before waiting for the peer's answer.
        while s.conn.wants_write() {
            if let Err(e) = s.conn.write_tls(&mut s.sock) {
                break 'read Err(e);
            }
        }
        // From the second wait on, only what is left of the first one's timeout.
        if let (true, Some(deadline)) = (waited, deadline) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(io::ErrorKind::WouldBlock.into());
            }
            modified = true;
            if let Err(e) = s
                .sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            {
                break Err(e);
            }
        }
        waited = true;
        match s.conn.read_tls(&mut s.sock) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
        if let Err(e) = s.conn.process_new_packets() {
            // Send the alert describing the error, if any (best effort).
            let _ = s.conn.write_tls(&mut s.sock);
            break Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    };
    if modified {
        // The connection loop keeps track of the timeout it set: put it back.
        s.sock.set_read_timeout(timeout)?;
    }
    result
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            // Not through rustls' `Stream::flush` during a handshake: it would first complete
            // the handshake, reading the peer with no overall deadline (see `read_plaintext`).
            Stream::Tls(s) if s.conn.is_handshaking() => {
                while s.conn.wants_write() {
                    s.conn.write_tls(&mut s.sock)?;
                }
                s.sock.flush()
            }
            Stream::Tls(s) => s.flush(),
        }
    }
}
