#!/usr/bin/env bash
# imaptest's long-session benchmark one kind of command at a time, against mailyard and
# Dovecot side by side: which commands cost more or less than Dovecot's.
#
#   tests/bench/imaptest-pertype.sh MAILYARD_PORT MAILYARD_PID DOVECOT_PORT DOVECOT_PID PASSWORD
#
# Same accounts and setup as imaptest-bench.sh (testuser1..5@example.com, one PASSWORD;
# `peers.sh --keep` leaves a pair that can be started again). For each mix in TYPES
# (default below; `a+b` runs states a and b together, every other state at 0 %), one
# run of SECS (default 8) seconds per server, 10 clients, `logout=0`; prints the
# commands done, the Error: lines, and the server's CPU per command (user + system, of
# the process and its children: Dovecot's imap processes). A run of
# STORE or FETCH alone also counts the SELECT of each client; the per-command CPU is
# over everything done in the run. imaptest's states: FETCH asks 1–4 random items of
# UID FLAGS ENVELOPE INTERNALDATE BODY BODYSTRUCTURE RFC822.SIZE and
# BODY.PEEK[HEADER.FIELDS (…)] for up to 100 messages; FETCH2 one of BODY.PEEK[HEADER],
# RFC822.HEADER, BODY.PEEK[], BODY.PEEK[1], BODY.PEEK[TEXT] of one message; STATUS
# (MESSAGES UNSEEN RECENT); LIST "" *; DELETE is STORE +FLAGS \Deleted. APPEND runs only
# beside DELETE and EXPUNGE (the mailbox stays bounded).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
my_port=$1 my_pid=$2 dv_port=$3 dv_pid=$4 pass=$5
types=${TYPES:-fetch fetch2 store status list expunge append+delete+expunge}
secs=${SECS:-8}
imaptest=${IMAPTEST:-$here/../../target/imaptest/bin/imaptest}
[[ -x $imaptest ]] || { echo "no imaptest: run tests/imaptest/build.sh" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/../imaptest/make-mbox.py" "$work/bench.mbox"
hz=$(getconf CLK_TCK)
all="list status fetch fetch2 store delete expunge append"

# shellcheck source=imaptest-common.sh
. "$here/imaptest-common.sh"

printf '%-22s %-9s %9s %7s %11s\n' mix server commands errors "cpu us/cmd"
for t in $types; do
	args=()
	for a in $all; do
		if [[ "+$t+" == *"+$a+"* ]]; then args+=("$a=100"); else args+=("$a=0"); fi
	done
	for s in mailyard:$my_port:$my_pid dovecot:$dv_port:$dv_pid; do
		IFS=: read -r name port pid <<<"$s"
		out=$work/$t-$name.log
		t0=$(ticks "$pid")
		timeout $((secs + 60)) "$imaptest" host=127.0.0.1 port="$port" \
			user=testuser%d@example.com pass="$pass" users=5 clients=10 \
			secs="$secs" logout=0 mbox="$work/bench.mbox" "${args[@]}" >"$out" 2>&1 || true
		n=$(total "$out")
		us=$(awk -v t="$(($(ticks "$pid") - t0))" -v hz="$hz" -v n="${n:-0}" \
			'BEGIN {printf "%.0f", (n > 0 ? t / hz * 1e6 / n : 0)}')
		printf '%-22s %-9s %9s %7s %11s\n' "$t" "$name" "${n:-0}" "$(grep -c 'Error:' "$out" || true)" "$us"
	done
done
