#![no_main]
//! Finished chatbot sessions as JSON.

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mend_ingest::{ParseSettings, parse_bot};

#[path = "settings.rs"]
mod settings;

static SETTINGS: LazyLock<ParseSettings> = LazyLock::new(settings::settings);

fuzz_target!(|data: &[u8]| {
    let _ = parse_bot(data, &SETTINGS);
});
