//! Values that every channel writes its own way: satisfaction scores, yes/no flags.

use mend_core::Satisfaction;
use serde_json::Value;

use crate::Rejection;
use crate::settings::ScoreScale;

/// A JSON value that should be text. Spreadsheet-made JSON writes numbers for ids, phones and
/// scores and booleans for flags, so those are read as their text; blank is none.
pub(crate) fn json_text(value: Option<Value>, field: &'static str) -> Result<Option<String>, Rejection> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(Rejection::invalid(
            field,
            format!("expected text or a whole number, got a {}", crate::canonical::json_kind(&other)),
        )),
    }
}

/// How many steps a channel's satisfaction words have: a three-step scale puts 满意 at the top,
/// a five-step one below 非常满意.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Steps {
    Three,
    Five,
}

/// A satisfaction written as a score (`1`–`5`, on `scale`) or in words (满意, 一般, 不满意,
/// satisfied…); blank is none.
pub(crate) fn satisfaction(value: &str, steps: Steps, scale: ScoreScale) -> Result<Option<Satisfaction>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(n) = value.parse::<i64>() {
        let n = match scale {
            ScoreScale::OneIsWorst => n,
            ScoreScale::OneIsBest if (1..=5).contains(&n) => 6 - n,
            ScoreScale::OneIsBest => n,
        };
        return Satisfaction::new(n).map(Some);
    }
    let lower = value.to_lowercase();
    let score = match lower.as_str() {
        "非常满意" | "很满意" | "十分满意" | "very satisfied" => 5,
        "满意" | "satisfied" => match steps {
            Steps::Three => 5,
            Steps::Five => 4,
        },
        "比较满意" | "基本满意" | "还行" => 4,
        "一般" | "还可以" | "中立" | "neutral" => 3,
        "不满意" | "不太满意" | "unsatisfied" | "dissatisfied" => match steps {
            Steps::Three => 1,
            Steps::Five => 2,
        },
        "非常不满意" | "很不满意" | "极不满意" | "very unsatisfied" | "very dissatisfied" => 1,
        _ => return Err(format!("`{value}` is not a satisfaction (1-5, or 满意/一般/不满意)")),
    };
    Ok(Satisfaction::new(score).ok())
}

/// A yes/no flag as exports write it; blank is no.
pub(crate) fn flag(value: &str) -> Result<bool, String> {
    match value.trim().to_lowercase().as_str() {
        "是" | "1" | "true" | "yes" | "y" | "有" => Ok(true),
        "否" | "0" | "false" | "no" | "n" | "无" | "" => Ok(false),
        other => Err(format!("`{other}` is not a yes/no value (是/否, 1/0, true/false)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(value: &str, steps: Steps, scale: ScoreScale) -> Option<u8> {
        satisfaction(value, steps, scale).unwrap().map(Satisfaction::get)
    }

    #[test]
    fn reads_scores_and_words_on_either_scale() {
        assert_eq!(score("2", Steps::Three, ScoreScale::OneIsWorst), Some(2));
        assert_eq!(score("1", Steps::Three, ScoreScale::OneIsBest), Some(5));
        assert_eq!(score("满意", Steps::Three, ScoreScale::OneIsWorst), Some(5));
        assert_eq!(score("满意", Steps::Five, ScoreScale::OneIsWorst), Some(4));
        assert_eq!(score("不满意", Steps::Three, ScoreScale::OneIsWorst), Some(1));
        assert_eq!(score("不满意", Steps::Five, ScoreScale::OneIsWorst), Some(2));
        assert_eq!(score("一般", Steps::Five, ScoreScale::OneIsWorst), Some(3));
        assert_eq!(score("非常不满意", Steps::Five, ScoreScale::OneIsWorst), Some(1));
        assert_eq!(score("Unsatisfied", Steps::Three, ScoreScale::OneIsWorst), Some(1));
        assert_eq!(score(" ", Steps::Three, ScoreScale::OneIsWorst), None);
        assert!(satisfaction("6", Steps::Three, ScoreScale::OneIsWorst).is_err());
        assert!(satisfaction("好评", Steps::Three, ScoreScale::OneIsWorst).is_err());
    }

    #[test]
    fn reads_flags() {
        assert_eq!(flag("是"), Ok(true));
        assert_eq!(flag("Y"), Ok(true));
        assert_eq!(flag("否"), Ok(false));
        assert_eq!(flag(""), Ok(false));
        assert!(flag("maybe").is_err());
    }
}
