//! `/metrics` in the Prometheus text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntakeLabels {
    channel: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

/// What happened to one record offered on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntakeOutcome {
    Accepted,
    Duplicate,
    Quarantined,
    Ignored,
}

impl IntakeOutcome {
    fn as_str(self) -> &'static str {
        match self {
            IntakeOutcome::Accepted => "accepted",
            IntakeOutcome::Duplicate => "duplicate",
            IntakeOutcome::Quarantined => "quarantined",
            IntakeOutcome::Ignored => "ignored",
        }
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    intake: Family<IntakeLabels, Counter>,
    refused: Family<ChannelLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mend");
        let intake = Family::<IntakeLabels, Counter>::default();
        registry.register("intake_records", "Records offered on a channel, by what became of them", intake.clone());
        let refused = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "intake_refused",
            "Requests refused because their signature is missing or wrong (forged or misconfigured senders)",
            refused.clone(),
        );
        Self { registry, intake, refused }
    }
}

impl Metrics {
    pub fn record(&self, channel: &str, outcome: IntakeOutcome) {
        let labels = IntakeLabels { channel: channel.to_owned(), outcome: outcome.as_str().to_owned() };
        self.intake.get_or_create(&labels).inc();
    }

    pub fn refused(&self, channel: &str) {
        self.refused.get_or_create(&ChannelLabels { channel: channel.to_owned() }).inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_text_format() {
        let metrics = Metrics::default();
        metrics.record("wechat", IntakeOutcome::Accepted);
        metrics.record("wechat", IntakeOutcome::Accepted);
        metrics.refused("hotline");
        let text = metrics.encode();
        assert!(text.contains(r#"mend_intake_records_total{channel="wechat",outcome="accepted"} 2"#), "{text}");
        assert!(text.contains(r#"mend_intake_refused_total{channel="hotline"} 1"#), "{text}");
        assert!(text.contains("# TYPE mend_intake_records counter"), "{text}");
    }
}
