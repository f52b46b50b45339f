use std::fmt;

use serde::{Deserialize, Serialize};

/// A mainland China phone number in canonical form: 11 digits for a mobile (`13800138000`),
/// the area code with its leading zero followed by the local number for a landline
/// (`01088886666`, `057187654321`).
///
/// Channels write numbers in many shapes (`+86 138-0013-8000`, `0086 10 8888 6666`,
/// full-width digits from a phone keyboard); all of them parse to the same key, so one customer
/// is recognised on every channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` is not a mainland mobile or landline number", crate::mask_phone(.0))]
pub struct InvalidPhoneNumber(pub String);

impl PhoneNumber {
    /// Also reads what call-center exports make of numbers: a spreadsheet's float (`…8000.0`),
    /// a switch's trunk zero before a mobile from another area (`013800138000`), a landline's
    /// extension (`010-88886666-8001`, `转8001`, `ext. 8001`), which is not part of the key.
    pub fn parse(input: &str) -> Result<Self, InvalidPhoneNumber> {
        let invalid = || InvalidPhoneNumber(input.to_owned());
        let number = input.trim();
        let number = EXTENSION_MARKS.iter().find_map(|mark| number.split_once(mark)).map_or(number, |(n, _)| n);
        let number = number.strip_suffix(".0").unwrap_or(number);
        // `010-88886666-8001`, `0571-8765432-1`: a short last group after a whole landline is
        // its extension (before the whole is read: `05718765432` and `1` would make another
        // eight-digit number).
        let landline_before_extension = number.rsplit_once(['-', ' ']).and_then(|(main, extension)| {
            let is_extension = (1..=5).contains(&extension.len()) && extension.chars().all(|c| c.is_ascii_digit());
            national_number(main).filter(|n| is_extension && is_landline(n))
        });
        landline_before_extension.or_else(|| national_number(number)).map(Self).ok_or_else(invalid)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `c` as an ASCII digit, when it is a digit: full-width ones (`０`–`９`) come from Chinese input
/// methods.
pub fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => Some(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
        _ => None,
    }
}

/// What separates a landline from its extension in the notes and exports of call centers.
const EXTENSION_MARKS: [&str; 6] = ["转", "分机", "ext", "EXT", "Ext", "#"];

/// The canonical national number `number` writes, if it is one.
fn national_number(number: &str) -> Option<String> {
    let mut digits = String::with_capacity(number.len());
    for (i, c) in number.trim().chars().enumerate() {
        match c {
            _ if ascii_digit(c).is_some() => digits.extend(ascii_digit(c)),
            '+' if i == 0 => {}
            ' ' | '-' | '(' | ')' | '（' | '）' | '.' | '\u{3000}' => {}
            _ => return None,
        }
    }
    let (national, international) = strip_country_code(&digits);
    if is_mobile(national) || is_landline(national) {
        Some(national.to_owned())
    } else if let Some(mobile) = national.strip_prefix('0').filter(|rest| !international && is_mobile(rest)) {
        Some(mobile.to_owned())
    } else {
        international.then(|| with_trunk_prefix(national)).flatten()
    }
}

/// The national number, and whether a country code was written before it.
fn strip_country_code(digits: &str) -> (&str, bool) {
    if let Some(rest) = digits.strip_prefix("0086") {
        return (rest, true);
    }
    if let Some(rest) = digits.strip_prefix("86") {
        // `86` is also the start of some local numbers, so only strip it when what
        // remains is a whole number.
        if rest.len() >= 10 && (is_mobile(rest) || with_trunk_prefix(rest).is_some()) {
            return (rest, true);
        }
    }
    (digits, false)
}

fn is_mobile(d: &str) -> bool {
    d.len() == 11 && d.starts_with('1') && matches!(d.as_bytes()[1], b'3'..=b'9')
}

fn is_landline(d: &str) -> bool {
    let b = d.as_bytes();
    if b.len() < 2 || b[0] != b'0' || b[1] == b'0' {
        return false;
    }
    // Beijing (010) and the 02x cities have three-digit area codes and eight-digit
    // local numbers; everywhere else has four-digit codes and seven or eight digits.
    let (area_len, local_lens): (usize, &[usize]) = match (b[1], b.get(2)) {
        (b'1', Some(b'0')) | (b'2', _) => (3, &[8]),
        (b'1', _) => return false,
        _ => (4, &[7, 8]),
    };
    let local = &b[area_len.min(b.len())..];
    local_lens.contains(&local.len()) && !matches!(local.first(), Some(b'0' | b'1'))
}

/// A landline written after `+86` drops its trunk zero (`+86 10 8888 6666`).
fn with_trunk_prefix(d: &str) -> Option<String> {
    if d.starts_with('0') {
        return None;
    }
    let with_zero = format!("0{d}");
    is_landline(&with_zero).then_some(with_zero)
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = InvalidPhoneNumber;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(input: &str, expected: Option<&str>) {
        let got = PhoneNumber::parse(input).ok();
        assert_eq!(got.as_ref().map(PhoneNumber::as_str), expected, "input {input:?}");
    }

    #[test]
    fn normalizes_the_shapes_channels_send() {
        check("13800138000", Some("13800138000"));
        check("+86 138-0013-8000", Some("13800138000"));
        check("0086 13800138000", Some("13800138000"));
        check("8613800138000", Some("13800138000"));
        check("１３８００１３８０００", Some("13800138000"));
        check(" 138 0013 8000 ", Some("13800138000"));
        check("010-88886666", Some("01088886666"));
        check("(0571) 8765 4321", Some("057187654321"));
        check("0571-8765432", Some("05718765432"));
        check("+86 10 8888 6666", Some("01088886666"));
        check("+86 571 87654321", Some("057187654321"));
    }

    #[test]
    fn reads_numbers_as_call_center_exports_write_them() {
        check("13800138000.0", Some("13800138000"));
        check("013800138000", Some("13800138000"));
        check("010-88886666-8001", Some("01088886666"));
        check("010-88886666转8001", Some("01088886666"));
        check("0571-87654321 ext. 12", Some("057187654321"));
        check("010 88886666 #8001", Some("01088886666"));
        check("138-0013-8000-1", None);
        check("010-88886666-800123", None);
        check("0571-8765432-1", Some("05718765432"));
        check("0571-8765-4321", Some("057187654321"));
        check("021-6666-8888", Some("02166668888"));
        check("138 0013 8000", Some("13800138000"));
        check("1.38001E+10", None);
    }

    #[test]
    fn rejects_what_is_not_a_reachable_number() {
        check("", None);
        check("12345", None);
        check("12800138000", None); // no 12x mobile prefix
        check("1380013800", None); // ten digits
        check("138001380001", None);
        check("88886666", None); // local number without area code
        check("010-08886666", None);
        check("phone: 13800138000", None);
        check("400-810-8888", None);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_is_idempotent(s in "\\PC{0,24}") {
            if let Ok(p) = PhoneNumber::parse(&s) {
                prop_assert_eq!(PhoneNumber::parse(p.as_str()), Ok(p.clone()));
            }
        }

        #[test]
        fn any_mobile_survives_decoration(
            second in 3u8..=9,
            rest in proptest::collection::vec(0u8..=9, 9),
            prefix in prop_oneof![Just(""), Just("+86"), Just("0086"), Just("+86 ")],
        ) {
            let digits: String = std::iter::once(1u8).chain(std::iter::once(second)).chain(rest)
                .map(|d| char::from(b'0' + d)).collect();
            let decorated = format!("{prefix}{}-{}-{}", &digits[..3], &digits[3..7], &digits[7..]);
            prop_assert_eq!(PhoneNumber::parse(&decorated).map(|p| p.0), Ok(digits));
        }
    }
}
