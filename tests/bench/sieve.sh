#!/usr/bin/env bash
# Delivery with a Sieve script against delivery without one, on one mailyard server:
# the same SMTP load (target/release/mailyard-load) to a user without a script and to
# a user whose active script is tests/bench/sieve-20-rules.sieve (20 rules; the load's
# messages match none, so every test runs and every message is kept), alternating,
# medians and the ratio. A 250 from mailyard means the message is durable and indexed,
# so the SMTP rate is the delivery rate. Loopback only; no root needed.
#
#   tests/bench/sieve.sh [--no-build] [--reps N] [--seconds S] [--sessions "1 20"] [--out FILE]
#
# Target (issue 11): the scripted rate within 10% of the plain one.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CMDLINE="tests/bench/sieve.sh${*:+ $*}"
BUILD=1 REPS=5 SECONDS_PER_RUN=5 SESSIONS="1 20" OUT="" BASE_PORT=47300 SIZE=4096
while [[ $# -gt 0 ]]; do
	case "$1" in
	--no-build) BUILD=0 ;;
	--reps) REPS=$2; shift ;;
	--seconds) SECONDS_PER_RUN=$2; shift ;;
	--sessions) SESSIONS=$2; shift ;;
	--out) OUT=$2; shift ;;
	--port-base) BASE_PORT=$2; shift ;;
	*) sed -n '2,12p' "$0" >&2; exit 2 ;;
	esac
	shift
done
OUT=${OUT:-$HERE/results-$(date -u +%Y-%m-%d-%H%M)-sieve.md}
cd "$ROOT"
if [[ $BUILD == 1 ]]; then
	cargo build --release -p mailyard -p mailyard-tests --bin mailyard --bin mailyard-load
fi
MAILYARD=$ROOT/target/release/mailyard LOAD=$ROOT/target/release/mailyard-load
WORK=$(mktemp -d /var/tmp/mailyard-sieve-bench.XXXXXX)
PID=""
cleanup() {
	[[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
SMTP=$((BASE_PORT + 25)) IMAP=$((BASE_PORT + 43)) PW=bench-password
cat >"$WORK/mailyard.toml" <<EOF
hostname = "bench-sieve.example.net"
data_dir = "$WORK/data"
[listen]
smtp = "127.0.0.1:$SMTP"
submission = ""
submissions = ""
imap = "127.0.0.1:$IMAP"
imaps = ""
http = ""
[auth_checks]
enabled = false
[log]
format = "json"
level = "warn"
EOF
for u in plain sieve; do
	printf '%s\n' "$PW" | "$MAILYARD" --config "$WORK/mailyard.toml" user add "$u@example.com" >/dev/null
done
"$MAILYARD" --config "$WORK/mailyard.toml" sieve put sieve@example.com filters \
	"$HERE/sieve-20-rules.sieve" --activate >/dev/null
"$MAILYARD" serve --config "$WORK/mailyard.toml" >"$WORK/mailyard.log" 2>&1 &
PID=$!
for _ in $(seq 600); do
	"$LOAD" count --addr "127.0.0.1:$IMAP" --user plain@example.com --pass "$PW" >/dev/null 2>&1 && break
	sleep 0.1
done

rate() { # user sessions → messages/s
	"$LOAD" smtp --addr "127.0.0.1:$SMTP" --sessions "$2" --size "$SIZE" \
		--seconds "$SECONDS_PER_RUN" --to "$1@example.com" |
		sed -n 's/^smtp .* rate=\([0-9.]*\).*/\1/p'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

{
	echo "# Sieve at delivery: 20-rule script vs none ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "\`$CMDLINE\` on $(nproc) cores, $(git -C "$ROOT" rev-parse --short HEAD);"
	echo "$SIZE-byte messages, ${SECONDS_PER_RUN} s per run, $REPS runs each, alternating."
	echo
	echo "| sessions | no script (msgs/s, median) | 20 rules (msgs/s, median) | ratio (pairwise median) | runs no script | runs 20 rules |"
	echo "|---|---|---|---|---|---|"
} >"$OUT.tmp"
for s in $SESSIONS; do
	plain=() scripted=() ratios=()
	for r in $(seq "$REPS"); do
		# A B, then B A: neither always runs first.
		if ((r % 2)); then a=$(rate plain "$s"); b=$(rate sieve "$s"); else b=$(rate sieve "$s"); a=$(rate plain "$s"); fi
		plain+=("$a") scripted+=("$b")
		ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", b/a}')")
		echo "sessions=$s run=$r plain=$a sieve=$b" >&2
	done
	mp=$(printf '%s\n' "${plain[@]}" | median) ms=$(printf '%s\n' "${scripted[@]}" | median)
	mr=$(printf '%s\n' "${ratios[@]}" | median)
	echo "| $s | $mp | $ms | ${mr}× | ${plain[*]} | ${scripted[*]} |" >>"$OUT.tmp"
done
# The script is active and runs: a probe whose subject its "[JIRA]" rule matches is
# filed into "Tickets" (created by the rule).
python3 - "$SMTP" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.sendmail("probe@example.net", ["sieve@example.com"],
               "From: probe@example.net\r\nTo: sieve@example.com\r\nSubject: [JIRA] probe\r\n\r\nprobe\r\n")
PY
probe=$(find "$WORK/data/mail/example.com/sieve/.Tickets" -type f -path '*/new/*' 2>/dev/null | wc -l)
echo "probe filed by the script into Tickets: $probe" >&2
[[ $probe == 1 ]] || { echo "the script did not run" >&2; exit 1; }
echo >>"$OUT.tmp"
echo "A probe message with \"[JIRA]\" in its subject was filed into Tickets by the script (it is active and runs)." >>"$OUT.tmp"
grep -q '"level":"ERROR"' "$WORK/mailyard.log" && echo "errors in the server log:" >&2 && grep '"level":"ERROR"' "$WORK/mailyard.log" | head -5 >&2
mv "$OUT.tmp" "$OUT"
cat "$OUT"
