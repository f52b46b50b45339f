use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Parses an instant as channels write it: RFC 3339 with an offset, or a naive local time
/// (`2026-11-20 09:12:00`, `2026-11-20T09:12:00`, `2026/11/20 09:12`) in `zone`.
///
/// A naive time that does not exist in `zone` (a DST gap) is an error; an ambiguous one takes
/// the earlier instant.
pub fn parse_instant(input: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let input = input.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(input) {
        return Ok(t.with_timezone(&Utc));
    }
    const WITH_OFFSET: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z"];
    for format in WITH_OFFSET {
        if let Ok(t) = DateTime::parse_from_str(input, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    const NAIVE: [&str; 6] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%Y%m%d%H%M%S",
    ];
    for format in NAIVE {
        if let Ok(naive) = NaiveDateTime::parse_from_str(input, format) {
            return zone
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| format!("`{input}` does not exist in {zone}"));
        }
    }
    Err(format!("`{input}` is not a time (expected RFC 3339, e.g. 2026-11-20T09:12:00+08:00)"))
}

/// A time as an export writes it: its configured `format` (a naive time in `zone`) first, then
/// whatever [`parse_instant`] reads. The error names `field`.
pub(crate) fn read_time(
    text: &str,
    format: Option<&str>,
    zone: Tz,
    field: &'static str,
) -> Result<DateTime<Utc>, crate::Rejection> {
    let text = text.trim();
    if let Some(format) = format {
        // A format with an offset (`%z`) says which instant; chrono's naive reading would
        // accept the offset and drop it.
        if names_an_offset(format) {
            if let Ok(t) = DateTime::parse_from_str(text, format) {
                return Ok(t.with_timezone(&Utc));
            }
        } else if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return zone
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| crate::Rejection::invalid(field, format!("`{text}` does not exist in {zone}")));
        }
    }
    parse_instant(text, zone).map_err(|reason| {
        let reason = match format {
            Some(format) => format!("{reason}, nor in the configured time_format `{format}`"),
            None => reason,
        };
        crate::Rejection::invalid(field, reason)
    })
}

/// Whether a chrono format reads an offset (`%z`, `%:z`, `%::z`, `%#z`).
fn names_an_offset(format: &str) -> bool {
    format.split('%').skip(1).any(|spec| spec.trim_start_matches([':', '#']).starts_with('z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<&str>) {
        let got = parse_instant(input, chrono_tz::Asia::Shanghai).ok().map(|t| t.to_rfc3339());
        assert_eq!(got.as_deref(), expected, "input {input:?}");
    }

    #[test]
    fn reads_offsets_and_local_times() {
        check("2026-11-20T09:12:00+08:00", Some("2026-11-20T01:12:00+00:00"));
        check("2026-11-20T01:12:00Z", Some("2026-11-20T01:12:00+00:00"));
        check("2026-11-20 09:12:00+08:00", Some("2026-11-20T01:12:00+00:00"));
        check("2026-11-20 09:12:00", Some("2026-11-20T01:12:00+00:00"));
        check("2026-11-20T09:12:00.500", Some("2026-11-20T01:12:00.500+00:00"));
        check("2026/11/20 09:12", Some("2026-11-20T01:12:00+00:00"));
        check("20261120091200", Some("2026-11-20T01:12:00+00:00"));
    }

    #[test]
    fn a_configured_format_with_an_offset_keeps_it() {
        let read = |text: &str, format: &str| {
            read_time(text, Some(format), chrono_tz::Asia::Shanghai, "started_at").map(|t| t.to_rfc3339())
        };
        assert_eq!(read("2026-12-06T01:05:00+0000", "%Y-%m-%dT%H:%M:%S%z").unwrap(), "2026-12-06T01:05:00+00:00");
        assert_eq!(read("2026-12-06 09:05", "%Y-%m-%d %H:%M").unwrap(), "2026-12-06T01:05:00+00:00");
        let refused = read("06.12.2026", "%Y-%m-%d %H:%M").unwrap_err().to_string();
        assert!(refused.contains("time_format `%Y-%m-%d %H:%M`"), "{refused}");
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        check("", None);
        check("yesterday", None);
        check("2026-13-01T00:00:00+08:00", None);
        check("2026-11-20", None);
    }
}
