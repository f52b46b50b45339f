#![no_main]
//! Call-center exports: splitting into rows, then reading each row through the mapping.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mend_ingest::{CsvRecords, ParseSettings, parse_hotline_csv};

#[path = "settings.rs"]
mod settings;

static SETTINGS: LazyLock<ParseSettings> = LazyLock::new(settings::settings);

fuzz_target!(|data: &[u8]| {
    let _ = parse_hotline_csv(data, &SETTINGS);
    let mut rows = CsvRecords::new(data);
    let mut buf = Vec::new();
    while let Ok(Some(())) = rows.next_record(&mut buf) {
        let _ = parse_hotline_csv(&buf, &SETTINGS);
    }
});
