//! The one calendar: RFC 5322 §3.3 month names and civil date ↔ Unix seconds. The
//! arithmetic is `mail_parser::DateTime`'s (the parser every crate already reads
//! Date: fields with), so IMAP's SEARCH dates and INTERNALDATE, SMTP's Date: and
//! Received:, and Sieve's `date` test (RFC 5260) count days the same way.

pub use mail_parser::DateTime;

/// The English month abbreviations of RFC 5322 §3.3 (and RFC 9051 §9), January
/// first. Compare case-insensitively when reading.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The name of month `month` (1–12; anything else reads as January).
pub fn month_name(month: u8) -> &'static str {
    MONTHS
        .get(usize::from(month).wrapping_sub(1))
        .copied()
        .unwrap_or("Jan")
}

/// The month (1–12) whose abbreviation `name` starts with, case-insensitively
/// (`jan`, `January`, `JAN`).
pub fn month_number(name: &str) -> Option<u8> {
    let abbr = name.get(..3)?;
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(abbr))
        .map(|i| i as u8 + 1)
}

/// Midnight of a civil (proleptic Gregorian) date, written with no zone.
fn midnight(year: u16, month: u8, day: u8) -> DateTime {
    DateTime {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
        tz_before_gmt: false,
        tz_hour: 0,
        tz_minute: 0,
    }
}

/// Days since 1970-01-01 of a civil date (negative before); `month` 1–12.
pub fn days_from_civil(year: u16, month: u8, day: u8) -> i64 {
    midnight(year, month, day)
        .to_timestamp_local()
        .div_euclid(86_400)
}

/// Whether `day` exists in that month (31 Feb does not).
pub fn is_real_date(year: u16, month: u8, day: u8) -> bool {
    if !(1..=12).contains(&month) || day == 0 {
        return false;
    }
    let back = DateTime::from_timestamp(days_from_civil(year, month, day) * 86_400);
    (back.year, back.month, back.day) == (year, month, day)
}

/// Unix seconds of a civil date and time written `offset` seconds east of UTC.
pub fn unix_seconds(date: (u16, u8, u8), (h, mi, s): (u8, u8, u8), offset: i64) -> i64 {
    days_from_civil(date.0, date.1, date.2) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(s)
        - offset
}

/// The English weekday abbreviations of RFC 5322 §3.3, Sunday first (the numbering
/// of [`weekday`]).
pub const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// 0 (Sunday) to 6 (Saturday): the weekday of a day count since 1970-01-01 (a
/// Thursday).
pub fn weekday(days: i64) -> u8 {
    (days + 4).rem_euclid(7) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        for (date, days) in [
            ((1970, 1, 1), 0),
            ((1969, 12, 31), -1),
            ((2000, 3, 1), 11_017),
            ((1994, 2, 8), 8_804),
            ((2026, 12, 1), 20_788),
        ] {
            assert_eq!(days_from_civil(date.0, date.1, date.2), days, "{date:?}");
        }
        for days in [-1000, 0, 1, 59, 365, 10_000, 20_000, 100_000] {
            let d = DateTime::from_timestamp(days * 86_400);
            assert_eq!(days_from_civil(d.year, d.month, d.day), days);
        }
        assert!(is_real_date(2024, 2, 29));
        assert!(!is_real_date(2026, 2, 29));
        assert!(!is_real_date(2026, 2, 31));
        assert!(!is_real_date(2026, 13, 1));
        assert!(!is_real_date(2026, 4, 0));
        assert_eq!(weekday(0), 4);
        assert_eq!(
            unix_seconds((1994, 2, 7), (21, 52, 25), -8 * 3600),
            760_686_745
        );
    }

    #[test]
    fn months() {
        assert_eq!(month_number("february"), Some(2));
        assert_eq!(month_number("DEC"), Some(12));
        assert_eq!(month_number("Foo"), None);
        assert_eq!(month_number("ja"), None);
        assert_eq!(month_name(2), "Feb");
        assert_eq!(month_name(0), "Jan");
    }
}
