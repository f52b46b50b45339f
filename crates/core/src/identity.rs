use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::text_enum::text_enum;

text_enum! {
    /// The kinds of key that identify a customer across channels.
    pub enum IdentityKind ("identity kind") {
        Phone = "phone",
        WechatOpenid = "wechat_openid",
        WechatUnionid = "wechat_unionid",
        MemberId = "member_id",
        BotUserId = "bot_user_id",
    }
}

/// A normalized key (kind + value) that points at exactly one customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CustomerKey {
    pub kind: IdentityKind,
    pub value: String,
}

impl CustomerKey {
    pub fn new(kind: IdentityKind, value: impl Into<String>) -> Self {
        Self { kind, value: value.into() }
    }
}

/// `kind:value`, as a complaint stores the keys it arrived with; [`FromStr`] reads it back.
impl fmt::Display for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl FromStr for CustomerKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, value) = s.split_once(':').ok_or_else(|| format!("`{s}` is not `kind:value`"))?;
        Ok(CustomerKey::new(kind.parse().map_err(|e: crate::UnknownWord| e.to_string())?, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_what_it_writes() {
        let key = CustomerKey::new(IdentityKind::WechatOpenid, "oAb:c");
        assert_eq!(key.to_string().parse::<CustomerKey>(), Ok(key));
        assert!("phone".parse::<CustomerKey>().is_err());
        assert!("fax:123".parse::<CustomerKey>().is_err());
    }
}
