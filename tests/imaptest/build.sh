#!/usr/bin/env bash
# Builds Dovecot's imaptest (release-2.3 branch, MIT licensed, see README.md here) from the
# tarball beside this script, for tests/tests/imaptest.rs.
#   tests/imaptest/build.sh [PREFIX]     default PREFIX: <repo>/target/imaptest
# Result: PREFIX/bin/imaptest and PREFIX/tests (the scripted compliance tests with their
# .mbox files; PREFIX/tests/broken is not meant to be run). Point the test at it with
# IMAPTEST=PREFIX/bin/imaptest (the default PREFIX needs no variable).
#
# Debian 12 packages, installed when missing (as root): dovecot-dev (headers) and
# dovecot-core (libdovecot.so is in dovecot-core, not in dovecot-dev: without it the link
# fails with "cannot find -ldovecot"), and the C toolchain. Installing dovecot-core must not
# leave a Dovecot daemon running: its start is refused during the install and the system
# service is disabled after it; the script fails if the system Dovecot still runs.
#
# Idempotent: does nothing when PREFIX holds an imaptest built from this very tarball
# (PREFIX/.tarball-sha256), so a second call costs a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
prefix=${1:-$repo/target/imaptest}
tarball=$here/imaptest-release-2.3.tar.gz
sum=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ -x "$prefix/bin/imaptest" ] && [ -d "$prefix/tests" ] &&
   [ "$(cat "$prefix/.tarball-sha256" 2>/dev/null)" = "$sum" ]; then
  echo "imaptest already built in $prefix"; exit 0
fi

need=()
for p in dovecot-core dovecot-dev build-essential autoconf automake libtool pkg-config; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "imaptest needs the Debian packages: ${need[*]} (run this script as root, or apt-get install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # dovecot-core's postinst starts the system Dovecot (IMAP/POP3 on every address) when
  # the init system lets it; policy-rc.d answering 101 forbids it (invoke-rc.d and
  # deb-systemd-invoke both ask). An existing policy (containers have one) is kept.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    trap 'rm -f "$policy"' EXIT
    printf '#!/bin/sh\n# written by mailyard tests/imaptest/build.sh during apt-get install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
  fi
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  if grep -q 'mailyard tests/imaptest/build.sh' "$policy" 2>/dev/null; then rm -f "$policy"; fi
  trap - EXIT
fi

# Only the library is wanted from dovecot-core: keep the system service off, now and after
# a reboot (only where systemd runs; elsewhere policy-rc.d kept it from starting).
if [ -d /run/systemd/system ] && [ "$(id -u)" = 0 ]; then
  systemctl disable --now dovecot.socket dovecot.service >/dev/null 2>&1 || true
fi
# The system instance writes /run/dovecot/master.pid (private instances, such as the
# benchmark's in tests/bench/, use their own base_dir and are not ours to judge).
if [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
  echo "the system Dovecot (pid $(cat /run/dovecot/master.pid)) is running; stop it:" \
       "systemctl disable --now dovecot.socket dovecot.service" >&2
  exit 1
fi

src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
tar -xzf "$tarball" -C "$src"
cd "$src"
# Debian 12's libdovecot takes a 4th argument (params; NULL = no limits) in imap_parser_create.
sed -i '/imap_parser_create(/s/(size_t)-1)/(size_t)-1, NULL)/' src/commands.c src/imap-client.c src/test-parser.c
./autogen.sh >/dev/null 2>&1
./configure -q --with-dovecot=/usr/lib/dovecot --prefix="$prefix" LDFLAGS="-Wl,-rpath,/usr/lib/dovecot" >/dev/null
make -s -j"$(nproc)" >/dev/null
make -s install >/dev/null
rm -rf "$prefix/tests" && cp -r src/tests "$prefix/tests"
echo "$sum" >"$prefix/.tarball-sha256"
echo "imaptest built: $prefix/bin/imaptest, tests in $prefix/tests"
