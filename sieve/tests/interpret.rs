//! The interpreter as a table: script × message × envelope → actions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mailyard_sieve::date::DateTime;
use mailyard_sieve::interpret::BodyTransform;
use mailyard_sieve::{Action, Envelope, Limits, MessageView, RuntimeError, Script, compile, run};

/// A message as header lines and a body; what the store side will implement over its
/// parsed messages.
struct Msg {
    headers: Vec<(String, String)>,
    body: String,
    size: u64,
    mailboxes: Vec<&'static str>,
    seen_ids: HashSet<String>,
    scripts: HashMap<(bool, &'static str), Arc<Script>>,
}

/// The scripts `include` finds: (global, name, text).
const INCLUDED: &[(bool, &str, &str)] = &[
    (
        false,
        "spam",
        "require \"fileinto\"; if header :contains \"subject\" \"version\" { fileinto \"Spam\"; stop; }",
    ),
    (
        false,
        "lists",
        "require [\"include\", \"variables\"]; global \"list\"; if header :matches \"list-id\" \"*<*.*\" { set \"list\" \"${2}\"; return; } set \"list\" \"none\";",
    ),
    (
        false,
        "local",
        "require \"variables\"; set \"x\" \"inner\";",
    ),
    (false, "loop", "require \"include\"; include \"loop\";"),
    (
        false,
        "adder",
        "require \"editheader\"; addheader \"X-Inc\" \"1\";",
    ),
    (
        true,
        "flagger",
        "require \"imap4flags\"; addflag \"\\\\Flagged\";",
    ),
];

impl Msg {
    fn new(text: &str) -> Msg {
        let text = text.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((n, v)) = line.split_once(':') {
                headers.push((n.to_string(), v.trim().to_string()));
            }
        }
        Msg {
            headers,
            body: body.to_string(),
            size: text.len() as u64,
            mailboxes: vec!["INBOX", "Partners"],
            // "" too: an empty Message-ID must not be looked up at all (RFC 7352 §3.1).
            seen_ids: HashSet::from([
                "<seen@example.org>".to_string(),
                "notifier:42".to_string(),
                String::new(),
            ]),
            scripts: INCLUDED
                .iter()
                .map(|(g, n, src)| {
                    (
                        (*g, *n),
                        Arc::new(compile(src).expect("included script compiles")),
                    )
                })
                .collect(),
        }
    }
}

impl MessageView for Msg {
    fn header_raw(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn header_decoded(&self, name: &str) -> Vec<String> {
        // The one encoded word the table uses.
        self.header_raw(name)
            .into_iter()
            .map(|v| v.replace("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", "Grüße"))
            .collect()
    }
    fn body(&self, transform: &BodyTransform) -> Vec<String> {
        match transform {
            BodyTransform::Raw => vec![self.body.clone()],
            BodyTransform::Text => vec![self.body.replace("<b>", "").replace("</b>", "")],
            BodyTransform::Content(types) => {
                if types
                    .iter()
                    .any(|t| t.is_empty() || t.eq_ignore_ascii_case("text"))
                {
                    vec![self.body.clone()]
                } else {
                    Vec::new()
                }
            }
        }
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn mailbox_exists(&self, name: &str) -> bool {
        self.mailboxes.contains(&name)
    }
    fn duplicate(&self, handle: &str, id: &str, _seconds: u64, _last: bool) -> bool {
        let key = if handle.is_empty() {
            id.to_string()
        } else {
            format!("{handle}:{id}")
        };
        self.seen_ids.contains(&key)
    }
    fn include(&self, name: &str, global: bool) -> Option<Arc<Script>> {
        self.scripts.get(&(global, name)).cloned()
    }
}

const MSG: &str = "\
Received: from relay.example.org by mx.example.com; Tue, 1 Dec 2026 09:00:00 +0000
Received: from origin.example.net by relay.example.org; Tue, 1 Dec 2026 08:59:00 +0000
Date: Tue, 1 Dec 2026 10:30:00 +0100
From: \"Coyote, Wile E.\" <coyote@desert.example.org>
To: ken+lists@example.com, Bob <bob@example.com>
Cc: carol@example.com
Subject: [acme-users] [fwd] version 1.0 is out
List-ID: Acme users <acme-users.lists.example.org>
Message-ID: <m1@example.org>
X-Spam-Score: 12
X-Priority: 2

Hello, this is the <b>project schedule</b>.
";

const PERSONAL: &str = "\
Date: Tue, 1 Dec 2026 22:15:00 -0800
From: boss@example.com
To: ken@example.com
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= from the boss
Message-ID: <seen@example.org>
X-Event-ID: 42

Please come in.
";

const BULK: &str = "\
From: news@example.net
To: ken@example.com
Precedence: bulk
Subject: news

Weekly news.
";

const NEWS: &str = "\
From: news@example.net
To: other@example.org
Subject: news

Weekly news.
";

fn env(from: &str) -> Envelope {
    Envelope {
        from: from.to_string(),
        to: "ken+lists@example.com".to_string(),
        auth: None,
        // Fri, 4 Dec 2026 07:00:00 +0100
        now: DateTime {
            year: 2026,
            month: 12,
            day: 4,
            hour: 7,
            minute: 0,
            second: 0,
            zone: 60,
        },
        own_addresses: vec!["ken@example.com".to_string()],
    }
}

fn render(a: &Action) -> String {
    match a {
        Action::Keep { flags } if flags.is_empty() => "keep".into(),
        Action::Keep { flags } => format!("keep {}", flags.join(" ")),
        Action::FileInto {
            mailbox,
            copy,
            create,
            flags,
        } => {
            let mut s = "fileinto".to_string();
            if *copy {
                s += " :copy";
            }
            if *create {
                s += " :create";
            }
            if !flags.is_empty() {
                s += &format!(" [{}]", flags.join(" "));
            }
            format!("{s} {mailbox}")
        }
        Action::Redirect { address, copy } => {
            format!("redirect{} {address}", if *copy { " :copy" } else { "" })
        }
        Action::Discard => "discard".into(),
        Action::Reject { reason } => format!("reject {reason}"),
        Action::Ereject { reason } => format!("ereject {reason}"),
        Action::Vacation(v) => format!(
            "vacation to={} period={} subject={} from={} handle={} mime={} reason={}",
            v.to,
            v.period,
            v.subject.as_deref().unwrap_or("-"),
            v.from.as_deref().unwrap_or("-"),
            v.handle.as_deref().unwrap_or("-"),
            v.mime,
            v.reason
        ),
        Action::AddHeader { name, value, last } => {
            format!(
                "addheader{} {name}: {value}",
                if *last { " :last" } else { "" }
            )
        }
        Action::DeleteHeader { name, occurrences } => {
            format!("deleteheader {name} {occurrences:?}")
        }
    }
}

/// (name, script, message, envelope sender, expected actions)
const ROWS: &[(&str, &str, &str, &str, &[&str])] = &[
    ("empty script keeps", "", MSG, "a@b.c", &["keep"]),
    ("discard", "discard;", MSG, "a@b.c", &["discard"]),
    (
        "keep and fileinto",
        "require \"fileinto\"; keep; fileinto \"A\";",
        MSG,
        "a@b.c",
        &["keep", "fileinto A"],
    ),
    (
        "fileinto twice is once",
        "require \"fileinto\"; fileinto \"A\"; fileinto \"A\";",
        MSG,
        "a@b.c",
        &["fileinto A"],
    ),
    (
        "fileinto :copy keeps",
        "require [\"fileinto\", \"copy\"]; fileinto :copy \"A\";",
        MSG,
        "a@b.c",
        &["fileinto :copy A", "keep"],
    ),
    (
        "redirect",
        "redirect \"Bart <bart@example.com>\";",
        MSG,
        "a@b.c",
        &["redirect bart@example.com"],
    ),
    (
        "redirect :copy",
        "require \"copy\"; redirect :copy \"bart@example.com\";",
        MSG,
        "a@b.c",
        &["redirect :copy bart@example.com", "keep"],
    ),
    (
        "stop",
        "discard; stop; redirect \"x@y.z\";",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "header :contains",
        "if header :contains \"subject\" \"VERSION\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "header :is case-sensitive with i;octet",
        "if header :is :comparator \"i;octet\" \"X-Priority\" \"2\" { discard; } if header :contains :comparator \"i;octet\" \"Subject\" \"VERSION\" { redirect \"x@y.z\"; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "header decoded",
        "if header :contains \"Subject\" \"Grüße\" { discard; }",
        PERSONAL,
        "a@b.c",
        &["discard"],
    ),
    (
        "missing header never matches",
        "if header :contains \"X-None\" \"\" { discard; }",
        MSG,
        "a@b.c",
        &["keep"],
    ),
    (
        "if elsif else",
        "require \"fileinto\"; if false { fileinto \"1\"; } elsif header :is \"x-priority\" \"3\" { fileinto \"2\"; } else { fileinto \"3\"; }",
        MSG,
        "a@b.c",
        &["fileinto 3"],
    ),
    (
        "elsif taken",
        "require \"fileinto\"; if false { fileinto \"1\"; } elsif true { fileinto \"2\"; } else { fileinto \"3\"; }",
        MSG,
        "a@b.c",
        &["fileinto 2"],
    ),
    (
        "nested if",
        "require \"fileinto\"; if true { if false { fileinto \"a\"; } else { fileinto \"b\"; } }",
        MSG,
        "a@b.c",
        &["fileinto b"],
    ),
    (
        "address :domain",
        "require \"fileinto\"; if address :domain :is \"from\" \"DESERT.example.org\" { fileinto \"desert\"; }",
        MSG,
        "a@b.c",
        &["fileinto desert"],
    ),
    (
        "address :localpart over a list",
        "if address :localpart :is [\"to\", \"cc\"] \"carol\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "address :detail",
        "require [\"subaddress\", \"fileinto\"]; if address :detail \"to\" \"lists\" { fileinto \"lists\"; }",
        MSG,
        "a@b.c",
        &["fileinto lists"],
    ),
    (
        "address :user",
        "require \"subaddress\"; if address :user :is \"to\" \"ken\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "envelope",
        "require \"envelope\"; if envelope :is \"from\" \"owner@lists.example.org\" { discard; }",
        MSG,
        "owner@lists.example.org",
        &["discard"],
    ),
    (
        "envelope :detail",
        "require [\"envelope\", \"subaddress\", \"fileinto\"]; if envelope :detail \"to\" \"lists\" { fileinto \"L\"; }",
        MSG,
        "a@b.c",
        &["fileinto L"],
    ),
    (
        "envelope null sender",
        "require \"envelope\"; if envelope :is \"from\" \"\" { discard; }",
        MSG,
        "",
        &["discard"],
    ),
    (
        "exists",
        "if exists [\"list-id\", \"x-priority\"] { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "exists fails if one missing",
        "if exists [\"list-id\", \"x-none\"] { discard; }",
        MSG,
        "a@b.c",
        &["keep"],
    ),
    (
        "allof",
        "if allof (true, header :contains \"from\" \"coyote\") { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "anyof",
        "if anyof (false, not true) { discard; }",
        MSG,
        "a@b.c",
        &["keep"],
    ),
    (
        "size :over",
        "if size :over 100 { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "size :under",
        "if size :under 1K { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "size :over 1M",
        "if size :over 1M { discard; }",
        MSG,
        "a@b.c",
        &["keep"],
    ),
    (
        "matches variables RFC 5229",
        "require [\"fileinto\", \"variables\"]; if header :matches \"Subject\" \"[*] *\" { fileinto \"INBOX.lists.${1}\"; }",
        MSG,
        "a@b.c",
        &["fileinto INBOX.lists.acme-users"],
    ),
    (
        "matches list-id",
        "require [\"fileinto\", \"variables\"]; if header :matches \"List-ID\" \"*<*@*\" { fileinto \"x.${2}\"; } elsif header :matches \"List-ID\" \"*<*.*>\" { fileinto \"list.${2}\"; }",
        MSG,
        "a@b.c",
        &["fileinto list.acme-users"],
    ),
    (
        "regex captures",
        "require [\"regex\", \"variables\", \"fileinto\"]; if header :regex \"list-id\" \"<([a-z-]+)\\\\.lists\" { fileinto \"${1}\"; }",
        MSG,
        "a@b.c",
        &["fileinto acme-users"],
    ),
    (
        "set modifiers",
        "require [\"variables\", \"fileinto\"]; set \"a\" \"juMBlEd lETteRS\"; set :upperfirst :lower \"b\" \"${a}\"; set :length \"n\" \"${a}\"; fileinto \"${b}/${n}/${nothing}\";",
        MSG,
        "a@b.c",
        &["fileinto Jumbled letters/15/"],
    ),
    (
        "string test",
        "require [\"variables\"]; set \"s\" \"pending\"; if string :is \"${s}\" \"pending\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "string :count ignores empty",
        "require [\"variables\", \"relational\", \"comparator-i;ascii-numeric\"]; if string :count \"eq\" :comparator \"i;ascii-numeric\" [\"\", \"x\"] \"1\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "relational :value",
        "require [\"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"]; if header :value \"ge\" :comparator \"i;ascii-numeric\" \"X-Spam-Score\" \"10\" { fileinto \"Junk\"; }",
        MSG,
        "a@b.c",
        &["fileinto Junk"],
    ),
    (
        "relational :count",
        "require [\"relational\", \"comparator-i;ascii-numeric\"]; if address :count \"ge\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] \"3\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "relational :count fails",
        "require [\"relational\", \"comparator-i;ascii-numeric\"]; if address :count \"gt\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] \"3\" { discard; }",
        MSG,
        "a@b.c",
        &["keep"],
    ),
    (
        "imap4flags on keep",
        "require \"imap4flags\"; setflag \"\\\\Seen\"; addflag [\"$Work\", \"\\\\seen\"];",
        MSG,
        "a@b.c",
        &["keep \\Seen $Work"],
    ),
    (
        "imap4flags fileinto :flags",
        "require [\"imap4flags\", \"fileinto\"]; addflag \"\\\\Flagged\"; fileinto :flags \"\\\\Seen\" \"A\"; fileinto \"B\"; removeflag \"\\\\Flagged\"; keep;",
        MSG,
        "a@b.c",
        &["fileinto [\\Seen] A", "fileinto [\\Flagged] B", "keep"],
    ),
    (
        "imap4flags variable and hasflag",
        "require [\"imap4flags\", \"variables\", \"fileinto\"]; setflag \"fv\" \"\\\\Flagged\"; addflag \"fv\" \"$x\"; if hasflag :is \"fv\" \"$X\" { fileinto :flags \"${fv}\" \"Boss\"; }",
        MSG,
        "a@b.c",
        &["fileinto [\\Flagged $x] Boss"],
    ),
    (
        "body :text",
        "require \"body\"; if body :text :contains \"project schedule\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "body :raw",
        "require \"body\"; if body :raw :contains \"<b>project\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "body :content",
        "require \"body\"; if body :content \"audio/mp3\" :contains \"\" { discard; }",
        MSG,
        "a@b.c",
        &["keep"],
    ),
    (
        "date in its own zone",
        "require \"date\"; if date :originalzone :is \"date\" \"hour\" \"10\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "date in the local zone",
        "require \"date\"; if date :is \"date\" \"time\" \"10:30:00\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "date :zone",
        "require \"date\"; if date :zone \"+0000\" :is \"date\" \"iso8601\" \"2026-12-01T09:30:00+00:00\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "date crosses midnight",
        "require [\"date\", \"fileinto\"]; if date :zone \"+0100\" :is \"date\" \"date\" \"2026-12-02\" { fileinto \"late\"; }",
        PERSONAL,
        "a@b.c",
        &["fileinto late"],
    ),
    (
        "date :index :last",
        "require [\"date\", \"index\"]; if date :index 1 :last :originalzone \"received\" \"minute\" \"59\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "header :index",
        "require \"index\"; if header :index 2 :contains \"received\" \"origin\" { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "currentdate",
        "require [\"date\", \"relational\"]; if allof (currentdate :value \"ge\" \"date\" \"2026-12-01\", currentdate :is \"weekday\" \"5\") { discard; }",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "currentdate variables",
        "require [\"date\", \"variables\", \"fileinto\", \"mailbox\"]; if currentdate :matches \"year\" \"*\" { set \"year\" \"${1}\"; } if currentdate :zone \"-1200\" :matches \"date\" \"*\" { set \"d\" \"${0}\"; } fileinto :create \"Archive/${year}/${d}\";",
        MSG,
        "a@b.c",
        &["fileinto :create Archive/2026/2026-12-03"],
    ),
    (
        "mailboxexists",
        "require [\"mailbox\", \"fileinto\"]; if mailboxexists \"Partners\" { fileinto \"Partners\"; } if mailboxexists [\"Partners\", \"Nope\"] { discard; }",
        MSG,
        "a@b.c",
        &["fileinto Partners"],
    ),
    (
        "duplicate by message-id",
        "require \"duplicate\"; if duplicate { discard; }",
        PERSONAL,
        "a@b.c",
        &["discard"],
    ),
    (
        "not a duplicate",
        "require \"duplicate\"; if duplicate { discard; }",
        MSG,
        "a@b.c",
        &["keep"],
    ),
    (
        "duplicate with an empty Message-ID: no id, no duplicate",
        "require \"duplicate\"; if duplicate { discard; }",
        "From: a@b.c\nMessage-ID: \nSubject: x\n\nbody\n",
        "a@b.c",
        &["keep"],
    ),
    (
        "duplicate :header :handle",
        "require \"duplicate\"; if duplicate :handle \"notifier\" :header \"X-Event-ID\" { discard; }",
        PERSONAL,
        "a@b.c",
        &["discard"],
    ),
    (
        "reject",
        "require \"reject\"; reject \"go away\";",
        MSG,
        "a@b.c",
        &["reject go away"],
    ),
    (
        "ereject",
        "require \"ereject\"; if header :contains \"from\" \"coyote\" { ereject \"no\"; }",
        MSG,
        "a@b.c",
        &["ereject no"],
    ),
    (
        "vacation",
        "require \"vacation\"; vacation :subject \"Away\" :from \"ken@example.com\" \"I'm away\";",
        PERSONAL,
        "boss@example.com",
        &[
            "vacation to=boss@example.com period=604800 subject=Away from=ken@example.com handle=- mime=false reason=I'm away",
            "keep",
        ],
    ),
    (
        "vacation :days :handle",
        "require \"vacation\"; vacation :days 3 :handle \"h\" \"x\";",
        PERSONAL,
        "boss@example.com",
        &[
            "vacation to=boss@example.com period=259200 subject=- from=- handle=h mime=false reason=x",
            "keep",
        ],
    ),
    (
        "vacation :seconds",
        "require \"vacation-seconds\"; vacation :seconds 60 :mime \"Content-Type: text/plain\r\n\r\nx\";",
        PERSONAL,
        "boss@example.com",
        &[
            "vacation to=boss@example.com period=60 subject=- from=- handle=- mime=true reason=Content-Type: text/plain\r\n\r\nx",
            "keep",
        ],
    ),
    (
        "vacation twice",
        "require \"vacation\"; vacation \"x\"; vacation :handle \"2\" \"y\";",
        PERSONAL,
        "boss@example.com",
        &["error: more than one vacation"],
    ),
    (
        "vacation not to the null sender",
        "require \"vacation\"; vacation \"x\";",
        PERSONAL,
        "",
        &["keep"],
    ),
    (
        "vacation not to bulk mail",
        "require \"vacation\"; vacation \"x\";",
        BULK,
        "news@example.net",
        &["keep"],
    ),
    (
        "vacation not to lists",
        "require \"vacation\"; vacation \"x\";",
        MSG,
        "coyote@desert.example.org",
        &["keep"],
    ),
    (
        "vacation not to ourselves",
        "require \"vacation\"; vacation \"x\";",
        PERSONAL,
        "ken@example.com",
        &["keep"],
    ),
    (
        "vacation not to owner-",
        "require \"vacation\"; vacation \"x\";",
        PERSONAL,
        "owner-list@example.org",
        &["keep"],
    ),
    (
        "vacation only when addressed",
        "require \"vacation\"; vacation :addresses \"other@example.org\" \"x\";",
        NEWS,
        "news@example.net",
        &[
            "vacation to=news@example.net period=604800 subject=- from=- handle=- mime=false reason=x",
            "keep",
        ],
    ),
    (
        "editheader",
        "require [\"editheader\", \"variables\"]; if header :matches \"Subject\" \"*\" { deleteheader \"Subject\"; addheader \"Subject\" \"[SPAM] ${1}\"; } if header :is \"subject\" \"[SPAM] news\" { addheader :last \"X-Seen\" \"yes\"; }",
        BULK,
        "a@b.c",
        &[
            "deleteheader Subject [0]",
            "addheader Subject: [SPAM] news",
            "addheader :last X-Seen: yes",
            "keep",
        ],
    ),
    (
        "deleteheader :index :last",
        "require \"editheader\"; deleteheader :index 1 :last \"Received\"; deleteheader :index 1 :last \"X-Priority\"; if not exists \"X-Priority\" { discard; }",
        MSG,
        "a@b.c",
        &["deleteheader X-Priority [0]", "discard"],
    ),
    (
        "deleteheader pattern",
        "require \"editheader\"; addheader \"X-A\" \"one\"; addheader \"X-A\" \"two\"; deleteheader :matches \"X-A\" \"o*\";",
        MSG,
        "a@b.c",
        &[
            "addheader X-A: one",
            "addheader X-A: two",
            "deleteheader X-A [1]",
            "keep",
        ],
    ),
    (
        "encoded-character",
        "require [\"encoded-character\", \"fileinto\"]; fileinto \"${hex:41 42}${unicode:263a}\";",
        MSG,
        "a@b.c",
        &["fileinto AB☺"],
    ),
    (
        "include: stop inside stops all",
        "require \"include\"; include \"spam\"; discard;",
        MSG,
        "a@b.c",
        &["fileinto Spam"],
    ),
    (
        "include: falls through",
        "require \"include\"; include \"spam\"; discard;",
        BULK,
        "a@b.c",
        &["discard"],
    ),
    (
        "include :global",
        "require \"include\"; include :global \"flagger\";",
        MSG,
        "a@b.c",
        &["keep \\Flagged"],
    ),
    (
        "include: global variables",
        "require [\"include\", \"variables\", \"fileinto\"]; global \"list\"; include \"lists\"; fileinto \"L/${list}\";",
        MSG,
        "a@b.c",
        &["fileinto L/acme-users"],
    ),
    (
        "include: global. namespace",
        "require [\"include\", \"variables\", \"fileinto\"]; include \"lists\"; fileinto \"L/${global.list}/${list}\";",
        BULK,
        "a@b.c",
        &["fileinto L/none/"],
    ),
    (
        "include: locals stay local",
        "require [\"include\", \"variables\", \"fileinto\"]; set \"x\" \"outer\"; include \"local\"; fileinto \"${x}\";",
        MSG,
        "a@b.c",
        &["fileinto outer"],
    ),
    (
        "include :once",
        "require \"include\"; include :once \"adder\"; include :once \"adder\"; include \"adder\";",
        MSG,
        "a@b.c",
        &["addheader X-Inc: 1", "addheader X-Inc: 1", "keep"],
    ),
    (
        "include :optional",
        "require \"include\"; include :optional \"missing\"; discard;",
        MSG,
        "a@b.c",
        &["discard"],
    ),
    (
        "include: missing",
        "require \"include\"; include \"missing\";",
        MSG,
        "a@b.c",
        &["error: include: no script \"missing\""],
    ),
    (
        "include: loop",
        "require \"include\"; include \"loop\";",
        MSG,
        "a@b.c",
        &["error: include: \"loop\" includes itself"],
    ),
    (
        "return ends the script",
        "require \"include\"; discard; return; keep;",
        MSG,
        "a@b.c",
        &["discard"],
    ),
];

#[test]
fn table() {
    let mut wrong = Vec::new();
    for (name, script, msg, from, want) in ROWS {
        let script = match compile(script) {
            Ok(s) => s,
            Err(e) => {
                wrong.push(format!("{name}: does not compile: {e:?}"));
                continue;
            }
        };
        let got = match run(&script, &Msg::new(msg), &env(from), &Limits::default()) {
            Ok(o) => o.actions.iter().map(render).collect::<Vec<_>>(),
            Err(e) => vec![format!("error: {e}")],
        };
        if got != *want {
            wrong.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn implicit_keep_is_marked() {
    let s = compile("if false { discard; }").expect("compiles");
    let o = run(&s, &Msg::new(MSG), &env("a@b.c"), &Limits::default()).expect("runs");
    assert!(o.implicit_keep);
    let s = compile("keep;").expect("compiles");
    let o = run(&s, &Msg::new(MSG), &env("a@b.c"), &Limits::default()).expect("runs");
    assert!(!o.implicit_keep);
}

#[test]
fn runtime_limits_are_errors() {
    let msg = Msg::new(MSG);
    let e = env("a@b.c");
    let redirects = (0..5)
        .map(|i| format!("redirect \"u{i}@example.net\";"))
        .collect::<String>();
    let s = compile(&redirects).expect("compiles");
    assert_eq!(
        run(&s, &msg, &e, &Limits::default()),
        Err(RuntimeError::TooManyRedirects(4))
    );
    let files = (0..40)
        .map(|i| format!("fileinto \"f{i}\";"))
        .collect::<String>();
    let s = compile(&format!("require \"fileinto\"; {files}")).expect("compiles");
    assert_eq!(
        run(&s, &msg, &e, &Limits::default()),
        Err(RuntimeError::TooManyActions(32))
    );
    let keys = (0..300)
        .map(|i| format!("\"k{i}\""))
        .collect::<Vec<_>>()
        .join(",");
    let tests = (0..200)
        .map(|_| format!("header :contains \"received\" [{keys}]"))
        .collect::<Vec<_>>()
        .join(",");
    let s = compile(&format!("if anyof ({tests}) {{ discard; }}")).expect("compiles");
    assert_eq!(
        run(&s, &msg, &e, &Limits::default()),
        Err(RuntimeError::TooManySteps(100_000))
    );
    let s = compile("require [\"reject\", \"fileinto\"]; reject \"no\"; fileinto \"x\";")
        .expect("compiles");
    assert!(matches!(
        run(&s, &msg, &e, &Limits::default()),
        Err(RuntimeError::Conflict(_))
    ));
    // A long body and a long pattern: O(pattern × text) stops at the cap.
    let s = compile(&format!(
        "require \"body\"; if body :raw :matches \"*{}b\" {{ discard; }}",
        "a".repeat(2000)
    ))
    .expect("compiles");
    let mut big = Msg::new(MSG);
    big.body = "a".repeat(200_000);
    let limits = Limits {
        max_match_work: 20_000_000,
        ..Limits::default()
    };
    assert_eq!(
        run(&s, &big, &e, &limits),
        Err(RuntimeError::TooMuchMatching(20_000_000))
    );
    // Many keys against a big body: each comparison costs the body's length.
    let keys = (0..200)
        .map(|i| format!("\"k{i}\""))
        .collect::<Vec<_>>()
        .join(",");
    let s = compile(&format!(
        "require \"body\"; if body :raw :contains [{keys}] {{ discard; }}"
    ))
    .expect("compiles");
    assert_eq!(
        run(&s, &big, &e, &limits),
        Err(RuntimeError::TooMuchMatching(20_000_000))
    );
    let many = "include :optional \"missing\";".repeat(256);
    let s = compile(&format!("require \"include\"; {many}")).expect("compiles");
    assert_eq!(
        run(&s, &msg, &e, &Limits::default()),
        Err(RuntimeError::Include("more than 255 includes".into()))
    );
}

#[test]
fn variables_stay_bounded() {
    let mut script =
        String::from("require \"variables\"; set \"a\" \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\";");
    for _ in 0..20 {
        script.push_str("set \"a\" \"${a}${a}\";");
    }
    script.push_str("set :length \"n\" \"${a}\"; if string :is \"${n}\" \"4096\" { discard; }");
    let s = compile(&script).expect("compiles");
    let o = run(&s, &Msg::new(MSG), &env("a@b.c"), &Limits::default()).expect("runs");
    assert_eq!(o.actions, vec![Action::Discard]);
}
