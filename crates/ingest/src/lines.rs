use std::io::{self, BufRead};

/// Splits a stream into records, one per line, without ever holding more than one line:
/// a file of any size is read in constant memory. Blank lines are skipped; `\r\n` endings and a
/// leading UTF-8 byte-order mark (Excel and Windows tools write both) are removed. Lines are
/// bytes, so a line in the wrong encoding still reaches quarantine intact.
pub struct RecordLines<R> {
    reader: R,
    first: bool,
    /// Bytes consumed so far, for progress reporting.
    pub bytes_read: u64,
}

impl<R: BufRead> RecordLines<R> {
    pub fn new(reader: R) -> Self {
        Self { reader, first: true, bytes_read: 0 }
    }

    /// The next non-blank line, or `None` at the end of the stream.
    pub fn next_record(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
        loop {
            buf.clear();
            let n = self.reader.read_until(b'\n', buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.bytes_read += n as u64;
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
}
