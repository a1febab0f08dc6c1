#!/usr/bin/env bash
# A/B of two mailyard binaries on SMTP durable ingest: the same load against each, in
# turn (A B A B …), each run on a fresh data directory, medians and the ratio B/A.
# Loopback only; no root needed. Used to keep or drop a change to the ingest path.
#
#   tests/bench/ab-smtp.sh OLD_BINARY NEW_BINARY [--pairs N] [--seconds S] [--sessions "1 20"]
#                          [--size BYTES] [--load smtp-source|mailyard-load] [--perf OUT]
#
# The load: mailyard-load smtp (N sessions, 10 mailboxes in turn), or smtp-source
# (Postfix's, 10 processes of N/10 sessions, one mailbox each, connections reused, -m
# messages each so that a run takes about S seconds). The rate is accepted messages /
# seconds until the last 250 (250 = fsynced, linked, directory fsynced, indexed), and
# the server's CPU time (user + system) per accepted message: on a shared machine the
# steadier of the two.
# --perf OUT: after the pairs, one more run of each with `perf record -g` on the server
# (OUT.A.<sessions>.data, OUT.B.<sessions>.data; not counted in the medians).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
[[ $# -ge 2 ]] || { sed -n '2,15p' "$0" >&2; exit 2; }
A=$(realpath "$1") B=$(realpath "$2")
shift 2
PAIRS=3 SECONDS_PER=4 SESSIONS="20" SIZE=4096 LOADGEN=mailyard-load PERF="" PORT=47500
LOAD=${LOAD_BIN:-$ROOT/target/release/mailyard-load}
while [[ $# -gt 0 ]]; do
	case "$1" in
	--pairs) PAIRS=$2; shift ;;
	--seconds) SECONDS_PER=$2; shift ;;
	--sessions) SESSIONS=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--load) LOADGEN=$2; shift ;;
	--perf) PERF=$2; shift ;;
	--port) PORT=$2; shift ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[[ -x $LOAD ]] || { echo "missing $LOAD" >&2; exit 1; }
DOMAIN=example.com PW=bench-password
WORK=$(mktemp -d /var/tmp/mailyard-ab.XXXXXX)
SRV_PID="" PERF_PID=""
cleanup() {
	set +e
	[[ -n $PERF_PID ]] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
	if [[ -n $SRV_PID ]]; then
		kill "$SRV_PID" 2>/dev/null
		wait "$SRV_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
RCPTS=$(for i in $(seq 0 9); do printf 'rcpt%s@%s,' "$i" "$DOMAIN"; done)
RCPTS=${RCPTS%,}

# run BIN SESSIONS PERF_OUT: prints the rate of one run on a fresh data dir.
run() {
	local bin=$1 s=$2 perf_out=$3 d conf out rate n cpu
	# A new directory each run, the old ones kept until the end: on ext4 without a
	# journal, every file created searches past the inodes freed in the last minutes
	# (`recently_deleted`), so deleting a run's files would slow the next run.
	d=$(mktemp -d "$WORK/run.XXXXXX")
	conf=$d/mailyard.toml
	cat >"$conf" <<EOF
hostname = "bench-mailyard.example.net"
data_dir = "$d/data"
[listen]
smtp = "127.0.0.1:$PORT"
submission = ""
submissions = ""
imap = ""
imaps = ""
http = ""
[limits]
# Every session of the load comes from 127.0.0.1 (default: 20 per address).
max_connections_per_ip = 1000
[log]
format = "json"
level = "info"
[auth_checks]
enabled = false
EOF
	for i in $(seq 0 9); do
		printf '%s\n' "$PW" | "$bin" --config "$conf" user add "rcpt$i@$DOMAIN" >/dev/null
	done
	"$bin" --config "$conf" serve >"$d/log" 2>&1 &
	SRV_PID=$!
	for _ in $(seq 300); do [[ -n $(ss -Hltn "sport = :$PORT") ]] && break; sleep 0.05; done
	if [[ -n $perf_out ]]; then
		perf record -g -o "$perf_out" -p "$SRV_PID" >/dev/null 2>&1 &
		PERF_PID=$!
		sleep 0.5
	fi
	if [[ $LOADGEN == smtp-source ]]; then
		local per=$((s / 10)) msgs t0 t1
		((per >= 1)) || per=1
		msgs=$((SECONDS_PER * 2500 / 10))
		local pids=()
		t0=$(date +%s.%N)
		for i in $(seq 0 9); do
			smtp-source -d -s "$per" -m "$msgs" -l "$SIZE" -f "load@example.net" \
				-t "rcpt$i@$DOMAIN" "127.0.0.1:$PORT" &
			pids+=($!)
		done
		wait "${pids[@]}"
		t1=$(date +%s.%N)
		n=$((msgs * 10))
		rate=$(awk -v n=$n -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", n / (b - a)}')
	else
		out=$("$LOAD" smtp --addr "127.0.0.1:$PORT" --sessions "$s" --size "$SIZE" \
			--seconds "$SECONDS_PER" --to "$RCPTS")
		rate=$(grep -o 'rate=[0-9.]*' <<<"$out" | head -1 | cut -d= -f2)
		n=$(grep -o 'accepted=[0-9]*' <<<"$out" | head -1 | cut -d= -f2)
	fi
	# The server's CPU time (user + system, all threads) per accepted message, in µs.
	cpu=$(awk -v n="$n" -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) / hz * 1e6 / n }' "/proc/$SRV_PID/stat")
	if [[ -n $PERF_PID ]]; then
		kill -INT "$PERF_PID" 2>/dev/null
		wait "$PERF_PID" 2>/dev/null || true
		PERF_PID=""
	fi
	kill "$SRV_PID"
	wait "$SRV_PID" 2>/dev/null || true
	SRV_PID=""
	echo "$rate $cpu"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "A=$A"
echo "B=$B"
echo "load=$LOADGEN size=$SIZE seconds=$SECONDS_PER pairs=$PAIRS loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
for s in $SESSIONS; do
	ra=() rb=() ca=() cb=()
	for p in $(seq "$PAIRS"); do
		read -r r c < <(run "$A" "$s" "")
		ra+=("$r") ca+=("$c")
		read -r r c < <(run "$B" "$s" "")
		rb+=("$r") cb+=("$c")
		echo "sessions=$s pair=$p A=${ra[-1]}/s ${ca[-1]}us/msg B=${rb[-1]}/s ${cb[-1]}us/msg"
	done
	ma=$(median "${ra[@]}") mb=$(median "${rb[@]}") mca=$(median "${ca[@]}") mcb=$(median "${cb[@]}")
	echo "sessions=$s median rate A=$ma B=$mb B/A=$(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%.3f", b / a}') cpu/msg A=${mca}us B=${mcb}us B/A=$(awk -v a="$mca" -v b="$mcb" 'BEGIN{printf "%.3f", b / a}')"
	if [[ -n $PERF ]]; then
		echo "sessions=$s perf A=$(run "$A" "$s" "$PERF.A.$s.data") B=$(run "$B" "$s" "$PERF.B.$s.data")"
	fi
done
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
