#!/bin/sh
# Installs the tools 'make bench-peers' holds finessectl against, from
# Debian's packages, as root: curl (SystemInfo over HTTPS), check_xmppng
# (nagios-check-xmppng: an XMPP connection with STARTTLS, no login) and
# check_tcp (monitoring-plugins-basic: a TCP connection). None of them starts
# a daemon. Anything already present is left alone; the package lists are
# refreshed (apt-get update, once) only when an install needs it. Safe to run
# repeatedly.
set -eu

fail() {
	echo "scripts/install-bench-deps.sh: $*" >&2
	exit 1
}

plugins=/usr/lib/nagios/plugins
check_xmppng=$plugins/check_xmppng
check_tcp=$plugins/check_tcp

missing=
command -v curl >/dev/null 2>&1 || missing="curl"
# The plugin runs under Debian's python3, whatever python3 PATH finds first;
# its modules (nagiosplugin, defusedxml) are the package's dependencies.
{ [ -x "$check_xmppng" ] && [ -x /usr/bin/python3 ]; } || missing="$missing nagios-check-xmppng"
[ -x "$check_tcp" ] || missing="$missing monitoring-plugins-basic"

if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || fail "missing:$missing; installing needs root (sudo sh scripts/install-bench-deps.sh)"
	command -v apt-get >/dev/null 2>&1 || fail "missing:$missing; apt-get is not available (Debian/Ubuntu only): install them by hand"
	log=$(mktemp)
	trap 'rm -f "$log"' EXIT
	apt_install() {
		# Only what the plugins need to run: no Recommends.
		# shellcheck disable=SC2086 # one package per word
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >"$log" 2>&1
	}
	# Fresh lists only if the current ones do not do (none yet, or stale).
	if ! apt_install; then
		if ! apt-get update >"$log" 2>&1; then
			cat "$log" >&2
			fail "apt-get update failed"
		fi
		if ! apt_install; then
			cat "$log" >&2
			fail "apt-get install$missing failed"
		fi
	fi
	command -v curl >/dev/null 2>&1 || fail "curl was installed but is not on PATH"
	[ -x "$check_xmppng" ] || fail "nagios-check-xmppng was installed but $check_xmppng is missing"
	[ -x "$check_tcp" ] || fail "monitoring-plugins-basic was installed but $check_tcp is missing"
fi

version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo unknown; }
echo "curl $(version curl) at $(command -v curl); check_xmppng $(version nagios-check-xmppng) at $check_xmppng; check_tcp $(version monitoring-plugins-basic) at $check_tcp"
