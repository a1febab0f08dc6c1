//! Date formats the protocols need, without a calendar crate: RFC 5322 §3.3 date-time
//! (Date:, Received:) and RFC 9051 §9 date-time (INTERNALDATE).

use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard Hinnant's
/// civil_from_days).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of `civil_from_days`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Parts {
    y: i64,
    mon: &'static str,
    d: u32,
    h: i64,
    mi: i64,
    s: i64,
    wday: &'static str,
}

fn parts(t: i64) -> Parts {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    Parts {
        y,
        mon: MONTHS[(m - 1) as usize],
        d,
        h: secs / 3600,
        mi: secs / 60 % 60,
        s: secs % 60,
        wday: DAYS[days.rem_euclid(7) as usize],
    }
}

/// RFC 5322 §3.3: `Sun, 22 Nov 2026 17:40:00 +0000`.
pub fn rfc5322(t: i64) -> String {
    let p = parts(t);
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        p.wday, p.d, p.mon, p.y, p.h, p.mi, p.s
    )
}

/// RFC 9051 §9 date-time: `"22-Nov-2026 17:40:00 +0000"` (without the quotes; the day
/// is space-padded to two characters as the grammar's date-day-fixed says).
pub fn imap_datetime(t: i64) -> String {
    let p = parts(t);
    format!(
        "{:>2}-{}-{} {:02}:{:02}:{:02} +0000",
        p.d, p.mon, p.y, p.h, p.mi, p.s
    )
}

/// Parses an RFC 9051 §9 date-time (`" 7-Feb-1994 21:52:25 -0800"` or with a
/// two-digit day) into unix seconds.
pub fn parse_imap_datetime(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let mut dp = date.split('-');
    let d: u32 = dp.next()?.parse().ok()?;
    let mon = dp.next()?;
    let y: i64 = dp.next()?.parse().ok()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let mut tp = time.split(':');
    let h: i64 = tp.next()?.parse().ok()?;
    let mi: i64 = tp.next()?.parse().ok()?;
    let sec: i64 = tp.next()?.parse().ok()?;
    if dp.next().is_some()
        || tp.next().is_some()
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let zone = zone.trim();
    if zone.len() != 5 {
        return None;
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i64 = zone.get(1..3)?.parse().ok()?;
    let zm: i64 = zone.get(3..5)?.parse().ok()?;
    let local = days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(local - sign * (zh * 3600 + zm * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        // 1994-02-08 05:52:25 UTC is RFC 3501's " 7-Feb-1994 21:52:25 -0800".
        let t = 760_686_745;
        assert_eq!(rfc5322(t), "Tue, 8 Feb 1994 05:52:25 +0000");
        assert_eq!(imap_datetime(t), " 8-Feb-1994 05:52:25 +0000");
        assert_eq!(parse_imap_datetime(" 7-Feb-1994 21:52:25 -0800"), Some(t));
        assert_eq!(
            parse_imap_datetime("17-Jul-1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        assert_eq!(rfc5322(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(imap_datetime(1_795_456_800), "23-Nov-2026 18:00:00 +0000");
        for bad in [
            "",
            "7-Feb-1994",
            "32-Feb-1994 00:00:00 +0000",
            "7-Foo-1994 00:00:00 +0000",
            "7-Feb-1994 24:00:00 +0000",
            "7-Feb-1994 00:00:00 0000",
        ] {
            assert_eq!(parse_imap_datetime(bad), None, "{bad}");
        }
        for days in [-1000, 0, 1, 59, 365, 10_000, 20_000, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
