//! When a customer may be called: daily contact hours in the customer's own time zone (a window
//! may run past midnight), weekends and holidays, and caps on how often one customer is called.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Daily hours such as `09:00-20:00`. An end at or before the start runs into the next day
/// (`21:00-02:00`); the window belongs to the day it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DailyWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl FromStr for DailyWindow {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (start, end) = s.split_once('-').ok_or_else(|| format!("contact hours `{s}` are not HH:MM-HH:MM"))?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map_err(|e| format!("contact hours `{s}`: `{t}` is not HH:MM ({e})"))
        };
        let window = DailyWindow { start: time(start)?, end: time(end)? };
        if window.start == window.end {
            return Err(format!("contact hours `{s}` are empty"));
        }
        Ok(window)
    }
}

impl TryFrom<String> for DailyWindow {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<DailyWindow> for String {
    fn from(w: DailyWindow) -> String {
        w.to_string()
    }
}

impl fmt::Display for DailyWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start.format("%H:%M"), self.end.format("%H:%M"))
    }
}

/// `[scheduler.contact]`: when customers may be called.
#[derive(Debug, Clone, Deserialize)]
pub struct ContactPolicy {
    /// Hours on working days.
    pub hours: DailyWindow,
    /// Hours on Saturdays and Sundays; absent: no calls at weekends.
    #[serde(default)]
    pub weekend_hours: Option<DailyWindow>,
    /// Days without calls (public holidays), in the customer's local calendar.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// Weekend days that are working days (调休), called in `hours`.
    #[serde(default)]
    pub workdays: Vec<NaiveDate>,
    /// Repair calls one customer may get per day and per week (Monday to Sunday).
    pub max_calls_per_day: u32,
    pub max_calls_per_week: u32,
}

/// Calls a customer has, had or will have, counted per local day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallLoad {
    per_day: BTreeMap<NaiveDate, u32>,
}

impl CallLoad {
    /// A call at `at`, counted on its day in the customer's zone `tz`.
    pub fn add_call(&mut self, at: DateTime<Utc>, tz: Tz) {
        self.add(at.with_timezone(&tz).date_naive());
    }

    pub fn add(&mut self, day: NaiveDate) {
        *self.per_day.entry(day).or_default() += 1;
    }

    /// Takes back a call counted at `at` ([`Self::add_call`]): it is being placed anew. A call
    /// too old to have been counted takes nothing.
    pub fn remove_call(&mut self, at: DateTime<Utc>, tz: Tz) {
        if let Some(n) = self.per_day.get_mut(&at.with_timezone(&tz).date_naive()) {
            *n = n.saturating_sub(1);
        }
    }

    fn on(&self, day: NaiveDate) -> u32 {
        self.per_day.get(&day).copied().unwrap_or(0)
    }

    fn in_week_of(&self, day: NaiveDate) -> u32 {
        let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
        self.per_day.range(monday..monday + Duration::days(7)).map(|(_, n)| n).sum()
    }
}

/// Where a call was put, and why it is not at the moment asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    pub at: DateTime<Utc>,
    /// The customer's local day the call counts against.
    pub day: NaiveDate,
    /// Why the call moved later, in order (`outside contact hours`, `holiday`, `daily cap`…).
    pub moved_because: Vec<String>,
}

/// How far ahead a call is looked for before giving up: a year of holidays and caps.
const HORIZON_DAYS: i64 = 400;

impl ContactPolicy {
    /// The first moment at or after `earliest` inside the customer's contact hours on a day
    /// whose caps `load` leaves room in. `None` if no such moment exists within a year (a
    /// misconfiguration such as every day a holiday).
    pub fn place(&self, earliest: DateTime<Utc>, tz: Tz, load: &CallLoad) -> Option<Placement> {
        self.find(earliest, tz, Some(load))
    }

    /// The first moment at or after `at` inside contact hours, caps aside.
    pub fn next_open(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.open_placement(at, tz).map(|p| p.at)
    }

    /// [`Self::next_open`], and what moved it later than `at`.
    pub fn open_placement(&self, at: DateTime<Utc>, tz: Tz) -> Option<Placement> {
        self.find(at, tz, None)
    }

    /// Whether the holidays list (not empty: an operator keeps one) names no day of `year`: its
    /// public holidays would be called as working days, which nothing else would say.
    pub fn lists_no_holiday_in(&self, year: i32) -> bool {
        !self.holidays.is_empty() && self.holidays.iter().all(|day| day.year() != year)
    }

    /// The latest moment at or before `at` by which a call inside contact hours can have been
    /// made, caps aside: `at` itself inside hours, else the close of the last window before it.
    /// A deadline at night is met by the evening's calls, not the next morning's.
    pub fn last_open_by(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // A window that runs past midnight belongs to the day it opened: start a day later.
        let last_day = at.with_timezone(&tz).date_naive() + Duration::days(1);
        (0..HORIZON_DAYS).map(|back| last_day - Duration::days(back)).find_map(|day| {
            let (open, close) = interval(day, self.window_on(day)?, tz);
            (open <= at).then(|| close.min(at))
        })
    }

    /// When a call that may be made from `not_before` on is due, to meet `deadline`: by the last
    /// callable moment before the deadline (a promise of 24 hours made at 21:00 is kept by the
    /// next evening's calls), or at the first chance when none is left.
    pub fn due_by(&self, deadline: DateTime<Utc>, not_before: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        match self.last_open_by(deadline, tz) {
            Some(by) if by >= not_before => by,
            _ => self.next_open(deadline, tz).unwrap_or(deadline).max(not_before),
        }
    }

    fn find(&self, earliest: DateTime<Utc>, tz: Tz, load: Option<&CallLoad>) -> Option<Placement> {
        let first_day = earliest.with_timezone(&tz).date_naive() - Duration::days(1);
        let mut moved = Vec::new();
        let mut note = |reason: &str| {
            if !moved.iter().any(|m| m == reason) {
                moved.push(reason.to_owned());
            }
        };
        for offset in 0..HORIZON_DAYS {
            let day = first_day + Duration::days(offset);
            let Some(window) = self.window_on(day) else {
                if day >= earliest.with_timezone(&tz).date_naive() {
                    note(if self.holidays.contains(&day) { "holiday" } else { "weekend" });
                }
                continue;
            };
            let (open, close) = interval(day, window, tz);
            if close <= earliest {
                continue;
            }
            if let Some(load) = load {
                if load.on(day) >= self.max_calls_per_day {
                    note("daily call cap");
                    continue;
                }
                if load.in_week_of(day) >= self.max_calls_per_week {
                    note("weekly call cap");
                    continue;
                }
            }
            if open > earliest {
                note("outside contact hours");
            }
            return Some(Placement { at: open.max(earliest), day, moved_because: moved });
        }
        None
    }

    fn window_on(&self, day: NaiveDate) -> Option<DailyWindow> {
        if self.holidays.contains(&day) {
            return None;
        }
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if weekend && !self.workdays.contains(&day) { self.weekend_hours } else { Some(self.hours) }
    }
}

/// The window of `day` as UTC instants.
fn interval(day: NaiveDate, window: DailyWindow, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let end_day = if window.end <= window.start { day + Duration::days(1) } else { day };
    (local(day.and_time(window.start), tz), local(end_day.and_time(window.end), tz))
}

/// A local wall-clock time as an instant; a time skipped by a daylight-saving change is read
/// as the first instant after the gap.
fn local(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    let mut probe = naive;
    for _ in 0..4 {
        if let Some(at) = tz.from_local_datetime(&probe).earliest() {
            return at.with_timezone(&Utc);
        }
        probe += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&naive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ContactPolicy {
        ContactPolicy {
            hours: "09:00-20:00".parse().unwrap(),
            weekend_hours: Some("10:00-18:00".parse().unwrap()),
            holidays: vec![NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()],
            workdays: vec![],
            max_calls_per_day: 1,
            max_calls_per_week: 3,
        }
    }

    /// A Shanghai wall-clock time as UTC.
    fn sh(s: &str) -> DateTime<Utc> {
        local(NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap(), chrono_tz::Asia::Shanghai)
    }

    const SH: Tz = chrono_tz::Asia::Shanghai;

    #[test]
    fn a_deadline_at_night_is_met_by_the_evening_before() {
        let p = policy();
        let by = |at: &str| p.last_open_by(sh(at), SH);
        assert_eq!(by("2026-11-24 15:00"), Some(sh("2026-11-24 15:00")), "inside hours: the deadline itself");
        assert_eq!(by("2026-11-24 21:00"), Some(sh("2026-11-24 20:00")), "Tuesday night: Tuesday's close");
        assert_eq!(by("2026-11-25 08:00"), Some(sh("2026-11-24 20:00")), "before Wednesday opens");
        assert_eq!(by("2026-11-29 09:00"), Some(sh("2026-11-28 18:00")), "Sunday morning: Saturday's close");
        assert_eq!(by("2026-01-02 08:00"), Some(sh("2025-12-31 20:00")), "across the New Year holiday");
    }

    #[test]
    fn inside_hours_stays() {
        let p = policy().place(sh("2026-11-24 10:30"), SH, &CallLoad::default()).unwrap();
        assert_eq!(p.at, sh("2026-11-24 10:30"));
        assert!(p.moved_because.is_empty());
    }

    #[test]
    fn late_evening_moves_across_midnight_to_next_morning() {
        // Tuesday 22:15 in Shanghai is 14:15 UTC the same day; the call goes to Wednesday 09:00.
        let p = policy().place(sh("2026-11-24 22:15"), SH, &CallLoad::default()).unwrap();
        assert_eq!(p.at, sh("2026-11-25 09:00"));
        assert_eq!(p.day, NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
        assert_eq!(p.moved_because, ["outside contact hours"]);
        // Just after midnight (still the previous day in UTC) goes to the same morning.
        assert_eq!(
            policy().place(sh("2026-11-25 00:30"), SH, &CallLoad::default()).unwrap().at,
            sh("2026-11-25 09:00")
        );
    }

    #[test]
    fn a_window_past_midnight_belongs_to_the_day_it_opens() {
        let mut night = policy();
        night.hours = "21:00-02:00".parse().unwrap();
        // 01:30 Wednesday is inside Tuesday's window.
        let p = night.place(sh("2026-11-25 01:30"), SH, &CallLoad::default()).unwrap();
        assert_eq!(p.at, sh("2026-11-25 01:30"));
        assert_eq!(p.day, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        // 03:00 waits for Wednesday 21:00.
        assert_eq!(night.place(sh("2026-11-25 03:00"), SH, &CallLoad::default()).unwrap().at, sh("2026-11-25 21:00"));
    }

    #[test]
    fn weekends_use_their_own_hours_or_none() {
        // Friday 21:00 → Saturday 10:00 (weekend hours).
        assert_eq!(
            policy().place(sh("2026-11-27 21:00"), SH, &CallLoad::default()).unwrap().at,
            sh("2026-11-28 10:00")
        );
        let mut weekdays_only = policy();
        weekdays_only.weekend_hours = None;
        let p = weekdays_only.place(sh("2026-11-27 21:00"), SH, &CallLoad::default()).unwrap();
        assert_eq!(p.at, sh("2026-11-30 09:00"));
        assert_eq!(p.moved_because, ["weekend", "outside contact hours"]);
        // A weekend working day (调休) is called in working hours.
        weekdays_only.workdays = vec![NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()];
        assert_eq!(
            weekdays_only.place(sh("2026-11-27 21:00"), SH, &CallLoad::default()).unwrap().at,
            sh("2026-11-28 09:00")
        );
    }

    #[test]
    fn holidays_are_skipped() {
        let p = policy().place(sh("2025-12-31 20:30"), SH, &CallLoad::default()).unwrap();
        assert_eq!(p.at, sh("2026-01-02 09:00"));
        assert!(p.moved_because.contains(&"holiday".to_owned()));
    }

    #[test]
    fn caps_move_a_call_to_the_next_day_and_week() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let mut load = CallLoad::default();
        load.add(day(24));
        let p = policy().place(sh("2026-11-24 11:00"), SH, &load).unwrap();
        assert_eq!(p.at, sh("2026-11-25 09:00"));
        assert_eq!(p.moved_because, ["daily call cap", "outside contact hours"]);
        // Three calls this week (Mon 23 – Sun 29): the next one waits for Monday 30.
        load.add(day(23));
        load.add(day(25));
        let p = policy().place(sh("2026-11-25 11:00"), SH, &load).unwrap();
        assert_eq!(p.at, sh("2026-11-30 09:00"));
        assert!(p.moved_because.contains(&"weekly call cap".to_owned()));
    }

    #[test]
    fn the_customers_zone_decides() {
        // 09:30 in Shanghai is 02:30 in Berlin (winter): a Berlin customer waits until 09:00 there.
        let berlin = chrono_tz::Europe::Berlin;
        let p = policy().place(sh("2026-11-24 09:30"), berlin, &CallLoad::default()).unwrap();
        assert_eq!(p.at, Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap());
    }

    #[test]
    fn hours_parse_and_refuse_nonsense() {
        assert_eq!("09:00-20:00".parse::<DailyWindow>().unwrap().to_string(), "09:00-20:00");
        assert!("9-20".parse::<DailyWindow>().is_err());
        assert!("10:00-10:00".parse::<DailyWindow>().is_err());
    }

    proptest::proptest! {
        #[test]
        fn a_placement_is_never_earlier_and_always_inside_hours(minutes in 0i64..60 * 24 * 30) {
            let from = sh("2026-11-01 00:00") + Duration::minutes(minutes);
            let p = policy().place(from, SH, &CallLoad::default()).unwrap();
            proptest::prop_assert!(p.at >= from);
            let local = p.at.with_timezone(&SH).time();
            let weekend = matches!(p.at.with_timezone(&SH).weekday(), Weekday::Sat | Weekday::Sun);
            let hours = if weekend { policy().weekend_hours.unwrap() } else { policy().hours };
            proptest::prop_assert!(local >= hours.start && local < hours.end);
        }
    }
}
