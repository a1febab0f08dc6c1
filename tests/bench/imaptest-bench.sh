#!/usr/bin/env bash
# imaptest's benchmark mode against mailyard and Dovecot side by side, alternating runs.
#
#   tests/bench/imaptest-bench.sh MAILYARD_PORT DOVECOT_PORT PASSWORD [REPS] [SECS]
#
# Both servers on 127.0.0.1 with the same accounts testuser1@example.com …
# testuser5@example.com and one PASSWORD (tests/bench/README.md says how to run a
# private Dovecot; peers.sh's is one). Two mixes, each REPS (default 3) times per server,
# SECS (default 20) seconds, 10 clients on 5 accounts:
#   long   — logout=0: every client keeps its session (SELECT once, then FETCH, STORE,
#            EXPUNGE, APPEND … for the whole run);
#   login  — imaptest's default: a LOGIN every few commands.
# Prints one line per run (commands done, Error: lines) and the medians and ratio per
# mix. With MY_PID and DV_PID set (the servers' process ids: mailyard's, Dovecot's
# master) it also prints each server's CPU time per command (user + system, of the
# process, its children and the children it reaped): on a machine where both the server
# and imaptest are CPU-bound, that is what the commands/s ratio comes down to. imaptest: tests/imaptest/build.sh (IMAPTEST=/path/bin/imaptest to override);
# the mbox: tests/imaptest/make-mbox.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
my_port=$1 dv_port=$2 pass=$3 reps=${4:-3} secs=${5:-20}
imaptest=${IMAPTEST:-$here/../../target/imaptest/bin/imaptest}
[[ -x $imaptest ]] || imaptest=/opt/imaptest/bin/imaptest
[[ -x $imaptest ]] || { echo "no imaptest: run tests/imaptest/build.sh" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/../imaptest/make-mbox.py" "$work/bench.mbox"

# shellcheck source=imaptest-common.sh
. "$here/imaptest-common.sh"
hz=$(getconf CLK_TCK)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for mode in long login; do
	extra=""; [[ $mode == long ]] && extra="logout=0"
	for r in $(seq 1 "$reps"); do
		for s in mailyard:$my_port:${MY_PID:-} dovecot:$dv_port:${DV_PID:-}; do
			IFS=: read -r name port pid <<<"$s"
			out=$work/$mode-$name-$r.log
			[[ -n $pid ]] && t0=$(ticks "$pid")
			timeout $((secs + 60)) "$imaptest" host=127.0.0.1 port="$port" \
				user=testuser%d@example.com pass="$pass" users=5 clients=10 \
				secs="$secs" $extra mbox="$work/bench.mbox" >"$out" 2>&1 || true
			echo "$mode $name run $r: $(total "$out") commands, $(grep -c 'Error:' "$out" || true) errors"
			total "$out" >>"$work/$mode-$name"
			if [[ -n $pid ]]; then
				us=$(awk -v t="$(($(ticks "$pid") - t0))" -v hz="$hz" -v n="$(total "$out")" \
					'BEGIN {printf "%.0f", (n > 0 ? t / hz * 1e6 / n : 0)}')
				echo "$mode $name run $r cpu: $us us/command"
				echo "$us" >>"$work/$mode-$name-cpu"
			fi
		done
	done
	m=$(median <"$work/$mode-mailyard") d=$(median <"$work/$mode-dovecot")
	echo "$mode: median mailyard $m, Dovecot $d, ratio $(awk -v a="$m" -v b="$d" 'BEGIN {printf "%.2f", a/b}')×"
	if [[ -s $work/$mode-mailyard-cpu && -s $work/$mode-dovecot-cpu ]]; then
		echo "$mode cpu: median mailyard $(median <"$work/$mode-mailyard-cpu"), Dovecot $(median <"$work/$mode-dovecot-cpu") us/command"
	fi
done
