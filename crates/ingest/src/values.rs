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

/// How a channel writes scores as numbers: which end is good, and how many points there are
/// (a three-key IVR survey: 1 满意, 2 一般, 3 不满意).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NumericScale {
    pub one_is: ScoreScale,
    pub points: u8,
}

impl NumericScale {
    pub const ONE_TO_FIVE: Self = Self { one_is: ScoreScale::OneIsWorst, points: 5 };

    /// The lowest score: 0 on a ten-point survey (0 to 10, as NPS asks), else 1.
    fn lowest(self) -> i64 {
        if self.points == 10 { 0 } else { 1 }
    }

    /// `n` on mend's 1 (very dissatisfied) to 5 (very satisfied), when it is on this scale.
    fn to_five(self, n: i64) -> Option<i64> {
        let (lowest, highest) = (self.lowest(), i64::from(self.points));
        if !(lowest..=highest).contains(&n) {
            return None;
        }
        let from_worst = match self.one_is {
            ScoreScale::OneIsWorst => n - lowest,
            ScoreScale::OneIsBest => highest - n,
        };
        let span = highest - lowest;
        Some(1 + (from_worst * 4 + span / 2) / span)
    }
}

/// What exports write for a call nobody rated: the caller hung up before the survey, or the
/// IVR recorded no key (0).
const UNRATED: &[&str] = &[
    "未评价",
    "未评",
    "未参评",
    "未参与",
    "未参与评价",
    "未回复",
    "用户挂机",
    "挂机",
    "无",
    "无评价",
    "-",
    "--",
    "—",
    "/",
    "n/a",
    "na",
    "null",
    "none",
    "0",
    "unrated",
    "not rated",
    "no rating",
    "skipped",
];

/// A satisfaction written as a score (`1`–`5` on `scale`, also `5分`, `5.0`, full-width digits)
/// or in words (满意, 一般, 不满意, 好评, satisfied…); blank or unrated (未评价, 0) is none.
pub(crate) fn satisfaction(value: &str, steps: Steps, scale: NumericScale) -> Result<Option<Satisfaction>, String> {
    let value = value.trim();
    // Full-width digits (`５`, `０`) read as the digits they are, for words and numbers alike.
    let lower: String = value
        .to_lowercase()
        .chars()
        .map(|c| mend_core::ascii_digit(c).unwrap_or(if c == '．' { '.' } else { c }))
        .collect();
    // Bots and APIs spell their rating enums `VERY_UNSATISFIED`, `thumbs-down` or `NOT_RATED`.
    let words = lower.split([' ', '_', '-']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
    let zero_is_a_score = lower == "0" && scale.lowest() == 0;
    let unrated = UNRATED.contains(&lower.as_str()) || UNRATED.contains(&words.as_str());
    if value.is_empty() || (unrated && !zero_is_a_score) {
        return Ok(None);
    }
    if let Some(n) = score_number(&lower) {
        return match scale.to_five(n) {
            Some(score) => Satisfaction::new(score).map(Some),
            None => Err(format!("`{value}` is not a score from 1 to {}", scale.points)),
        };
    }
    let score = match words.as_str() {
        "非常满意" | "很满意" | "十分满意" | "非常好" | "很好" | "very satisfied" | "very good" | "excellent"
        | "great" => 5,
        "满意" | "好评" | "好" | "点赞" | "satisfied" | "good" | "positive" | "thumbs up" | "like" => {
            match steps {
                Steps::Three => 5,
                Steps::Five => 4,
            }
        }
        "比较满意" | "基本满意" | "还行" => 4,
        "一般" | "还可以" | "中立" | "中评" | "neutral" | "average" | "fair" | "ok" | "okay" => 3,
        "不满意" | "不满" | "不太满意" | "差评" | "差" | "不好" | "点踩" | "unsatisfied" | "dissatisfied" | "bad"
        | "poor" | "negative" | "thumbs down" | "dislike" => match steps {
            Steps::Three => 1,
            Steps::Five => 2,
        },
        "非常不满意" | "很不满意" | "极不满意" | "非常差" | "很差" | "very unsatisfied" | "very dissatisfied"
        | "very bad" | "very poor" | "terrible" | "awful" => 1,
        _ => return Err(format!("`{value}` is not a satisfaction (1-5, or 满意/一般/不满意)")),
    };
    Ok(Satisfaction::new(score).ok())
}

/// A whole score as spreadsheets and IVRs write it: `4`, `4分`, `4星`, `4.0` (digits already
/// half-width).
fn score_number(value: &str) -> Option<i64> {
    let number = value.trim_end_matches(['分', '星', '级']).trim_end_matches("颗").trim();
    let whole = number.strip_suffix(".0").or_else(|| number.strip_suffix(".00")).unwrap_or(number);
    whole.parse().ok()
}

/// A yes/no flag as exports write it; blank is no.
pub(crate) fn flag(value: &str) -> Result<bool, String> {
    match value.trim().to_lowercase().as_str() {
        "是" | "1" | "1.0" | "true" | "yes" | "y" | "有" | "投诉" | "√" | "✓" => Ok(true),
        "否" | "0" | "0.0" | "false" | "no" | "n" | "无" | "非投诉" | "不是" | "×" | "✗" | "-" | "—" | "" => {
            Ok(false)
        }
        other => Err(format!("`{other}` is not a yes/no value (是/否, 1/0, true/false)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(value: &str, steps: Steps, scale: NumericScale) -> Option<u8> {
        satisfaction(value, steps, scale).unwrap().map(Satisfaction::get)
    }

    const ONE_IS_BEST: NumericScale = NumericScale { one_is: ScoreScale::OneIsBest, points: 5 };
    const FIVE: NumericScale = NumericScale::ONE_TO_FIVE;

    #[test]
    fn reads_scores_and_words_on_either_scale() {
        assert_eq!(score("2", Steps::Three, FIVE), Some(2));
        assert_eq!(score("1", Steps::Three, ONE_IS_BEST), Some(5));
        assert_eq!(score("满意", Steps::Three, FIVE), Some(5));
        assert_eq!(score("满意", Steps::Five, FIVE), Some(4));
        assert_eq!(score("不满意", Steps::Three, FIVE), Some(1));
        assert_eq!(score("不满意", Steps::Five, FIVE), Some(2));
        assert_eq!(score("一般", Steps::Five, FIVE), Some(3));
        assert_eq!(score("非常不满意", Steps::Five, FIVE), Some(1));
        assert_eq!(score("Unsatisfied", Steps::Three, FIVE), Some(1));
        assert_eq!(score("差评", Steps::Three, FIVE), Some(1));
        assert_eq!(score("VERY_UNSATISFIED", Steps::Three, FIVE), Some(1));
        assert_eq!(score("very-dissatisfied", Steps::Five, FIVE), Some(1));
        assert_eq!(score("thumbs_down", Steps::Three, FIVE), Some(1));
        assert_eq!(score("Very  Satisfied", Steps::Five, FIVE), Some(5));
        assert_eq!(score("NEUTRAL", Steps::Five, FIVE), Some(3));
        assert_eq!(score("great", Steps::Five, FIVE), Some(5));
        for unrated in ["NOT_RATED", "none", "skipped", "Unrated"] {
            assert_eq!(score(unrated, Steps::Three, FIVE), None, "{unrated}");
        }
        assert_eq!(score(" ", Steps::Three, FIVE), None);
        assert!(satisfaction("6", Steps::Three, FIVE).is_err());
        assert!(satisfaction("很好吧", Steps::Three, FIVE).is_err());
    }

    #[test]
    fn reads_scores_as_exports_write_them_and_unrated_calls_as_none() {
        for written in ["5分", "5.0", "５", "5 分", "5星", "5颗星"] {
            assert_eq!(score(written, Steps::Three, FIVE), Some(5), "{written}");
        }
        assert_eq!(score("1分", Steps::Three, FIVE), Some(1));
        for unrated in ["未评价", "未参评", "用户挂机", "无", "-", "0", "０", "N/A"] {
            assert_eq!(score(unrated, Steps::Three, FIVE), None, "{unrated}");
        }
        assert!(satisfaction("4.5", Steps::Three, FIVE).is_err(), "no half points");
    }

    #[test]
    fn a_three_key_survey_spans_the_five_points() {
        let three_best = NumericScale { one_is: ScoreScale::OneIsBest, points: 3 };
        let three_worst = NumericScale { one_is: ScoreScale::OneIsWorst, points: 3 };
        let read = |scale, n: &str| score(n, Steps::Three, scale);
        assert_eq!((read(three_best, "1"), read(three_best, "2"), read(three_best, "3")), (Some(5), Some(3), Some(1)));
        assert_eq!((read(three_worst, "1"), read(three_worst, "3")), (Some(1), Some(5)));
        assert!(satisfaction("4", Steps::Three, three_best).unwrap_err().contains("1 to 3"));
        let ten = NumericScale { one_is: ScoreScale::OneIsWorst, points: 10 };
        assert_eq!((read(ten, "0"), read(ten, "10"), read(ten, "5")), (Some(1), Some(5), Some(3)), "0 is the worst");
        assert_eq!((read(ten, "2"), read(ten, "8")), (Some(2), Some(4)));
    }

    #[test]
    fn reads_flags() {
        assert_eq!(flag("是"), Ok(true));
        assert_eq!(flag("Y"), Ok(true));
        assert_eq!(flag("否"), Ok(false));
        assert_eq!((flag("1.0"), flag("√"), flag("投诉")), (Ok(true), Ok(true), Ok(true)));
        assert_eq!((flag("0.0"), flag("×"), flag("非投诉"), flag("-")), (Ok(false), Ok(false), Ok(false), Ok(false)));
        assert_eq!(flag(""), Ok(false));
        assert!(flag("maybe").is_err());
    }
}
