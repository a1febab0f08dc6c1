//! Scripts that must fail, with the line, column and message of the first error; and
//! inputs that hit the limits.

use mailyard_sieve::{compile, compile_bytes, parser};

/// (script, line, column, message substring)
const INVALID: &[(&str, usize, usize, &str)] = &[
    // Syntax (RFC 5228 §8).
    ("keep", 1, 5, "without ';'"),
    ("keep\n discard", 2, 9, "'keep' without ';'"),
    ("keep \"x\" discard", 1, 17, "'keep' without ';'"),
    ("keep \"x\" ]", 1, 10, "expected ';' or '{'"),
    ("if true { keep;", 1, 16, "block without '}'"),
    ("keep; }", 1, 7, "without a matching '{'"),
    ("redirect \"a@b.c;", 1, 10, "unterminated string"),
    ("/* open", 1, 1, "unterminated comment"),
    ("keep;\n  /* open\n", 2, 3, "unterminated comment"),
    (
        "require \"reject\";\nreject text:\nno end\n",
        2,
        8,
        "unterminated multi-line",
    ),
    (
        "require \"reject\";\nreject text: x\n.\n;",
        2,
        14,
        "end of line after 'text:'",
    ),
    ("if header [] \"x\" { }", 1, 12, "expected a string"),
    (
        "if header [\"a\" \"b\"] \"x\" { }",
        1,
        16,
        "expected ',' or ']'",
    ),
    (
        "if anyof (true false) { }",
        1,
        16,
        "test 'true' takes no test",
    ),
    ("if anyof (true ] { }", 1, 16, "expected ',' or ')'"),
    ("if anyof (true, ) { }", 1, 17, "expected a test"),
    ("if size : 1 { }", 1, 9, "tag name after ':'"),
    (
        "if size :over 99999999999999999999 { }",
        1,
        15,
        "number too large",
    ),
    ("if size :over 99999999999G { }", 1, 15, "number too large"),
    ("42;", 1, 1, "expected a command"),
    ("keep;\n\n   \"x\";", 3, 4, "expected a command"),
    // Validation (RFC 5228 §2.6, §2.7, §3.2).
    ("frobnicate;", 1, 1, "unknown command 'frobnicate'"),
    ("if frob { }", 1, 4, "unknown test 'frob'"),
    ("header \"a\" \"b\";", 1, 1, "is a test, not a command"),
    ("if keep { }", 1, 4, "is a command, not a test"),
    ("fileinto \"x\";", 1, 1, "needs the \"fileinto\" extension"),
    (
        "require \"fileinto\";\nfileinto :copy \"x\";",
        2,
        10,
        "needs the \"copy\" extension",
    ),
    (
        "require \"frobnicate\";",
        1,
        9,
        "unsupported extension \"frobnicate\"",
    ),
    ("keep;\nrequire \"fileinto\";", 2, 1, "only at the top"),
    (
        "if true { require \"fileinto\"; }",
        1,
        11,
        "only at the top",
    ),
    ("elsif true { }", 1, 1, "without a preceding 'if'"),
    ("keep; else { }", 1, 7, "without a preceding 'if'"),
    ("if true keep;", 1, 1, "needs a block"),
    ("keep { }", 1, 1, "takes no block"),
    ("if { }", 1, 1, "needs a test"),
    ("if (true) { }", 1, 1, "one test, not a test list"),
    ("if anyof true { }", 1, 4, "takes a test list"),
    ("stop true;", 1, 6, "takes no test"),
    ("redirect;", 1, 1, "takes 1 positional arguments, not 0"),
    (
        "redirect \"a@b.c\" \"d@e.f\";",
        1,
        18,
        "takes 1 positional arguments, not 2",
    ),
    ("redirect [\"a@b.c\"];", 1, 10, "expects a string here"),
    ("redirect \"not an address\";", 1, 10, "not an address"),
    ("if size 100 { }", 1, 4, "needs :over or :under"),
    (
        "if size :over :under 100 { }",
        1,
        15,
        "conflicts with :over",
    ),
    ("if size :over \"100\" { }", 1, 15, "expects a number"),
    (
        "if header :is :contains \"a\" \"b\" { }",
        1,
        15,
        "conflicts with :is",
    ),
    ("if header :is :is \"a\" \"b\" { }", 1, 15, "given twice"),
    (
        "if header \"a\" :is \"b\" { }",
        1,
        15,
        "after a positional argument",
    ),
    (
        "if header :frob \"a\" \"b\" { }",
        1,
        11,
        "unknown tag :frob for test 'header'",
    ),
    (
        "if header :comparator \"i;frob\" \"a\" \"b\" { }",
        1,
        11,
        "unknown comparator \"i;frob\"",
    ),
    (
        "if header :comparator \"i;ascii-numeric\" \"a\" \"b\" { }",
        1,
        11,
        "comparator-i;ascii-numeric",
    ),
    (
        "if header :comparator 5 \"a\" \"b\" { }",
        1,
        23,
        "tag :comparator takes a string",
    ),
    ("if header :comparator", 1, 22, "unexpected end of script"),
    (
        "if header :comparator { }",
        1,
        4,
        "takes 2 positional arguments, not 0",
    ),
    (
        "if header :regex \"a\" \"b\" { }",
        1,
        11,
        "needs the \"regex\" extension",
    ),
    (
        "require \"regex\";\nif header :regex \"a\" \"(\" { }",
        2,
        22,
        "bad regular expression",
    ),
    (
        "if header :count \"gt\" \"a\" \"1\" { }",
        1,
        11,
        "needs the \"relational\" extension",
    ),
    (
        "require \"relational\";\nif header :value \"bigger\" \"a\" \"1\" { }",
        2,
        11,
        "unknown relational operator",
    ),
    (
        "if address :user \"to\" \"x\" { }",
        1,
        12,
        "needs the \"subaddress\" extension",
    ),
    (
        "if address :all :domain \"to\" \"x\" { }",
        1,
        17,
        "conflicts with :all",
    ),
    (
        "if envelope \"to\" \"x\" { }",
        1,
        4,
        "needs the \"envelope\" extension",
    ),
    (
        "if header :index 1 \"a\" \"b\" { }",
        1,
        11,
        "needs the \"index\" extension",
    ),
    (
        "require \"index\";\nif header :last \"a\" \"b\" { }",
        2,
        11,
        ":last needs :index",
    ),
    (
        "require \"index\";\nif header :index 0 \"a\" \"b\" { }",
        2,
        11,
        "counts from 1",
    ),
    (
        "require \"date\";\nif date \"date\" \"fortnight\" \"x\" { }",
        2,
        16,
        "unknown date part",
    ),
    (
        "require \"date\";\nif currentdate :zone \"CET\" \"year\" \"2026\" { }",
        2,
        4,
        "bad time zone",
    ),
    (
        "require \"vacation\";\nvacation :seconds 60 \"x\";",
        2,
        10,
        "vacation-seconds",
    ),
    (
        "require \"vacation-seconds\";\nvacation :days 1 :seconds 60 \"x\";",
        2,
        18,
        "conflicts with :days",
    ),
    (
        "require \"vacation\";\nvacation :from \"nobody\" \"x\";",
        2,
        1,
        "not an address",
    ),
    (
        "require \"vacation\";\nvacation;",
        2,
        1,
        "takes 1 positional",
    ),
    (
        "require \"variables\";\nset \"1x\" \"y\";",
        2,
        5,
        "bad variable name",
    ),
    (
        "require \"variables\";\nset \"x\";",
        2,
        1,
        "takes 2 positional",
    ),
    (
        "require \"include\";\nglobal \"x\";",
        2,
        1,
        "needs the \"variables\" extension",
    ),
    (
        "require \"include\";\ninclude :personal :global \"x\";",
        2,
        19,
        "conflicts with :personal",
    ),
    (
        "require \"imap4flags\";\nsetflag;",
        2,
        1,
        "takes 1 or 2 positional",
    ),
    (
        "require \"imap4flags\";\naddflag \"v\" \"\\\\Seen\";",
        2,
        9,
        "needs the \"variables\" extension",
    ),
    (
        "require \"imap4flags\";\nif hasflag \"v\" \"\\\\Seen\" { }",
        2,
        12,
        "needs the \"variables\" extension",
    ),
    (
        "keep :flags \"\\\\Seen\";",
        1,
        6,
        "needs the \"imap4flags\" extension",
    ),
    (
        "require \"fileinto\";\nfileinto :create \"x\";",
        2,
        10,
        "needs the \"mailbox\" extension",
    ),
    (
        "require \"editheader\";\ndeleteheader :last \"x\";",
        2,
        14,
        ":last needs :index",
    ),
    (
        "require \"editheader\";\naddheader \"x\";",
        2,
        1,
        "takes 2 positional",
    ),
    (
        "require \"body\";\nif body :raw :text \"x\" { }",
        2,
        14,
        "conflicts with :raw",
    ),
    (
        "require \"duplicate\";\nif duplicate :header \"a\" :uniqueid \"b\" { }",
        2,
        26,
        "conflicts with :header",
    ),
    (
        "require \"encoded-character\";\nif header \"a\" \"${unicode:D800}\" { }",
        2,
        15,
        "not a Unicode code point",
    ),
    (
        "if header \"a\" \"b\" { }\nfrob;\nfileinto \"x\";",
        2,
        1,
        "unknown command",
    ),
    (
        "require \"envelope\";\nif envelope :is [\"to\",\"frop\"] \"x\" { }",
        2,
        17,
        "unknown envelope part \"frop\"",
    ),
    (
        "require \"comparator-i;ascii-numeric\";\nif header :contains :comparator \"i;ascii-numeric\" \"from\" \"x\" { }",
        2,
        11,
        "cannot do :contains",
    ),
    (
        "require \"editheader\";\naddheader \"X field\" \"v\";",
        2,
        11,
        "bad header field name",
    ),
    (
        "require \"editheader\";\ndeleteheader \"X-field:\";",
        2,
        14,
        "bad header field name",
    ),
    (
        "require [\"editheader\", \"encoded-character\"];\naddheader \"X\" \"a${hex:00}\";",
        2,
        15,
        "NUL",
    ),
    (
        "require \"variables\";\nset \"namespace.frop\" \"v\";",
        2,
        5,
        "bad variable name",
    ),
    (
        "require \"variables\";\nset \"global.frop\" \"v\";",
        2,
        5,
        "bad variable name",
    ),
    (
        "if address :is [\"to\", \"frop\"] \"x\" { }",
        1,
        16,
        "\"frop\" is not a header field that holds addresses",
    ),
    (
        "if header \"a\" \"b\" { }\nfrob;\nfileinto \"x\";",
        2,
        1,
        "unknown command",
    ),
    (
        "redirect \"Stephan Bosch <error@example.org\";",
        1,
        10,
        "not an address",
    ),
    ("redirect \"rüdiger@example.com\";", 1, 10, "not an address"),
];

#[test]
fn invalid_scripts_report_line_and_column() {
    let mut wrong = Vec::new();
    for (src, line, column, msg) in INVALID {
        match compile(src) {
            Ok(_) => wrong.push(format!("{src:?} compiled")),
            Err(errors) => {
                let first = &errors[0];
                if !(first.line == *line && first.column == *column && first.message.contains(msg))
                {
                    wrong.push(format!(
                        "{src:?}: got {first}, want {line}:{column}: …{msg}…"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_error_is_reported() {
    let errors = compile("frob;\nkeep;\nfileinto \"x\";\nif true { nope; }").expect_err("fails");
    let at: Vec<(usize, usize)> = errors.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(at, [(1, 1), (3, 1), (4, 11)], "{errors:?}");
}

#[test]
fn columns_count_characters() {
    let e = compile("if header \"Subject\" \"Grüße\" { frob; }").expect_err("fails");
    assert_eq!((e[0].line, e[0].column), (1, 31));
    let e = compile_bytes(b"keep;\n# caf\xe9\n").expect_err("not UTF-8");
    assert_eq!((e[0].line, e[0].column), (2, 6));
    assert!(e[0].message.contains("UTF-8"));
}

#[test]
fn limits_give_errors_not_crashes() {
    // Nested blocks.
    let deep = "if true { ".repeat(parser::MAX_BLOCK_NESTING + 1)
        + &"}".repeat(parser::MAX_BLOCK_NESTING + 1);
    let e = compile(&deep).expect_err("too deep");
    assert!(e[0].message.contains("nested deeper"), "{e:?}");
    let ok =
        "if true { ".repeat(parser::MAX_BLOCK_NESTING) + &"}".repeat(parser::MAX_BLOCK_NESTING);
    assert!(compile(&ok).is_ok());
    // Nested tests: far beyond the stack's reach without the limit.
    let deep = format!("if {}true {{ }}", "not ".repeat(100_000));
    let e = compile(&deep).expect_err("too deep");
    assert!(e[0].message.contains("tests nested deeper"), "{e:?}");
    let deep = format!(
        "if {}true{} {{ }}",
        "anyof(".repeat(50_000),
        ")".repeat(50_000)
    );
    assert!(compile(&deep).is_err());
    // A long string.
    let long = format!(
        "if header \"a\" \"{}\" {{ }}",
        "x".repeat(parser::MAX_STRING_LEN + 1)
    );
    let e = compile(&long).expect_err("too long");
    assert!(e[0].message.contains("string longer"), "{e:?}");
    assert_eq!((e[0].line, e[0].column), (1, 15));
    let long = format!(
        "require \"reject\";\nreject text:\n{}\n.\n;",
        "y".repeat(parser::MAX_STRING_LEN + 1)
    );
    assert!(
        compile(&long).expect_err("too long")[0]
            .message
            .contains("string longer")
    );
    // A long list.
    let list = vec!["\"k\""; parser::MAX_LIST_LEN + 1].join(",");
    let e = compile(&format!("if header \"a\" [{list}] {{ }}")).expect_err("too long");
    assert!(e[0].message.contains("string list longer"), "{e:?}");
    // A huge script.
    let huge = "keep;\n".repeat(parser::MAX_SCRIPT_SIZE / 6 + 1);
    let e = compile(&huge).expect_err("too big");
    assert!(e[0].message.contains("more than the limit"), "{e:?}");
    // Many arguments.
    let args = "\"a\" ".repeat(parser::MAX_ARGUMENTS + 1);
    assert!(
        compile(&format!("keep {args};")).expect_err("too many")[0]
            .message
            .contains("arguments")
    );
}
