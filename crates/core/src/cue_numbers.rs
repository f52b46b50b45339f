//! Cues that are numbers: "12315" (the consumer hotline) is a threat in "打12315", and only a
//! coincidence inside the phone number 13912315678.

/// Whether the match `range` of `text` counts as a cue: any words, or a number standing on its
/// own (no ASCII digit right before or after it).
pub fn cue_stands_alone(text: &str, range: std::ops::Range<usize>) -> bool {
    let digit_at = |i: usize| text.as_bytes().get(i).is_some_and(u8::is_ascii_digit);
    let number = text.as_bytes()[range.clone()].iter().all(u8::is_ascii_digit);
    !number || !(range.start.checked_sub(1).is_some_and(digit_at) || digit_at(range.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_counts_alone_and_words_anywhere() {
        let at = |text: &str, cue: &str| {
            let start = text.find(cue).unwrap();
            cue_stands_alone(text, start..start + cue.len())
        };
        assert!(at("再不解决打12315", "12315"));
        assert!(at("12315", "12315"));
        assert!(!at("请回电13912315678", "12315"));
        assert!(at("投诉123", "投诉"));
    }
}
