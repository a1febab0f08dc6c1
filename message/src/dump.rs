//! A readable text form of a [`Shape`], one fact a line, for the golden corpus
//! (`tests/corpus/*.shape`) and for eyes. Byte strings are shown quoted with
//! non-printable and non-ASCII octets escaped, so the dump is ASCII whatever the
//! message holds.

use std::fmt::Write as _;

use crate::address::Address;
use crate::content::{Content, Param};
use crate::envelope::Envelope;
use crate::shape::{Kind, Part, Shape};

/// The dump of `shape`.
pub fn dump(shape: &Shape) -> String {
    let mut out = String::new();
    message(&mut out, shape, "", 0);
    out
}

fn q(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

fn oq(b: Option<&[u8]>) -> String {
    b.map_or_else(|| "-".to_owned(), q)
}

fn params(p: &[Param]) -> String {
    p.iter()
        .map(|(k, v)| format!("{}={}", q(k), q(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn message(out: &mut String, shape: &Shape, number: &str, indent: usize) {
    envelope(out, &shape.envelope, indent);
    part(out, &shape.root, number, indent);
}

fn envelope(out: &mut String, e: &Envelope, indent: usize) {
    let pad = "  ".repeat(indent);
    for (name, v) in [("date", &e.date), ("subject", &e.subject)] {
        if let Some(v) = v {
            let _ = writeln!(out, "{pad}{name} {}", q(v));
        }
    }
    for (name, list) in [
        ("from", &e.from),
        ("sender", &e.sender),
        ("reply-to", &e.reply_to),
        ("to", &e.to),
        ("cc", &e.cc),
        ("bcc", &e.bcc),
    ] {
        for a in list {
            let _ = match a {
                Address::Mailbox(m) => writeln!(
                    out,
                    "{pad}{name} {} {} {} {}",
                    oq(m.name.as_deref()),
                    oq(m.adl.as_deref()),
                    q(&m.mailbox),
                    q(&m.host)
                ),
                Address::GroupStart(g) => writeln!(out, "{pad}{name} group {}", q(g)),
                Address::GroupEnd => writeln!(out, "{pad}{name} end-group"),
            };
        }
    }
    for (name, v) in [
        ("in-reply-to", &e.in_reply_to),
        ("message-id", &e.message_id),
    ] {
        if let Some(v) = v {
            let _ = writeln!(out, "{pad}{name} {}", q(v));
        }
    }
}

fn content(out: &mut String, c: &Content, pad: &str) {
    if let Some(m) = &c.media_type {
        let _ = write!(out, "{pad}  type {} {}", q(&m.kind), q(&m.subtype));
        if !c.params.is_empty() {
            let _ = write!(out, " {}", params(&c.params));
        }
        out.push('\n');
    }
    for (name, v) in [
        ("id", &c.id),
        ("description", &c.description),
        ("encoding", &c.encoding),
        ("md5", &c.md5),
        ("location", &c.location),
    ] {
        if let Some(v) = v {
            let _ = writeln!(out, "{pad}  {name} {}", q(v));
        }
    }
    if let Some(d) = &c.disposition {
        let _ = write!(out, "{pad}  disposition {}", q(&d.kind));
        if !d.params.is_empty() {
            let _ = write!(out, " {}", params(&d.params));
        }
        out.push('\n');
    }
    if let Some(l) = &c.language {
        let l: Vec<String> = l.iter().map(|t| q(t)).collect();
        let _ = writeln!(out, "{pad}  language {}", l.join(" "));
    }
}

fn part(out: &mut String, p: &Part, number: &str, indent: usize) {
    let pad = "  ".repeat(indent);
    let kind = match &p.kind {
        Kind::Single => "single".to_owned(),
        Kind::Multipart { subtype, parts } => {
            format!("multipart {} ({} parts)", q(subtype), parts.len())
        }
        Kind::Message(enc) => format!("message{}", if enc.decoded { " decoded" } else { "" }),
    };
    let name = if number.is_empty() { "root" } else { number };
    let _ = writeln!(
        out,
        "{pad}part {name} {kind} header {}..{} body {}..{} octets {} lines {}",
        p.header.start, p.header.end, p.body.start, p.body.end, p.octets, p.lines
    );
    content(out, &p.content, &pad);
    match &p.kind {
        Kind::Single => {}
        Kind::Multipart { parts, .. } => {
            for (i, child) in parts.iter().enumerate() {
                let n = if number.is_empty() {
                    format!("{}", i + 1)
                } else {
                    format!("{number}.{}", i + 1)
                };
                part(out, child, &n, indent + 1);
            }
        }
        Kind::Message(enc) => match &enc.message {
            Some(m) => message(out, m, number, indent + 1),
            None => {
                let _ = writeln!(out, "{pad}  (no message)");
            }
        },
    }
}
