//! The bytes under a connection: a TCP socket, plain or wrapped in TLS
//! (rustls), read and written in short slices so that every step ends by
//! its deadline and Ctrl-C is noticed at once (client::deadline). TLS
//! records are written whole however the kernel splits the socket writes.

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConnection;

use crate::client::deadline::{Deadline, Expired, SLICE};
use crate::client::security::tls;
use crate::error::{Error, Result};

/// Bytes read from the socket at once: rustls asks for 4 KiB at a time,
/// and a fetch answer is up to 256 KiB per partition.
const READ_BUFFER: usize = 64 * 1024;

pub struct Wire {
    addr: String,
    timeout: Duration,
    /// Reads go through the buffer; writes go to the socket itself.
    tcp: BufReader<TcpStream>,
    /// The socket timeouts last set, so a slice costs no system call when
    /// it has not changed.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    tls: Option<Box<ClientConnection>>,
    /// Whether our TLS configuration offers a client certificate.
    client_cert: bool,
}

impl Wire {
    /// A TCP connection to `addr` within `deadline`.
    pub fn connect(addr: &str, timeout: Duration, deadline: Deadline) -> Result<Self> {
        Ok(Wire {
            addr: addr.to_string(),
            timeout,
            tcp: BufReader::with_capacity(READ_BUFFER, connect(addr, timeout, deadline)?),
            read_timeout: None,
            write_timeout: None,
            tls: None,
            client_cert: false,
        })
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Runs the TLS handshake before `deadline`; from then on every byte is encrypted.
    pub fn start_tls(
        &mut self,
        config: Arc<rustls::ClientConfig>,
        deadline: Deadline,
    ) -> Result<()> {
        let name = tls::server_name(&self.addr)?;
        self.client_cert = config.client_auth_cert_resolver.has_certs();
        let mut conn = ClientConnection::new(config, name)
            .map_err(|e| tls::error(&self.addr, &e, self.client_cert))?;
        // A whole request is encrypted at once; `flush` then writes it out
        // in as many socket writes as the kernel wants.
        conn.set_buffer_limit(None);
        self.tls = Some(Box::new(conn));
        while self.tls.as_ref().is_some_and(|t| t.is_handshaking()) {
            if self.tls.as_ref().is_some_and(|t| t.wants_write()) {
                self.flush(deadline)?;
            } else {
                self.fill(deadline).map_err(|e| match e {
                    Error::Protocol { .. } => Error::Config {
                        message: format!(
                            "Kafka at {} closed the connection during the TLS handshake",
                            self.addr
                        ),
                        hint: Some(
                            "is it a PLAINTEXT or SASL_PLAINTEXT listener? match security.protocol to the listener"
                                .into(),
                        ),
                    },
                    e => e,
                })?;
            }
        }
        self.flush(deadline)
    }

    /// Writes all of `bytes` before `deadline`.
    pub fn write_all(&mut self, mut bytes: &[u8], deadline: Deadline) -> Result<()> {
        if let Some(tls) = self.tls.as_mut() {
            tls.writer()
                .write_all(bytes)
                .map_err(|e| io_error(&self.addr, e))?;
            return self.flush(deadline);
        }
        while !bytes.is_empty() {
            self.arm_write(deadline)?;
            match self.tcp.get_ref().write(bytes) {
                Ok(0) => return Err(io_error(&self.addr, ErrorKind::WriteZero.into())),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if waiting(&e) => {}
                Err(e) => return Err(io_error(&self.addr, e)),
            }
        }
        Ok(())
    }

    /// Fills `buf` before `deadline`.
    pub fn read_exact(&mut self, buf: &mut [u8], deadline: Deadline) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            if let Some(tls) = self.tls.as_mut() {
                match tls.reader().read(&mut buf[filled..]) {
                    Ok(0) => return Err(io_error(&self.addr, ErrorKind::UnexpectedEof.into())),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => self.fill(deadline)?,
                    Err(e) => return Err(io_error(&self.addr, e)),
                }
                continue;
            }
            self.arm_read(deadline)?;
            match self.tcp.read(&mut buf[filled..]) {
                Ok(0) => return Err(io_error(&self.addr, ErrorKind::UnexpectedEof.into())),
                Ok(n) => filled += n,
                Err(e) if waiting(&e) => {}
                Err(e) => return Err(io_error(&self.addr, e)),
            }
        }
        Ok(())
    }

    /// Writes out what TLS holds for the socket.
    fn flush(&mut self, deadline: Deadline) -> Result<()> {
        while self.tls.as_ref().is_some_and(|t| t.wants_write()) {
            self.arm_write(deadline)?;
            let (Some(tls), mut socket) = (self.tls.as_mut(), self.tcp.get_ref()) else {
                break;
            };
            match tls.write_tls(&mut socket) {
                Ok(0) => return Err(io_error(&self.addr, ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if waiting(&e) => {}
                Err(e) => return Err(io_error(&self.addr, e)),
            }
        }
        Ok(())
    }

    /// Reads one slice's worth of TLS records from the socket and decrypts them.
    fn fill(&mut self, deadline: Deadline) -> Result<()> {
        if self.tls.is_none() {
            return Ok(());
        }
        // Buffered bytes need no wait (nor a timeout change).
        if self.tcp.buffer().is_empty() {
            self.arm_read(deadline)?;
        }
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        match tls.read_tls(&mut self.tcp) {
            Ok(0) => return Err(io_error(&self.addr, ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) if waiting(&e) => return Ok(()),
            Err(e) => return Err(io_error(&self.addr, e)),
        }
        if let Err(e) = tls.process_new_packets() {
            // Tell the broker why (an alert), as far as the socket takes it.
            let _ = tls.write_tls(&mut self.tcp.get_ref());
            return Err(tls::error(&self.addr, &e, self.client_cert));
        }
        // A key update or an alert to answer.
        if tls.wants_write() && !tls.is_handshaking() {
            self.flush(deadline)?;
        }
        Ok(())
    }
}

impl Wire {
    /// Sets the socket's read timeout to the next slice of `deadline`.
    fn arm_read(&mut self, deadline: Deadline) -> Result<()> {
        let slice = Some(slice(&self.addr, self.timeout, deadline)?);
        if self.read_timeout != slice {
            self.tcp
                .get_ref()
                .set_read_timeout(slice)
                .map_err(|e| io_error(&self.addr, e))?;
            self.read_timeout = slice;
        }
        Ok(())
    }

    /// Sets the socket's write timeout to the next slice of `deadline`.
    fn arm_write(&mut self, deadline: Deadline) -> Result<()> {
        let slice = Some(slice(&self.addr, self.timeout, deadline)?);
        if self.write_timeout != slice {
            self.tcp
                .get_ref()
                .set_write_timeout(slice)
                .map_err(|e| io_error(&self.addr, e))?;
            self.write_timeout = slice;
        }
        Ok(())
    }
}

/// How long the next blocking step may take, or the error that ends the wait.
fn slice(addr: &str, timeout: Duration, deadline: Deadline) -> Result<Duration> {
    match deadline.check() {
        Ok(left) => Ok(left.min(SLICE)),
        Err(Expired::Interrupted) => Err(Error::Interrupted),
        Err(Expired::TimedOut) => Err(Error::Timeout {
            addr: addr.to_string(),
            timeout,
        }),
    }
}

fn io_error(addr: &str, e: std::io::Error) -> Error {
    match e.kind() {
        ErrorKind::UnexpectedEof => Error::Protocol {
            addr: addr.to_string(),
            reason: "the broker closed the connection (is this a Kafka listener, and does security.protocol match it?)".into(),
        },
        _ => Error::Unreachable {
            addr: addr.to_string(),
            reason: e.to_string(),
        },
    }
}

/// A read or write that only ran out of its slice: wait again.
fn waiting(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// A TCP connection within `timeout` and `deadline`, trying each address the
/// name resolves to (a name can resolve to an address that does not answer
/// and another that does).
fn connect(addr: &str, timeout: Duration, deadline: Deadline) -> Result<TcpStream> {
    let unreachable = |reason: String| Error::Unreachable {
        addr: addr.to_string(),
        reason,
    };
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve the host name: {e}")))?
        .collect();
    let mut last = None;
    for (i, sa) in addrs.iter().enumerate() {
        let left = match deadline.check() {
            Ok(left) => left,
            Err(Expired::Interrupted) => return Err(Error::Interrupted),
            Err(Expired::TimedOut) => break,
        };
        // Each remaining address gets an equal share of the time left.
        let share = left / (addrs.len() - i) as u32;
        match TcpStream::connect_timeout(sa, share.max(Duration::from_millis(1))) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if waiting(&e) => Error::Timeout {
            addr: addr.to_string(),
            timeout,
        },
        Some(e) if e.kind() == ErrorKind::ConnectionRefused => {
            unreachable("connection refused".into())
        }
        Some(e) => unreachable(e.to_string()),
        None if addrs.is_empty() => unreachable("the host name resolves to no address".into()),
        None => Error::Timeout {
            addr: addr.to_string(),
            timeout,
        },
    })
}
