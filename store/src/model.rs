//! Newtypes and small value types shared by the store's layers.

use std::fmt;

/// A mailbox's row id in the index. Ids are never reused (AUTOINCREMENT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(pub i64);

/// RFC 9051 §2.3.1.1 unique identifier, strictly ascending within a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(pub u32);

/// RFC 9051 §2.3.1.1 UIDVALIDITY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UidValidity(pub u32);

/// RFC 7162 §3.1 mod-sequence value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModSeq(pub u64);

/// RFC 9051 §2.3.2 system flags, as a bit set. `\Recent` is per session and never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// `\Seen`
    pub const SEEN: Flags = Flags(1);
    /// `\Answered`
    pub const ANSWERED: Flags = Flags(2);
    /// `\Flagged`
    pub const FLAGGED: Flags = Flags(4);
    /// `\Deleted`
    pub const DELETED: Flags = Flags(8);
    /// `\Draft`
    pub const DRAFT: Flags = Flags(16);

    /// Each flag with its IMAP name and its Maildir info letter (maildir(5):
    /// D draft, F flagged, R replied, S seen, T trashed), in IMAP order.
    pub const TABLE: [(Flags, &'static str, char); 5] = [
        (Flags::SEEN, "\\Seen", 'S'),
        (Flags::ANSWERED, "\\Answered", 'R'),
        (Flags::FLAGGED, "\\Flagged", 'F'),
        (Flags::DELETED, "\\Deleted", 'T'),
        (Flags::DRAFT, "\\Draft", 'D'),
    ];

    /// No flag set.
    pub fn empty() -> Self {
        Flags(0)
    }
    /// Whether every flag of `other` is set here.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// The union.
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    /// These flags without `other`'s.
    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
    /// The flag named `name` (case-insensitive, RFC 9051 §2.3.2), if it is a stored system flag.
    pub fn from_name(name: &str) -> Option<Flags> {
        Self::TABLE
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
            .map(|(f, _, _)| *f)
    }
    /// IMAP names of the set flags.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::TABLE
            .into_iter()
            .filter(move |(f, _, _)| self.contains(*f))
            .map(|(_, n, _)| n)
    }
}

/// What a message carries besides its bytes: system flags and keywords (RFC 9051 §2.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlagSet {
    /// System flags.
    pub flags: Flags,
    /// Keywords, as given by the client (atoms), sorted, no duplicates.
    pub keywords: Vec<String>,
}

impl FlagSet {
    /// Keywords joined by spaces, as kept in the index.
    pub fn keywords_text(&self) -> String {
        self.keywords.join(" ")
    }
    /// The inverse of `keywords_text`.
    pub fn parse_keywords(text: &str) -> Vec<String> {
        let mut v: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// A user's address, lower-cased, `local@domain`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    local: String,
    domain: String,
}

impl Address {
    /// Parses and validates an address that may own a mailbox tree on disk. The local
    /// part becomes a directory name, so it is restricted to RFC 5322 atext and dots,
    /// never starting or ending with a dot or holding "..".
    pub fn parse(s: &str) -> Result<Address, String> {
        let s = s.trim().to_lowercase();
        let (local, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| format!("{s:?} is not an address (local@domain)"))?;
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| (atext(c) && c != '/') || c == '.');
        if !local_ok {
            return Err(format!("{local:?} is not a valid local part"));
        }
        Ok(Address {
            local: local.to_string(),
            domain: validate_domain(domain)?,
        })
    }
    /// The part before '@'.
    pub fn local(&self) -> &str {
        &self.local
    }
    /// The domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

/// Lower-cases and checks a domain name (letters, digits, hyphens, dots; labels of 1
/// to 63 octets; 253 at most).
pub fn validate_domain(domain: &str) -> Result<String, String> {
    let d = domain.trim().trim_end_matches('.').to_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(d)
    } else {
        Err(format!("{domain:?} is not a valid domain"))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// RFC 6154 special-use attributes given to a new user's mailboxes.
pub const DEFAULT_MAILBOXES: [(&str, Option<&str>); 6] = [
    ("INBOX", None),
    ("Sent", Some("\\Sent")),
    ("Drafts", Some("\\Drafts")),
    ("Trash", Some("\\Trash")),
    ("Junk", Some("\\Junk")),
    ("Archive", Some("\\Archive")),
];

/// RFC 6154 §2 special-use attributes a mailbox may carry.
pub const SPECIAL_USE: [&str; 7] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let ok = [
            ("Alice@Example.COM", "alice@example.com"),
            ("a.b+c@x.y", "a.b+c@x.y"),
            (" bob@host ", "bob@host"),
        ];
        for (input, want) in ok {
            assert_eq!(
                Address::parse(input).map(|a| a.to_string()),
                Ok(want.into())
            );
        }
        let bad = [
            "", "nobody", "@x.y", "a@", ".a@x", "a.@x", "a..b@x", "a/b@x", "a@x/y", "a@-x",
            "a@x..y", "a b@x", "a\0@x", "..@x",
        ];
        for input in bad {
            assert!(Address::parse(input).is_err(), "{input:?} accepted");
        }
    }

    #[test]
    fn flags_table() {
        let f = Flags::SEEN.union(Flags::DELETED);
        assert_eq!(f.names().collect::<Vec<_>>(), ["\\Seen", "\\Deleted"]);
        assert_eq!(Flags::from_name("\\SEEN"), Some(Flags::SEEN));
        assert_eq!(Flags::from_name("\\Recent"), None);
        assert!(!f.without(Flags::SEEN).contains(Flags::SEEN));
    }
}
