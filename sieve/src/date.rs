//! Dates for the `date` and `currentdate` tests (RFC 5260 §4): RFC 5322 date-time
//! parsing, time-zone shifts and the date parts. No clock: "now" is an input. The
//! calendar and month names are `mailyard_message::date`'s.

use mailyard_message::date;

/// A moment as seen in one time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// Offset from UTC in minutes.
    pub zone: i32,
}

/// The civil date of `self` as mail-parser's calendar takes it (years past 65535
/// or before 0 are out of any mail's range and clamp).
fn civil(year: i64, month: u32, day: u32) -> i64 {
    let year = u16::try_from(year.clamp(0, i64::from(u16::MAX))).unwrap_or(0);
    date::days_from_civil(year, month as u8, day as u8)
}

impl DateTime {
    /// Seconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone) * 60
    }

    /// The moment `ts` (Unix seconds) as seen at offset `zone` minutes.
    pub fn from_timestamp(ts: i64, zone: i32) -> DateTime {
        let local = date::DateTime::from_timestamp(ts + i64::from(zone) * 60);
        DateTime {
            year: i64::from(local.year),
            month: u32::from(local.month),
            day: u32::from(local.day),
            hour: u32::from(local.hour),
            minute: u32::from(local.minute),
            second: u32::from(local.second),
            zone,
        }
    }

    /// The same moment at another offset.
    pub fn in_zone(&self, zone: i32) -> DateTime {
        DateTime::from_timestamp(self.timestamp(), zone)
    }

    fn zone_str(&self, colon: bool) -> String {
        let sign = if self.zone < 0 { '-' } else { '+' };
        let z = self.zone.unsigned_abs();
        if colon {
            format!("{sign}{:02}:{:02}", z / 60, z % 60)
        } else {
            format!("{sign}{:02}{:02}", z / 60, z % 60)
        }
    }

    /// A date part of RFC 5260 §4.2; `None` for an unknown name.
    pub fn part(&self, name: &str) -> Option<String> {
        let days = civil(self.year, self.month, self.day);
        Some(match name.to_ascii_lowercase().as_str() {
            "year" => format!("{:04}", self.year),
            "month" => format!("{:02}", self.month),
            "day" => format!("{:02}", self.day),
            "date" => format!("{:04}-{:02}-{:02}", self.year, self.month, self.day),
            // Modified Julian Day: days since 1858-11-17.
            "julian" => (days + 40_587).to_string(),
            "hour" => format!("{:02}", self.hour),
            "minute" => format!("{:02}", self.minute),
            "second" => format!("{:02}", self.second),
            "time" => format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second),
            "iso8601" => format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
                self.year,
                self.month,
                self.day,
                self.hour,
                self.minute,
                self.second,
                self.zone_str(true)
            ),
            "std11" => format!(
                "{}, {} {} {:04} {:02}:{:02}:{:02} {}",
                date::WEEKDAYS[usize::from(date::weekday(days))],
                self.day,
                date::month_name(self.month as u8),
                self.year,
                self.hour,
                self.minute,
                self.second,
                self.zone_str(false)
            ),
            "zone" => self.zone_str(false),
            "weekday" => date::weekday(days).to_string(),
            _ => return None,
        })
    }
}

/// `+hhmm` / `-hhmm` to minutes (RFC 5260 §4.1 `:zone`).
pub fn parse_zone(z: &str) -> Option<i32> {
    let (sign, digits) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    (h <= 23 && m <= 59).then_some(sign * (h * 60 + m))
}

/// An RFC 5322 §3.3 date-time (`[Tue, ]1 Dec 2026 10:00[:00] +0100`, obsolete zone
/// names too); comments and extra blanks are tolerated.
pub fn parse_rfc5322(s: &str) -> Option<DateTime> {
    let s = s.split('(').next().unwrap_or(s);
    let s = s.split_once(',').map_or(s, |(_, r)| r);
    let mut w = s.split_whitespace();
    let day: u32 = w.next()?.parse().ok()?;
    let month = u32::from(date::month_number(w.next()?)?);
    let mut year: i64 = w.next()?.parse().ok()?;
    if year < 50 {
        year += 2000;
    } else if year < 1000 {
        year += 1900;
    }
    let time = w.next()?;
    let mut t = time.split(':');
    let hour: u32 = t.next()?.parse().ok()?;
    let minute: u32 = t.next()?.parse().ok()?;
    let second: u32 = t.next().map_or(Some(0), |x| x.parse().ok())?;
    let zone = match w.next() {
        None => 0,
        Some(z) => parse_zone(z).unwrap_or(match z.to_ascii_uppercase().as_str() {
            "EDT" => -4 * 60,
            "EST" | "CDT" => -5 * 60,
            "CST" | "MDT" => -6 * 60,
            "MST" | "PDT" => -7 * 60,
            "PST" => -8 * 60,
            _ => 0,
        }),
    };
    let real = u16::try_from(year)
        .ok()
        .zip(u8::try_from(day).ok())
        .is_some_and(|(y, d)| date::is_real_date(y, month as u8, d));
    if !real || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(DateTime {
        year,
        month,
        day,
        hour,
        minute,
        second: second.min(59),
        zone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let d = parse_rfc5322("Tue, 1 Dec 2026 10:05:09 +0130").expect("parses");
        let rows = [
            ("year", "2026"),
            ("month", "12"),
            ("day", "01"),
            ("date", "2026-12-01"),
            ("hour", "10"),
            ("minute", "05"),
            ("second", "09"),
            ("time", "10:05:09"),
            ("iso8601", "2026-12-01T10:05:09+01:30"),
            ("std11", "Tue, 1 Dec 2026 10:05:09 +0130"),
            ("zone", "+0130"),
            ("weekday", "2"),
            ("julian", "61375"),
        ];
        for (p, want) in rows {
            assert_eq!(d.part(p).as_deref(), Some(want), "{p}");
        }
        let utc = d.in_zone(0);
        assert_eq!(
            utc.part("iso8601").as_deref(),
            Some("2026-12-01T08:35:09+00:00")
        );
        let west = d.in_zone(-600);
        assert_eq!(west.part("date").as_deref(), Some("2026-11-30"));
        assert_eq!(
            DateTime::from_timestamp(0, 0).part("date").as_deref(),
            Some("1970-01-01")
        );
    }

    #[test]
    fn parsing() {
        assert!(parse_rfc5322("1 Dec 2026 10:05 GMT").is_some());
        assert!(parse_rfc5322("31 Feb 2026 10:05 GMT").is_none());
        assert!(parse_rfc5322("yesterday").is_none());
        assert_eq!(parse_zone("-0800"), Some(-480));
        assert_eq!(parse_zone("0800"), None);
        assert_eq!(parse_zone("+2500"), None);
    }
}
