//! The command line of Postfix's `sendmail(1)`, parsed the way Postfix parses it: POSIX
//! `getopt` with Postfix's option string, so bundled flags (`-ti`), attached values
//! (`-fsender`, `-FCronDaemon`, `-oem`) and separate ones (`-f sender`) all work, `--`
//! ends the options, and the first non-option starts the recipients. Pure.

use std::path::PathBuf;

/// What the invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-bm` (the default): read one message on stdin and submit it.
    Deliver,
    /// `-bs`: speak SMTP on stdin/stdout (RFC 5321, no TLS or AUTH: the invoking
    /// process is trusted as a local user is).
    Smtp,
    /// `-bi` / `-I` (`newaliases`): nothing to rebuild here; aliases live in
    /// `accounts.db` (`mailyard alias`). Succeeds.
    Newaliases,
    /// `-q`: retry every queued message now (`mailyard queue flush`).
    FlushQueue,
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The mode (`-b`).
    pub mode: Mode,
    /// `-t`: take recipients from the To:, Cc: and Bcc: fields too.
    pub extract: bool,
    /// `-f` / `-r`: the envelope sender; `""` or `<>` is the null sender.
    pub sender: Option<String>,
    /// `-F`: the display name of an added From: field.
    pub full_name: Option<String>,
    /// `-i` / `-oi`: a line holding a single `.` does not end the message.
    pub ignore_dots: bool,
    /// `-N`: RFC 3461 NOTIFY for every recipient (`failure,delay`, `never` …).
    pub notify: Option<String>,
    /// `-R`: RFC 3461 RET (`full` or `hdrs`).
    pub ret: Option<String>,
    /// `-V`: RFC 3461 ENVID.
    pub envid: Option<String>,
    /// `-C FILE`: mailyard's configuration file (Postfix: its config directory).
    pub config: Option<PathBuf>,
    /// The recipients on the command line.
    pub recipients: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::Deliver,
            extract: false,
            sender: None,
            full_name: None,
            ignore_dots: false,
            notify: None,
            ret: None,
            envid: None,
            config: None,
            recipients: Vec::new(),
        }
    }
}

/// Postfix 3.7's `getopt` string for sendmail (`src/sendmail/sendmail.c`): a letter
/// followed by `:` takes a value. `q` is handled apart (its value is optional).
const OPTSTRING: &str = "B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:tvx";

fn takes_value(c: char) -> Option<bool> {
    let i = OPTSTRING.find(c)?;
    Some(OPTSTRING[i + c.len_utf8()..].starts_with(':'))
}

/// Parses the arguments after the program name. The error is the usage message
/// (exit `EX_USAGE`).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            i -= 1;
            break;
        }
        for (at, c) in arg[1..].char_indices() {
            if c == 'q' {
                // `-q` flushes; `-qINTERVAL` (a daemon's run interval) is refused.
                if arg.len() > 2 + at {
                    return Err(format!("-{}: not supported", &arg[1..]));
                }
                o.mode = Mode::FlushQueue;
                continue;
            }
            let Some(with_value) = takes_value(c) else {
                return Err(format!("unknown option -{c}"));
            };
            if !with_value {
                match c {
                    't' => o.extract = true,
                    'i' => o.ignore_dots = true,
                    'I' => o.mode = Mode::Newaliases,
                    // -G (gateway), -U (initial user submission), -c, -m (me too),
                    // -n (no aliasing), -v (verbose), -x: accepted and ignored, as
                    // Postfix ignores them.
                    _ => {}
                }
                continue;
            }
            // The value: the rest of this argument, else the next one.
            let rest = &arg[1 + at + c.len_utf8()..];
            let value = if !rest.is_empty() {
                rest.to_string()
            } else if i < args.len() {
                i += 1;
                args[i - 1].clone()
            } else {
                return Err(format!("option -{c} needs a value"));
            };
            match c {
                'F' => o.full_name = Some(value),
                'f' | 'r' => o.sender = Some(value),
                'C' => o.config = Some(PathBuf::from(value)),
                'N' => o.notify = Some(value),
                'R' => o.ret = Some(value),
                'V' => o.envid = Some(value),
                // -oi is -i; every other -oX (-oem, -odi, -oQ …) is an old sendmail
                // option Postfix ignores, and so do we.
                'o' if value == "i" => o.ignore_dots = true,
                'b' => {
                    o.mode = match value.as_str() {
                        "m" => Mode::Deliver,
                        "s" => Mode::Smtp,
                        "i" => Mode::Newaliases,
                        "d" => return Err("-bd: run `mailyard serve` instead".into()),
                        "p" => return Err("-bp: use `mailyard queue list`".into()),
                        other => return Err(format!("-b{other}: not supported")),
                    }
                }
                // -B (body type), -e, -h (hop count), -L (log label), -O, -p
                // (protocol), -X (log file): ignored, as Postfix ignores most of them.
                _ => {}
            }
            break;
        }
    }
    o.recipients = args[i..].to_vec();
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn table() {
        let ok = |args: &[&str]| p(args).expect("parses");
        // Debian cron: -FCronDaemon -i -B8BITMIME -oem user
        let o = ok(&["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"]);
        assert_eq!(o.full_name.as_deref(), Some("CronDaemon"));
        assert!(o.ignore_dots && !o.extract);
        assert_eq!(o.recipients, ["root"]);
        // PHP's default sendmail_path: sendmail -t -i
        let o = ok(&["-t", "-i"]);
        assert!(o.extract && o.ignore_dots && o.recipients.is_empty());
        // Bundled flags and a separate value.
        let o = ok(&["-ti", "-f", "a@b.test", "x@y.test", "z@y.test"]);
        assert!(o.extract && o.ignore_dots);
        assert_eq!(o.sender.as_deref(), Some("a@b.test"));
        assert_eq!(o.recipients, ["x@y.test", "z@y.test"]);
        // -oi, -odi, -v, -r; `--` ends options.
        let o = ok(&["-oi", "-odi", "-v", "-rme@x.test", "--", "-odd@x.test"]);
        assert!(o.ignore_dots);
        assert_eq!(o.sender.as_deref(), Some("me@x.test"));
        assert_eq!(o.recipients, ["-odd@x.test"]);
        // The first non-option starts the recipients.
        assert_eq!(ok(&["a@x.test", "-t"]).recipients, ["a@x.test", "-t"]);
        assert!(!ok(&["a@x.test", "-t"]).extract);
        // Null sender; modes.
        assert_eq!(ok(&["-f", "<>", "a@x"]).sender.as_deref(), Some("<>"));
        assert_eq!(ok(&["-bs"]).mode, Mode::Smtp);
        assert_eq!(ok(&["-bm", "a@x"]).mode, Mode::Deliver);
        assert_eq!(ok(&["-bi"]).mode, Mode::Newaliases);
        assert_eq!(ok(&["-I"]).mode, Mode::Newaliases);
        assert_eq!(ok(&["-q"]).mode, Mode::FlushQueue);
        let o = ok(&[
            "-N",
            "failure,delay",
            "-Rhdrs",
            "-V",
            "env 1",
            "-C",
            "/etc/m.toml",
        ]);
        assert_eq!(o.notify.as_deref(), Some("failure,delay"));
        assert_eq!(o.ret.as_deref(), Some("hdrs"));
        assert_eq!(o.envid.as_deref(), Some("env 1"));
        assert_eq!(o.config, Some(PathBuf::from("/etc/m.toml")));
        // Errors: unknown option, missing value, unsupported modes.
        for bad in [
            &["-k"][..],
            &["-f"],
            &["-t", "-Z", "a@x"],
            &["-bd"],
            &["-bp"],
            &["-bv", "a@x"],
            &["-q30m"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
