//! Escaping for the XML documents this crate writes (XML 1.0 §2.4: `&` and `<` in
//! text, plus `>` and both quotes so the same function serves attribute values).

/// `s` with `& < > " '` as character references.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 §2.2 allows no other C0 control; callers validate their input,
            // this keeps a document well-formed whatever they pass.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("a&b<c>\"d'"), "a&amp;b&lt;c&gt;&quot;d&apos;");
        assert_eq!(escape("x\u{1}y"), "x\u{FFFD}y");
        assert_eq!(escape("plain.example"), "plain.example");
    }
}
