//! Output that knows which records reached it. Lines are written straight
//! to the file descriptor (no hidden buffer), so when a write fails — a
//! closed pipe, a full disk — exactly the records whose whole line was
//! written count as delivered, and only their offsets may be committed.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;

/// Records' lines waiting to be written, and where each one ends.
pub struct Delivery {
    out: File,
    buf: Vec<u8>,
    /// (end of the line in `buf`, partition, offset), in write order.
    marks: Vec<(usize, i32, i64)>,
}

/// What a flush delivered: the next offset to read, per partition, of the
/// records whose lines were written in full.
pub type Delivered = Vec<(i32, i64)>;

impl Delivery {
    /// Standard output, unbuffered (a duplicate of its descriptor).
    pub fn stdout() -> io::Result<Delivery> {
        let fd = io::stdout().as_fd().try_clone_to_owned()?;
        Ok(Delivery::to(File::from(fd)))
    }

    fn to(out: File) -> Delivery {
        Delivery {
            out,
            buf: Vec::with_capacity(64 * 1024),
            marks: Vec::new(),
        }
    }

    /// Queues one record's line (which should end in a newline).
    pub fn push(&mut self, line: &[u8], partition: i32, offset: i64) {
        self.buf.extend_from_slice(line);
        self.marks.push((self.buf.len(), partition, offset));
    }

    /// Writes everything queued. Returns what was delivered, and the write
    /// error if one stopped it (what came before the error is delivered).
    pub fn flush(&mut self) -> (Delivered, Option<io::Error>) {
        let mut written = 0;
        let mut error = None;
        while written < self.buf.len() {
            match self.out.write(&self.buf[written..]) {
                Ok(0) => {
                    error = Some(io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let whole = self.marks.partition_point(|&(end, _, _)| end <= written);
        let mut delivered: Delivered = Vec::new();
        for &(_, p, o) in &self.marks[..whole] {
            match delivered.iter_mut().find(|(q, _)| *q == p) {
                Some(d) => d.1 = d.1.max(o + 1),
                None => delivered.push((p, o + 1)),
            }
        }
        self.buf.clear();
        self.marks.clear();
        (delivered, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn everything_written_is_delivered_with_the_next_offset_per_partition() {
        let (mut reader, writer) = io::pipe().unwrap();
        let mut d = Delivery::to(File::from(std::os::fd::OwnedFd::from(writer)));
        d.push(b"a\n", 0, 5);
        d.push(b"b\n", 1, 7);
        d.push(b"c\n", 0, 6);
        let (delivered, error) = d.flush();
        assert!(error.is_none());
        assert_eq!(delivered, vec![(0, 7), (1, 8)]);
        drop(d);
        let mut got = String::new();
        reader.read_to_string(&mut got).unwrap();
        assert_eq!(got, "a\nb\nc\n");
    }

    #[test]
    fn a_closed_pipe_delivers_nothing_more() {
        let (reader, writer) = io::pipe().unwrap();
        drop(reader);
        let mut d = Delivery::to(File::from(std::os::fd::OwnedFd::from(writer)));
        d.push(b"lost\n", 0, 1);
        let (delivered, error) = d.flush();
        assert!(delivered.is_empty());
        assert_eq!(error.map(|e| e.kind()), Some(io::ErrorKind::BrokenPipe));
    }
}
