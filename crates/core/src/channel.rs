use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a complaint was heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Hotline,
    Wechat,
    Bot,
    Store,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Hotline, Channel::Wechat, Channel::Bot, Channel::Store];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Hotline => "hotline",
            Channel::Wechat => "wechat",
            Channel::Bot => "bot",
            Channel::Store => "store",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel `{0}` (expected hotline, wechat, bot or store)")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_name() {
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>(), Ok(channel));
        }
        assert!("fax".parse::<Channel>().is_err());
        assert!("Hotline".parse::<Channel>().is_err());
    }
}
