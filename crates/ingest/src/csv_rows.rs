//! CSV exports (call centers, store terminals): split into self-contained rows, then read one
//! row by the configured column names.
//!
//! A row travels as its own two-line CSV — the export's header, then the row — so a row in
//! quarantine can be replayed alone after the mapping or encoding is fixed. Splitting works on
//! bytes: GB18030 (and GBK) never use the bytes of `,`, `"`, CR or LF inside a multi-byte
//! character, so the split is right before the encoding is known to be right.

use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};

use crate::Rejection;
use crate::settings::TextEncoding;

/// Yields each data row of a CSV stream as `header + row`, in constant memory.
///
/// Reads what spreadsheets save as "CSV" or "text": UTF-16 with its byte-order mark (Excel's
/// "Unicode text") is read as UTF-8 and a UTF-8 mark dropped, other bytes pass unchanged (their
/// encoding is the row's to read); fields are split by commas, or by tabs, semicolons or bars
/// when the header line holds more of those (Excel's text export, European locales). Rows are
/// handed on comma-separated whatever the file used, each starting with a UTF-8 byte-order mark
/// when the file had one of its own: such a row is Unicode whatever encoding the settings name
/// for the export (and stays so in quarantine, for a replay).
pub struct CsvRecords<R: BufRead> {
    reader: csv::Reader<AsUtf8<R>>,
    header: Option<Vec<u8>>,
    record: csv::ByteRecord,
    /// A failure to read the first line, reported at the first record.
    unread: Option<io::Error>,
    /// The file began with a byte-order mark (UTF-8 or UTF-16).
    marked: bool,
    /// Bytes taken from the file, before any transcoding: a UTF-16 file's rows are longer as
    /// UTF-8, so the parser's position would run past the file's size.
    consumed: Arc<AtomicU64>,
}

/// A reader that counts the bytes taken from it.
struct Counted<R> {
    inner: R,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// UTF-8's byte-order mark: at the start of a row, it says the row is UTF-8.
const UTF8_MARK: &[u8] = b"\xEF\xBB\xBF";

/// A file read as UTF-8 where it said it was UTF-16, its first line (read to find the
/// delimiter) put back in front.
type AsUtf8<R> = io::Chain<io::Cursor<Vec<u8>>, BufReader<DecodeReaderBytes<Counted<R>, Vec<u8>>>>;

/// How much of each of a file's first two lines is read to find its delimiter.
const HEADER_PEEK: u64 = 64 * 1024;

impl<R: BufRead> CsvRecords<R> {
    pub fn new(mut reader: R) -> Self {
        let start = reader.fill_buf().unwrap_or_default();
        let marked = [UTF8_MARK, b"\xFF\xFE", b"\xFE\xFF"].iter().any(|mark| start.starts_with(mark));
        let consumed = Arc::new(AtomicU64::new(0));
        let counted = Counted { inner: reader, consumed: Arc::clone(&consumed) };
        let decoded =
            DecodeReaderBytesBuilder::new().bom_sniffing(true).strip_bom(true).utf8_passthru(true).build(counted);
        let mut rest = BufReader::new(decoded);
        let mut first_lines = Vec::new();
        let mut read_line = || (&mut rest).take(HEADER_PEEK).read_until(b'\n', &mut first_lines);
        let unread = read_line().and_then(|_| read_line()).err();
        let delimiter = delimiter_of(&first_lines);
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(io::Cursor::new(first_lines).chain(rest));
        Self { reader, header: None, record: csv::ByteRecord::new(), unread, marked, consumed }
    }

    /// How much of the file has been read, in its own bytes (for a progress bar: reading runs a
    /// buffer ahead of the rows handed on).
    pub fn bytes_read(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    /// The next row (header line, then the row), or `None` at the end. Blank rows are skipped.
    pub fn next_record(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
        if let Some(error) = self.unread.take() {
            return Err(error);
        }
        loop {
            let more = self.reader.read_byte_record(&mut self.record).map_err(io::Error::other)?;
            if !more {
                return Ok(None);
            }
            if self.record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
                continue;
            }
            let row = self.write_row()?;
            let Some(header) = &self.header else {
                self.header = Some(row);
                continue;
            };
            buf.clear();
            if self.marked {
                buf.extend_from_slice(UTF8_MARK);
            }
            buf.extend_from_slice(header);
            buf.extend_from_slice(&row);
            return Ok(Some(()));
        }
    }

    fn write_row(&self) -> io::Result<Vec<u8>> {
        let mut row = Vec::with_capacity(self.record.as_slice().len() + 2 * self.record.len() + 1);
        // Sized to the row: the default 8 KiB buffer would cost an allocation per row.
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(row.capacity())
            .from_writer(&mut row);
        writer.write_byte_record(&self.record).map_err(io::Error::other)?;
        writer.flush()?;
        drop(writer);
        Ok(row)
    }
}

/// The delimiter of a file, from its header line and first row: a tab, `;` or `|` that both
/// hold equally often, and more often than commas (a header's note such as `满意度(1=满意;2=一般)`
/// is not a delimiter: the row does not repeat it); else `,`.
fn delimiter_of(first_lines: &[u8]) -> u8 {
    let mut lines = first_lines.split(|&b| b == b'\n');
    let (header, row) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
    let count = |line: &[u8], delimiter: u8| line.iter().filter(|&&b| b == delimiter).count();
    [b'\t', b';', b'|']
        .into_iter()
        .filter(|&d| count(header, d) > count(header, b',') && (row.is_empty() || count(row, d) == count(header, d)))
        .max_by_key(|&d| count(header, d))
        .unwrap_or(b',')
}

thread_local! {
    /// csv-core builds a parsing automaton per reader, which costs far more than reading one
    /// row; rows are read one at a time, so each thread keeps one reader.
    static ROW_READER: RefCell<csv_core::Reader> = RefCell::new(csv_core::Reader::new());
}

/// The fields of the first `count` records of `raw`, unescaped.
fn split_records(raw: &[u8], count: usize) -> Result<Vec<Vec<Vec<u8>>>, Rejection> {
    ROW_READER.with_borrow_mut(|reader| {
        reader.reset();
        let mut output = vec![0u8; raw.len()];
        let mut ends = vec![0usize; 16];
        let mut records = Vec::with_capacity(count);
        let mut input = raw;
        while records.len() < count {
            let (mut out_len, mut end_len) = (0, 0);
            loop {
                let (result, nin, nout, nend) = reader.read_record(input, &mut output[out_len..], &mut ends[end_len..]);
                input = &input[nin..];
                out_len += nout;
                end_len += nend;
                match result {
                    csv_core::ReadRecordResult::InputEmpty => continue,
                    csv_core::ReadRecordResult::OutputFull => output.resize(output.len() * 2 + 64, 0),
                    csv_core::ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
                    csv_core::ReadRecordResult::Record => break,
                    csv_core::ReadRecordResult::End => return Ok(records),
                }
            }
            let mut start = 0;
            let fields = ends[..end_len]
                .iter()
                .map(|&end| {
                    let field = output[start..end].to_vec();
                    start = end;
                    field
                })
                .collect();
            records.push(fields);
        }
        Ok(records)
    })
}

/// One row's values by column name (exports have a dozen columns: a scan beats hashing).
#[derive(Debug)]
pub(crate) struct Row {
    columns: Vec<String>,
    values: Vec<String>,
    /// The header and the row as text: what a complaint keeps as its raw payload, readable
    /// again whatever the export's encoding was.
    text: String,
}

impl Row {
    /// Reads `raw` (header line + one row) in `encoding`.
    pub fn parse(raw: &[u8], encoding: TextEncoding) -> Result<Self, Rejection> {
        let text = match raw.strip_prefix(UTF8_MARK) {
            Some(unicode) => decode(unicode, TextEncoding::Utf8)?,
            None => decode(raw, encoding)?,
        };
        let mut records = split_records(text.as_bytes(), 2)?.into_iter();
        let (Some(header), Some(row)) = (records.next(), records.next()) else {
            return Err(Rejection::Csv("a row needs a header line and a data line".into()));
        };
        // Both are slices of valid UTF-8 cut at ASCII delimiters.
        let text_of = |field: Vec<u8>| String::from_utf8(field).expect("fields of UTF-8 text are UTF-8");
        let columns: Vec<String> = header.into_iter().map(|h| text_of(h).trim().to_owned()).collect();
        let values: Vec<String> = row.into_iter().map(text_of).collect();
        if let Some(extra) = values.get(columns.len()..).filter(|extra| extra.iter().any(|v| !v.trim().is_empty())) {
            return Err(Rejection::Csv(format!(
                "the row has {} fields and the header {}: a comma in an unquoted field? (beyond the header: `{}`)",
                values.len(),
                columns.len(),
                extra.join(",")
            )));
        }
        // Inside quotes a line break is text; a line after one that has a row's worth of
        // delimiters is a row, taken into this field by an opening quote without its closing one.
        let row_like = |line: &str| {
            [',', '\t', ';', '|'].iter().any(|&d| {
                let first = line.split(d).next().unwrap_or_default().trim();
                // A row starts with its record's id (a call id, a time): a list in a note
                // (`1日,3日,5日`) does not.
                let id_like =
                    !first.is_empty() && first.chars().all(|c| c.is_ascii_alphanumeric() || "-_:/. ".contains(c));
                id_like && line.matches(d).count() >= columns.len().saturating_sub(1).max(1)
            })
        };
        if let Some(swallowing) = values.iter().find(|v| v.lines().skip(1).any(row_like)) {
            let lines = swallowing.lines().count();
            return Err(Rejection::Csv(format!(
                "a quoted field runs over {lines} lines that read as rows: an opening quote is probably never closed, so the rows after it were read into one field (close the quote and replay)"
            )));
        }
        Ok(Self { columns, values, text })
    }

    /// The header and the row as text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The trimmed value of `column`, `None` when blank. A column the header lacks is an error
    /// naming the columns it has, so a wrong mapping is fixed in one look.
    pub fn get(&self, column: &str, field: &'static str) -> Result<Option<&str>, Rejection> {
        match self.columns.iter().position(|c| c == column.trim()) {
            // A short row (flexible CSV) lacks the trailing columns: blank.
            Some(i) => Ok(self.values.get(i).map(|v| spreadsheet_cell(v.trim())).filter(|v| !v.is_empty())),
            None => Err(Rejection::Invalid {
                field,
                reason: format!(
                    "the export has no column `{column}` (its columns: {}); set the mapping in [channels.*.csv]",
                    self.columns.join(", ")
                ),
            }),
        }
    }

    /// Like [`Row::get`], for a column the mapping may leave empty (`""` = not exported).
    pub fn get_optional(&self, column: &str, field: &'static str) -> Result<Option<&str>, Rejection> {
        if column.trim().is_empty() { Ok(None) } else { self.get(column, field) }
    }
}

/// A cell's text without what spreadsheets wrap numbers in to keep their digits: a formula
/// (`="13800138000"`, `="0012345"`) or a leading apostrophe before digits (`'13800138000`).
fn spreadsheet_cell(value: &str) -> &str {
    if let Some(inner) = value.strip_prefix("=\"").and_then(|v| v.strip_suffix('"')) {
        return inner.trim();
    }
    match value.strip_prefix('\'') {
        Some(digits) if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit() || "+- ".contains(c)) => digits,
        _ => value,
    }
}

/// `bytes` as text. A row said to be GB18030 that is valid UTF-8 made of ASCII and Chinese text
/// is read as UTF-8: a UTF-8 file under a GB18030 setting would otherwise read as garbage
/// without an error, and GB18030 bytes that happen to be valid UTF-8 decode to other scripts
/// (`叶` is the bytes of `Ҷ`), which the check refuses.
fn decode(bytes: &[u8], encoding: TextEncoding) -> Result<String, Rejection> {
    match (std::str::from_utf8(bytes), encoding) {
        (Ok(text), TextEncoding::Utf8) => Ok(text.to_owned()),
        (Ok(text), TextEncoding::Gb18030) if text.chars().all(written_in_chinese) => Ok(text.to_owned()),
        (Err(e), TextEncoding::Utf8) => Err(Rejection::Encoding {
            encoding: "UTF-8",
            detail: format!(
                "byte {} starts an invalid sequence; an Excel export may need encoding = \"gb18030\"",
                e.valid_up_to()
            ),
        }),
        (_, TextEncoding::Gb18030) => encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|s| s.into_owned())
            .ok_or_else(|| Rejection::Encoding {
                encoding: "GB18030",
                detail: "a byte sequence is neither GB18030 nor UTF-8".into(),
            }),
    }
}

/// Characters of a Chinese call center's export: ASCII, CJK ideographs and punctuation,
/// full-width forms, general punctuation (`…`, `“”`), `·`, and emoji from chat messages.
fn written_in_chinese(c: char) -> bool {
    matches!(c, '\0'..='\u{7f}' | '·' | '\u{2000}'..='\u{206f}' | '\u{3000}'..='\u{303f}' | '\u{3400}'..='\u{9fff}'
        | '\u{f900}'..='\u{faff}' | '\u{ff00}'..='\u{ffef}' | '\u{1f000}'..='\u{1faff}' | '\u{20000}'..='\u{2ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &[u8]) -> Vec<Vec<u8>> {
        let mut records = CsvRecords::new(input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while records.next_record(&mut buf).unwrap().is_some() {
            out.push(buf.clone());
        }
        out
    }

    #[test]
    fn each_row_carries_the_header_and_quoted_fields_survive() {
        let input = "call_id,notes\r\nc1,\"宽带断了,又断了\"\r\n\r\nc2,\"他说\"\"没人管\"\"\"\nc3,多行\n";
        let got = rows(input.as_bytes());
        assert_eq!(got.len(), 3);
        assert_eq!(String::from_utf8_lossy(&got[0]), "call_id,notes\nc1,\"宽带断了,又断了\"\n");
        let row = Row::parse(&got[1], TextEncoding::Utf8).unwrap();
        assert_eq!(row.get("notes", "notes").unwrap(), Some("他说\"没人管\""));
        assert_eq!(row.get("call_id", "call_id").unwrap(), Some("c2"));
    }

    fn row(text: &str) -> Result<Row, Rejection> {
        Row::parse(&rows(text.as_bytes())[0], TextEncoding::Utf8)
    }

    #[test]
    fn spreadsheet_wrappers_are_taken_off_and_other_text_kept() {
        let got = row("call_id,caller,notes\n\"=\"\"0012345\"\"\",'13800138000,'引号开头\n").unwrap();
        assert_eq!(got.get("call_id", "call_id").unwrap(), Some("0012345"));
        assert_eq!(got.get("caller", "caller").unwrap(), Some("13800138000"));
        assert_eq!(got.get("notes", "notes").unwrap(), Some("'引号开头"));
    }

    #[test]
    fn a_row_longer_than_its_header_or_an_unclosed_quote_is_refused() {
        let longer = row("call_id,notes\nc1,宽带断了,客户很生气\n").unwrap_err().to_string();
        assert!(longer.contains("3 fields and the header 2") && longer.contains("客户很生气"), "{longer}");
        assert!(row("call_id,notes\nc1,宽带断了,,\n").is_ok(), "trailing empty fields are nothing");
        let export = "call_id,caller,notes\nc1,13800138000,\"客户说不行\nc2,13900139000,断网\nc3,13700137000,又断了\n";
        let got = rows(export.as_bytes());
        assert_eq!(got.len(), 1, "the csv reader takes the rest of the file into the field");
        let unclosed = Row::parse(&got[0], TextEncoding::Utf8).unwrap_err().to_string();
        assert!(unclosed.contains("never closed") && unclosed.contains("over 3 lines"), "{unclosed}");
        let closed_later = "call_id,caller,notes\nc1,13800138000,\"客户说不行\nc2,13900139000,他说\"没人管\"\n";
        assert!(
            Row::parse(&rows(closed_later.as_bytes())[0], TextEncoding::Utf8).is_err(),
            "closed by a later row's quote"
        );
        let list = "call_id,caller,notes\nc1,13800138000,\"客户列出断网日期:\n1日,3日,5日,7日\"\n";
        assert!(Row::parse(&rows(list.as_bytes())[0], TextEncoding::Utf8).is_ok(), "a list in a note is no row");
        let notes = "call_id,caller,notes\nc1,13800138000,\"第一次报修:光猫红灯\n第二次:还是不行,要求上门\n\"\n";
        let got = Row::parse(&rows(notes.as_bytes())[0], TextEncoding::Utf8).unwrap();
        assert!(
            got.get("notes", "notes").unwrap().unwrap().ends_with("要求上门"),
            "a note over lines, ending in a break"
        );
    }

    #[test]
    fn a_delimiter_in_a_header_note_is_not_the_files() {
        let export = "call_id,满意度(1=满意;2=一般;3=不满意),notes\nc1,3,断网\n";
        let row = Row::parse(&rows(export.as_bytes())[0], TextEncoding::Utf8).unwrap();
        assert_eq!(row.get("call_id", "call_id").unwrap(), Some("c1"));
    }

    #[test]
    fn a_utf8_export_under_a_gb18030_setting_reads_as_utf8() {
        let got = rows("call_id,notes\nc1,宽带断了\n".as_bytes());
        let row = Row::parse(&got[0], TextEncoding::Gb18030).unwrap();
        assert_eq!(row.get("notes", "notes").unwrap(), Some("宽带断了"));
        let (gb, _, _) = encoding_rs::GB18030.encode("call_id,notes\nc1,宽带断了\n");
        let row = Row::parse(&rows(&gb)[0], TextEncoding::Gb18030).unwrap();
        assert_eq!(
            (row.get("notes", "notes").unwrap(), row.text()),
            (Some("宽带断了"), "call_id,notes\nc1,宽带断了\n")
        );
        // GB18030 bytes that are also valid UTF-8 (`叶` reads as `Ҷ`) stay GB18030.
        let (leaf, _, _) = encoding_rs::GB18030.encode("call_id,name\nc1,叶\n");
        assert!(std::str::from_utf8(&leaf).is_ok());
        let row = Row::parse(&rows(&leaf)[0], TextEncoding::Gb18030).unwrap();
        assert_eq!(row.get("name", "name").unwrap(), Some("叶"));
    }

    #[test]
    fn excel_unicode_text_and_other_delimiters_read_as_csv() {
        let text = "call_id\tcaller\tnotes\r\nc1\t13800138000\t宽带断了,又断了\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let got = rows(&utf16);
        assert_eq!(got.len(), 1);
        let row = Row::parse(&got[0], TextEncoding::Utf8).unwrap();
        assert_eq!(row.get("notes", "notes").unwrap(), Some("宽带断了,又断了"));
        assert_eq!(row.get("caller", "caller").unwrap(), Some("13800138000"));
        let semicolons = rows("call_id;caller;notes\nc2;13900139000;网速慢, 很慢\n".as_bytes());
        let row = Row::parse(&semicolons[0], TextEncoding::Utf8).unwrap();
        assert_eq!(
            (row.get("call_id", "call_id").unwrap(), row.get("notes", "notes").unwrap()),
            (Some("c2"), Some("网速慢, 很慢"))
        );
        let bom = rows("\u{feff}call_id,notes\nc3,断网\n".as_bytes());
        assert_eq!(Row::parse(&bom[0], TextEncoding::Utf8).unwrap().get("call_id", "call_id").unwrap(), Some("c3"));
        // A file with a mark of its own is Unicode whatever the settings say.
        let symbols = "call_id\tnotes\r\nc4\tCafé 30°C ¥68 ①\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(symbols.encode_utf16().flat_map(u16::to_le_bytes));
        let row = Row::parse(&rows(&utf16)[0], TextEncoding::Gb18030).unwrap();
        assert_eq!(row.get("notes", "notes").unwrap(), Some("Café 30°C ¥68 ①"));
    }

    #[test]
    fn progress_counts_the_files_own_bytes() {
        let text = "call_id\tnotes\r\nc1\t宽带断了又断了宽带断了又断了\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut records = CsvRecords::new(&utf16[..]);
        let mut buf = Vec::new();
        while records.next_record(&mut buf).unwrap().is_some() {}
        // As UTF-8 the rows are longer than the file: the parser's position would pass 100 %.
        assert_eq!(records.bytes_read(), utf16.len() as u64);
    }

    #[test]
    fn reads_gb18030_and_names_a_missing_column() {
        let (bytes, _, _) = encoding_rs::GB18030.encode("呼叫编号,主叫号码\n123,13800138000\n");
        let got = rows(&bytes);
        let row = Row::parse(&got[0], TextEncoding::Gb18030).unwrap();
        assert_eq!(row.get("主叫号码", "caller").unwrap(), Some("13800138000"));
        let wrong = Row::parse(&got[0], TextEncoding::Utf8).unwrap_err().to_string();
        assert!(wrong.contains("gb18030"), "{wrong}");
        let missing = row.get("caller", "caller").unwrap_err().to_string();
        assert!(missing.contains("呼叫编号, 主叫号码"), "{missing}");
    }
}
