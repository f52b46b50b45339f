//! What agents and supervisors type into the desk (reasons, root causes, suggestions): kept to
//! what the pages that show it again can hold, and to characters that show as what was stored.

use crate::DeskError;

/// A reason or a root cause, as the pages' fields take it (`maxlength` in `case.html.j2`).
pub(crate) const SHORT_TEXT: usize = 500;
/// A suggestion to the company.
pub(crate) const LONG_TEXT: usize = 2_000;

/// Refuses `text`, typed into `field`, when it is longer than `most` characters, or holds a
/// control character (other than a line break or a tab) or a direction override, which make a
/// page show other text than was stored.
pub(crate) fn check_typed(field: &str, text: &str, most: usize) -> Result<(), DeskError> {
    let length = text.chars().count();
    if length > most {
        return Err(DeskError::Invalid(format!(
            "{field} 最多 {most} 个字 ({field} is {length} characters, at most {most})"
        )));
    }
    let hidden = |c: char| {
        (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    match text.chars().find(|&c| hidden(c)) {
        Some(c) => Err(DeskError::Invalid(format!("{field} holds the control character U+{:04X}", u32::from(c)))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_a_page_could_not_show_as_stored() {
        assert!(check_typed("reason", "断网三天,按规定补偿\n客户同意", SHORT_TEXT).is_ok());
        assert!(check_typed("reason", &"长".repeat(SHORT_TEXT), SHORT_TEXT).is_ok(), "characters, not bytes");
        let long = check_typed("reason", &"长".repeat(SHORT_TEXT + 1), SHORT_TEXT).unwrap_err();
        assert!(long.to_string().contains("at most 500"), "{long}");
        for hidden in ["响铃\u{7}", "退款\u{202E}001", "\u{0}"] {
            assert!(check_typed("reason", hidden, SHORT_TEXT).is_err(), "{hidden:?}");
        }
    }
}
