#!/bin/sh
# Installs what the integration tests need from Debian's packages, as root:
# prosody (the real XMPP server of internal/prosodytest) and go-sendxmpp (an
# XMPP client nobody here wrote, held against the simulator's Notification
# Service). It makes sure no system-wide Prosody daemon is left running: the
# tests start their own throwaway servers, and a stray daemon would hold
# ports 5222/5269 and keep state between CI runs. Safe to run repeatedly.
set -eu

fail() {
	echo "scripts/install-integration-deps.sh: $*" >&2
	exit 1
}

# The system daemon runs as the 'prosody' user; test servers run as whoever
# runs go test and carry --config, so matching on the user leaves them alone.
daemon_pids() {
	id prosody >/dev/null 2>&1 || return 0
	pgrep -u prosody -f '/usr/bin/prosody' || true
}

stop_daemon() {
	[ -n "$(daemon_pids)" ] || return 0
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl stop prosody.service >/dev/null 2>&1 || true
	fi
	# Debian's init script matches the process name lua5.2 while the daemon
	# runs under lua5.4, so its 'stop' can miss; signal the pids directly.
	pids=$(daemon_pids)
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086 # one pid per word
	kill -TERM $pids 2>/dev/null || true
	i=0
	while [ -n "$(daemon_pids)" ] && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	pids=$(daemon_pids)
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.5
	fi
	[ -z "$(daemon_pids)" ] || fail "a system Prosody daemon is still running: $(daemon_pids)"
}

missing=
command -v prosody >/dev/null 2>&1 && command -v prosodyctl >/dev/null 2>&1 || missing="prosody"
command -v go-sendxmpp >/dev/null 2>&1 || missing="$missing go-sendxmpp"
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || fail "missing:$missing; installing needs root"
	command -v apt-get >/dev/null 2>&1 || fail "missing:$missing; apt-get is not available (Debian/Ubuntu only)"

	# Keep the package's postinst from starting a daemon at all. An existing
	# policy-rc.d (Docker images ship one) is left as it is.
	policy=/usr/sbin/policy-rc.d
	own_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	log=$(mktemp)
	cleanup() {
		[ -z "$own_policy" ] || rm -f "$policy"
		rm -f "$log"
	}
	trap cleanup EXIT

	if ! apt-get update >"$log" 2>&1; then
		cat "$log" >&2
		fail "apt-get update failed"
	fi
	# lua5.4-sec (LuaSec), needed for STARTTLS and direct TLS, is a hard
	# dependency of the package. Recommends stay on so CI gets the same
	# package set the harness was developed against.
	# shellcheck disable=SC2086 # one package per word
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >"$log" 2>&1; then
		cat "$log" >&2
		fail "apt-get install$missing failed"
	fi
	command -v prosody >/dev/null 2>&1 || fail "prosody was installed but is not on PATH"
	command -v go-sendxmpp >/dev/null 2>&1 || fail "go-sendxmpp was installed but is not on PATH"
fi

stop_daemon

version=$(dpkg-query -W -f='${Version}' prosody 2>/dev/null || echo unknown)
echo "prosody $version ready at $(command -v prosody), no system daemon running; go-sendxmpp at $(command -v go-sendxmpp)"
