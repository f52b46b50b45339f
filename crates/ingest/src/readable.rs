//! Quarantined bytes as an administrator reads them: most are UTF-8, and a Chinese call
//! center's export read with the wrong encoding is GB18030, which shown as UTF-8 is mojibake.

use std::borrow::Cow;

/// `raw` as text and the encoding it was read in: UTF-8 when it is that, else GB18030 when it
/// is that without a single invalid sequence; anything else as UTF-8 with replacement
/// characters, in no encoding (`None`).
pub fn readable(raw: &[u8]) -> (Cow<'_, str>, Option<&'static str>) {
    if let Ok(text) = std::str::from_utf8(raw) {
        return (Cow::Borrowed(text), Some("utf-8"));
    }
    match encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(raw) {
        Some(text) => (text, Some("gb18030")),
        None => (String::from_utf8_lossy(raw), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_then_gb18030_then_nothing() {
        assert_eq!(readable("宽带断了".as_bytes()), (Cow::Borrowed("宽带断了"), Some("utf-8")));
        let (gbk, _, _) = encoding_rs::GB18030.encode("流水号,主叫号码\n宽带又断了");
        assert_eq!(readable(&gbk), (Cow::Owned::<str>("流水号,主叫号码\n宽带又断了".into()), Some("gb18030")));
        assert_eq!(readable(b"\xff\xfe\xff").1, None);
    }
}
