# A typical office user's filter, 20 rules: lists, senders, subjects, spam flags,
# size, and one body test. tests/bench/sieve.sh delivers with and without it; its
# load matches none of the rules, so every test runs and every message is kept (the
# filter's own cost, not that of storing flagged mail elsewhere); a probe message with
# "[JIRA]" in its subject shows the script is active.
require ["fileinto", "imap4flags", "envelope", "body", "regex", "relational", "comparator-i;ascii-numeric", "mailbox"];

if header :contains "list-id" "announce.example.org" { fileinto :create "Lists.Announce"; stop; }
if header :contains "list-id" "dev.example.org" { fileinto :create "Lists.Dev"; stop; }
if header :matches "list-id" "*users.example.org*" { fileinto :create "Lists.Users"; stop; }
if exists "x-spam-flag" { fileinto :create "Junk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto :create "Junk"; stop; }
if address :domain :is "from" "billing.example.com" { fileinto :create "Invoices"; stop; }
if address :domain :is "from" ["bank.example", "insurer.example"] { fileinto :create "Finance"; stop; }
if address :localpart :is "from" "noreply" { addflag "\\Seen"; fileinto :create "Notifications"; stop; }
if envelope :domain :is "from" "github.example" { fileinto :create "Code"; stop; }
if header :contains "subject" "[JIRA]" { fileinto :create "Tickets"; stop; }
if header :contains "subject" ["invoice", "receipt"] { addflag "$Invoice"; fileinto :create "Invoices"; stop; }
if header :contains "subject" "newsletter" { fileinto :create "Newsletters"; stop; }
if header :regex "subject" "^\\[(urgent|outage)\\]" { addflag "\\Flagged"; }
if header :is "x-priority" "1" { addflag "\\Flagged"; }
if address :is ["to", "cc"] "team@example.com" { fileinto :create "Team"; stop; }
if header :contains "from" "boss@example.com" { addflag "\\Flagged"; keep; stop; }
if size :over 10M { fileinto :create "Large"; stop; }
if header :contains "subject" "calendar" { fileinto :create "Calendar"; stop; }
if header :contains "precedence" ["bulk", "list"] { fileinto :create "Bulk"; stop; }
if body :text :contains "unsubscribe from this list" { fileinto :create "Newsletters"; stop; }
