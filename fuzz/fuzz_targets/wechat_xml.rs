#![no_main]
//! WeChat message XML, plaintext or a safe-mode envelope, and the splitter of message files.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mend_ingest::ParseSettings;
use mend_ingest::wechat::{XmlDocuments, parse_wechat};

#[path = "settings.rs"]
mod settings;

static SETTINGS: LazyLock<ParseSettings> = LazyLock::new(settings::settings);

fuzz_target!(|data: &[u8]| {
    let _ = parse_wechat(data, &SETTINGS);
    let mut documents = XmlDocuments::new(data);
    let mut buf = Vec::new();
    while let Ok(Some(())) = documents.next_record(&mut buf) {
        let _ = parse_wechat(&buf, &SETTINGS);
    }
});
