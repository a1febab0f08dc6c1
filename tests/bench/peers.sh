#!/usr/bin/env bash
# Side-by-side benchmark of mailyard against the real peers, Postfix (+ Dovecot LMTP),
# Postfix alone (its virtual(8) agent writing the maildirs) and Dovecot, from Debian:
# same machine, same run, same users, same generated maildirs, same load
# (target/release/mailyard-load, and Postfix's smtp-source for the ingest rows).
# Loopback (127.0.0.1) only.
#
#   sudo tests/bench/peers.sh            # full run (~10 min on 2 cores, plus the build)
#   sudo tests/bench/peers.sh --quick    # short run (~3 min), smaller data
#   sudo tests/bench/peers.sh --only relay   # only the relay rows (~2 min)
#
# Prints a table with absolute figures, ratios and the targets, to stdout and to
# tests/bench/results-<date>.md. Run by hand, not by CI. See tests/bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CMDLINE="tests/bench/peers.sh${*:+ $*}"

# ---- options -------------------------------------------------------------------
QUICK=0 BUILD=1 KEEP=0 OUT="" BASE_PORT=47100 PARENT=/var/tmp
SMTP_SECONDS=10 MIXED_SECONDS=10 BIG=100000 TEN=10000 MIXED_COUNT=1000 MSG_SIZE=4096
IDLE_CONNS=5000 REPEAT=5 DRAIN_TIMEOUT=180
SESSIONS="1 20 100" SIZES="4096 102400" MY_ENV=() MEM_FLOOR_GIB=""
ALL_PARTS=smtp,imap,imaptest,idle,relay ONLY=$ALL_PARTS
RELAY_COUNT=6000 RELAY_REPS=3 RELAY_SESSIONS=20
SMTP_REPS=3 SS_COUNT=10000 PFV_SET=()
usage() {
	cat <<EOF
usage: $0 [--quick] [--no-build] [--keep] [--out FILE] [--port-base N] [--dir PARENT]
          [--smtp-seconds S] [--big N] [--idle-conns N] [--mailyard-env VAR=VALUE]...
          [--only PARTS] [--relay-count N] [--relay-reps N] [--smtp-reps N]
          [--ss-count N] [--pfv-set 'name = value']... [--sessions "1 20 100"] [--sizes "4096 102400"]
  --quick          3 s SMTP runs, 20 000-message big mailbox, 1 000 idle connections
  --no-build       use the binaries already in target/release
  --keep           keep the work directory (maildirs, configs, logs) afterwards
  --out FILE       results file (default tests/bench/results-<date>.md)
  --port-base N    loopback ports N..N+200 are used (default 47100)
  --dir PARENT     where the work directory is made (default /var/tmp; use a disk, not tmpfs)
  --mem-floor GIB  stop the idle test when the machine has less than this available (default: a third of RAM)
  --mailyard-env VAR=VALUE
                   run mailyard serve with this environment variable (repeatable; shown in the results)
  --only PARTS     comma-separated, of $ALL_PARTS (default: all)
  --relay-count N  messages per relay run (default 6000; 2000 with --quick)
  --relay-reps N   relay runs per server, alternating (default 3)
  --smtp-reps N    SMTP ingest runs per server and row, alternating (default 3)
  --ss-count N     messages per smtp-source run (default 10000; 4000 with --quick)
  --sessions LIST  SMTP ingest session counts (default "1 20 100"; smtp-source: those >= 10)
  --sizes LIST     SMTP ingest message sizes in bytes (default "4096 102400")
  --pfv-set 'name = value'
                   a main.cf line for the Postfix-virtual instance (repeatable; shown
                   in the results)
EOF
}
while [[ $# -gt 0 ]]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--no-build) BUILD=0 ;;
	--keep) KEEP=1 ;;
	--out) OUT=$2; shift ;;
	--port-base) BASE_PORT=$2; shift ;;
	--dir) PARENT=$2; shift ;;
	--smtp-seconds) SMTP_SECONDS=$2; shift ;;
	--big) BIG=$2; shift ;;
	--idle-conns) IDLE_CONNS=$2; shift ;;
	--mailyard-env) MY_ENV+=("$2"); shift ;;
	--mem-floor) MEM_FLOOR_GIB=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--relay-count) RELAY_COUNT=$2; shift ;;
	--relay-reps) RELAY_REPS=$2; shift ;;
	--smtp-reps) SMTP_REPS=$2; shift ;;
	--ss-count) SS_COUNT_SET=$2; shift ;;
	--pfv-set) PFV_SET+=("$2"); shift ;;
	--sessions) SESSIONS=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done
if [[ $QUICK == 1 ]]; then
	SMTP_SECONDS=3 MIXED_SECONDS=5 BIG=20000 IDLE_CONNS=1000 REPEAT=3 DRAIN_TIMEOUT=60 RELAY_COUNT=2000
	SS_COUNT=4000
fi
SS_COUNT=${SS_COUNT_SET:-$SS_COUNT}
# want PART: whether PART is measured in this run (--only).
want() { [[ ",$ONLY," == *",$1,"* ]]; }
for part in ${ONLY//,/ }; do
	[[ ",$ALL_PARTS," == *",$part,"* ]] || { echo "--only: unknown part $part (parts: $ALL_PARTS)" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "run as root: it installs Postfix and Dovecot and runs them" >&2; exit 1; }

PW=bench-password
DOMAIN=example.com
MY_SMTP=$((BASE_PORT + 25)) MY_IMAP=$((BASE_PORT + 43))
DV_IMAP=$((BASE_PORT + 143)) DV_LMTP=$((BASE_PORT + 124)) PF_SMTP=$((BASE_PORT + 125))
MY_SUB=$((BASE_PORT + 87)) RELAY_SINK=$((BASE_PORT + 26)) PFV_SMTP=$((BASE_PORT + 127))
PROC_LIMIT=$((IDLE_CONNS + 500)) CLIENT_LIMIT=$((IDLE_CONNS * 3 + 1000 < 19000 ? IDLE_CONNS * 3 + 1000 : 19000))
STAMP=$(date +%Y-%m-%d-%H%M)
OUT=${OUT:-$HERE/results-$STAMP.md}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---- cleanup: every process this script started, by pid, even on failure ----------
WORK="" MY_PID="" DV_PID="" PF_UP=0 PFV_UP=0 LOAD_PID="" SINK_PID=""
cleanup() {
	local rc=$?
	set +e
	[[ -n $LOAD_PID ]] && kill "$LOAD_PID" 2>/dev/null && wait "$LOAD_PID" 2>/dev/null
	[[ -n $SINK_PID ]] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
	if [[ -n $MY_PID ]]; then
		kill "$MY_PID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$MY_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$MY_PID" 2>/dev/null
		wait "$MY_PID" 2>/dev/null
	fi
	[[ $PF_UP == 1 ]] && postfix -c "$WORK/postfix/etc" stop >/dev/null 2>&1
	[[ $PFV_UP == 1 ]] && postfix -c "$WORK/postfix-virtual/etc" stop >/dev/null 2>&1
	if [[ -n $DV_PID ]]; then
		kill "$DV_PID" 2>/dev/null # the master stops its children
		for _ in $(seq 100); do kill -0 "$DV_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$DV_PID" 2>/dev/null
		wait "$DV_PID" 2>/dev/null
	fi
	if [[ -n $WORK && -d $WORK ]]; then
		if [[ $KEEP == 1 || $rc != 0 ]]; then
			log "work directory kept: $WORK (logs: mailyard.log, dovecot/dovecot.log, postfix/postfix.log, postfix-virtual/postfix.log)"
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- install and build -----------------------------------------------------------
if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null || [[ ! -x /usr/lib/dovecot/lmtp ]]; then
	log "installing postfix, dovecot-imapd, dovecot-lmtpd from Debian"
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix dovecot-imapd dovecot-lmtpd >/dev/null
fi
if [[ $BUILD == 1 ]]; then
	log "building mailyard and mailyard-load (release)"
	(cd "$ROOT" && cargo build --release -q -p mailyard -p mailyard-tests --bin mailyard --bin mailyard-load)
fi
MAILYARD=$ROOT/target/release/mailyard
LOAD=$ROOT/target/release/mailyard-load
[[ -x $MAILYARD && -x $LOAD ]] || die "missing $MAILYARD or $LOAD (build them, or drop --no-build)"
# The tree the binaries were built from (with --no-build: the tree now, which may differ).
MY_VER=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo "?")$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo "+dirty")

for p in $MY_SMTP $MY_IMAP $MY_SUB $DV_IMAP $DV_LMTP $PF_SMTP $PFV_SMTP $RELAY_SINK; do
	[[ -z $(ss -Hltn "sport = :$p") ]] || die "port 127.0.0.1:$p is in use; pick another --port-base"
done
getent passwd vmail >/dev/null || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin vmail
VMAIL_UID=$(id -u vmail) VMAIL_GID=$(id -g vmail)

WORK=$(mktemp -d "$PARENT/mailyard-bench.XXXXXX")
chmod 755 "$WORK"
mkdir -p "$WORK"/{dovecot/run,dovecot/state,vmail,postfix/etc,postfix/spool,postfix/lib}
mkdir -p "$WORK"/{vmail-virtual,postfix-virtual/etc,postfix-virtual/spool,postfix-virtual/lib}
log "work directory $WORK"

# render TEMPLATE DEST: fills in the @VARS@.
render() {
	sed -e "s|@WORK@|$WORK|g" -e "s|@DV_IMAP@|$DV_IMAP|g" -e "s|@DV_LMTP@|$DV_LMTP|g" \
		-e "s|@PF_SMTP@|$PF_SMTP|g" -e "s|@MY_SMTP@|$MY_SMTP|g" -e "s|@MY_IMAP@|$MY_IMAP|g" \
		-e "s|@VMAIL_UID@|$VMAIL_UID|g" -e "s|@VMAIL_GID@|$VMAIL_GID|g" -e "s|@PROC_LIMIT@|$PROC_LIMIT|g" \
		-e "s|@MY_SUB@|$MY_SUB|g" -e "s|@RELAY_SINK@|$RELAY_SINK|g" \
		-e "s|@CLIENT_LIMIT@|$CLIENT_LIMIT|g" -e "s|@IDLE_CONNS@|$IDLE_CONNS|g" "$1" >"$2"
}

# Recipients of the SMTP load: RCPT_COUNT mailboxes, one recipient per message in turn.
RCPT_COUNT=10
RCPT_USERS=$(seq -f 'rcpt%g' 0 $((RCPT_COUNT - 1)) | tr '\n' ' ')
RCPTS=$(for u in $RCPT_USERS; do printf '%s@%s,' "$u" "$DOMAIN"; done)
RCPTS=${RCPTS%,}
# testuser1..5: imaptest's benchmark (tests/bench/imaptest-bench.sh).
IT_USERS="testuser1 testuser2 testuser3 testuser4 testuser5"
# relay: the relay rows' sender (a submission login on mailyard).
USERS="big ten mixed smtp relay $RCPT_USERS $IT_USERS"
# ---- mailyard: config and users ----------------------------------------------------
MYCONF=$WORK/mailyard.toml
# Postfix checks no SPF/DKIM/DMARC by default, and this machine has no DNS: turn
# mailyard's checks off too, where this version has them.
render "$HERE/mailyard.conf" "$MYCONF.in"
sed "s|@AUTH_CHECKS@|[auth_checks]\nenabled = false|" "$MYCONF.in" >"$MYCONF"
if ! printf '%s\n' "$PW" | "$MAILYARD" --config "$MYCONF" user add "big@$DOMAIN" >/dev/null 2>"$WORK/useradd.err"; then
	grep -q auth_checks "$WORK/useradd.err" || die "mailyard user add: $(cat "$WORK/useradd.err")"
	sed "s|@AUTH_CHECKS@||" "$MYCONF.in" >"$MYCONF"
	printf '%s\n' "$PW" | "$MAILYARD" --config "$MYCONF" user add "big@$DOMAIN" >/dev/null
fi
for u in ten mixed smtp relay $RCPT_USERS $IT_USERS; do
	printf '%s\n' "$PW" | "$MAILYARD" --config "$MYCONF" user add "$u@$DOMAIN" >/dev/null
done

# ---- Dovecot: config and users -----------------------------------------------------
render "$HERE/dovecot.conf" "$WORK/dovecot/dovecot.conf"
for u in $USERS; do echo "$u@$DOMAIN:{PLAIN}$PW" >>"$WORK/dovecot/passwd"; done
chmod 644 "$WORK/dovecot/passwd"

# ---- Postfix: a private instance -------------------------------------------------
PFETC=$WORK/postfix/etc
render "$HERE/postfix-main.conf" "$PFETC/main.cf"
render "$HERE/postfix-master.conf" "$PFETC/master.cf"
for u in $USERS; do echo "$u@$DOMAIN x" >>"$PFETC/vmailbox"; done
chown postfix "$WORK/postfix/lib" # data_directory: the master's lock file

# ---- Postfix-virtual: a second private instance, virtual(8) into maildirs ---------
# The same smtpd settings and master.cf (its own port); no Dovecot: what a message
# costs Postfix alone, from SMTP to a durable maildir file.
PFVETC=$WORK/postfix-virtual/etc
PFV_TUNING=$(printf '%s\n' "${PFV_SET[@]}")
render "$HERE/postfix-virtual-main.conf" "$PFVETC/main.cf.in"
awk -v t="$PFV_TUNING" '{ if ($0 == "@PFV_TUNING@") printf "%s", t; else print }' "$PFVETC/main.cf.in" >"$PFVETC/main.cf"
rm "$PFVETC/main.cf.in"
sed 's|@PF_SMTP@|@PFV_SMTP@|g' "$HERE/postfix-master.conf" | sed "s|@PFV_SMTP@|$PFV_SMTP|g" >"$PFVETC/master.cf.in"
render "$PFVETC/master.cf.in" "$PFVETC/master.cf"
rm "$PFVETC/master.cf.in"
for u in $USERS; do echo "$u@$DOMAIN $DOMAIN/$u/" >>"$PFVETC/vmailbox"; done
chown postfix "$WORK/postfix-virtual/lib"

# ---- the same generated mailboxes on both IMAP servers --------------------------
# big: SELECT + UID FETCH 1:* (UID FLAGS); ten: header fetch and SEARCH TEXT;
# mixed: the mixed workload, then the idle connections.
fill() { # user count
	"$LOAD" fill-maildir --dir "$WORK/mailyard/mail/$DOMAIN/$1" --count "$2" --size "$MSG_SIZE" >/dev/null
	"$LOAD" fill-maildir --dir "$WORK/vmail/$DOMAIN/$1" --count "$2" --size "$MSG_SIZE" >/dev/null
}
if want imap || want idle || want imaptest; then
	log "filling maildirs: big=$BIG ten=$TEN mixed=$MIXED_COUNT messages of $MSG_SIZE bytes, on both servers"
	fill big "$BIG"
	fill ten "$TEN"
	fill mixed "$MIXED_COUNT"
else
	BIG=0 TEN=0 MIXED_COUNT=0
	for u in big ten mixed; do mkdir -p "$WORK/vmail/$DOMAIN/$u"; done
fi
for u in smtp relay $RCPT_USERS $IT_USERS; do mkdir -p "$WORK/vmail/$DOMAIN/$u"; done
chown -R vmail:vmail "$WORK/vmail"
for u in smtp $RCPT_USERS; do mkdir -p "$WORK/vmail-virtual/$DOMAIN/$u"/{cur,new,tmp}; done
chown -R vmail:vmail "$WORK/vmail-virtual"
sync

log "mailyard reindex (builds the index of the filled maildirs)"
t0=$(date +%s.%N)
"$MAILYARD" --config "$MYCONF" reindex >"$WORK/reindex.out" 2>&1 || die "reindex: $(tail -5 "$WORK/reindex.out")"
REINDEX_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')

# ---- start the servers -----------------------------------------------------------
wait_imap() { # addr user: until LOGIN + STATUS works (deadline 60 s)
	for _ in $(seq 600); do
		"$LOAD" count --addr "$1" --user "$2" --pass "$PW" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
log "starting mailyard, Dovecot, Postfix"
env "${MY_ENV[@]}" "$MAILYARD" serve --config "$MYCONF" >"$WORK/mailyard.log" 2>&1 &
MY_PID=$!
doveconf -c "$WORK/dovecot/dovecot.conf" -n >"$WORK/dovecot/doveconf.out" 2>&1 ||
	die "dovecot config: $(cat "$WORK/dovecot/doveconf.out")"
dovecot -F -c "$WORK/dovecot/dovecot.conf" >"$WORK/dovecot/stdout.log" 2>&1 &
DV_PID=$!
postfix -c "$PFETC" check >"$WORK/postfix/check.out" 2>&1 || die "postfix check: $(cat "$WORK/postfix/check.out")"
postfix -c "$PFETC" start >"$WORK/postfix/start.out" 2>&1 || die "postfix start: $(cat "$WORK/postfix/start.out")"
PF_UP=1
postfix -c "$PFVETC" check >"$WORK/postfix-virtual/check.out" 2>&1 || die "postfix-virtual check: $(cat "$WORK/postfix-virtual/check.out")"
postfix -c "$PFVETC" start >"$WORK/postfix-virtual/start.out" 2>&1 || die "postfix-virtual start: $(cat "$WORK/postfix-virtual/start.out")"
PFV_UP=1
wait_imap "127.0.0.1:$MY_IMAP" "big@$DOMAIN" || die "mailyard IMAP did not come up: $(tail -5 "$WORK/mailyard.log")"
wait_imap "127.0.0.1:$DV_IMAP" "smtp@$DOMAIN" || die "Dovecot IMAP did not come up: $(tail -5 "$WORK/dovecot/dovecot.log")"
for _ in $(seq 300); do [[ -n $(ss -Hltn "sport = :$PF_SMTP") ]] && break; sleep 0.1; done
[[ -n $(ss -Hltn "sport = :$PF_SMTP") ]] || die "Postfix smtpd did not come up: $(tail -5 "$WORK/postfix/postfix.log")"
for _ in $(seq 300); do [[ -n $(ss -Hltn "sport = :$PFV_SMTP") ]] && break; sleep 0.1; done
[[ -n $(ss -Hltn "sport = :$PFV_SMTP") ]] || die "Postfix-virtual smtpd did not come up: $(tail -5 "$WORK/postfix-virtual/postfix.log")"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)

# kv LINE KEY: the value of KEY=value in a result line.
kv() { grep -o "\b$2=[^ ]*" <<<"$1" | head -1 | cut -d= -f2; }
# ratio A B: A/B with 2 decimals ("n/a" when either is missing or B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
ROWS=() # "figure|mailyard|peer|peer name|ratio (>1: mailyard better)"
declare -A SMTP_MY SMTP_PF SMTP_PFQ SMTP_PFV SMTP_RUNS SS IM IT MEM RELAY
row() { ROWS+=("$1|$2|$3|$4|$5"); log "$1: mailyard $2, $4 $3 (×$5)"; }
# median V...: the middle value ("n/a" if any run failed).
median() { printf '%s\n' "$@" | sort -g | awk '/n\/a/ { bad = 1 } { v[NR] = $1 } END { if (bad || NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- SMTP durable ingest ---------------------------------------------------------
# Every rate is accepted / (time from the first connection until every accepted
# message is visible on the receiving side). For mailyard that is when the last 250
# came (250 = fsynced, linked, directory fsynced and indexed), counted by its own IMAP
# STATUS; for Postfix + Dovecot, when Dovecot's IMAP STATUS shows the last message that
# Postfix queued and then delivered over LMTP; for Postfix-virtual, when the last
# message's file is in the maildir's new/ (it has no IMAP server: "visible" = the
# files in new/ and cur/). Each row runs mailyard, Postfix + Dovecot, Postfix-virtual
# in turn, SMTP_REPS times, each run starting with both Postfix queues empty; medians.
postfix_idle() { # [config dir]: until that Postfix's queue is empty (deadline DRAIN_TIMEOUT)
	local etc=${1:-$PFETC}
	for _ in $(seq $((DRAIN_TIMEOUT * 5))); do
		postqueue -c "$etc" -p 2>/dev/null | grep -q 'Mail queue is empty' && return 0
		sleep 0.2
	done
	log "Postfix ($etc) queue still not empty after ${DRAIN_TIMEOUT}s"
}
both_idle() { postfix_idle "$PFETC"; postfix_idle "$PFVETC"; }
# The maildirs of the SMTP load's recipients, per server (mailyard's INBOX is the root
# of the user's tree).
my_maildir() { echo "$WORK/mailyard/mail/$DOMAIN/$1"; }
pfv_maildir() { echo "$WORK/vmail-virtual/$DOMAIN/$1"; }
dv_maildir() { echo "$WORK/vmail/$DOMAIN/$1"; }
maildir_list() { # fn user...: comma-separated
	local fn=$1 out="" u
	shift
	for u in "$@"; do out+="$($fn "$u"),"; done
	echo "${out%,}"
}
# smtp_run server size sessions mode: one mailyard-load run; prints "rate queued complete".
smtp_run() {
	local server=$1 size=$2 s=$3 mode=$4 to=$RCPTS users=$RCPT_USERS out vis addr
	local visible=()
	if [[ $mode == one ]]; then to=smtp@$DOMAIN users=smtp; fi
	case $server in
	my) addr=127.0.0.1:$MY_SMTP visible=(--visible-addr "127.0.0.1:$MY_IMAP" --visible-pass "$PW") ;;
	pfd) addr=127.0.0.1:$PF_SMTP visible=(--visible-addr "127.0.0.1:$DV_IMAP" --visible-pass "$PW") ;;
	pfv)
		# shellcheck disable=SC2086
		addr=127.0.0.1:$PFV_SMTP visible=(--visible-maildir "$(maildir_list pfv_maildir $users)")
		;;
	esac
	out=$("$LOAD" smtp --addr "$addr" --sessions "$s" --size "$size" --seconds "$SMTP_SECONDS" \
		--to "$to" "${visible[@]}" --visible-timeout "$DRAIN_TIMEOUT") || die "SMTP load on $server failed"
	vis=$(grep '^visible' <<<"$out")
	echo "$(kv "$vis" rate) $(kv "$(grep '^smtp' <<<"$out")" rate) $(kv "$vis" complete)"
}
# runs_of LIST: "a, b, c" (the runs as shown in the table).
runs_of() { local IFS=,; echo "$*" | sed 's/,/, /g'; }
smtp_row() { # size sessions mode(spread|one): SMTP_REPS runs of each server, alternating
	local size=$1 s=$2 mode=$3 k="$1,$2,$3" what="$RCPT_COUNT mailboxes" rep server rate queued complete
	[[ $mode == one ]] && what="one mailbox"
	local -A runs=([my]="" [pfd]="" [pfv]="" [pfdq]="") short=([my]="" [pfd]="" [pfv]="")
	for rep in $(seq "$SMTP_REPS"); do
		for server in my pfd pfv; do
			both_idle
			log "SMTP ${size} B, $s sessions, $what, ${SMTP_SECONDS}s, run $rep: $server"
			read -r rate queued complete < <(smtp_run "$server" "$size" "$s" "$mode")
			[[ -n $rate ]] || die "SMTP load on $server failed"
			[[ $complete == true ]] || { short[$server]="*"; log "$server: not all accepted messages visible after the drain timeout"; }
			runs[$server]+="$rate "
			[[ $server == pfd ]] && runs[pfdq]+="$queued "
		done
	done
	# shellcheck disable=SC2086
	{
		SMTP_MY[$k]=$(median ${runs[my]}) SMTP_PF[$k]=$(median ${runs[pfd]}) SMTP_PFV[$k]=$(median ${runs[pfv]})
		SMTP_PFQ[$k]=$(median ${runs[pfdq]})
		SMTP_RUNS[$k,my]=$(runs_of ${runs[my]}) SMTP_RUNS[$k,pfd]=$(runs_of ${runs[pfd]}) SMTP_RUNS[$k,pfv]=$(runs_of ${runs[pfv]})
	}
	local fig="SMTP ingest, $((size / 1024)) KiB, $s sessions, $what (msgs/s, median of $SMTP_REPS)"
	row "$fig" "${SMTP_MY[$k]}${short[my]} (${SMTP_RUNS[$k,my]})" \
		"${SMTP_PF[$k]}${short[pfd]} (${SMTP_RUNS[$k,pfd]}; queued: ${SMTP_PFQ[$k]})" "Postfix+Dovecot" \
		"$(ratio "${SMTP_MY[$k]}" "${SMTP_PF[$k]}")"
	row "$fig … Postfix-virtual" "${SMTP_MY[$k]}${short[my]}" \
		"${SMTP_PFV[$k]}${short[pfv]} (${SMTP_RUNS[$k,pfv]})" "Postfix-virtual" \
		"$(ratio "${SMTP_MY[$k]}" "${SMTP_PFV[$k]}")"
}
# Postfix's own load generator, so that the figure does not rest on ours alone:
# smtp-source (4 KiB of payload plus its headers, connections reused: -d), SS_COUNT
# messages in all from SESSIONS sessions, as 10 processes of SESSIONS/10 sessions, each
# to one of the 10 mailboxes. Rate = SS_COUNT / seconds from the start until the last
# message is visible as a file in the maildirs (mailyard: when the last 250 came).
count_files() { # dir...: files in their new/ and cur/
	local n=0 d
	for d in "$@"; do n=$((n + $(find "$d/new" "$d/cur" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l))); done
	echo "$n"
}
ss_run() { # server sessions: prints the rate ("n/a" when not all arrived)
	local server=$1 s=$2 port fn dirs=() before t0 t1 i pids=() failed=0 per=$(($2 / 10)) each=$((SS_COUNT / 10))
	local proto=()
	((per >= 1)) || per=1
	case $server in
	my) port=$MY_SMTP fn=my_maildir ;;
	pfv) port=$PFV_SMTP fn=pfv_maildir ;;
	# Dovecot's own store without Postfix in front: smtp-source speaks LMTP (-L) to it.
	dvl) port=$DV_LMTP fn=dv_maildir proto=(-L) ;;
	esac
	for u in $RCPT_USERS; do dirs+=("$($fn "$u")"); done
	before=$(count_files "${dirs[@]}")
	t0=$(date +%s.%N)
	for i in $(seq 0 $((RCPT_COUNT - 1))); do
		smtp-source "${proto[@]}" -d -s "$per" -m "$each" -l 4096 -f "load@example.net" -t "rcpt$i@$DOMAIN" \
			"127.0.0.1:$port" >>"$WORK/smtp-source.out" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || failed=$((failed + 1)); done
	((failed == 0)) || log "smtp-source against $server: $failed of ${#pids[@]} processes failed ($(tail -2 "$WORK/smtp-source.out" | tr '\n' ' '))"
	local want=$((each * RCPT_COUNT)) got=0
	for _ in $(seq $((DRAIN_TIMEOUT * 10))); do
		got=$(($(count_files "${dirs[@]}") - before))
		((got >= want)) && break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	if ((got < want)); then
		log "smtp-source against $server: $got of $want visible after ${DRAIN_TIMEOUT}s"
		echo "n/a"
	else
		awk -v n="$want" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", n / (b - a)}'
	fi
}
ss_row() { # sessions
	local s=$1 rep server r
	local -A runs=([my]="" [pfv]="" [dvl]="")
	for rep in $(seq "$SMTP_REPS"); do
		for server in my pfv dvl; do
			both_idle
			log "smtp-source 4 KiB, $s sessions, $SS_COUNT messages, run $rep: $server"
			r=$(ss_run "$server" "$s")
			log "smtp-source $server run $rep: $r msgs/s"
			runs[$server]+="$r "
		done
	done
	# shellcheck disable=SC2086
	SS[$s,my]=$(median ${runs[my]}) SS[$s,pfv]=$(median ${runs[pfv]}) SS[$s,dvl]=$(median ${runs[dvl]})
	# shellcheck disable=SC2086
	row "SMTP ingest with smtp-source, 4 KiB, $s sessions, 10 mailboxes, $SS_COUNT msgs (msgs/s, median of $SMTP_REPS) … Postfix-virtual" \
		"${SS[$s,my]} ($(runs_of ${runs[my]}))" "${SS[$s,pfv]} ($(runs_of ${runs[pfv]}))" "Postfix-virtual" \
		"$(ratio "${SS[$s,my]}" "${SS[$s,pfv]}")"
	# The two indexed stores side by side: mailyard's SMTP against Dovecot's LMTP, each
	# writing the file, fsyncing it and indexing it before its 250.
	# shellcheck disable=SC2086
	row "Store ingest with smtp-source, 4 KiB, $s sessions, 10 mailboxes, $SS_COUNT msgs (msgs/s, median of $SMTP_REPS): mailyard SMTP … Dovecot LMTP, no Postfix" \
		"${SS[$s,my]}" "${SS[$s,dvl]} ($(runs_of ${runs[dvl]}))" "Dovecot LMTP" \
		"$(ratio "${SS[$s,my]}" "${SS[$s,dvl]}")"
}
if want smtp; then
	command -v smtp-source >/dev/null || die "smtp-source (Debian's postfix package) is missing"
	for size in $SIZES; do
		for s in $SESSIONS; do smtp_row "$size" "$s" spread; done
	done
	# All mail to one mailbox: Dovecot serializes deliveries into one maildir (its
	# dovecot-uidlist lock), mailyard batches them (group commit).
	smtp_row 4096 20 one
	for s in $SESSIONS; do ((s >= 10)) && ss_row "$s"; done
	both_idle
fi

# op_table MY DV MYHEAD DVHEAD: a per-command table of the mixed workload (MIXED_OPS),
# mailyard's mean times stored under IM[mailyard,MY,op] against Dovecot's under
# IM[dovecot,DV,op]; the ratio is Dovecot's time over mailyard's.
MIXED_OPS="SELECT FETCH_FLAGS_ALL FETCH_HEADERS_21 FETCH_BODY SEARCH_UNSEEN STORE_SEEN APPEND UID_SEARCH_UNSEEN STORE_DELETED_UID_EXPUNGE"
op_table() {
	local op
	echo "| command | $3 | $4 | × |"
	echo "|---|---:|---:|---:|"
	for op in $MIXED_OPS; do
		echo "| $op | ${IM[mailyard,$1,$op]:-} | ${IM[dovecot,$2,$op]:-} | $(ratio "${IM[dovecot,$2,$op]:-}" "${IM[mailyard,$1,$op]:-}") |"
	done
}

# ---- IMAP ------------------------------------------------------------------------
if want imap; then
	imap_run() { # name addr
		log "IMAP on $1: SELECT + UID FETCH 1:* (UID FLAGS) on $BIG messages"
		local out
		out=$("$LOAD" imap --addr "$2" --user "big@$DOMAIN" --pass "$PW" --repeat "$REPEAT" --headers 0 --no-search) ||
			die "$1: imap (big) failed"
		IM[$1,sel_n]=$(kv "$out" messages)
		IM[$1,sel_cold]=$(kv "$out" cold_ms) IM[$1,sel_warm]=$(kv "$out" warm_ms)
		log "IMAP on $1: header fetch and SEARCH TEXT on $TEN messages"
		out=$("$LOAD" imap --addr "$2" --user "ten@$DOMAIN" --pass "$PW" --repeat "$REPEAT" --headers "$TEN") ||
			die "$1: imap (ten) failed"
		local h s
		h=$(grep header_fetch <<<"$out") s=$(grep search_text <<<"$out")
		IM[$1,hdr_n]=$(kv "$h" messages) IM[$1,hdr_cold]=$(kv "$h" cold_ms) IM[$1,hdr_warm]=$(kv "$h" warm_ms)
		IM[$1,srch_found]=$(kv "$s" found) IM[$1,srch_cold]=$(kv "$s" cold_ms) IM[$1,srch_warm]=$(kv "$s" warm_ms)
		log "IMAP on $1: mixed workload, 8 clients, ${MIXED_SECONDS}s"
		out=$("$LOAD" mixed --addr "$2" --user "mixed@$DOMAIN" --pass "$PW" --clients 8 --seconds "$MIXED_SECONDS") ||
			die "$1: mixed failed"
		IM[$1,mixed]=$(kv "$out" rate)
		local line
		while read -r line; do
			IM[$1,op,$(kv "$line" op)]=$(kv "$line" mean_ms)
		done < <(grep '^mixed_op' <<<"$out")
		# The same loop from one client: each command's own cost, without the queueing
		# of 8 clients on 2 cores (where a server that waits on fsync for its slow
		# commands leaves the CPU free for its fast ones).
		log "IMAP on $1: mixed workload, 1 client, ${MIXED_SECONDS}s"
		out=$("$LOAD" mixed --addr "$2" --user "mixed@$DOMAIN" --pass "$PW" --clients 1 --seconds "$MIXED_SECONDS") ||
			die "$1: mixed (1 client) failed"
		while read -r line; do
			IM[$1,op1,$(kv "$line" op)]=$(kv "$line" mean_ms)
		done < <(grep '^mixed_op' <<<"$out")
	}
	imap_run mailyard "127.0.0.1:$MY_IMAP"
	imap_run dovecot "127.0.0.1:$DV_IMAP"
	# mailyard's 8 clients once more, paced to the loop rate Dovecot reached above
	# (its ops/s / 9 commands a loop, MIXED_OPS): unpaced, mailyard's cheap commands
	# queue behind ~5x Dovecot's work on the same cores (and the load tool's CPU), so
	# the unpaced per-command rows compare two loads; paced, both carry the same load
	# and the third per-command table compares each command's time at equal throughput.
	if [[ -n ${IM[dovecot,mixed]:-} ]] && awk -v r="${IM[dovecot,mixed]}" 'BEGIN{exit !(r + 0 > 0)}'; then
		IM[paced,lps]=$(awk -v r="${IM[dovecot,mixed]}" 'BEGIN{printf "%.3f", r / 9}')
		log "IMAP on mailyard: mixed workload, 8 clients paced to ${IM[paced,lps]} loops/s (Dovecot's rate), ${MIXED_SECONDS}s"
		out=$("$LOAD" mixed --addr "127.0.0.1:$MY_IMAP" --user "mixed@$DOMAIN" --pass "$PW" --clients 8 \
			--seconds "$MIXED_SECONDS" --loops-per-second "${IM[paced,lps]}") || die "mailyard: mixed (paced) failed"
		IM[paced,rate]=$(kv "$out" rate)
		while read -r line; do
			IM[mailyard,opp,$(kv "$line" op)]=$(kv "$line" mean_ms)
		done < <(grep '^mixed_op' <<<"$out")
		log "IMAP on mailyard paced: ${IM[paced,rate]} ops/s (Dovecot unpaced: ${IM[dovecot,mixed]}, ×$(ratio "${IM[paced,rate]}" "${IM[dovecot,mixed]}"))"
	fi
	for k in sel_n hdr_n srch_found; do
		[[ ${IM[mailyard,$k]} == "${IM[dovecot,$k]}" ]] || log "note: $k differs: mailyard ${IM[mailyard,$k]}, Dovecot ${IM[dovecot,$k]}"
	done
	row "IMAP mixed workload, 8 clients (ops/s)" "${IM[mailyard,mixed]}" "${IM[dovecot,mixed]}" Dovecot \
		"$(ratio "${IM[mailyard,mixed]}" "${IM[dovecot,mixed]}")"
	row "SELECT + UID FETCH 1:* (UID FLAGS), ${IM[mailyard,sel_n]} msgs, cold (ms)" "${IM[mailyard,sel_cold]}" \
		"${IM[dovecot,sel_cold]}" Dovecot "$(ratio "${IM[dovecot,sel_cold]}" "${IM[mailyard,sel_cold]}")"
	row "SELECT + UID FETCH 1:* (UID FLAGS), ${IM[mailyard,sel_n]} msgs, warm median (ms)" "${IM[mailyard,sel_warm]}" \
		"${IM[dovecot,sel_warm]}" Dovecot "$(ratio "${IM[dovecot,sel_warm]}" "${IM[mailyard,sel_warm]}")"
	row "Header fetch, ${IM[mailyard,hdr_n]} msgs, cold (ms)" "${IM[mailyard,hdr_cold]}" "${IM[dovecot,hdr_cold]}" Dovecot \
		"$(ratio "${IM[dovecot,hdr_cold]}" "${IM[mailyard,hdr_cold]}")"
	row "Header fetch, ${IM[mailyard,hdr_n]} msgs, warm median (ms)" "${IM[mailyard,hdr_warm]}" "${IM[dovecot,hdr_warm]}" Dovecot \
		"$(ratio "${IM[dovecot,hdr_warm]}" "${IM[mailyard,hdr_warm]}")"
	row "SEARCH TEXT, $TEN msgs (${IM[mailyard,srch_found]} found), cold (ms)" "${IM[mailyard,srch_cold]}" \
		"${IM[dovecot,srch_cold]}" Dovecot "$(ratio "${IM[dovecot,srch_cold]}" "${IM[mailyard,srch_cold]}")"
	row "SEARCH TEXT, $TEN msgs (${IM[mailyard,srch_found]} found), warm median (ms)" "${IM[mailyard,srch_warm]}" \
		"${IM[dovecot,srch_warm]}" Dovecot "$(ratio "${IM[dovecot,srch_warm]}" "${IM[mailyard,srch_warm]}")"
fi

# ---- imaptest's benchmark -------------------------------------------------------
if want imaptest; then
	# Dovecot's own tool, both servers, A B A B (tests/bench/imaptest-bench.sh): long
	# sessions and the login mix, 10 clients on testuser1..5.
	IT_SECS=20 IT_REPS=3
	[[ $QUICK == 1 ]] && IT_SECS=10
	"$ROOT/tests/imaptest/build.sh" "$ROOT/target/imaptest" >"$WORK/imaptest-build.log" 2>&1 ||
		die "building imaptest: $(tail -5 "$WORK/imaptest-build.log")"
	log "imaptest benchmark: long sessions and login mix, ${IT_SECS}s × $IT_REPS per server"
	IMAPTEST="$ROOT/target/imaptest/bin/imaptest" MY_PID=$MY_PID DV_PID=$DV_PID \
		"$HERE/imaptest-bench.sh" "$MY_IMAP" "$DV_IMAP" "$PW" \
		"$IT_REPS" "$IT_SECS" >"$WORK/imaptest-bench.out" 2>&1 || die "imaptest benchmark: $(tail -5 "$WORK/imaptest-bench.out")"
	for mode in long login; do
		line=$(grep "^$mode: median" "$WORK/imaptest-bench.out")
		IT[$mode,my]=$(awk '{print $4}' <<<"$line" | tr -d ,)
		IT[$mode,dv]=$(awk '{print $6}' <<<"$line" | tr -d ,)
		IT[$mode,errors]=$(grep "^$mode .* errors$" "$WORK/imaptest-bench.out" | awk '{s += $(NF-1)} END {print s + 0}')
		cpu=$(grep "^$mode cpu: median" "$WORK/imaptest-bench.out" || true)
		IT[$mode,mycpu]=$(awk '{print $5}' <<<"$cpu" | tr -d ,)
		IT[$mode,dvcpu]=$(awk '{print $7}' <<<"$cpu")
	done
	row "imaptest benchmark, long sessions, 10 clients (commands in ${IT_SECS}s; errors mailyard+Dovecot: ${IT[long,errors]})" \
		"${IT[long,my]}" "${IT[long,dv]}" Dovecot "$(ratio "${IT[long,my]}" "${IT[long,dv]}")"
	row "imaptest benchmark, login mix, 10 clients (commands in ${IT_SECS}s; errors: ${IT[login,errors]}; mailyard argon2id with its login cache, Dovecot {PLAIN} passwd-file)" \
		"${IT[login,my]}" "${IT[login,dv]}" Dovecot "$(ratio "${IT[login,my]}" "${IT[login,dv]}")"
	# Lower is better here: the ratio is Dovecot's CPU over mailyard's.
	row "imaptest long sessions: server CPU per command (µs, user+system; median of the runs)" \
		"${IT[long,mycpu]:-n/a}" "${IT[long,dvcpu]:-n/a}" Dovecot "$(ratio "${IT[long,dvcpu]:-}" "${IT[long,mycpu]:-}")"
fi

# ---- memory per idle IDLE connection ---------------------------------------------
if want idle; then
	# tree PID: PID and all its descendants.
	tree() {
		local all
		all=$(ps -e -o pid=,ppid=)
		awk -v root="$1" '{ kids[$2] = kids[$2] " " $1 } END {
			n = split(root, q, " "); for (i = 1; i <= n; i++) { print q[i]; m = split(kids[q[i]], k, " "); for (j = 1; j <= m; j++) q[++n] = k[j] } }' <<<"$all"
	}
	# mem FIELD PIDS...: sum of FIELD (VmRSS from status, Pss from smaps_rollup) in KiB.
	mem() {
		local field=$1 file=status
		shift
		[[ $field == Pss ]] && file=smaps_rollup
		printf "/proc/%s/$file\n" "$@" | xargs cat 2>/dev/null | awk -v f="$field:" '$1 == f { s += $2 } END { print s + 0 }'
	}
	# The idle test stops early if the machine runs short of memory (it is shared, and a
	# server that needs too much per connection would bring the OOM killer): below
	# MEM_FLOOR KiB (a third of the total, or --mem-floor) available, or after IDLE_DEADLINE seconds, the figure is taken over the
	# connections open at that moment.
	MEM_FLOOR=$(awk '/^MemTotal:/ { printf "%d", $2 / 3 }' /proc/meminfo)
	[[ -n $MEM_FLOOR_GIB ]] && MEM_FLOOR=$((MEM_FLOOR_GIB * 1048576))
	IDLE_DEADLINE=$((IDLE_CONNS / 10 + 120))
	idle_run() { # name port rootpid
		local name=$1 port=$2 pid=$3 pids rss0 pss0 rss1 pss1 held nproc stop="" out=$WORK/idle-$1.out
		sleep 2
		mapfile -t pids < <(tree "$pid")
		rss0=$(mem VmRSS "${pids[@]}") pss0=$(mem Pss "${pids[@]}")
		log "idle on $name: opening $IDLE_CONNS connections in IDLE (before: ${#pids[@]} processes, RSS $rss0 KiB)"
		"$LOAD" idle --addr "127.0.0.1:$port" --user "mixed@$DOMAIN" --pass "$PW" --conns "$IDLE_CONNS" \
			--hold 900 >"$out" 2>"$out.err" &
		LOAD_PID=$!
		local t_end=$((SECONDS + IDLE_DEADLINE))
		while ! grep -q READY "$out"; do
			kill -0 "$LOAD_PID" 2>/dev/null || die "idle load on $name failed: $(cat "$out.err")"
			if (($(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) < MEM_FLOOR)); then
				stop="stopped by the memory guard"
				break
			fi
			((SECONDS < t_end)) || { stop="stopped at the ${IDLE_DEADLINE} s limit"; break; }
			sleep 0.2
		done
		if [[ -z $stop ]]; then
			held=$(kv "$(cat "$out")" idle)
			sleep 3 # let the server settle
		else
			held=$(ss -Htn state established "sport = :$port" | wc -l)
			log "idle on $name: $stop with $held connections open"
		fi
		mapfile -t pids < <(tree "$pid")
		nproc=${#pids[@]}
		rss1=$(mem VmRSS "${pids[@]}") pss1=$(mem Pss "${pids[@]}")
		kill "$LOAD_PID" 2>/dev/null
		wait "$LOAD_PID" 2>/dev/null || true
		LOAD_PID=""
		((held > 0)) || die "idle on $name: no connection open"
		MEM[$name,held]=$held MEM[$name,procs]=$nproc MEM[$name,stop]=${stop:+, $stop}
		MEM[$name,rss]=$(awk -v a="$rss0" -v b="$rss1" -v n="$held" 'BEGIN{printf "%.1f", (b - a) / n}')
		MEM[$name,pss]=$(awk -v a="$pss0" -v b="$pss1" -v n="$held" 'BEGIN{printf "%.1f", (b - a) / n}')
		MEM[$name,total]=$(awk -v b="$rss1" 'BEGIN{printf "%.0f", b / 1024}')
		log "idle on $name: $held held, $nproc processes, RSS $rss0 → $rss1 KiB, PSS $pss0 → $pss1 KiB"
	}
	# Dovecot first: memory that mailyard's allocator keeps after its test cannot then
	# starve Dovecot's processes.
	idle_run dovecot "$DV_IMAP" "$DV_PID"
	idle_run mailyard "$MY_IMAP" "$MY_PID"
	conns() { echo "${MEM[$1,held]} conns${MEM[$1,stop]}"; }
	row "Memory per idle IDLE connection, RSS (KiB)" "${MEM[mailyard,rss]} ($(conns mailyard))" \
		"${MEM[dovecot,rss]} ($(conns dovecot))" "Dovecot" "$(ratio "${MEM[dovecot,rss]}" "${MEM[mailyard,rss]}")"
	row "Memory per idle IDLE connection, PSS (KiB)" "${MEM[mailyard,pss]}" \
		"${MEM[dovecot,pss]}" "Dovecot" "$(ratio "${MEM[dovecot,pss]}" "${MEM[mailyard,pss]}")"
	row "Total RSS with the idle connections (MiB; processes)" "${MEM[mailyard,total]} (${MEM[mailyard,procs]})" \
		"${MEM[dovecot,total]} (${MEM[dovecot,procs]})" "Dovecot" "$(ratio "${MEM[dovecot,total]}" "${MEM[mailyard,total]}")"
fi

# ---- relay throughput ------------------------------------------------------------
# Messages/s from submission to a receiving SMTP sink: RELAY_SESSIONS sessions submit
# RELAY_COUNT messages of 4 KiB, each to one of 10 remote recipients, and Postfix's
# smtp-sink on 127.0.0.1:RELAY_SINK takes what the server relays (one sink for the
# whole part; its -c counters say how many messages it has taken). The rate is
# RELAY_COUNT / (from the first connection until the sink has taken that many more).
# mailyard: AUTH PLAIN on its submission listener, relayed through `[relay] smarthost`
# (the sink, tls = "none"); 250 = message fsynced in the queue and its record committed.
# Postfix: smtpd (relay for mynetworks, no AUTH), `relayhost = [127.0.0.1]:RELAY_SINK`;
# 250 = queue file fsynced. Runs alternate mailyard, Postfix, mailyard, … RELAY_REPS
# times each, each starting with both queues empty; the medians are compared.
if want relay; then
	RELAY_RCPTS=$(for i in $(seq 0 9); do printf 'sink%s@relay.example.org,' "$i"; done)
	RELAY_RCPTS=${RELAY_RCPTS%,}
	SINK_OUT=$WORK/smtp-sink.out
	smtp-sink -u nobody -c "127.0.0.1:$RELAY_SINK" 256 >"$SINK_OUT" 2>&1 &
	SINK_PID=$!
	for _ in $(seq 100); do [[ -n $(ss -Hltn "sport = :$RELAY_SINK") ]] && break; sleep 0.05; done
	[[ -n $(ss -Hltn "sport = :$RELAY_SINK") ]] || die "smtp-sink did not come up: $(cat "$SINK_OUT")"
	# sink_count: messages the sink has taken so far (its last "mesg=N" counter).
	sink_count() { tail -c 100 "$SINK_OUT" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 | grep . || echo 0; }
	mailyard_queue_empty() {
		for _ in $(seq $((DRAIN_TIMEOUT * 5))); do
			"$MAILYARD" --config "$MYCONF" queue list 2>/dev/null | grep -q '^0 message(s) queued' && return 0
			sleep 0.2
		done
		log "mailyard queue still not empty after ${DRAIN_TIMEOUT}s"
	}
	relay_run() { # name rep addr [auth]
		local name=$1 rep=$2 addr=$3 auth=${4:-} out t0 t1 base want got
		if [[ $name == mailyard ]]; then mailyard_queue_empty; else postfix_idle; fi
		base=$(sink_count) want=$((base + RELAY_COUNT))
		log "relay $name run $rep: $RELAY_COUNT messages, $RELAY_SESSIONS sessions"
		t0=$(date +%s.%N)
		out=$("$LOAD" smtp --addr "$addr" --sessions "$RELAY_SESSIONS" --size 4096 --seconds 600 \
			--count "$RELAY_COUNT" --from "relay@$DOMAIN" --to "$RELAY_RCPTS" ${auth:+--auth "$auth"}) ||
			die "relay load on $name failed"
		RELAY[$name,$rep,accept]=$(kv "$(grep '^smtp' <<<"$out")" rate)
		for _ in $(seq $((DRAIN_TIMEOUT * 50))); do (($(sink_count) >= want)) && break; sleep 0.02; done
		t1=$(date +%s.%N) got=$(($(sink_count) - base))
		if ((got < RELAY_COUNT)); then
			log "relay $name run $rep: the sink got $got of $RELAY_COUNT messages in ${DRAIN_TIMEOUT}s"
			RELAY[$name,$rep]="n/a"
		else
			RELAY[$name,$rep]=$(awk -v n="$RELAY_COUNT" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", n / (b - a)}')
		fi
		log "relay $name run $rep: ${RELAY[$name,$rep]} msgs/s end to end (submission accepted at ${RELAY[$name,$rep,accept]}/s)"
	}
	for rep in $(seq "$RELAY_REPS"); do
		relay_run mailyard "$rep" "127.0.0.1:$MY_SUB" "relay@$DOMAIN:$PW"
		relay_run postfix "$rep" "127.0.0.1:$PF_SMTP"
	done
	my_runs=() pf_runs=()
	for rep in $(seq "$RELAY_REPS"); do my_runs+=("${RELAY[mailyard,$rep]}") pf_runs+=("${RELAY[postfix,$rep]}"); done
	RELAY[mailyard]=$(median "${my_runs[@]}") RELAY[postfix]=$(median "${pf_runs[@]}")
	RELAY[runs]="mailyard ${my_runs[*]}; Postfix ${pf_runs[*]}"
	kill "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=""
	row "Relay, 4 KiB, $RELAY_SESSIONS sessions, submission → smtp-sink, median of $RELAY_REPS (msgs/s; runs: ${RELAY[runs]})" \
		"${RELAY[mailyard]}" "${RELAY[postfix]}" Postfix "$(ratio "${RELAY[mailyard]}" "${RELAY[postfix]}")"
fi

# ---- the table -------------------------------------------------------------------
# fs_of DIR: the file system DIR is on, and whether it has a journal (ext4 without
# one skips recently freed inodes at every file creation: creates cost more here).
fs_of() {
	local src fs
	read -r fs src < <(findmnt -no FSTYPE,SOURCE -T "$1")
	if [[ $fs == ext4 && -d /proc/fs/jbd2 ]]; then
		if compgen -G "/proc/fs/jbd2/$(basename "$src")-*" >/dev/null; then fs+=" (journal)"; else fs+=" (no journal)"; fi
	fi
	echo "$fs"
}
verdict() { awk -v r="$1" -v t="$2" 'BEGIN{ if (r == "n/a") print "n/a"; else print (r + 0 >= t ? "MEETS" : "SHORT") }'; }
T_END=$(date +%s)
DV_VER=$(dovecot --version | cut -d' ' -f1)
PF_VER=$(postconf -c "$PFETC" -h mail_version 2>/dev/null || echo "?")
r20_100=$(ratio "${SMTP_MY[102400,20,spread]:-}" "$(tr -d '*' <<<"${SMTP_PF[102400,20,spread]:-}")")
r20_4=$(ratio "${SMTP_MY[4096,20,spread]:-}" "$(tr -d '*' <<<"${SMTP_PF[4096,20,spread]:-}")")
r20_one=$(ratio "${SMTP_MY[4096,20,one]:-}" "$(tr -d '*' <<<"${SMTP_PF[4096,20,one]:-}")")
rv20_4=$(ratio "${SMTP_MY[4096,20,spread]:-}" "${SMTP_PFV[4096,20,spread]:-}")
rss20=$(ratio "${SS[20,my]:-}" "${SS[20,pfv]:-}")
rmix=$(ratio "${IM[mailyard,mixed]:-}" "${IM[dovecot,mixed]:-}")
rmem=$(ratio "${MEM[dovecot,rss]:-}" "${MEM[mailyard,rss]:-}")
rit_long=$(ratio "${IT[long,my]:-}" "${IT[long,dv]:-}")
rit_login=$(ratio "${IT[login,my]:-}" "${IT[login,dv]:-}")
rrelay=$(ratio "${RELAY[mailyard]:-}" "${RELAY[postfix]:-}")
{
	echo "# mailyard vs Postfix + Dovecot — $(date '+%Y-%m-%d %H:%M %Z')"
	echo
	echo "Command: \`$CMDLINE\` (as root, from the repository root)."
	echo "mailyard $MY_VER · Postfix $PF_VER (delivery: LMTP to Dovecot; Postfix-virtual: a second instance, its own virtual(8) into maildirs) · Dovecot $DV_VER · $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) · kernel $(uname -r) · work dir on $(fs_of "$WORK")"
	[[ ${#PFV_SET[@]} -gt 0 ]] && echo "Postfix-virtual with: ${PFV_SET[*]}"
	echo "Load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg). Measured part: $((T_END - T_START)) s."
	echo "The machine is shared (other engineers compile on it): compare rows of one run; read ratios within ±20 % as noise."
	echo "Data: the same generated messages of $MSG_SIZE B in both maildirs (big: $BIG, ten: $TEN, mixed: $MIXED_COUNT); mailyard reindex of them took ${REINDEX_S} s (Dovecot indexes on first access: the cold rows)."
	[[ ${#MY_ENV[@]} -gt 0 ]] && echo "mailyard ran with environment: ${MY_ENV[*]}"
	[[ $QUICK == 1 ]] && echo "QUICK run: ${SMTP_SECONDS} s per SMTP run, smaller data and fewer idle connections than the full run."
	echo
	echo "| figure | mailyard | peer | peer value | × (>1: mailyard better) |"
	echo "|---|---:|---|---:|---:|"
	for r in "${ROWS[@]}"; do
		IFS='|' read -r fig my pv pn rt <<<"$r"
		echo "| $fig | $my | $pn | $pv | $rt |"
	done
	echo
	if want smtp; then
		echo "SMTP rates: accepted / seconds until every accepted message is visible: over IMAP for mailyard (its own IMAP) and Postfix+Dovecot (Dovecot's); for Postfix-virtual, which has no IMAP server, as files in the maildirs' new/ (virtual(8) links each file there after fsyncing it; it does not fsync the directory). Runs alternate mailyard, Postfix+Dovecot, Postfix-virtual, ${SMTP_REPS} times per row, each with both Postfix queues empty; medians, the runs in brackets. \"queued\": Postfix+Dovecot's rate of 250 replies (queue file fsynced, not yet delivered). \"*\": not all visible within ${DRAIN_TIMEOUT} s in some run; the rate counts the visible ones."
		echo
		echo "smtp-source rows: Postfix's own load generator (\`smtp-source -d -s S/10 -m N/10 -l 4096\`, 10 processes, one mailbox each, connections reused), rate = messages / seconds from its start until every message is a file in the maildirs' new/ or cur/ (mailyard: reached when its last 250 came); alternating mailyard, Postfix-virtual, ${SMTP_REPS} times; medians."
	fi
	if want relay; then
		echo
		echo "Relay: $RELAY_COUNT messages of 4 KiB from $RELAY_SESSIONS sessions to 10 remote recipients, one per message; rate = messages / seconds from the first connection until smtp-sink (Postfix's test sink, on 127.0.0.1, one for all runs) has taken all of them; each run starts with both queues empty. mailyard: submission with AUTH PLAIN, \`[relay] smarthost\` = the sink (tls = \"none\"), defaults otherwise (workers 16, $(grep -o 'max_connections_per_host = [0-9]*' "$MYCONF" || echo "connections per host: default")); its 250 = queue file fsynced and record committed. Postfix: smtpd relaying for mynetworks, \`relayhost = [127.0.0.1]:port\`, $(postconf -c "$PFETC" -n 2>/dev/null | grep -E '^(default|smtp|initial)_destination_|^smtp_connection_cache' | tr '\n' ' ')(other settings Postfix's defaults); its 250 = queue file fsynced. Runs alternate mailyard, Postfix; medians."
	fi
	if want imap; then
		echo
		echo "Mixed workload, mean time per command (ms; \"STORE_DELETED_UID_EXPUNGE\" is UID STORE + UID EXPUNGE):"
		echo
		op_table op op "mailyard" "Dovecot"
		echo
		echo "The same loop from one client (each command's own latency, no queueing behind other clients):"
		echo
		op_table op1 op1 "mailyard" "Dovecot"
		if [[ -n ${IM[paced,rate]:-} ]]; then
			echo
			echo "The 8-client loop on mailyard paced to Dovecot's rate (the same load on both: each command's time at equal throughput): \`--loops-per-second ${IM[paced,lps]}\` (Dovecot's ${IM[dovecot,mixed]} ops/s / 9 commands a loop); mailyard reached ${IM[paced,rate]} ops/s, ×$(ratio "${IM[paced,rate]}" "${IM[dovecot,mixed]}") of Dovecot's."
			echo
			op_table opp op "mailyard paced" "Dovecot (8 clients, unpaced — its own rate)"
		fi
	fi
	echo
	echo "| target | figure | verdict |"
	echo "|---|---:|---|"
	if want smtp; then
		echo "| SMTP durable ingest ≥ 3× Postfix at 20 sessions, 4 KiB, $RCPT_COUNT mailboxes | ×$r20_4 | $(verdict "$r20_4" 3) |"
		echo "| SMTP durable ingest ≥ 3× Postfix at 20 sessions, 100 KiB, $RCPT_COUNT mailboxes | ×$r20_100 | $(verdict "$r20_100" 3) |"
		echo "| SMTP durable ingest ≥ 3× Postfix at 20 sessions, 4 KiB, one mailbox | ×$r20_one | $(verdict "$r20_one" 3) |"
		echo "| SMTP durable ingest ≥ 3× Postfix-virtual at 20 sessions, 4 KiB (mailyard-load, $RCPT_COUNT mailboxes) | ×$rv20_4 | $(verdict "$rv20_4" 3) |"
		echo "| SMTP durable ingest ≥ 3× Postfix-virtual at 20 sessions, 4 KiB (smtp-source, $RCPT_COUNT mailboxes) | ×$rss20 | $(verdict "$rss20" 3) |"
	fi
	want imap && echo "| IMAP mixed ops/s ≥ Dovecot's | ×$rmix | $(verdict "$rmix" 1) |"
	want idle && echo "| idle memory per connection ≤ 1/10 of Dovecot's (RSS) | ×$rmem | $(verdict "$rmem" 10) |"
	if want imaptest; then
		echo "| imaptest benchmark ≥ 1.5× Dovecot, long sessions, 0 errors | ×$rit_long | $(verdict "$rit_long" 1.5) |"
		echo "| imaptest benchmark ≥ 1.5× Dovecot, login mix, 0 errors | ×$rit_login | $(verdict "$rit_login" 1.5) |"
	fi
	want relay && echo "| relay ≥ 3× Postfix, 4 KiB, $RELAY_SESSIONS sessions, queue fsynced | ×$rrelay | $(verdict "$rrelay" 3) |"
	true
} | tee "$OUT"
log "results written to $OUT"
