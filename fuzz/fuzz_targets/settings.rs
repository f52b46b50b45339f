//! Settings with every rule switched on, so fuzzing reaches the whole of each adapter.

use mend_ingest::{CueConfig, HotlineCsvConfig, ParseSettings, StoreCsvConfig, WechatConfig};

pub fn settings() -> ParseSettings {
    let cues = CueConfig {
        dissatisfaction_cues: ["投诉", "又断了", "太慢", "没人管"].map(String::from).to_vec(),
        human_request_cues: ["转人工", "没用"].map(String::from).to_vec(),
        complaint_cues: ["投诉", "乱收费"].map(String::from).to_vec(),
    };
    let wechat = WechatConfig {
        token: "pamtest".into(),
        encoding_aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
        appid: "wxb11529c136998cb6".into(),
        complaint_event_keys: vec!["COMPLAINT".into()],
        ..WechatConfig::default()
    };
    ParseSettings::new(chrono_tz::Asia::Shanghai, &cues, &wechat, &HotlineCsvConfig::default(), &StoreCsvConfig::default())
        .expect("valid settings")
}
