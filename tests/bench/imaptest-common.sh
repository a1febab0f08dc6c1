# Shared by imaptest-bench.sh and imaptest-pertype.sh (sourced, not run).

# ticks PID: clock ticks of CPU used by PID, its live children and those it reaped
# (Dovecot's imap processes are children of its master).
ticks() {
	local sum=0 p t
	for p in "$1" $(pgrep -P "$1" || true); do
		t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || continue
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# total LOG: the sum of imaptest's last Totals: row (commands of every kind in the run).
total() { grep -A4 '^Totals:' "$1" | tail -1 | awk '{s=0; for (i=1; i<=NF; i++) s+=$i; print s}'; }
