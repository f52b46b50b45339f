//! Configuration: the bundled `config/default.toml`, then `config/default.toml` in the working
//! directory if present, then `--config FILE`, then `MEND_*` environment variables.

use std::path::Path;

use anyhow::{Context, Result};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use mend_cases::{GroupingPhrases, GroupingPolicy, Taxonomy};
use serde::Deserialize;

mod unknown_keys;

pub use unknown_keys::{ENVIRONMENT, UnknownKey, unknown_keys};

const BUNDLED_DEFAULTS: &str = include_str!("../config/default.toml");
const LOCAL_DEFAULTS: &str = "config/default.toml";

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database_url: String,
    /// How logs are written to stderr: `text` (coloured only on a terminal, never under
    /// `NO_COLOR`) or `json`, one object a line for log collectors.
    pub log_format: LogFormat,
    pub timezone: String,
    pub http: HttpSettings,
    pub grouping: GroupingSettings,
    pub import: ImportSettings,
    pub taxonomy: Taxonomy,
    pub intake: IntakeSettings,
    pub wechat: mend_ingest::WechatConfig,
    pub channels: ChannelSettings,
    pub scheduler: mend_scheduler::SchedulerSettings,
    #[serde(default)]
    pub desk: mend_desk::DeskSettings,
    pub smtp: mend_notify::SmtpSettings,
    pub notify: mend_notify::NotifySettings,
}

/// `[grouping]`: the same-problem rule's numbers, and the phrases it reads in texts.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupingSettings {
    #[serde(flatten)]
    pub policy: GroupingPolicy,
    #[serde(flatten)]
    pub phrases: GroupingPhrases,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[intake]`: rules every channel's records pass.
#[derive(Debug, Clone, Deserialize)]
pub struct IntakeSettings {
    #[serde(flatten)]
    pub cues: mend_ingest::CueConfig,
    /// How far ahead of mend's clock a record's `received_at` may be.
    pub max_clock_skew_seconds: i64,
    /// Records saying they were received before this are refused.
    pub earliest_received_at: chrono::DateTime<chrono::Utc>,
    /// How far a signed timestamp (WeChat's, `X-Mend-Signature`'s) may be from mend's clock.
    pub signature_window_seconds: i64,
}

/// `[channels.*]`: each channel-native intake's secret and export layout.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelSettings {
    pub hotline: HotlineChannel,
    pub bot: SignedChannel,
    pub store: StoreChannel,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SignedChannel {
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HotlineChannel {
    pub secret: String,
    pub csv: mend_ingest::HotlineCsvConfig,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreChannel {
    pub secret: String,
    pub csv: mend_ingest::StoreCsvConfig,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub bind: String,
    pub max_body_bytes: usize,
    pub read_timeout_seconds: u64,
    /// Empty when clients connect directly; else the header the proxy names them in.
    pub client_ip_header: String,
    /// The proxies' addresses or networks (`10.0.0.0/8`): the header is believed from them only.
    pub trusted_proxies: Vec<String>,
}

impl HttpSettings {
    pub fn server_config(&self) -> Result<mend_server::HttpConfig> {
        let header = self.client_ip_header.trim();
        let client_ip_header = (!header.is_empty())
            .then(|| mend_server::HeaderName::from_bytes(header.as_bytes()))
            .transpose()
            .with_context(|| format!("http.client_ip_header: `{header}` is not a header name"))?;
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|proxy| {
                let proxy = proxy.trim();
                proxy
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| proxy.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .with_context(|| format!("http.trusted_proxies: `{proxy}` is no address or network"))
            })
            .collect::<Result<_>>()?;
        Ok(mend_server::HttpConfig {
            max_body_bytes: self.max_body_bytes,
            read_timeout: std::time::Duration::from_secs(self.read_timeout_seconds),
            client_address: mend_server::client_address::ClientAddressRule {
                header: client_ip_header,
                trusted_proxies,
            },
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ImportSettings {
    pub batch_size: usize,
    /// Records of a file read ahead and delivered in the order they were received.
    pub read_ahead: usize,
}

/// Reads one table of the configuration, its errors naming the key from the top
/// (figment's `extract_inner` appends the table's name after the key's: `window_days.grouping`).
fn extract_table<T: serde::de::DeserializeOwned>(figment: &Figment, table: &str) -> Result<T> {
    figment
        .extract_inner(table)
        .map_err(|mut e| {
            let table_parts = table.split('.').count().min(e.path.len());
            e.path.rotate_right(table_parts);
            e
        })
        .context("invalid configuration")
}

impl Settings {
    pub fn load(config_file: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::from(Toml::string(BUNDLED_DEFAULTS));
        if Path::new(LOCAL_DEFAULTS).is_file() {
            figment = figment.merge(Toml::file(LOCAL_DEFAULTS));
        }
        if let Some(file) = config_file {
            anyhow::ensure!(!file.is_dir(), "config file `{}` is a directory; name a TOML file in it", file.display());
            anyhow::ensure!(file.is_file(), "config file `{}` does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        let figment = figment.merge(Env::prefixed("MEND_").split("__"));
        let settings: Settings = match figment.extract() {
            Ok(settings) => settings,
            Err(e) => {
                // serde's `flatten` reads these tables as a whole and its errors name only the
                // table (`GROUPING`): read on their own, a mistyped value is named by its key.
                extract_table::<GroupingPolicy>(&figment, "grouping")?;
                extract_table::<GroupingPhrases>(&figment, "grouping")?;
                extract_table::<mend_ingest::CueConfig>(&figment, "intake")?;
                return Err(e).context("invalid configuration");
            }
        };
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<()> {
        self.parse_settings()?;
        anyhow::ensure!(self.import.batch_size > 0, "import.batch_size must be at least 1");
        let policy = &self.grouping.policy;
        anyhow::ensure!(policy.window_days > 0, "grouping.window_days must be at least 1");
        anyhow::ensure!(policy.reopen_days >= 0, "grouping.reopen_days must not be negative");
        anyhow::ensure!((0.0..=1.0).contains(&policy.threshold), "grouping.threshold must be between 0 and 1");
        anyhow::ensure!(self.http.max_body_bytes > 0, "http.max_body_bytes must be at least 1");
        anyhow::ensure!(self.http.read_timeout_seconds > 0, "http.read_timeout_seconds must be at least 1");
        self.http.server_config()?;
        // Ten years bounds every period: past it a date computation would overflow.
        const TEN_YEARS_SECONDS: i64 = 10 * 366 * 86_400;
        let periods = [
            ("intake.max_clock_skew_seconds", self.intake.max_clock_skew_seconds, 0),
            ("intake.signature_window_seconds", self.intake.signature_window_seconds, 1),
            (
                "scheduler.quarantine_retention_days",
                self.scheduler.quarantine_retention_days.saturating_mul(86_400),
                86_400,
            ),
        ];
        for (key, seconds, least) in periods {
            anyhow::ensure!(
                (least..=TEN_YEARS_SECONDS).contains(&seconds),
                "{key} must be between {least} s and ten years"
            );
        }
        self.scheduler.validate()?;
        self.notify.validate()?;
        mend_notify::parse_mailbox(&self.smtp.from).context("smtp.from")?;
        for to in &self.scheduler.hotspots.recipients {
            // An address the report could never reach would only fail at send time, daily.
            mend_notify::parse_address(to).with_context(|| format!("scheduler.hotspots.recipients: `{to}`"))?;
        }
        if !(30..=86_400).contains(&self.desk.lease_seconds) {
            anyhow::bail!("desk.lease_seconds must be between 30 and 86400, not {}", self.desk.lease_seconds);
        }
        if !(1..=100).contains(&self.desk.max_held_tasks) {
            anyhow::bail!("desk.max_held_tasks must be between 1 and 100, not {}", self.desk.max_held_tasks);
        }
        Ok(())
    }

    /// Template directories set to a place that is no directory: the templates shipped with
    /// mend are used instead, which a mistyped path would otherwise leave unsaid. The shipped
    /// defaults are left out: run from another directory, mend means to use its own.
    pub fn missing_template_dirs(&self) -> Vec<(&'static str, &Path)> {
        [
            ("scheduler.scripts_dir", self.scheduler.scripts_dir.as_path(), "config/scripts"),
            ("notify.templates_dir", self.notify.templates_dir.as_path(), "config/emails"),
        ]
        .into_iter()
        .filter(|(_, dir, shipped)| !dir.is_dir() && *dir != Path::new(shipped))
        .map(|(key, dir, _)| (key, dir))
        .collect()
    }

    pub fn timezone(&self) -> Result<chrono_tz::Tz> {
        self.timezone.parse().map_err(|_| anyhow::anyhow!("timezone `{}` is not an IANA zone name", self.timezone))
    }

    pub fn parse_settings(&self) -> Result<mend_ingest::ParseSettings> {
        let bounds = mend_ingest::ReceivedAtBounds {
            max_ahead: chrono::Duration::seconds(self.intake.max_clock_skew_seconds),
            earliest: self.intake.earliest_received_at,
        };
        let settings = mend_ingest::ParseSettings::new(
            self.timezone()?,
            &self.intake.cues,
            &self.wechat,
            &self.channels.hotline.csv,
            &self.channels.store.csv,
        )
        .context("invalid configuration")?;
        let window = chrono::Duration::seconds(self.intake.signature_window_seconds);
        Ok(settings.with_received_at_bounds(bounds).with_signature_window(window))
    }

    /// The HMAC secrets of the signed HTTP intakes.
    pub fn channel_secrets(&self) -> mend_server::ChannelSecrets {
        mend_server::ChannelSecrets {
            hotline: self.channels.hotline.secret.clone(),
            bot: self.channels.bot.secret.clone(),
            store: self.channels.store.secret.clone(),
        }
    }

    /// What the API serves from: the store and every stage built from these settings.
    pub async fn app_state(
        &self,
        store: mend_store::Store,
        mailroom: std::sync::Arc<mend_notify::Mailroom>,
        clock: std::sync::Arc<dyn mend_core::Clock>,
    ) -> Result<mend_server::AppState> {
        use std::sync::Arc;
        let intake = self.intake(&store).await?;
        let desk = mend_desk::Desk::new(store.clone(), Arc::clone(&intake), self.scheduler.clone(), &self.desk);
        let devices = Arc::new(mend_server::known_devices::KnownDevices::load(&store, clock.now()).await?);
        Ok(mend_server::AppState {
            devices,
            sign_ins: Arc::new(mend_server::auth::SignIns::new(store.clone())),
            store,
            desk: Arc::new(desk),
            planner: crate::schedule::planner(self)?,
            intake,
            parse: self.parse_settings()?,
            secrets: Arc::new(self.channel_secrets()),
            metrics: Arc::new(mend_server::Metrics::default()),
            mailroom,
            clock,
            secure_cookies: self.notify.public_url.starts_with("https://"),
        })
    }

    /// The intake these settings describe, with the label model trained into `store` (see
    /// `mend train categories`) if there is one.
    pub async fn intake(&self, store: &mend_store::Store) -> Result<std::sync::Arc<mend_cases::Intake>> {
        let intake = self.untrained_intake()?;
        let model = mend_cases::labels::load(store).await?;
        let statistics = mend_cases::term_statistics::TermStatistics::load(store).await?;
        Ok(std::sync::Arc::new(intake.with_labels(model).with_term_statistics(statistics)))
    }

    /// The intake from configuration alone: what `mend train categories` trains for.
    pub fn untrained_intake(&self) -> Result<mend_cases::Intake> {
        Ok(mend_cases::Intake::new(&self.taxonomy, self.grouping.policy, &self.grouping.phrases, self.timezone()?)?)
    }
}
