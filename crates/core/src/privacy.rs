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
/// landline with its area code (10 to 12 digits from 0), standing alone among the digits, in
/// any shape a person or a channel writes one (`139-1234-5678`, `+86 139 1234 5678`,
/// `0571-87654321`, full-width digits) — the shapes [`crate::PhoneNumber`] reads as a number.
pub fn mask_phones_in(text: &str) -> Cow<'_, str> {
    // Most texts a list masks hold no number: nothing to take apart.
    if !text.chars().any(is_digit) {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut hidden = vec![false; chars.len()];
    let mut any = false;
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            i += 1;
            continue;
        }
        // Groups of digits joined by single separators: `139 1234 5678`, `0571-87654321`.
        let mut groups = Vec::new();
        groups.push(i..digits_end(&chars, i));
        while let Some(last) = groups.last() {
            let next = last.end + 1;
            if last.end < chars.len() && is_separator(chars[last.end]) && next < chars.len() && is_digit(chars[next]) {
                groups.push(next..digits_end(&chars, next));
            } else {
                break;
            }
        }
        // A UUID's digits are no number someone wrote (`…-89f2-a09709193456` was masked, and an
        // idempotent replay gave back a broken id).
        let end = groups.last().map_or(i, |g| g.end);
        if let Some(uuid_end) = uuid_around(&chars, i) {
            i = uuid_end.max(end);
            continue;
        }
        let plus = i > 0 && chars[i - 1] == '+';
        let mut from = 0;
        while from < groups.len() {
            match phone_in(&chars, &groups[from..], plus && from == 0) {
                Some((taken, masked_positions)) => {
                    for p in masked_positions {
                        hidden[p] = true;
                    }
                    any = true;
                    from += taken;
                }
                None => from += 1,
            }
        }
        i = groups.last().map_or(i + 1, |g| g.end);
    }
    if !any {
        return Cow::Borrowed(text);
    }
    Cow::Owned(chars.iter().zip(hidden).map(|(c, h)| if h { '*' } else { *c }).collect())
}

/// The end of the UUID (`8-4-4-4-12` hex digits) that holds position `at`, if one does.
fn uuid_around(chars: &[char], at: usize) -> Option<usize> {
    const LEN: usize = 36;
    let shaped = |start: usize| {
        chars.get(start..start + LEN).is_some_and(|window| {
            window
                .iter()
                .enumerate()
                .all(|(k, c)| if [8, 13, 18, 23].contains(&k) { *c == '-' } else { c.is_ascii_hexdigit() })
        })
    };
    (at.saturating_sub(LEN - 1)..=at).find(|&start| shaped(start)).map(|start| start + LEN)
}

fn is_digit(c: char) -> bool {
    crate::phone::ascii_digit(c).is_some()
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '\u{3000}')
}

fn digits_end(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && is_digit(chars[i]) {
        i += 1;
    }
    i
}

/// The phone number that the first groups of `groups` make, if any: how many groups it takes,
/// and the positions of its digits to hide (all but the first three and last four of the
/// national number). A country code (`86`, `0086`) is kept and not counted.
fn phone_in(chars: &[char], groups: &[std::ops::Range<usize>], after_plus: bool) -> Option<(usize, Vec<usize>)> {
    let mut positions: Vec<usize> = Vec::new();
    for (n, group) in groups.iter().enumerate() {
        positions.extend(group.clone());
        if positions.len() > 15 {
            return None;
        }
        let digits: String = positions.iter().filter_map(|&p| crate::phone::ascii_digit(chars[p])).collect();
        let code = if digits.starts_with("0086") {
            4
        } else if digits.starts_with("86") && (after_plus || digits.len() == 13) {
            2
        } else {
            0
        };
        let national = &digits[code..];
        let is_phone = (national.len() == 11 && national.starts_with('1'))
            || ((10..=12).contains(&national.len()) && national.starts_with('0'));
        if is_phone {
            let national_positions = &positions[code..];
            let hide = national_positions.len() - 4;
            return Some((n + 1, national_positions[3..hide].to_vec()));
        }
    }
    None
}

/// A customer key as people may see it: a phone key masked, and any number inside another
/// (a member id or an openid some system made from the phone).
pub fn mask_key(kind: &str, value: &str) -> String {
    if kind == crate::IdentityKind::Phone.as_str() { mask_phone(value) } else { mask_phones_in(value).into_owned() }
}

/// Masks the numbers in `text` where it stands (untouched, and not copied, when it has none).
fn mask_text(text: &mut String) {
    if let Cow::Owned(masked) = mask_phones_in(text) {
        *text = masked;
    }
}

/// An email address as people who do not hold the customer's call see it: its first character
/// and its domain (`w***@example.com`), enough to tell two customers apart, not to write to one.
fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{}", mask_phones_in(domain))
        }
        None => "***".to_owned(),
    }
}

impl crate::Customer {
    /// A name is often the number itself (a caller id); an address is one to write to.
    pub fn masked(mut self) -> Self {
        if let Some(name) = &mut self.name {
            mask_text(name);
        }
        self.email = self.email.as_deref().map(mask_email);
        self
    }
}

impl crate::LinkedIdentity {
    pub fn masked(mut self) -> Self {
        self.value = mask_key(&self.kind, &self.value);
        // Where it was first seen: `complaint:hotline/13800138000` when a call's id is the number.
        mask_text(&mut self.source);
        self
    }
}

impl crate::StoredComplaint {
    pub fn masked(mut self) -> Self {
        mask_text(&mut self.text);
        mask_text(&mut self.source_id);
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

impl crate::TaskOutcome {
    /// The agent's own words with any number in them masked: they are stored and read by
    /// everyone who sees the customer's calls.
    pub fn masked(mut self) -> Self {
        [&mut self.root_cause, &mut self.suggestion].into_iter().flatten().for_each(mask_text);
        self
    }
}

impl crate::Task {
    /// As a list shows a task its reader does not hold: the script's numbers masked.
    pub fn masked(mut self) -> Self {
        mask_text(&mut self.script);
        self
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn an_email_keeps_its_first_character_and_domain() {
        assert_eq!(mask_email("wang.fang@example.com"), "w***@example.com");
        assert_eq!(mask_email("13800138000@139.com"), "1***@139.com");
        assert_eq!(mask_email("王芳@例子.中国"), "王***@例子.中国");
        assert_eq!(mask_email("no-at-sign"), "***");
    }

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
        // Identifiers keep their digits: ids in an answer must read back as themselves.
        for id in ["01a24e1c-d150-763b-89f2-a09709193456", "case 01a24e1c-d150-763b-89f2-097091934561,"] {
            assert_eq!(mask_phones_in(id), id);
        }
        assert_eq!(mask_phones_in("tel:13912345678"), "tel:139****5678");
    }

    #[test]
    fn numbers_in_any_shape_are_masked() {
        let cases = [
            ("回拨139-1234-5678", "回拨139-****-5678"),
            ("回拨139 1234 5678谢谢", "回拨139 **** 5678谢谢"),
            ("+86 139 1234 5678", "+86 139 **** 5678"),
            ("8613912345678", "86139****5678"),
            ("座机0571-87654321", "座机057*-****4321"),
            ("１３９１２３４５６７８", "１３９****５６７８"),
            ("2026-11-20 13800138000", "2026-11-20 138****8000"),
            ("工单 2026-11-20-0001 金额 68.50", "工单 2026-11-20-0001 金额 68.50"),
        ];
        for (text, masked) in cases {
            assert_eq!(mask_phones_in(text), masked, "{text}");
        }
    }

    proptest! {
        #[test]
        fn no_mobile_number_survives(prefix in "[^0-9]{0,6}", number in "1[3-9][0-9]{9}", suffix in "[^0-9]{0,6}") {
            let text = format!("{prefix}{number}{suffix}");
            let masked = mask_phones_in(&text);
            prop_assert!(!masked.contains(&number));
            prop_assert_eq!(masked.chars().count(), text.chars().count());
        }

        #[test]
        fn no_spelled_out_number_survives(
            prefix in "[^0-9+]{0,6}",
            number in "1[3-9][0-9]{9}",
            separator in "[ .-]",
            suffix in "[^0-9]{0,6}",
        ) {
            let spelled = format!("{}{separator}{}{separator}{}", &number[..3], &number[3..7], &number[7..]);
            let masked = mask_phones_in(&format!("{prefix}{spelled}{suffix}")).into_owned();
            prop_assert!(!masked.contains(&spelled) && masked.contains("****"), "{}", masked);
        }
    }
}
