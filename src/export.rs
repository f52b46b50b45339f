//! `mend cases export`: every case as one JSON line, streamed page by page.

use std::io::Write;

use anyhow::Result;
use mend_store::Store;
use mend_store::cases::case_summaries;

const PAGE: u64 = 1_000;

pub async fn export_cases(store: &Store, out: &mut impl Write) -> Result<u64> {
    let mut after = None;
    let mut written = 0;
    loop {
        let page = case_summaries(store.connection(), after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.case_id);
        for case in &page {
            serde_json::to_writer(&mut *out, case)?;
            out.write_all(b"\n")?;
        }
        written += page.len() as u64;
    }
    out.flush()?;
    Ok(written)
}
