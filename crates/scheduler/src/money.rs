/// Integer fen as people read yuan: `¥1,234.50`.
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}¥{grouped}.{:02}", abs % 100)
}

#[cfg(test)]
mod tests {
    use super::yuan;

    #[test]
    fn formats_fen_as_yuan() {
        assert_eq!(yuan(0), "¥0.00");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(123_450), "¥1,234.50");
        assert_eq!(yuan(100_000_000), "¥1,000,000.00");
        assert_eq!(yuan(-250), "-¥2.50");
    }
}
