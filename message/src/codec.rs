//! A compact, versioned binary form of a [`Shape`], for the index to keep instead of
//! rendered strings.
//!
//! Layout (version 1): the version octet, then the shape. Numbers are unsigned
//! LEB128 varints; a byte string is its length and its bytes; an optional value is
//! a `0` octet (absent) or `1` and the value; a list is its length and its items.
//! Spans are `start, length`. [`decode`] never panics and never allocates more than
//! the input can describe: every count is checked against the bytes left, nesting
//! is bounded, and anything left over is an error.

use crate::Error;
use crate::address::{Address, Mailbox};
use crate::content::{Content, Disposition, MediaType, Param};
use crate::envelope::Envelope;
use crate::shape::{Encapsulated, Kind, MAX_DEPTH, Part, Shape, Span};

/// The version [`encode`] writes.
pub const VERSION: u8 = 1;

/// Deepest part / message nesting [`decode`] accepts (a shape nests at most
/// [`MAX_DEPTH`] levels, each a part and possibly a message).
const MAX_NESTING: usize = 2 * MAX_DEPTH + 8;

/// The binary form of `shape`.
pub fn encode(shape: &Shape) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(256));
    w.0.push(VERSION);
    w.shape(shape);
    w.0
}

/// The shape `bytes` describe.
pub fn decode(bytes: &[u8]) -> Result<Shape, Error> {
    let mut r = Reader {
        buf: bytes,
        depth: 0,
    };
    match r.byte()? {
        VERSION => {}
        v => return Err(Error::Version(v)),
    }
    let shape = r.shape()?;
    if !r.buf.is_empty() {
        return Err(Error::Trailing);
    }
    Ok(shape)
}

struct Writer(Vec<u8>);

impl Writer {
    fn num(&mut self, mut n: u64) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        self.num(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn opt(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.0.push(0),
            Some(b) => {
                self.0.push(1);
                self.bytes(b);
            }
        }
    }

    fn span(&mut self, s: Span) {
        self.num(u64::from(s.start));
        self.num(u64::from(s.len()));
    }

    fn params(&mut self, params: &[Param]) {
        self.num(params.len() as u64);
        for (k, v) in params {
            self.bytes(k);
            self.bytes(v);
        }
    }

    fn addresses(&mut self, list: &[Address]) {
        self.num(list.len() as u64);
        for a in list {
            match a {
                Address::Mailbox(m) => {
                    self.0.push(0);
                    self.opt(m.name.as_deref());
                    self.opt(m.adl.as_deref());
                    self.bytes(&m.mailbox);
                    self.bytes(&m.host);
                }
                Address::GroupStart(name) => {
                    self.0.push(1);
                    self.bytes(name);
                }
                Address::GroupEnd => self.0.push(2),
            }
        }
    }

    fn envelope(&mut self, e: &Envelope) {
        self.opt(e.date.as_deref());
        self.opt(e.subject.as_deref());
        for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
            self.addresses(list);
        }
        self.opt(e.in_reply_to.as_deref());
        self.opt(e.message_id.as_deref());
    }

    fn content(&mut self, c: &Content) {
        match &c.media_type {
            None => self.0.push(0),
            Some(m) => {
                self.0.push(1);
                self.bytes(&m.kind);
                self.bytes(&m.subtype);
            }
        }
        self.params(&c.params);
        for v in [&c.id, &c.description, &c.encoding, &c.md5] {
            self.opt(v.as_deref());
        }
        match &c.disposition {
            None => self.0.push(0),
            Some(d) => {
                self.0.push(1);
                self.bytes(&d.kind);
                self.params(&d.params);
            }
        }
        match &c.language {
            None => self.0.push(0),
            Some(langs) => {
                self.0.push(1);
                self.num(langs.len() as u64);
                for l in langs {
                    self.bytes(l);
                }
            }
        }
        self.opt(c.location.as_deref());
    }

    fn part(&mut self, p: &Part) {
        self.span(p.header);
        self.span(p.body);
        self.num(p.octets);
        self.num(p.lines);
        self.content(&p.content);
        match &p.kind {
            Kind::Single => self.0.push(0),
            Kind::Multipart { subtype, parts } => {
                self.0.push(1);
                self.bytes(subtype);
                self.num(parts.len() as u64);
                for part in parts {
                    self.part(part);
                }
            }
            Kind::Message(enc) => {
                self.0.push(2);
                self.0.push(u8::from(enc.decoded));
                match &enc.message {
                    None => self.0.push(0),
                    Some(m) => {
                        self.0.push(1);
                        self.shape(m);
                    }
                }
            }
        }
    }

    fn shape(&mut self, s: &Shape) {
        self.envelope(&s.envelope);
        self.part(&s.root);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    depth: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Error> {
        let (&b, rest) = self.buf.split_first().ok_or(Error::Truncated)?;
        self.buf = rest;
        Ok(b)
    }

    fn flag(&mut self) -> Result<bool, Error> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::Tag),
        }
    }

    fn num(&mut self) -> Result<u64, Error> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(Error::Overflow);
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Error::Overflow)
    }

    fn u32(&mut self) -> Result<u32, Error> {
        u32::try_from(self.num()?).map_err(|_| Error::Overflow)
    }

    /// A count of items each at least one byte long.
    fn count(&mut self) -> Result<usize, Error> {
        let n = usize::try_from(self.num()?).map_err(|_| Error::Overflow)?;
        if n > self.buf.len() {
            return Err(Error::Truncated);
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, Error> {
        let n = self.count()?;
        let (b, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(b.to_vec())
    }

    fn opt(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.flag()? {
            Ok(Some(self.bytes()?))
        } else {
            Ok(None)
        }
    }

    fn span(&mut self) -> Result<Span, Error> {
        let start = self.u32()?;
        let len = self.u32()?;
        let end = start.checked_add(len).ok_or(Error::Overflow)?;
        Ok(Span { start, end })
    }

    fn params(&mut self) -> Result<Vec<Param>, Error> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push((self.bytes()?, self.bytes()?));
        }
        Ok(out)
    }

    fn addresses(&mut self) -> Result<Vec<Address>, Error> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(match self.byte()? {
                0 => Address::Mailbox(Mailbox {
                    name: self.opt()?,
                    adl: self.opt()?,
                    mailbox: self.bytes()?,
                    host: self.bytes()?,
                }),
                1 => Address::GroupStart(self.bytes()?),
                2 => Address::GroupEnd,
                _ => return Err(Error::Tag),
            });
        }
        Ok(out)
    }

    fn envelope(&mut self) -> Result<Envelope, Error> {
        Ok(Envelope {
            date: self.opt()?,
            subject: self.opt()?,
            from: self.addresses()?,
            sender: self.addresses()?,
            reply_to: self.addresses()?,
            to: self.addresses()?,
            cc: self.addresses()?,
            bcc: self.addresses()?,
            in_reply_to: self.opt()?,
            message_id: self.opt()?,
        })
    }

    fn content(&mut self) -> Result<Content, Error> {
        let media_type = if self.flag()? {
            Some(MediaType {
                kind: self.bytes()?,
                subtype: self.bytes()?,
            })
        } else {
            None
        };
        let params = self.params()?;
        let id = self.opt()?;
        let description = self.opt()?;
        let encoding = self.opt()?;
        let md5 = self.opt()?;
        let disposition = if self.flag()? {
            Some(Disposition {
                kind: self.bytes()?,
                params: self.params()?,
            })
        } else {
            None
        };
        let language = if self.flag()? {
            let n = self.count()?;
            let mut langs = Vec::with_capacity(n);
            for _ in 0..n {
                langs.push(self.bytes()?);
            }
            Some(langs)
        } else {
            None
        };
        Ok(Content {
            media_type,
            params,
            id,
            description,
            encoding,
            md5,
            disposition,
            language,
            location: self.opt()?,
        })
    }

    fn nest(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Error::TooDeep);
        }
        Ok(())
    }

    fn part(&mut self) -> Result<Part, Error> {
        self.nest()?;
        let header = self.span()?;
        let body = self.span()?;
        let octets = self.num()?;
        let lines = self.num()?;
        let content = self.content()?;
        let kind = match self.byte()? {
            0 => Kind::Single,
            1 => {
                let subtype = self.bytes()?;
                let n = self.count()?;
                let mut parts = Vec::with_capacity(n);
                for _ in 0..n {
                    parts.push(self.part()?);
                }
                Kind::Multipart { subtype, parts }
            }
            2 => {
                let decoded = self.flag()?;
                let message = if self.flag()? {
                    Some(self.shape()?)
                } else {
                    None
                };
                Kind::Message(Box::new(Encapsulated { decoded, message }))
            }
            _ => return Err(Error::Tag),
        };
        self.depth -= 1;
        Ok(Part {
            header,
            body,
            octets,
            lines,
            content,
            kind,
        })
    }

    fn shape(&mut self) -> Result<Shape, Error> {
        self.nest()?;
        let shape = Shape {
            envelope: self.envelope()?,
            root: self.part()?,
        };
        self.depth -= 1;
        Ok(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"From: \"A, B\" <a@b.c>, group: x@y, (c) <z@w>;\r\n\
To: =?utf-8?q?x?= <@r:q@h>\r\n\
Subject: s\xff\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"; x*0*=a; x*2=c\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=\"utf-8\"\r\n\
Content-Disposition: inline; filename=\"a\\\"b\"\r\n\
Content-Language: en, (x) fr\r\n\
\r\n\
t\r\n\
--b\r\n\
Content-Type: message/rfc822\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
U3ViamVjdDogZW5jb2RlZA0KDQpkZWNvZGVkIGJvZHkNCg==\r\n\
--b--\r\n";

    #[test]
    fn round_trip() {
        for raw in [SAMPLE, b"", b"Subject: x\r\n\r\nbody", b"\xff\xfe\0"] {
            let shape = Shape::parse(raw);
            let bytes = encode(&shape);
            assert_eq!(decode(&bytes), Ok(shape), "{raw:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let good = encode(&Shape::parse(SAMPLE));
        assert_eq!(decode(&[]), Err(Error::Truncated));
        assert_eq!(decode(&[9]), Err(Error::Version(9)));
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(Error::Trailing));
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Every single-byte corruption decodes or fails, and never panics.
        for at in 0..good.len() {
            for x in [0x00, 0x01, 0x02, 0x7f, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[at] = x;
                let _ = decode(&bad);
            }
        }
        // A huge count does not allocate.
        assert_eq!(
            decode(&[VERSION, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(Error::Truncated)
        );
        // Deep nesting is refused.
        let mut deep = vec![VERSION];
        for _ in 0..=MAX_NESTING {
            // empty envelope, then a part that is a message holding a shape
            deep.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            deep.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            deep.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]);
            deep.extend_from_slice(&[2, 0, 1]);
        }
        assert_eq!(decode(&deep), Err(Error::TooDeep));
    }
}
