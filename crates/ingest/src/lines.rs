use std::io::{self, BufRead, Read};

/// Splits a stream into records, one per line, without ever holding more than one line:
/// a file of any size is read in constant memory. Blank lines are skipped; `\r\n` endings and a
/// leading UTF-8 byte-order mark (Excel and Windows tools write both) are removed. Lines are
/// bytes, so a line in the wrong encoding still reaches quarantine intact. A line longer than
/// the limit is read no further than one byte past it (the rest is skipped, and
/// [`RecordLines::last_line_bytes`] says how long it was): no record is larger than what the
/// HTTP intake takes, and one endless line cannot fill memory.
pub struct RecordLines<R> {
    reader: R,
    first: bool,
    /// Bytes consumed so far, for progress reporting.
    pub bytes_read: u64,
    limit: u64,
    /// The whole length of the last line read, ending included.
    last_line_bytes: u64,
}

impl<R: BufRead> RecordLines<R> {
    pub fn new(reader: R) -> Self {
        Self::with_limit(reader, u64::MAX - 1)
    }

    /// Lines of at most `limit` bytes; a longer one yields its first `limit + 1`.
    pub fn with_limit(reader: R, limit: u64) -> Self {
        Self { reader, first: true, bytes_read: 0, limit, last_line_bytes: 0 }
    }

    /// How long the last line was in the stream, ending included, though only the first
    /// `limit + 1` bytes of a longer one were kept.
    pub fn last_line_bytes(&self) -> u64 {
        self.last_line_bytes
    }

    /// The next non-blank line, or `None` at the end of the stream.
    pub fn next_record(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
        loop {
            buf.clear();
            let mut n = (&mut self.reader).take(self.limit + 1).read_until(b'\n', buf)? as u64;
            if n == 0 {
                return Ok(None);
            }
            if buf.last() != Some(&b'\n') && n > self.limit {
                n += self.reader.skip_until(b'\n')? as u64;
            }
            self.last_line_bytes = n;
            self.bytes_read += n;
            if std::mem::take(&mut self.first) && buf.starts_with(b"\xEF\xBB\xBF") {
                buf.drain(..3);
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            if !buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_each_non_blank_line_without_its_ending() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\n   \n{\"b\":2}\n\xff\xfe\n{\"c\":3}";
        let mut lines = RecordLines::new(&input[..]);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while lines.next_record(&mut buf).unwrap().is_some() {
            got.push(buf.clone());
        }
        assert_eq!(
            got,
            vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec(), b"\xff\xfe".to_vec(), b"{\"c\":3}".to_vec()]
        );
        assert_eq!(lines.bytes_read, input.len() as u64);
    }

    #[test]
    fn a_line_past_the_limit_is_cut_and_the_next_read_whole() {
        let long = format!("{{\"text\": \"{}\"}}\n", "断".repeat(100_000));
        let input = format!("{long}{{\"b\":2}}\n");
        // A reader handing out small pieces, as a pipe does.
        let mut lines = RecordLines::with_limit(io::BufReader::with_capacity(64, input.as_bytes()), 1000);
        let mut buf = Vec::new();
        lines.next_record(&mut buf).unwrap();
        assert_eq!((buf.len(), lines.last_line_bytes()), (1001, long.len() as u64));
        lines.next_record(&mut buf).unwrap();
        assert_eq!(buf, b"{\"b\":2}");
        assert_eq!(lines.bytes_read, input.len() as u64);
    }
}
