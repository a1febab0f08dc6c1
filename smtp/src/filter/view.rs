//! What a Sieve script sees of a message and of its user's store
//! ([`mailyard_sieve::MessageView`]), over mail-parser.

use std::cell::{OnceCell, RefCell};
use std::sync::Arc;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use mailyard_sieve::interpret::BodyTransform;
use mailyard_sieve::{MessageView, Script};
use mailyard_store::delivery::DUPLICATE;
use mailyard_store::{Address, Mark, SieveScope};

use super::compiled;
use crate::proto::fields::{Field, fields};

/// One message seen by one user's script: its header fields split once (cheap, every
/// script reads them), the MIME parse only when a `body` test asks for it.
pub(crate) struct View<'a> {
    raw: &'a [u8],
    /// The top-level fields, unfolded (RFC 5322 §2.2.3).
    fields: Vec<Field>,
    parsed: OnceCell<Option<Message<'a>>>,
    store: &'a SieveScope<'a>,
    user: &'a Address,
    /// `duplicate` tests to remember once the delivery is durable (RFC 7352 §3).
    pub(crate) marks: RefCell<Vec<Mark>>,
}

impl<'a> View<'a> {
    pub(crate) fn new(raw: &'a [u8], store: &'a SieveScope<'a>, user: &'a Address) -> View<'a> {
        View {
            raw,
            fields: fields(raw),
            parsed: OnceCell::new(),
            store,
            user,
            marks: RefCell::new(Vec::new()),
        }
    }

    /// The values of the top-level header fields named `name`, unfolded and trimmed.
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.fields
            .iter()
            .filter(move |f| f.is(name))
            .map(|f| f.value.trim())
    }

    /// The body as text when the message is a single `text/plain` part (no
    /// Content-Type, or `text/plain` with a US-ASCII or UTF-8 charset or none) in
    /// 7bit or 8bit (or no) transfer encoding, and valid UTF-8: exactly what the MIME
    /// parse would decode it to. `None` for anything else.
    fn plain_body(&self) -> Option<String> {
        let one = |name: &str| {
            let mut values = self.values(name);
            let first = values.next();
            if values.next().is_some() {
                return Err(());
            }
            Ok(first.map(str::to_ascii_lowercase))
        };
        let plain_type = match one("content-type").ok()? {
            None => true,
            Some(ct) => {
                let mut parts = ct.split(';').map(str::trim);
                parts.next() == Some("text/plain")
                    && parts.all(|p| match p.split_once('=') {
                        Some((k, v)) if k.trim() == "charset" => {
                            matches!(v.trim().trim_matches('"'), "us-ascii" | "utf-8" | "utf8")
                        }
                        Some(_) => true,
                        None => p.is_empty(),
                    })
            }
        };
        let plain_cte = match one("content-transfer-encoding").ok()? {
            None => true,
            Some(cte) => matches!(cte.as_str(), "7bit" | "8bit"),
        };
        if !(plain_type && plain_cte) {
            return None;
        }
        let start = mailyard_message::header::block_end(self.raw)?;
        std::str::from_utf8(&self.raw[start..])
            .ok()
            .map(str::to_string)
    }

    /// The MIME structure, parsed on first use (only the Content-* fields are read).
    fn parsed(&self) -> Option<&Message<'a>> {
        self.parsed
            .get_or_init(|| MessageParser::new().with_mime_headers().parse(self.raw))
            .as_ref()
    }
}

/// RFC 2047 encoded words decoded, as mail-parser reads an unstructured field.
fn decode(v: &str) -> String {
    if !v.contains("=?") {
        return v.to_string();
    }
    let owned = format!("{v}\r\n");
    let value = mail_parser::parsers::MessageStream::new(owned.as_bytes()).parse_unstructured();
    match value.as_text() {
        Some(t) => t.trim().to_string(),
        None => v.to_string(),
    }
}

impl MessageView for View<'_> {
    fn header_raw(&self, name: &str) -> Vec<String> {
        self.values(name).map(str::to_string).collect()
    }

    fn header_decoded(&self, name: &str) -> Vec<String> {
        self.values(name).map(decode).collect()
    }

    /// RFC 5173 §5.
    fn body(&self, transform: &BodyTransform) -> Vec<String> {
        // Most mail is one plain-text part that needs no decoding: its body is the
        // text, with no MIME parse.
        if *transform == BodyTransform::Text
            && let Some(text) = self.plain_body()
        {
            return vec![text];
        }
        let Some(m) = self.parsed() else {
            return Vec::new();
        };
        match transform {
            BodyTransform::Raw => {
                let start = m.root_part().offset_body as usize;
                vec![
                    String::from_utf8_lossy(self.raw.get(start..).unwrap_or_default()).into_owned(),
                ]
            }
            BodyTransform::Content(types) => m
                .parts
                .iter()
                .filter(|p| !matches!(p.body, PartType::Multipart(_)))
                .filter(|p| {
                    let (t, s) = p
                        .content_type()
                        .map(|c| {
                            (
                                c.ctype().to_ascii_lowercase(),
                                c.subtype().unwrap_or_default().to_ascii_lowercase(),
                            )
                        })
                        .unwrap_or_else(|| ("text".into(), "plain".into()));
                    types.iter().any(|want| {
                        let want = want.to_ascii_lowercase();
                        match want.split_once('/') {
                            _ if want.is_empty() => true,
                            Some((wt, ws)) => wt == t && ws == s,
                            None => want == t,
                        }
                    })
                })
                .map(|p| match &p.body {
                    PartType::Text(t) | PartType::Html(t) => t.to_string(),
                    PartType::Binary(b) | PartType::InlineBinary(b) => {
                        String::from_utf8_lossy(b).into_owned()
                    }
                    _ => String::new(),
                })
                .collect(),
            BodyTransform::Text => m
                .parts
                .iter()
                .filter_map(|p| match &p.body {
                    PartType::Text(t) => Some(t.to_string()),
                    PartType::Html(h) => Some(mail_parser::decoders::html::html_to_text(h)),
                    _ => None,
                })
                .collect(),
        }
    }

    fn size(&self) -> u64 {
        self.raw.len() as u64
    }

    fn mailbox_exists(&self, name: &str) -> bool {
        matches!(self.store.mailbox_exists(self.user, name), Ok(true))
    }

    fn duplicate(&self, handle: &str, id: &str, seconds: u64, last: bool) -> bool {
        let key = format!("{handle}\0{id}");
        let seen = self
            .store
            .seen(self.user, DUPLICATE, &key, seconds, last)
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "sieve: duplicate memory unreadable");
                false
            });
        self.marks.borrow_mut().push(Mark {
            user: self.user.clone(),
            kind: DUPLICATE,
            key,
            fresh: !seen,
        });
        seen
    }

    /// RFC 6609 §3.2: `:personal` scripts are the user's own; there are no global
    /// ones.
    fn include(&self, name: &str, global: bool) -> Option<Arc<Script>> {
        if global {
            return None;
        }
        let text = self.store.script(self.user, name).ok().flatten()?;
        let path = self.store.dir(self.user).join(format!("{name}.sieve"));
        compiled(&path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailyard_store::Store;

    #[test]
    fn header_values_unfolded_trimmed_and_decoded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path()).expect("open");
        let user = Address::parse("a@example.com").expect("address");
        let raw = b"Subject: =?utf-8?q?caf=C3=A9?=\r\n ok\r\nX-A: 1\r\nx-a:  2 \r\n\r\nbody\r\n";
        let scope = store.sieve_scope_blocking();
        let view = View::new(raw, &scope, &user);
        assert_eq!(view.header_raw("subject"), ["=?utf-8?q?caf=C3=A9?= ok"]);
        assert_eq!(view.header_decoded("Subject"), ["café ok"]);
        assert_eq!(view.header_raw("X-A"), ["1", "2"]);
        assert!(view.header_raw("missing").is_empty());
    }

    #[test]
    fn plain_text_body_without_a_parse_is_what_the_parse_gives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path()).expect("open");
        let user = Address::parse("a@example.com").expect("address");
        let cases: &[(&[u8], bool)] = &[
            (b"Subject: x\r\n\r\nline one\r\nline two\r\n", true),
            (b"Content-Type: text/plain; charset=\"UTF-8\"; format=flowed\r\n\r\ncaf\xc3\xa9\r\n", true),
            (b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nx\r\n", true),
            (b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n", false),
            (b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n", false),
            (b"Content-Type: text/html\r\n\r\n<b>x</b>\r\n", false),
            (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n", false),
        ];
        for (raw, fast) in cases {
            let scope = store.sieve_scope_blocking();
            let view = View::new(raw, &scope, &user);
            assert_eq!(
                view.plain_body().is_some(),
                *fast,
                "{}",
                String::from_utf8_lossy(raw)
            );
            if let Some(text) = view.plain_body() {
                let parsed = view.parsed().expect("parses");
                let want: Vec<String> = parsed
                    .parts
                    .iter()
                    .filter_map(|p| match &p.body {
                        PartType::Text(t) => Some(t.to_string()),
                        _ => None,
                    })
                    .collect();
                assert_eq!(vec![text], want, "{}", String::from_utf8_lossy(raw));
            }
        }
    }

    #[test]
    fn decodes_encoded_words() {
        assert_eq!(decode("=?utf-8?q?caf=C3=A9?= ok"), "café ok");
        assert_eq!(decode("plain"), "plain");
    }
}
