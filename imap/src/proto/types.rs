//! Small value types shared by commands and responses: flags, dates and
//! date-times (RFC 9051 §2.3.2, §9).

use super::parser::{ErrorKind, PResult, ParseError, Parser, is_atom_char};
use mailyard_message::date::{MONTHS, is_real_date};

/// A message flag or keyword. RFC 9051 §2.3.2, §9 `flag`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// `\Recent` (IMAP4rev1 only; clients cannot set it, RFC 3501 §2.3.2).
    Recent,
    /// Another system flag, `\` atom, stored without the backslash
    /// (RFC 9051 §9 `flag-extension`).
    Extension(String),
    /// A keyword such as `$Forwarded` or `$label1` (RFC 9051 §9
    /// `flag-keyword`), case preserved.
    Keyword(String),
}

impl Flag {
    /// Parses a flag name as it appears on the wire (`\Seen`, `$label1`).
    /// System flags are matched case-insensitively (RFC 9051 §2.3.2).
    pub fn from_wire(s: &str) -> Flag {
        match s.strip_prefix('\\') {
            Some(name) => match name.to_ascii_lowercase().as_str() {
                "seen" => Flag::Seen,
                "answered" => Flag::Answered,
                "flagged" => Flag::Flagged,
                "deleted" => Flag::Deleted,
                "draft" => Flag::Draft,
                "recent" => Flag::Recent,
                _ => Flag::Extension(name.to_owned()),
            },
            None => Flag::Keyword(s.to_owned()),
        }
    }

    /// The wire form: `\Seen`, `\Foo`, `$label1`.
    pub fn as_wire(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Flag::Seen => "\\Seen".into(),
            Flag::Answered => "\\Answered".into(),
            Flag::Flagged => "\\Flagged".into(),
            Flag::Deleted => "\\Deleted".into(),
            Flag::Draft => "\\Draft".into(),
            Flag::Recent => "\\Recent".into(),
            Flag::Extension(s) => format!("\\{s}").into(),
            Flag::Keyword(s) => s.as_str().into(),
        }
    }
}

/// A calendar date, RFC 9051 §9 `date` (`d-MMM-yyyy`), as used by SEARCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year, 4 digits.
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31 (checked against the month).
    pub day: u8,
}

impl Date {
    /// Days since 1970-01-01 (negative before), for comparing with
    /// timestamps.
    pub fn days_since_epoch(&self) -> i64 {
        mailyard_common::time::days_from_civil(self.year, self.month, self.day)
    }
}

/// RFC 9051 §9 `date-time`: `"dd-MMM-yyyy hh:mm:ss +zzzz"` (APPEND).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// The calendar date in the given zone.
    pub date: Date,
    /// Hour 0..=23.
    pub hour: u8,
    /// Minute 0..=59.
    pub minute: u8,
    /// Second 0..=60 (leap second).
    pub second: u8,
    /// Zone offset east of UTC in minutes (`+0100` → 60).
    pub zone_minutes: i16,
}

impl DateTime {
    /// Seconds since the Unix epoch (UTC).
    pub fn unix_timestamp(&self) -> i64 {
        self.date.days_since_epoch() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone_minutes) * 60
    }
}

impl Parser<'_> {
    fn digits_exact(&mut self, n: usize) -> PResult<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            match self.peek() {
                Some(d) if d.is_ascii_digit() => {
                    v = v * 10 + u32::from(d - b'0');
                    self.eat(d);
                }
                _ => return self.fail("digit"),
            }
        }
        Ok(v)
    }

    fn date_err(&self, at: usize) -> ParseError {
        ParseError::at(ErrorKind::Date, at)
    }

    /// `date-day "-" date-month "-" date-year`, where the day is either
    /// 1*2DIGIT (`date-day`) or, in a date-time, SP DIGIT / 2DIGIT
    /// (`date-day-fixed`).
    fn date_text(&mut self, fixed: bool) -> PResult<Date> {
        let start = self.pos();
        let day = if fixed && self.eat(b' ') {
            self.digits_exact(1)?
        } else {
            let d = self.digits_exact(1)?;
            match self.peek() {
                Some(c) if c.is_ascii_digit() => d * 10 + self.digits_exact(1)?,
                _ if fixed => return self.fail("two-digit day"),
                _ => d,
            }
        };
        self.expect(b'-', "-")?;
        let m = self.take_while(|b| b.is_ascii_alphabetic());
        let month = MONTHS
            .iter()
            .position(|name| m.eq_ignore_ascii_case(name.as_bytes()))
            .ok_or_else(|| self.date_err(start))?;
        self.expect(b'-', "-")?;
        let year = self.digits_exact(4)?;
        let (year, month, day) = (year as u16, month as u8 + 1, day as u8);
        if !is_real_date(year, month, day) {
            return Err(self.date_err(start));
        }
        Ok(Date { year, month, day })
    }

    /// RFC 9051 §9 `date` = date-text / DQUOTE date-text DQUOTE.
    pub(crate) fn date(&mut self) -> PResult<Date> {
        if self.eat(b'"') {
            let d = self.date_text(false)?;
            self.expect(b'"', "closing quote")?;
            Ok(d)
        } else {
            self.date_text(false)
        }
    }

    /// RFC 9051 §9 `date-time` = DQUOTE date-day-fixed "-" date-month "-"
    /// date-year SP time SP zone DQUOTE.
    pub(crate) fn date_time(&mut self) -> PResult<DateTime> {
        let start = self.pos();
        self.expect(b'"', "date-time")?;
        let date = self.date_text(true)?;
        self.sp()?;
        let hour = self.digits_exact(2)?;
        self.expect(b':', ":")?;
        let minute = self.digits_exact(2)?;
        self.expect(b':', ":")?;
        let second = self.digits_exact(2)?;
        self.sp()?;
        let sign: i16 = match self.peek() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return self.fail("zone"),
        };
        self.eat(b'+');
        self.eat(b'-');
        let zh = self.digits_exact(2)?;
        let zm = self.digits_exact(2)?;
        self.expect(b'"', "closing quote")?;
        if hour > 23 || minute > 59 || second > 60 || zm > 59 {
            return Err(self.date_err(start));
        }
        Ok(DateTime {
            date,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            zone_minutes: sign * (zh as i16 * 60 + zm as i16),
        })
    }

    /// RFC 9051 §9 `flag`: `\Answered` … `\Draft`, `\` atom or a keyword
    /// atom.
    pub(crate) fn flag(&mut self) -> PResult<Flag> {
        let start = self.pos();
        self.eat(b'\\');
        self.atom_of(is_atom_char, "flag")?;
        // Only `\` and ASCII atom characters lie between `start` and here.
        let text = std::str::from_utf8(self.slice(start, self.pos())).unwrap_or_default();
        Ok(Flag::from_wire(text))
    }

    /// RFC 9051 §9 `flag-list` = "(" [flag *(SP flag)] ")".
    pub(crate) fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.paren_list(true, |p| p.flag())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::type_complexity)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let ok: &[(&str, (u16, u8, u8))] = &[
            ("1-Feb-1994", (1994, 2, 1)),
            ("01-feb-1994", (1994, 2, 1)),
            ("\"29-FEB-2000\"", (2000, 2, 29)),
            ("31-Dec-1999", (1999, 12, 31)),
        ];
        for (s, (year, month, day)) in ok {
            let d = Parser::new(s.as_bytes()).date().unwrap();
            assert_eq!(
                d,
                Date {
                    year: *year,
                    month: *month,
                    day: *day
                },
                "{s}"
            );
        }
        for bad in [
            "29-Feb-1900",
            "0-Jan-2000",
            "32-Jan-2000",
            "1-Foo-2000",
            "1-Jan-99",
            "123-Jan-2000",
        ] {
            let mut p = Parser::new(bad.as_bytes());
            assert!(p.date().is_err() || !p.at_end(), "{bad}");
        }
        assert_eq!(
            Parser::new(b"29-Feb-1900").date().unwrap_err().kind,
            ErrorKind::Date
        );
        assert_eq!(
            Date {
                year: 1970,
                month: 1,
                day: 1
            }
            .days_since_epoch(),
            0
        );
        assert_eq!(
            Date {
                year: 2000,
                month: 3,
                day: 1
            }
            .days_since_epoch(),
            11017
        );
    }

    #[test]
    fn date_times() {
        let dt = Parser::new(b"\"17-Jul-1996 02:44:25 -0700\"")
            .date_time()
            .unwrap();
        assert_eq!(
            dt.date,
            Date {
                year: 1996,
                month: 7,
                day: 17
            }
        );
        assert_eq!(
            (dt.hour, dt.minute, dt.second, dt.zone_minutes),
            (2, 44, 25, -420)
        );
        assert_eq!(dt.unix_timestamp(), 837_596_665);
        let dt = Parser::new(b"\" 7-Feb-1994 21:52:25 +0100\"")
            .date_time()
            .unwrap();
        assert_eq!(dt.date.day, 7);
        for bad in [
            &b"\"7-Feb-1994 21:52:25 +0100\""[..],
            b"\"07-Feb-1994 24:00:00 +0000\"",
            b"\"07-Feb-1994 21:52:25 0100\"",
            b"07-Feb-1994 21:52:25 +0100",
        ] {
            assert!(
                Parser::new(bad).date_time().is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn flags() {
        let f = Parser::new(b"(\\Seen \\answered $label1 \\X-Foo Junk)")
            .flag_list()
            .unwrap();
        assert_eq!(
            f,
            vec![
                Flag::Seen,
                Flag::Answered,
                Flag::Keyword("$label1".into()),
                Flag::Extension("X-Foo".into()),
                Flag::Keyword("Junk".into())
            ]
        );
        assert_eq!(Parser::new(b"()").flag_list().unwrap(), vec![]);
        assert!(Parser::new(b"(\\Seen").flag_list().is_err());
        assert_eq!(Flag::Extension("X".into()).as_wire(), "\\X");
    }
}
