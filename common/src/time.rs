//! Date formats the protocols need: RFC 5322 §3.3 date-time (Date:, Received:) and
//! RFC 9051 §9 date-time (INTERNALDATE). The calendar and the month names are
//! [`mailyard_message::date`]'s, the one calendar every crate uses.

use std::time::{SystemTime, UNIX_EPOCH};

use mailyard_message::date::{DateTime, MONTHS, unix_seconds};
pub use mailyard_message::date::{days_from_civil, month_name};

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// RFC 5322 §3.3: `Sun, 22 Nov 2026 17:40:00 +0000`.
pub fn rfc5322(t: i64) -> String {
    DateTime::from_timestamp(t).to_rfc822()
}

/// RFC 9051 §9 date-time: `"22-Nov-2026 17:40:00 +0000"` (without the quotes; the day
/// is space-padded to two characters as the grammar's date-day-fixed says).
pub fn imap_datetime(t: i64) -> String {
    let p = DateTime::from_timestamp(t);
    format!(
        "{:>2}-{}-{} {:02}:{:02}:{:02} +0000",
        p.day,
        month_name(p.month),
        p.year,
        p.hour,
        p.minute,
        p.second
    )
}

/// Parses an RFC 9051 §9 date-time (`" 7-Feb-1994 21:52:25 -0800"` or with a
/// two-digit day) into unix seconds.
pub fn parse_imap_datetime(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let mut dp = date.split('-');
    let d: u8 = dp.next()?.parse().ok()?;
    let mon = dp.next()?;
    let y: u16 = dp.next()?.parse().ok()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u8 + 1;
    let mut tp = time.split(':');
    let h: u8 = tp.next()?.parse().ok()?;
    let mi: u8 = tp.next()?.parse().ok()?;
    let sec: u8 = tp.next()?.parse().ok()?;
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
    Some(unix_seconds(
        (y, m, d),
        (h, mi, sec),
        sign * (zh * 3600 + zm * 60),
    ))
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
    }
}
