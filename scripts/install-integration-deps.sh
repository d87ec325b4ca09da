#!/bin/sh
# Installs what the integration tests need from Debian's packages, as root:
# prosody (the real XMPP server of internal/prosodytest) and go-sendxmpp (an
# XMPP client nobody here wrote, held against the simulator's Notification
# Service); nagios-check-xmppng (a Nagios plugin for XMPP servers, held
# against the simulator's STARTTLS port and its certificate);
# python3-nagiosplugin, python3-junitparser and libxml2-utils
# (parsers of the nagios and junit output); prometheus (for promtool);
# icinga2-bin and nagios4-core, whose config validators
# (icinga2 daemon -C, nagios4 -v) and perfdata parser check the monitoring
# definitions in contrib/. It makes sure no system-wide Prosody, Icinga 2 or
# Nagios daemon is left running: the tests start their own throwaway servers
# and validators, and a stray daemon would hold ports 5222/5269, run checks
# nobody asked for, and keep state between CI runs. Safe to run repeatedly.
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

# Debian runs both the Icinga 2 and the Nagios 4 daemon as the 'nagios' user.
# The tests never start either daemon (only 'icinga2 daemon -C', 'icinga2
# console' and 'nagios4 -v', which exit at once), and they do not run while
# this script does, so every matching process is a system daemon.
monitoring_pids() {
	id nagios >/dev/null 2>&1 || return 0
	pgrep -u nagios -f '(^|/)icinga2( |$)|(^|/)nagios4( |$)' || true
}

stop_monitoring_daemons() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		for unit in icinga2.service nagios4.service; do
			systemctl is-active --quiet "$unit" 2>/dev/null || continue
			systemctl stop "$unit" >/dev/null 2>&1 || true
		done
	fi
	[ -n "$(monitoring_pids)" ] || return 0
	pids=$(monitoring_pids)
	# shellcheck disable=SC2086 # one pid per word
	kill -TERM $pids 2>/dev/null || true
	i=0
	while [ -n "$(monitoring_pids)" ] && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	pids=$(monitoring_pids)
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.5
	fi
	[ -z "$(monitoring_pids)" ] || fail "a system Icinga 2 or Nagios daemon is still running: $(monitoring_pids)"
}

# The services (init scripts and systemd units) the system has, one a line.
services() {
	{
		ls /etc/init.d 2>/dev/null
		ls /lib/systemd/system /usr/lib/systemd/system 2>/dev/null | sed -n 's/\.service$//p'
	} | sort -u
}

# Keeps a service this script installed from running now or at the next boot.
# A service that was installed before is left enabled or disabled as it was.
# (nagios4-common needs a mailx, bsd-mailx a default-mta: that brings exim4.)
disable_service() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl stop "$1.service" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$1" ]; then
		"/etc/init.d/$1" stop >/dev/null 2>&1 || true
	fi
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable "$1.service" >/dev/null 2>&1 || true
	fi
	if [ -x "/etc/init.d/$1" ] && command -v update-rc.d >/dev/null 2>&1; then
		update-rc.d "$1" disable >/dev/null 2>&1 || true
	fi
}

# nagios4 lives in /usr/sbin, which is not on every user's PATH.
have_nagios4() {
	command -v nagios4 >/dev/null 2>&1 || [ -x /usr/sbin/nagios4 ]
}

check_xmppng=/usr/lib/nagios/plugins/check_xmppng
missing=
command -v prosody >/dev/null 2>&1 && command -v prosodyctl >/dev/null 2>&1 || missing="prosody"
command -v go-sendxmpp >/dev/null 2>&1 || missing="$missing go-sendxmpp"
# Nagios plugins live outside PATH; the plugin runs under the system python3.
[ -x "$check_xmppng" ] || missing="$missing nagios-check-xmppng"
# Independent parsers of finessectl's monitoring and CI output: the Nagios
# plugin library's range parser, a JUnit reader and an XML checker. Debian's
# Python modules live in the system interpreter, whatever python3 PATH finds.
/usr/bin/python3 -c 'import nagiosplugin' >/dev/null 2>&1 || missing="$missing python3-nagiosplugin"
/usr/bin/python3 -c 'import junitparser' >/dev/null 2>&1 || missing="$missing python3-junitparser"
command -v xmllint >/dev/null 2>&1 || missing="$missing libxml2-utils"
# promtool (from Debian's prometheus package, whose daemon is stopped below
# like the others) checks the shipped Prometheus scrape config.
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
missing_monitoring=
command -v icinga2 >/dev/null 2>&1 || missing_monitoring="icinga2-bin"
have_nagios4 || missing_monitoring="$missing_monitoring nagios4-core"
if [ -n "$missing$missing_monitoring" ]; then
	all_missing="$missing $missing_monitoring"
	[ "$(id -u)" -eq 0 ] || fail "missing: $all_missing; installing needs root"
	command -v apt-get >/dev/null 2>&1 || fail "missing: $all_missing; apt-get is not available (Debian/Ubuntu only)"

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
	services_before=$(mktemp)
	cleanup() {
		[ -z "$own_policy" ] || rm -f "$policy"
		rm -f "$log" "$services_before"
	}
	trap cleanup EXIT
	services >"$services_before"

	if ! apt-get update >"$log" 2>&1; then
		cat "$log" >&2
		fail "apt-get update failed"
	fi
	if [ -n "$missing" ]; then
		# lua5.4-sec (LuaSec), needed for STARTTLS and direct TLS, is a hard
		# dependency of the package. Recommends stay on so CI gets the same
		# package set the harness was developed against.
		# shellcheck disable=SC2086 # one package per word
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y $missing >"$log" 2>&1; then
			cat "$log" >&2
			fail "apt-get install $missing failed"
		fi
		command -v prosody >/dev/null 2>&1 || fail "prosody was installed but is not on PATH"
		command -v go-sendxmpp >/dev/null 2>&1 || fail "go-sendxmpp was installed but is not on PATH"
		[ -x "$check_xmppng" ] || fail "nagios-check-xmppng was installed but $check_xmppng is missing"
	fi
	if [ -n "$missing_monitoring" ]; then
		# Only the binaries are needed: without Recommends, nagios4-common
		# does not pull in the whole monitoring-plugins set, and no web
		# frontend comes along.
		# shellcheck disable=SC2086 # one package per word
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing_monitoring >"$log" 2>&1; then
			cat "$log" >&2
			fail "apt-get install $missing_monitoring failed"
		fi
		command -v icinga2 >/dev/null 2>&1 || fail "icinga2 was installed but is not on PATH"
		have_nagios4 || fail "nagios4 was installed but is neither on PATH nor in /usr/sbin"
	fi
	# Prosody is stopped below in any case; every service this run added
	# (prosody, icinga2, nagios4, exim4, ...) is also kept from starting at boot.
	for service in $(services | comm -13 "$services_before" -); do
		disable_service "$service"
	done
fi

stop_daemon
stop_monitoring_daemons

version=$(dpkg-query -W -f='${Version}' prosody 2>/dev/null || echo unknown)
echo "prosody $version ready at $(command -v prosody), no system daemon running; go-sendxmpp at $(command -v go-sendxmpp)"
echo "check_xmppng $(dpkg-query -W -f='${Version}' nagios-check-xmppng 2>/dev/null || echo unknown) at $check_xmppng"
nagios4=$(command -v nagios4 2>/dev/null || echo /usr/sbin/nagios4)
echo "icinga2 $(dpkg-query -W -f='${Version}' icinga2-bin 2>/dev/null || echo unknown) at $(command -v icinga2), nagios4 $(dpkg-query -W -f='${Version}' nagios4-core 2>/dev/null || echo unknown) at $nagios4, no monitoring daemon running"
