#!/usr/bin/env python3
"""Writes an mbox of real-looking messages for imaptest's stress and benchmark modes.

    make-mbox.py OUT [COUNT]     (default COUNT: 300)

Deterministic (fixed seed): plain text, quoted-printable, multipart/alternative,
multipart/mixed with a base64 attachment, a forwarded message/rfc822, 8-bit UTF-8 headers
and bodies, long folded headers, groups in To:, and empty parts, so imaptest's checks that
a message's BODYSTRUCTURE and ENVELOPE never change cover every shape.
"""
import base64
import random
import sys

rnd = random.Random(20261203)
WORDS = ("meeting invoice report budget lunch project server backup quarterly office "
         "printer schedule review draft holiday contract coffee deadline update notes").split()
NAMES = [("Alice Example", "alice@example.com"), ("Bob Builder", "bob@example.org"),
         ("Carol Ünicode", "carol@example.net"), ("", "dave@example.com"),
         ("Eve \"the\" Tester", "eve@example.com")]


def text(n):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def body_lines(n):
    return "\r\n".join(text(rnd.randint(3, 14)) for _ in range(n))


def addr(i):
    name, a = NAMES[i % len(NAMES)]
    return f'"{name}" <{a}>' if name else a


def headers(i):
    day = 1 + i % 28
    h = [f"From: {addr(i)}",
         f"To: {addr(i + 1)}" if i % 7 else "To: undisclosed-recipients:;",
         f"Subject: {'Re: ' if i % 3 == 0 else ''}{text(rnd.randint(2, 8))} #{i}",
         f"Date: Mon, {day:02d} Nov 2026 {i % 24:02d}:{i % 60:02d}:00 +0100",
         f"Message-ID: <msg{i}.{rnd.randint(1, 10**9)}@example.com>"]
    if i % 5 == 0:
        h.append(f"Cc: {addr(i + 2)}, {addr(i + 3)}")
    if i % 3 == 0 and i > 0:
        h.append(f"In-Reply-To: <msg{i - 1}@example.com>")
    if i % 11 == 0:
        h.append("X-Long: " + "\r\n\t".join(text(8) for _ in range(4)))
    return h


def message(i):
    kind = i % 6
    h = headers(i)
    if kind == 0:
        return "\r\n".join(h + ["", body_lines(rnd.randint(1, 30))])
    if kind == 1:
        return "\r\n".join(h + ["MIME-Version: 1.0",
                                "Content-Type: text/plain; charset=utf-8",
                                "Content-Transfer-Encoding: quoted-printable", "",
                                "Gr=C3=BC=C3=9Fe, " + text(10) + "=\r\n" + text(5)])
    if kind == 2:
        b = f"alt{i}"
        return "\r\n".join(h + ["MIME-Version: 1.0",
                                f'Content-Type: multipart/alternative; boundary="{b}"', "",
                                f"--{b}", "Content-Type: text/plain; charset=us-ascii", "",
                                body_lines(3), f"--{b}", "Content-Type: text/html", "",
                                f"<p>{text(12)}</p>", f"--{b}--", ""])
    if kind == 3:
        b = f"mix{i}"
        blob = base64.encodebytes(bytes(rnd.randrange(256) for _ in range(600))).decode()
        return "\r\n".join(h + ["MIME-Version: 1.0",
                                f'Content-Type: multipart/mixed; boundary="{b}"', "",
                                "preamble", f"--{b}", "Content-Type: text/plain", "",
                                body_lines(4), f"--{b}",
                                "Content-Type: application/octet-stream; name=\"a.bin\"",
                                "Content-Disposition: attachment; filename=\"a.bin\"",
                                "Content-Transfer-Encoding: base64", "",
                                blob.replace("\n", "\r\n").rstrip("\r\n"),
                                f"--{b}", "Content-Type: text/plain", "", "",
                                f"--{b}--", "epilogue"])
    if kind == 4:
        b = f"fwd{i}"
        inner = "\r\n".join(headers(i + 1000) + ["", body_lines(2)])
        return "\r\n".join(h + ["MIME-Version: 1.0",
                                f'Content-Type: multipart/mixed; boundary="{b}"', "",
                                f"--{b}", "Content-Type: text/plain", "", text(6),
                                f"--{b}", "Content-Type: message/rfc822", "", inner,
                                f"--{b}--", ""])
    return "\r\n".join(h + ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                            "Content-Transfer-Encoding: 8bit", "",
                            "Ünïcödé " + body_lines(2)])


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    with open(out, "wb") as f:
        for i in range(count):
            msg = message(i).replace("\r\n", "\n")
            # mbox "From " quoting (mboxrd): a body line starting with "From " gets ">".
            msg = "\n".join((">" + l) if l.startswith("From ") else l for l in msg.split("\n"))
            f.write(f"From sender{i}@example.com Mon Nov  2 10:00:00 2026\n".encode())
            f.write(msg.encode("utf-8"))
            f.write(b"\n\n")


if __name__ == "__main__":
    main()
