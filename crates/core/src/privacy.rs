//! Phone numbers shown to people who do not hold the customer's call: `138****8000`. Only the
//! agent holding a task sees the number in full; views, lists, exports, logs and error
//! messages carry it masked.

use std::borrow::Cow;

/// A number with all but its first three and last four digits hidden (shorter ones keep only
/// their last two).
pub fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let (head, tail) = if chars.len() >= 9 { (3, 4) } else { (0, 2.min(chars.len())) };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i >= chars.len() - tail || !c.is_ascii_digit() { *c } else { '*' })
        .collect()
}

/// `text` with every phone number in it masked: a mobile number (11 digits from 1) or a
/// landline with its area code (10 to 12 digits from 0), standing alone among the digits.
pub fn mask_phones_in(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let run = &text[start..i];
        let phone =
            (run.len() == 11 && run.starts_with('1')) || ((10..=12).contains(&run.len()) && run.starts_with('0'));
        if phone {
            runs.push(start..i);
        }
    }
    if runs.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut masked = String::with_capacity(text.len());
    let mut last = 0;
    for run in runs {
        masked.push_str(&text[last..run.start]);
        masked.push_str(&mask_phone(&text[run.clone()]));
        last = run.end;
    }
    masked.push_str(&text[last..]);
    Cow::Owned(masked)
}

/// A customer key as people may see it: a phone key masked, and any number inside another
/// (a member id or an openid some system made from the phone).
pub fn mask_key(kind: &str, value: &str) -> String {
    if kind == crate::IdentityKind::Phone.as_str() { mask_phone(value) } else { mask_phones_in(value).into_owned() }
}

impl crate::Customer {
    /// A name or an email address is often the number itself (`13800138000@139.com`).
    pub fn masked(mut self) -> Self {
        self.name = self.name.map(|n| mask_phones_in(&n).into_owned());
        self.email = self.email.map(|e| mask_phones_in(&e).into_owned());
        self
    }
}

impl crate::LinkedIdentity {
    pub fn masked(mut self) -> Self {
        self.value = mask_key(&self.kind, &self.value);
        // Where it was first seen: `complaint:hotline/13800138000` when a call's id is the number.
        self.source = mask_phones_in(&self.source).into_owned();
        self
    }
}

impl crate::StoredComplaint {
    pub fn masked(mut self) -> Self {
        self.text = mask_phones_in(&self.text).into_owned();
        self.source_id = mask_phones_in(&self.source_id).into_owned();
        self.customer_keys = self
            .customer_keys
            .iter()
            .map(|key| match key.split_once(':') {
                Some((kind, value)) => format!("{kind}:{}", mask_key(kind, value)),
                None => key.clone(),
            })
            .collect();
        self
    }
}

impl crate::Task {
    /// As a list shows a task its reader does not hold: the script's numbers masked.
    pub fn masked(mut self) -> Self {
        self.script = mask_phones_in(&self.script).into_owned();
        self
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn numbers_keep_their_ends() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("02088886666"), "020****6666");
        assert_eq!(mask_phone("12345"), "***45");
        assert_eq!(mask_key("phone", "13800138000"), "138****8000");
        assert_eq!(mask_key("member_id", "M-2041"), "M-2041");
    }

    #[test]
    fn numbers_in_texts_are_masked_and_other_digits_kept() {
        assert_eq!(
            mask_phones_in("客户来电13800138000称宽带断网,工单号20261120001,金额68元,座机02088886666"),
            "客户来电138****8000称宽带断网,工单号20261120001,金额68元,座机020****6666"
        );
        assert!(matches!(mask_phones_in("没有号码的投诉"), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn no_mobile_number_survives(prefix in "[^0-9]{0,6}", number in "1[3-9][0-9]{9}", suffix in "[^0-9]{0,6}") {
            let text = format!("{prefix}{number}{suffix}");
            let masked = mask_phones_in(&text);
            prop_assert!(!masked.contains(&number));
            prop_assert_eq!(masked.chars().count(), text.chars().count());
        }
    }
}
