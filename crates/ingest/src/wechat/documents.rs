//! Splitting a file of WeChat messages into documents: one per line, or concatenated.

use std::io::{self, BufRead};

/// A document larger than this is cut off and handed on as it is (its parse will fail and
/// quarantine it), so one unterminated message cannot make the reader hold the whole file.
const MAX_DOCUMENT: usize = 1 << 20;

const OPEN: &[u8] = b"<xml";
const CLOSE: &[u8] = b"</xml>";
const CDATA_OPEN: &[u8] = b"<![CDATA[";
const CDATA_CLOSE: &[u8] = b"]]>";

/// Yields each `<xml>…</xml>` document of a stream, in constant memory. `</xml>` inside CDATA
/// does not end a document. Anything else between documents (a stray line, a broken message)
/// is yielded as a record of its own, so it reaches quarantine instead of vanishing.
pub struct XmlDocuments<R> {
    reader: R,
    /// Read but not yet yielded: `pending[consumed..]`.
    pending: Vec<u8>,
    consumed: usize,
    first: bool,
    /// Bytes consumed so far, for progress reporting.
    pub bytes_read: u64,
}

impl<R: BufRead> XmlDocuments<R> {
    pub fn new(reader: R) -> Self {
        Self { reader, pending: Vec::new(), consumed: 0, first: true, bytes_read: 0 }
    }

    /// The next document (or stray text), or `None` at the end of the stream.
    pub fn next_record(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
        loop {
            let rest = &self.pending[self.consumed..];
            let end = match record_end(rest) {
                Some(end) => Some(end),
                None if rest.len() >= MAX_DOCUMENT => Some(rest.len()),
                None => None,
            };
            if let Some(end) = end {
                buf.clear();
                buf.extend_from_slice(&rest[..end]);
                self.consumed += end;
                trim(buf);
                if buf.is_empty() {
                    continue;
                }
                return Ok(Some(()));
            }
            self.pending.drain(..self.consumed);
            self.consumed = 0;
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                buf.clear();
                buf.append(&mut self.pending);
                trim(buf);
                return Ok((!buf.is_empty()).then_some(()));
            }
            let n = chunk.len();
            self.pending.extend_from_slice(chunk);
            self.reader.consume(n);
            self.bytes_read += n as u64;
            if std::mem::take(&mut self.first) && self.pending.starts_with(b"\xEF\xBB\xBF") {
                self.pending.drain(..3);
            }
        }
    }
}

/// Where the first record of `pending` ends, if it is complete.
fn record_end(pending: &[u8]) -> Option<usize> {
    let start = pending.iter().position(|b| !b.is_ascii_whitespace())?;
    if !pending[start..].starts_with(OPEN) {
        if OPEN.starts_with(&pending[start..]) {
            return None; // perhaps the start of a document, cut by the chunk boundary
        }
        // Stray text: up to the next document or the end of its line.
        let next_doc = find(&pending[start..], OPEN).map(|i| start + i);
        let line_end = pending[start..].iter().position(|&b| b == b'\n').map(|i| start + i + 1);
        return match (next_doc, line_end) {
            (Some(d), Some(l)) => Some(d.min(l)),
            (d, l) => d.or(l),
        };
    }
    let mut i = start + OPEN.len();
    while i < pending.len() {
        if pending[i..].starts_with(CDATA_OPEN) {
            match find(&pending[i..], CDATA_CLOSE) {
                Some(close) => i += close + CDATA_CLOSE.len(),
                None => return None,
            }
        } else if pending[i..].starts_with(CLOSE) {
            return Some(i + CLOSE.len());
        } else {
            i += 1;
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim(buf: &mut Vec<u8>) {
    while buf.last().is_some_and(u8::is_ascii_whitespace) {
        buf.pop();
    }
    let lead = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
    buf.drain(..lead);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8]) -> Vec<String> {
        // A tiny buffer, so documents and even `<xml` straddle reads.
        let mut docs = XmlDocuments::new(std::io::BufReader::with_capacity(3, input));
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while docs.next_record(&mut buf).unwrap().is_some() {
            out.push(String::from_utf8_lossy(&buf).into_owned());
        }
        assert_eq!(docs.bytes_read, input.len() as u64);
        out
    }

    #[test]
    fn splits_lines_concatenations_and_multi_line_documents() {
        let input = b"\xEF\xBB\xBF<xml><a>1</a></xml>\n<xml><a>2</a></xml><xml><a>3</a></xml>\n\n<xml>\n  <a><![CDATA[x</xml>y]]></a>\n</xml>\n";
        assert_eq!(
            split(input),
            [
                "<xml><a>1</a></xml>",
                "<xml><a>2</a></xml>",
                "<xml><a>3</a></xml>",
                "<xml>\n  <a><![CDATA[x</xml>y]]></a>\n</xml>"
            ]
        );
    }

    #[test]
    fn stray_text_and_a_truncated_last_document_are_records_too() {
        assert_eq!(
            split(b"hello\n<xml><a>1</a></xml>junk<xml><a>2"),
            ["hello", "<xml><a>1</a></xml>", "junk", "<xml><a>2"]
        );
    }
}
