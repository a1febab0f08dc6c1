//! The RFCs' example scripts: each must parse and validate, and parse to the same tree
//! with other white space and comments around it.

use mailyard_sieve::{compile, parser};

/// (where the example comes from, the script)
const VALID: &[(&str, &str)] = &[
    (
        "RFC 5228 §2.3 comments",
        "if size :over 100k { # this is a comment\r\n    discard;\r\n}\r\n",
    ),
    (
        "RFC 5228 §2.3 bracket comment",
        "if size :over 100K { /* this is a comment\r\n    this is still a comment */ discard /* this is a comment\r\n    */ ;\r\n}\r\n",
    ),
    (
        "RFC 5228 §2.4.2 multi-line",
        "require \"reject\";\r\nreject text:\r\nHello,\r\n..this line starts with a dot\r\n.\r\n;\r\n",
    ),
    (
        "RFC 5228 §2.6.2 tagged",
        "if header :contains \"Subject\" \"$$$\" { discard; }",
    ),
    (
        "RFC 5228 §2.7.3 comparator",
        "if header :contains :comparator \"i;octet\" \"Subject\" \"MAKE MONEY FAST\" {\r\n  discard;\r\n}\r\n",
    ),
    (
        "RFC 5228 §2.7.4 address",
        "if address :all :comparator \"i;octet\" :is \"from\" \"Tim@example.com\" { discard; }",
    ),
    (
        "RFC 5228 §3.1 if",
        "require \"fileinto\";\r\nif header :contains \"from\" \"coyote\" {\r\n    discard;\r\n} elsif header :contains [\"subject\"] [\"$$$\"] {\r\n    discard;\r\n} else {\r\n    fileinto \"INBOX\";\r\n}\r\n",
    ),
    (
        "RFC 5228 §3.1 anyof",
        "if header :contains [\"From\"] [\"coyote\"] {\r\n   redirect \"acm@example.com\";\r\n} elsif header :contains \"Subject\" \"$$$\" {\r\n   redirect \"postmaster@example.com\";\r\n} else {\r\n   redirect \"field@example.com\";\r\n}\r\n",
    ),
    (
        "RFC 5228 §3.2 require",
        "require [\"fileinto\", \"reject\"];\r\nrequire \"fileinto\";\r\nrequire \"vacation\";\r\n",
    ),
    (
        "RFC 5228 §3.3 stop",
        "if header :contains \"Subject\" \"stop\" { stop; } keep;",
    ),
    (
        "RFC 5228 §4.1 fileinto",
        "require \"fileinto\";\r\nif header :contains [\"from\"] \"coyote\" {\r\n   fileinto \"INBOX.harassment\";\r\n}\r\n",
    ),
    ("RFC 5228 §4.2 redirect", "redirect \"bart@example.com\";"),
    (
        "RFC 5228 §4.3 keep",
        "if size :under 1M { keep; } else { discard; }",
    ),
    (
        "RFC 5228 §4.4 discard",
        "if header :contains [\"from\"] [\"idiot@example.com\"] {\r\n    discard;\r\n}\r\n",
    ),
    (
        "RFC 5228 §5.1 address",
        "if address :is :all \"from\" \"tim@example.com\" {\r\n   discard;\r\n}\r\n",
    ),
    (
        "RFC 5228 §5.2 allof",
        "if allof (header :contains \"From\" \"Cursive\", header :contains \"X-Caffeine\" \"C8H10N4O2\") { discard; }",
    ),
    (
        "RFC 5228 §5.3 anyof",
        "if anyof (false, false) { discard; } elsif anyof (true, false) { keep; }",
    ),
    (
        "RFC 5228 §5.4 envelope",
        "require \"envelope\";\r\nif envelope :all :is \"from\" \"tim@example.com\" {\r\n   discard;\r\n}\r\n",
    ),
    (
        "RFC 5228 §5.5 exists",
        "if exists [\"From\",\"Date\"] { keep; }\r\nif not exists [\"From\",\"Date\"] {\r\n   discard;\r\n}\r\n",
    ),
    (
        "RFC 5228 §5.7 header",
        "if header :is [\"X-Caffeine\"] [\"\"] { discard; }\r\nif header :contains [\"X-Caffeine\"] [\"\"] { discard; }\r\n",
    ),
    ("RFC 5228 §5.9 size", "if size :over 500K { discard; }"),
    ("RFC 5228 §5.8 not", "if not false { keep; }"),
    (
        "RFC 5228 §9 example",
        "#\r\n# Example Sieve Filter\r\n# Declare any optional features or extension used by the script\r\n#\r\nrequire [\"fileinto\"];\r\n\r\n#\r\n# Handle messages from known mailing lists\r\n# Move messages from IETF filter discussion list to filter mailbox\r\n#\r\nif header :is \"Sender\" \"owner-ietf-mta-filters@imc.org\"\r\n        {\r\n        fileinto \"filter\";  # move to \"filter\" mailbox\r\n        }\r\n#\r\n# Keep all messages to or from people in my company\r\n#\r\nelsif address :DOMAIN :is [\"From\", \"To\"] \"example.com\"\r\n        {\r\n        keep;               # keep in \"In\" mailbox\r\n        }\r\n\r\n#\r\n# Try and catch unsolicited email.  If a message is not to me,\r\n# or it contains a subject known to be spam, file it away.\r\n#\r\nelsif anyof (NOT address :all :contains\r\n               [\"To\", \"Cc\", \"Bcc\"] \"me@example.com\",\r\n             header :matches \"subject\"\r\n               [\"*make*money*fast*\", \"*university*dipl*mas*\"])\r\n        {\r\n        fileinto \"spam\";   # move to \"spam\" mailbox\r\n        }\r\nelse\r\n        {\r\n        # Move all other (non-company) mail to \"personal\"\r\n        # mailbox.\r\n        fileinto \"personal\";\r\n        }\r\n",
    ),
    (
        "RFC 5228 §2.4.2.4 encoded-character",
        "require \"encoded-character\";\r\nif header :contains \"Subject\" \"$${hex:24 24}\" { discard; }\r\nif header :contains \"Subject\" \"${unicode:40}\" { discard; }\r\n",
    ),
    (
        "RFC 5229 §3 variables",
        "require [\"fileinto\", \"variables\"];\r\nif header :matches \"List-ID\" \"*<*@*\" {\r\n    fileinto \"INBOX.lists.${2}\"; stop;\r\n}\r\n# Imagine the header\r\n# Subject: [acme-users] [fwd] version 1.0 is out\r\nif header :matches \"Subject\" \"[*] *\" {\r\n    # ${1} will hold \"acme-users\",\r\n    # ${2} will hold \"[fwd] version 1.0 is out\"\r\n    fileinto \"INBOX.lists.${1}\"; stop;\r\n}\r\n# Imagine the header\r\n# To: coyote@ACME.Example.COM\r\nif address :matches [\"To\", \"Cc\"] [\"coyote@**.com\",\r\n        \"wile@**.com\"] {\r\n    # ${0} is the matching address\r\n    # ${1} is always the empty string\r\n    # ${2} is part of the domain name (\"ACME.Example\")\r\n    fileinto \"INBOX.business.${2}\"; stop;\r\n} else {\r\n    # Control wouldn't reach this block if any match was\r\n    # successful, so no match variables are set at this\r\n    # point.\r\n}\r\nif anyof (true, address :domain :matches \"To\" \"*.com\") {\r\n    # The second test is never evaluated, so there are\r\n    # still no match variables set.\r\n    stop;\r\n}\r\n",
    ),
    (
        "RFC 5229 §4 set",
        "require \"variables\";\r\nset \"honorific\"  \"Mr\";\r\nset \"first_name\" \"Wile\";\r\nset \"last_name\"  \"Coyote\";\r\nset \"vacation\" text:\r\nDear ${HONORIFIC} ${last_name},\r\nI'm out, please leave a message after the meep.\r\n.\r\n;\r\nset \"a\" \"juMBlEd lETteRS\";\r\nset :length \"b\" \"${a}\";\r\nset :lower \"b\" \"${a}\";\r\nset :upperfirst \"b\" \"${a}\";\r\nset :upperfirst :lower \"b\" \"${a}\";\r\nset :quotewildcard \"b\" \"Rock*\";\r\n",
    ),
    (
        "RFC 5229 §5 string",
        "require [\"variables\", \"relational\", \"comparator-i;ascii-numeric\"];\r\nset \"state\" \"${state} pending\";\r\nif string :matches \" ${state} \" \"* pending *\" {\r\n    # the above test always succeeds\r\n    keep;\r\n}\r\nif string :count \"eq\" :comparator \"i;ascii-numeric\" [\"${state}\"] \"0\" { discard; }\r\n",
    ),
    (
        "RFC 5229 §6 example",
        "require [\"variables\", \"date\", \"fileinto\", \"mailbox\"];\r\n# Get the date in the local time zone\r\nif currentdate :matches \"year\" \"*\" { set \"year\" \"${1}\"; }\r\nif currentdate :matches \"month\" \"*\" { set \"month\" \"${1}\"; }\r\n# use the variables to build the mailbox name\r\nfileinto :create \"INBOX.Archive.${year}.${month}\";\r\n",
    ),
    (
        "RFC 5230 §4 vacation",
        "require \"vacation\";\r\nif header :contains \"subject\" \"cyrus\" {\r\n    vacation \"I'm out -- send mail to cyrus-bugs\";\r\n} else {\r\n    vacation \"I'm out -- call me at +1 304 555 0123\";\r\n}\r\n",
    ),
    (
        "RFC 5230 §4.1 days",
        "require \"vacation\";\r\nvacation :days 23 :addresses [\"tjs@example.edu\",\r\n                             \"ts4z@landru.example.edu\"]\r\n\"I'm away until October 19.\r\nIf it's an emergency, call 911, I guess.\" ;\r\n",
    ),
    (
        "RFC 5230 §4.4 from/subject",
        "require \"vacation\";\r\nif header :contains \"from\" \"boss@example.edu\" {\r\n    redirect \"pleeb@isp.example.org\";\r\n} else {\r\n    vacation \"Sorry, I'm away, I'll read your\r\nmessage when I get around to it.\";\r\n}\r\n",
    ),
    (
        "RFC 5230 §4.8 mime",
        "require \"vacation\";\r\nvacation :mime text:\r\nContent-Type: multipart/alternative; boundary=foo\r\n\r\n--foo\r\n\r\nI'm at the beach relaxing.  Mmmm, surf...\r\n\r\n--foo\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.0//EN\"\r\n \"http://www.w3.org/TR/REC-html40/strict.dtd\">\r\n<HTML><HEAD><TITLE>How to relax</TITLE>\r\n<BASE HREF=\"http://home.example.com/pictures/\"></HEAD>\r\n<BODY><P>I'm at the <A HREF=\"beach.gif\">beach</A> relaxing.\r\nMmmm, <A HREF=\"ocean.gif\">surf</A>...\r\n</BODY></HTML>\r\n\r\n--foo--\r\n.\r\n;\r\n",
    ),
    (
        "RFC 5230 §9 handle",
        "require \"vacation\";\r\nif header :contains \"subject\" \"lunch\" {\r\n    vacation :handle \"ran-away\" \"I'm out and can't meet for lunch\";\r\n} else {\r\n    vacation :handle \"ran-away\" \"I'm out\";\r\n}\r\n",
    ),
    (
        "RFC 5230 §9 subject from",
        "require \"vacation\";\r\nvacation :days 7 :from \"hemingway@example.com\" :subject \"Gone fishing\" \"Gone fishing\";\r\n",
    ),
    (
        "RFC 6131 §2 seconds",
        "require \"vacation-seconds\";\r\nvacation :addresses [\"tjs@example.edu\", \"ts4z@landru.example.edu\"]\r\n         :seconds 1800\r\n         \"I am in a meeting, and do not have access to email.\";\r\n",
    ),
    (
        "RFC 5231 §6 relational",
        "require [\"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"];\r\nif header :value \"lt\" :comparator \"i;ascii-numeric\" [\"x-priority\"] [\"3\"] {\r\n    fileinto \"Priority\";\r\n} elsif address :count \"gt\" :comparator \"i;ascii-numeric\" [\"to\"] [\"5\"] {\r\n    # everything with more than 5 recipients in the \"to\" field\r\n    # is considered SPAM\r\n    fileinto \"SPAM\";\r\n} elsif address :value \"gt\" :all :comparator \"i;ascii-casemap\" [\"from\"] [\"M\"] {\r\n    fileinto \"From N-Z\";\r\n} else {\r\n    fileinto \"From A-M\";\r\n}\r\nif allof ( address :count \"eq\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] [\"1\"],\r\n           address :all :comparator \"i;ascii-casemap\" [\"to\", \"cc\"] [\"me@foo.example.com\"] ) {\r\n    fileinto \"Only me\";\r\n}\r\n",
    ),
    (
        "RFC 5232 §7 imap4flags",
        "require [\"imap4flags\", \"fileinto\", \"variables\", \"relational\", \"comparator-i;ascii-numeric\"];\r\nif size :over 500K {\r\n    setflag \"\\\\Deleted\";\r\n}\r\nif header :contains \"from\" \"boss@frobnitzm.example.edu\" {\r\n    setflag \"flagvar\" \"\\\\Flagged\";\r\n    fileinto :flags \"${flagvar}\" \"INBOX.From Boss\";\r\n}\r\nif header :contains \"Disposition-Notification-To\" \"mel@example.com\" {\r\n    addflag \"flagvar\" \"$MDNRequired\";\r\n}\r\nif header :contains \"from\" \"imap@cac.washington.example.edu\" {\r\n    removeflag \"flagvar\" \"$MDNRequired\";\r\n    fileinto :flags \"${flagvar}\" \"INBOX.imap-list\";\r\n}\r\nif hasflag :contains \"MyVar\" \"Junk\" { keep; }\r\nif hasflag :count \"ge\" :comparator \"i;ascii-numeric\" \"MyFlags\" \"2\" { keep; }\r\nkeep :flags [\"\\\\Seen\", \"$Work\"];\r\n",
    ),
    (
        "RFC 5232 §7 variables",
        "require [\"imap4flags\", \"variables\", \"fileinto\"];\r\nif header :contains \"from\" \"boss@frobnitzm.example.edu\" {\r\n    setflag \"flagvar\" \"\\\\Flagged\";\r\n    fileinto :flags \"${flagvar}\" \"INBOX.From Boss\";\r\n}\r\n",
    ),
    (
        "RFC 5233 §5 subaddress",
        "require [\"envelope\", \"subaddress\", \"fileinto\"];\r\n# In this example the same user account receives mail for both\r\n# \"ken@example.com\" and \"postmaster@example.com\"\r\n# File all messages to postmaster into a single mailbox,\r\n# ignoring the :detail part.\r\nif envelope :user \"to\" \"postmaster\" {\r\n    fileinto \"inbox.postmaster\";\r\n    stop;\r\n}\r\n# File mailing list messages (subscribed as \"ken+mta-filters\").\r\nif envelope :detail \"to\" \"mta-filters\" {\r\n    fileinto \"inbox.ietf-mta-filters\";\r\n}\r\n# Redirect all mail sent to \"ken+foo\".\r\nif envelope :detail \"to\" \"foo\" {\r\n    redirect \"ken@example.net\";\r\n}\r\n",
    ),
    (
        "RFC 5173 §7 body",
        "require [\"body\", \"fileinto\"];\r\n# Save any message with any text MIME part that contains the\r\n# words \"missile\" or \"coordinates\" in the \"secrets\" folder.\r\nif body :content \"text\" :contains [\"missile\", \"coordinates\"] {\r\n    fileinto \"secrets\";\r\n}\r\n# Save any message with an audio/mp3 MIME part in\r\n# the \"jukebox\" folder.\r\nif body :content \"audio/mp3\" :contains \"\" {\r\n    fileinto \"jukebox\";\r\n}\r\nif body :raw :contains \"MAKE MONEY FAST\" { discard; }\r\nif body :text :contains \"project schedule\" { fileinto \"project/schedule\"; }\r\n",
    ),
    (
        "RFC 5260 §7 date",
        "require [\"date\", \"relational\", \"fileinto\"];\r\nif allof(header :is \"from\" \"boss@example.com\",\r\n         date :value \"ge\" :originalzone \"date\" \"hour\" \"09\",\r\n         date :value \"lt\" :originalzone \"date\" \"hour\" \"17\")\r\n{ fileinto \"urgent\"; }\r\n",
    ),
    (
        "RFC 5260 §7 currentdate",
        "require [\"date\", \"relational\", \"vacation\"];\r\nif allof(currentdate :value \"ge\" \"date\" \"2007-06-30\",\r\n         currentdate :value \"le\" \"date\" \"2007-07-07\")\r\n{ vacation :days 7  \"I'm away during the first week in July.\"; }\r\n",
    ),
    (
        "RFC 5260 §7 zone",
        "require [\"date\", \"variables\", \"fileinto\"];\r\nif currentdate :matches \"month\" \"*\" { set \"month\" \"${1}\"; }\r\nif currentdate :matches \"year\"  \"*\" { set \"year\"  \"${1}\"; }\r\nfileinto \"${month}-${year}\";\r\nif date :zone \"-0500\" :is \"date\" \"weekday\" \"0\" { keep; }\r\n",
    ),
    (
        "RFC 5260 §7 editheader",
        "require [\"date\", \"variables\", \"editheader\"];\r\nif currentdate :matches \"std11\" \"*\" {addheader \"Processing-date\" \"${0}\";}\r\n",
    ),
    (
        "RFC 5260 §6 index",
        "require [\"date\", \"relational\", \"index\"];\r\nif date :value \"gt\" :index 1 :zone \"-0500\" \"received\" \"iso8601\" \"2007-02-26T09:00:00-05:00\"\r\n{ redirect \"aftercutoff@example.org\"; }\r\nif header :index 2 :last :contains \"received\" \"relay.example.org\" { keep; }\r\nif address :index 1 :is \"from\" \"a@b.c\" { keep; }\r\n",
    ),
    (
        "RFC 5293 §7 editheader",
        "require [\"editheader\"];\r\nif header :contains \"X-Spam-Flag\" \"YES\" {\r\n    deleteheader \"X-Spam-Flag\";\r\n}\r\naddheader \"X-Hello\" \"World\";\r\naddheader :last \"X-Hello\" \"World\";\r\ndeleteheader :index 1 :last \"X-Hello\";\r\ndeleteheader :contains \"X-Hello\" [\"Wor\", \"ld\"];\r\ndeleteheader :comparator \"i;octet\" :matches \"X-Hello\" \"W*\";\r\n",
    ),
    (
        "RFC 5293 §7 source",
        "require [\"editheader\", \"variables\"];\r\nif header :matches \"Subject\" \"*\" {\r\n    set \"subject\" \"${1}\";\r\n    deleteheader \"Subject\";\r\n    addheader \"Subject\" \"[SPAM] ${subject}\";\r\n}\r\n",
    ),
    (
        "RFC 5429 §2.1 ereject",
        "require [\"ereject\"];\r\nif address \"from\" \"someone@example.com\" {\r\n    ereject \"I no longer accept mail from this address\";\r\n}\r\n",
    ),
    (
        "RFC 5429 §2.2 reject",
        "require [\"reject\"];\r\nif header :contains \"from\" \"coyote@desert.example.org\" {\r\n    reject text:\r\nI am not taking mail from you, and I don't\r\nwant your birdseed, either!\r\n.\r\n;\r\n}\r\n",
    ),
    (
        "RFC 5490 §3 mailbox",
        "require [\"fileinto\", \"reject\", \"mailbox\"];\r\nif mailboxexists \"Partners\" {\r\n    fileinto \"Partners\";\r\n} else {\r\n    reject \"This message was not accepted by the Mailstore\";\r\n}\r\nfileinto :create \"INBOX.New\";\r\n",
    ),
    (
        "RFC 6609 §4 include",
        "require [\"include\", \"variables\"];\r\ninclude :personal \"always_allow\";\r\ninclude :global \"spam_tests\";\r\ninclude :personal :once \"spam_tests\";\r\ninclude :personal :optional \"mailing_lists\";\r\nglobal [\"test\", \"test_mailbox\"];\r\nset \"test\" \"$$\";\r\nif string :is \"${test}\" \"\" { return; }\r\n",
    ),
    (
        "RFC 7352 §3 duplicate",
        "require [\"duplicate\", \"fileinto\", \"mailbox\"];\r\nif duplicate {\r\n    fileinto :create \"Trash/Duplicate\";\r\n}\r\n",
    ),
    (
        "RFC 7352 §3 header",
        "require [\"duplicate\", \"variables\", \"imap4flags\", \"fileinto\"];\r\nif header :matches \"subject\" \"ALERT: *\" {\r\n    if duplicate :seconds 60 :uniqueid \"${1}\" {\r\n        setflag \"\\\\seen\";\r\n    }\r\n    fileinto \"Alerts\";\r\n}\r\nif duplicate :header \"X-Event-ID\" :handle \"notifier\" :seconds 1800 :last { discard; }\r\n",
    ),
    (
        "RFC 3894 §4 copy",
        "require [\"copy\", \"fileinto\"];\r\nfileinto :copy \"incoming\";\r\nredirect :copy \"sent@example.com\";\r\n",
    ),
    (
        "RFC 5235 i;ascii-numeric",
        "require [\"comparator-i;ascii-numeric\", \"relational\"];\r\nif header :value \"gt\" :comparator \"i;ascii-numeric\" \"X-Spam-Score\" \"7\" { discard; }\r\nif header :is :comparator \"i;ascii-numeric\" \"X-Count\" \"042\" { keep; }\r\n",
    ),
    (
        "regex draft §4",
        "require [\"regex\", \"variables\", \"fileinto\"];\r\nif address :regex :comparator \"i;ascii-casemap\" \"from\" [\r\n      \"stephan(\\\\+.*)?@it\\\\.aoyama\\\\.ac\\\\.jp\",\r\n      \"stephan(\\\\+.*)?@aoyama\\\\.com\"] {\r\n    discard;\r\n}\r\nif header :regex \"List-Id\" \"<(.*)\\\\.example\\\\.org>\" { fileinto \"lists.${1}\"; }\r\nset :quoteregex \"x\" \"a.b\";\r\n",
    ),
    (
        "identifiers are case-insensitive",
        "REQUIRE \"fileinto\"; If HEADER :Contains \"subject\" \"x\" { FileInto \"a\"; } ELSE { KEEP; }",
    ),
    ("empty script", ""),
    ("comments only", "# nothing\r\n/* at all */"),
    (
        "numbers",
        "if size :over 10G { discard; } if size :under 0 { keep; }",
    ),
    (
        "RFC 5293 §8 loop guard",
        "require [\"editheader\"];\r\n/* Don't redirect if we already have */\r\nif not header :contains \"X-Sieve-Filtered\"\r\n        [\"<kim@job.example.com>\", \"<kim@home.example.com>\"]\r\n{\r\n        addheader \"X-Sieve-Filtered\" \"<kim@job.example.com>\";\r\n        redirect \"kim@home.example.com\";\r\n}\r\n",
    ),
];

#[test]
fn rfc_examples_compile() {
    for (name, src) in VALID {
        if let Err(e) = compile(src) {
            panic!("{name}: {e:?}\n{src}");
        }
    }
}

/// The tree without offsets, so scripts that differ only in layout compare equal.
fn shape(src: &str) -> String {
    let ast = parser::parse(src).unwrap_or_else(|e| panic!("{e:?} in {src}"));
    let dbg = format!("{ast:?}");
    // Strip `pos: N` fields.
    let mut out = String::new();
    let mut rest = dbg.as_str();
    while let Some(i) = rest.find("pos: ") {
        out.push_str(&rest[..i]);
        rest = rest[i + 5..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[test]
fn layout_does_not_change_the_tree() {
    for (name, src) in VALID {
        let want = shape(src);
        let variants = [
            format!("{src}\n"),
            format!("{src}   \t"),
            format!("{src}\r\n# trailing comment"),
            format!("{src}\n# trailing comment\n"),
            format!("{src}/* trailing */"),
            format!("# leading comment\n{src}"),
            format!("/* leading */ {src}"),
            src.replace("\r\n", "\n"),
        ];
        for v in &variants {
            // Strings keep their line ends, so the LF-only variant of a script with
            // a line break inside a string has other strings.
            if !v.contains("\r\n") && want.contains("\\r\\n") {
                continue;
            }
            assert_eq!(shape(v), want, "{name}: {v:?}");
        }
    }
}

#[test]
fn every_prefix_fails_cleanly() {
    // Truncated anywhere, a script gives an error or a tree, never a panic.
    for (_, src) in VALID {
        for n in (0..src.len()).filter(|&n| src.is_char_boundary(n)) {
            let _ = compile(&src[..n]);
        }
    }
}

/// A message for the mutation test to run compiled scripts against.
struct Tiny;

impl mailyard_sieve::MessageView for Tiny {
    fn header_raw(&self, name: &str) -> Vec<String> {
        match name.to_ascii_lowercase().as_str() {
            "from" => vec!["Coyote <coyote@example.org>".into()],
            "to" | "cc" => vec!["ken+lists@example.com".into()],
            "subject" => vec!["[acme] MAKE MONEY FAST".into()],
            "date" | "received" => vec!["Tue, 1 Dec 2026 10:00:00 +0100".into()],
            _ => Vec::new(),
        }
    }
    fn header_decoded(&self, name: &str) -> Vec<String> {
        self.header_raw(name)
    }
    fn body(&self, _: &mailyard_sieve::interpret::BodyTransform) -> Vec<String> {
        vec!["project schedule".into()]
    }
    fn size(&self) -> u64 {
        4096
    }
    fn mailbox_exists(&self, _: &str) -> bool {
        true
    }
    fn duplicate(&self, _: &str, _: &str, _: u64, _: bool) -> bool {
        false
    }
    fn include(&self, _: &str, _: bool) -> Option<std::sync::Arc<mailyard_sieve::Script>> {
        None
    }
}

#[test]
fn mutated_scripts_never_panic() {
    // Deterministic xorshift: the same mutations on every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    let tokens = [
        "{",
        "}",
        "(",
        ")",
        "\"",
        "text:\n",
        ":",
        "[",
        "]",
        ",",
        ";",
        "${",
        "${1}",
        "*",
        "\\",
        "/*",
        "*/",
        "#",
        "\n.\n",
        "if ",
        "not ",
        "anyof",
        "1G",
        "99999999999999999999",
    ];
    let env = mailyard_sieve::Envelope {
        from: "coyote@example.org".into(),
        to: "ken+lists@example.com".into(),
        auth: None,
        now: mailyard_sieve::date::DateTime::from_timestamp(1_796_000_000, 0),
        own_addresses: Vec::new(),
    };
    let mut ran = 0;
    for round in 0..3000 {
        let (_, src) = VALID[round % VALID.len()];
        let mut s: Vec<u8> = src.as_bytes().to_vec();
        for _ in 0..1 + next(3) {
            let at = next(s.len() + 1);
            match next(3) {
                0 => {
                    let end = (at + next(8)).min(s.len());
                    s.drain(at..end);
                }
                1 => {
                    let t = tokens[next(tokens.len())].as_bytes();
                    s.splice(at..at, t.iter().copied());
                }
                _ => {
                    let end = (at + next(16)).min(s.len());
                    let piece = s[at..end].to_vec();
                    s.splice(at..at, piece);
                }
            }
        }
        if let Ok(script) = mailyard_sieve::compile_bytes(&s) {
            let _ = mailyard_sieve::run(&script, &Tiny, &env, &mailyard_sieve::Limits::default());
            ran += 1;
        }
    }
    assert!(ran > 100, "only {ran} mutants compiled");
}
