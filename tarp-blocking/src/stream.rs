//! A server-side byte stream: a TCP socket, plain or wrapped in rustls.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

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
            // A peer that closes without close_notify is an ordinary end of stream here:
            // HTTP framing (Content-Length, chunked) already tells a truncated request.
            Stream::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
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
            Stream::Tls(s) => s.flush(),
        }
    }
}
