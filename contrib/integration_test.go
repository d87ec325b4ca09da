//go:build integration

package contrib_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests hold contrib/icinga2 and contrib/nagios to the real tools from
// Debian's icinga2-bin and nagios4-core (scripts/install-integration-deps.sh
// installs them): each validator accepts the shipped file and rejects a broken
// copy of it, each daemon runs the command with the arguments finessectl
// expects, and Icinga 2's own perfdata parser reads the perfdata format of
// 'finessectl check -o nagios'. Everything runs as the current user in temp
// directories; nothing is written under /etc or /var, and no daemon outlives
// its test.

const toolTimeout = 30 * time.Second

// tool finds a program on PATH or in /usr/sbin (not on every user's PATH),
// and fails the test when it is missing: these tests never skip.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/sbin", name); isExecutable(p) {
		return p
	}
	t.Fatalf("%s not installed: run scripts/install-integration-deps.sh", name)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func contribFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func currentUserGroup(t *testing.T) (string, string) {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	return u.Username, g.Name
}

// run runs a tool to completion and returns its combined output and exit code.
func run(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit) && ctx.Err() == nil:
		return string(out), exit.ExitCode()
	default:
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
		return "", -1
	}
}

// fakePlugin writes an executable that records its arguments, one a line,
// then its FINESSE_* environment, to record, and answers like
// 'finessectl check -o nagios'.
func fakePlugin(t *testing.T, dir, record string) string {
	t.Helper()
	p := filepath.Join(dir, "fake-finessectl")
	writeFile(t, p, `#!/bin/sh
{
	for a in "$@"; do printf 'ARG %s\n' "$a"; done
	env | grep '^FINESSE_' | sort | sed 's/^/ENV /'
} > '`+record+`.tmp' && mv '`+record+`.tmp' '`+record+`'
echo "FINESSE OK - 2 of 2 servers fully available|'duration'=0.084s;5;10;0;"
exit 0
`, 0o755)
	return p
}

// runDaemonUntil starts a daemon in its own process group, waits until file
// exists (the fake plugin ran), then stops the whole group, and returns the
// file's lines. The daemon's output is in the failure message.
func runDaemonUntil(t *testing.T, file string, name string, args ...string) []string {
	t.Helper()
	// Workers the daemon forks are reparented to this process, not to init,
	// when the daemon ends, so that they can be reaped below: an init that
	// does not reap (as in some containers) would keep them as zombies.
	setSubreaper(t, true)
	defer setSubreaper(t, false)

	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		// The daemon itself, not its group: signalled directly, Icinga 2's
		// worker process would leave the umbrella process waiting for it.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		// Workers the daemon forked may outlive it briefly.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		reapOrphans()
	}

	deadline := time.Now().Add(toolTimeout)
	for {
		b, err := os.ReadFile(file)
		if err == nil {
			stop()
			return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		}
		select {
		case err := <-exited:
			exited <- err
			stop()
			t.Fatalf("%s exited (%v) before running the check:\n%s", name, err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("%s did not run the check within %v:\n%s", name, toolTimeout, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER, linux/prctl.h

func setSubreaper(t *testing.T, on bool) {
	t.Helper()
	var v uintptr
	if on {
		v = 1
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, v, 0); errno != 0 {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
}

// reapOrphans waits, for up to five seconds, for the processes a daemon left
// behind and that were reparented to this process. Nagios's workers move to
// process groups of their own, so this waits for any child: the tests of this
// package run one at a time, and the daemon itself was already waited for.
func reapOrphans() {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
		case err != nil: // ECHILD: none left
			return
		case pid == 0: // some still running
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// recorded splits a fake plugin's record into its argument list and its
// FINESSE_* environment.
func recorded(lines []string) (args []string, env map[string]string) {
	env = map[string]string{}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "ARG "):
			args = append(args, strings.TrimPrefix(l, "ARG "))
		case strings.HasPrefix(l, "ENV "):
			k, v, _ := strings.Cut(strings.TrimPrefix(l, "ENV "), "=")
			env[k] = v
		}
	}
	return args, env
}

// assertFlag asserts that flag is followed by value in args.
func assertFlag(t *testing.T, args []string, flag, value string) {
	t.Helper()
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) || args[i+1] != value {
		t.Errorf("argument %s %s missing in %q", flag, value, args)
	}
}

// ---------------------------------------------------------------- Icinga 2

// icinga2Env is a throwaway Icinga 2 instance: every path Icinga would take
// from /var points into a temp dir, and it runs as the current user.
type icinga2Env struct {
	bin     string
	dir     string
	defines []string
}

func newIcinga2Env(t *testing.T) *icinga2Env {
	t.Helper()
	e := &icinga2Env{bin: tool(t, "icinga2"), dir: t.TempDir()}
	usr, grp := currentUserGroup(t)
	e.defines = []string{"-DRunAsUser=" + usr, "-DRunAsGroup=" + grp}
	for _, d := range []string{"DataDir", "LogDir", "CacheDir", "SpoolDir", "InitRunDir"} {
		p := filepath.Join(e.dir, strings.ToLower(strings.TrimSuffix(d, "Dir")))
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		e.defines = append(e.defines, "-D"+d+"="+p)
	}
	return e
}

// config writes a minimal icinga2.conf: the constants the ITL needs, the
// ITL and the plugin commands, the given include, a Host standing for a
// Finesse pair that the example apply rule assigns its Service to, and extra.
func (e *icinga2Env) config(t *testing.T, include, extra string) string {
	t.Helper()
	conf := filepath.Join(e.dir, "icinga2.conf")
	writeFile(t, conf, fmt.Sprintf(`const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "/usr/lib/nagios/plugins"
const NodeName = "localhost"
const ZoneName = "localhost"
const TicketSalt = ""

include <itl>
include <plugins>

include %q

object Host "finesse-site1" {
	check_command = "hostalive"
	address = "finesse-a.example.com"
	enable_active_checks = false
	vars.finesse_servers = [ "finesse-a.example.com", "finesse-b.example.com" ]
	vars.finesse_user = "1080001"
	vars.finesse_ca_file = "/etc/finessectl/tomcat-ca.pem"
}
%s`, include, extra), 0o644)
	return conf
}

func (e *icinga2Env) args(args ...string) []string {
	return append(args, e.defines...)
}

func TestIcinga2ValidatesCheckCommand(t *testing.T) {
	e := newIcinga2Env(t)
	shipped := contribFile(t, "icinga2/finessectl.conf")
	conf := e.config(t, shipped, "")

	out, code := run(t, e.bin, e.args("daemon", "-C", "-c", conf)...)
	if code != 0 {
		t.Fatalf("icinga2 daemon -C exit %d, want 0:\n%s", code, out)
	}
	for _, want := range []string{"Instantiated 1 Service.", "Instantiated 1 Host.", "Finished validating the configuration file(s)."} {
		if !strings.Contains(out, want) {
			t.Errorf("icinga2 daemon -C does not report %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "warning/") {
		t.Errorf("icinga2 daemon -C warns:\n%s", out)
	}

	// The objects as Icinga compiled them (object list reads the cache
	// that daemon -C wrote to CacheDir).
	out, code = run(t, e.bin, e.args("object", "list", "--type", "CheckCommand", "--name", "finessectl")...)
	if code != 0 || !strings.Contains(out, "Object 'finessectl' of type 'CheckCommand'") {
		t.Fatalf("icinga2 object list does not report the CheckCommand (exit %d):\n%s", code, out)
	}
	for _, want := range []string{
		`* command = [ "$finessectl_binary$", "check", "-o", "nagios" ]`,
		`* FINESSE_USER = "$finessectl_user$"`,
		`* finessectl_require = "any"`,
		`* skip_key = true`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the compiled CheckCommand lacks %s:\n%s", want, out)
		}
	}
	out, code = run(t, e.bin, e.args("object", "list", "--type", "Service")...)
	if code != 0 || !strings.Contains(out, "Object 'finesse-site1!finesse' of type 'Service'") {
		t.Fatalf("icinga2 object list does not report the example Service (exit %d):\n%s", code, out)
	}
	for _, want := range []string{
		`* check_command = "finessectl"`,
		`* finessectl_servers = [ "finesse-a.example.com", "finesse-b.example.com" ]`,
		`* finessectl_require = "any"`,
		`* finessectl_user = "1080001"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the compiled example Service lacks %s:\n%s", want, out)
		}
	}
}

// The validator must reject what is wrong, or the test above proves nothing.
func TestIcinga2RejectsBrokenCheckCommand(t *testing.T) {
	text := readFile(t, contribFile(t, "icinga2/finessectl.conf"))
	for _, c := range []struct{ name, old, new, want string }{
		{"unknown attribute", `object CheckCommand "finessectl" {`, "object CheckCommand \"finessectl\" {\n\tfrobnicate = true", "frobnicate"},
		{"unknown argument attribute", `skip_key = true`, `skip_keys = true`, "skip_keys"},
		{"duplicate CheckCommand", `apply Service "finesse" {`, "object CheckCommand \"finessectl\" {\n}\napply Service \"finesse\" {", "finessectl"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(text, c.old) {
				t.Fatalf("icinga2/finessectl.conf no longer contains %q", c.old)
			}
			e := newIcinga2Env(t)
			broken := filepath.Join(e.dir, "finessectl.conf")
			writeFile(t, broken, strings.Replace(text, c.old, c.new, 1), 0o644)
			out, code := run(t, e.bin, e.args("daemon", "-C", "-c", e.config(t, broken, ""))...)
			if code == 0 {
				t.Fatalf("icinga2 daemon -C accepted a broken copy (%s):\n%s", c.name, out)
			}
			if !strings.Contains(out, "Config validation failed") || !strings.Contains(out, c.want) {
				t.Errorf("icinga2 daemon -C exit %d without naming %q:\n%s", code, c.want, out)
			}
		})
	}
}

// The Icinga 2 daemon runs the CheckCommand (a fake finessectl that records
// its arguments): the servers array comes last as positional arguments, the
// switches follow set_if, the user is in the environment and the password in
// no argument.
func TestIcinga2RunsCheckCommand(t *testing.T) {
	e := newIcinga2Env(t)
	record := filepath.Join(e.dir, "argv")
	fake := fakePlugin(t, e.dir, record)
	pwFile := filepath.Join(e.dir, "probe.pw")
	writeFile(t, pwFile, "s3cret-pw\n", 0o600)

	conf := e.config(t, contribFile(t, "icinga2/finessectl.conf"), fmt.Sprintf(`
object CheckerComponent "checker" { }

object Host "argv-probe" {
	check_command = "dummy"
	enable_active_checks = false
}

object Service "argv" {
	host_name = "argv-probe"
	check_command = "finessectl"
	check_interval = 1s
	vars.finessectl_binary = %q
	vars.finessectl_password_file = %q
	vars.finessectl_servers = [ "finesse-a.example.com", "finesse-b.example.com:8445" ]
	vars.finessectl_user = "1080001"
	vars.finessectl_peers = true
	vars.finessectl_connect_only = false
	vars.finessectl_warning = "5"
	vars.finessectl_critical = "10"
	vars.finessectl_xmpp_tls = "starttls"
	vars.finessectl_xmpp_port = 5222
	vars.finessectl_cert_warn = "720h"
	vars.finessectl_cert_crit = "168h"
}
`, fake, pwFile))

	lines := runDaemonUntil(t, record, e.bin, e.args("daemon", "-c", conf)...)
	args, env := recorded(lines)
	t.Logf("icinga2 ran: %q with %v", args, env)

	if len(args) < 5 || !slices.Equal(args[:3], []string{"check", "-o", "nagios"}) {
		t.Fatalf("arguments %q do not start with check -o nagios", args)
	}
	if got := args[len(args)-2:]; !slices.Equal(got, []string{"finesse-a.example.com", "finesse-b.example.com:8445"}) {
		t.Errorf("the servers are not the last arguments, one each: %q", args)
	}
	assertFlag(t, args, "--require", "any")
	assertFlag(t, args, "--timeout", "10s")
	assertFlag(t, args, "--warning", "5")
	assertFlag(t, args, "--critical", "10")
	assertFlag(t, args, "--xmpp-tls", "starttls")
	assertFlag(t, args, "--xmpp-port", "5222")
	assertFlag(t, args, "--cert-warn", "720h")
	assertFlag(t, args, "--cert-crit", "168h")
	assertFlag(t, args, "--password-file", pwFile)
	if !slices.Contains(args, "--peers") {
		t.Errorf("--peers (set_if true) missing in %q", args)
	}
	for _, absent := range []string{"--connect-only", "--ca-file", "--presence-timeout", "--user", "s3cret-pw"} {
		if slices.Contains(args, absent) {
			t.Errorf("%s in %q", absent, args)
		}
	}
	if env["FINESSE_USER"] != "1080001" {
		t.Errorf("FINESSE_USER is %q, want 1080001 (environment %v)", env["FINESSE_USER"], env)
	}
	if _, ok := env["FINESSE_PASSWORD"]; ok {
		t.Errorf("FINESSE_PASSWORD is in the environment: %v", env)
	}
}

// icingaParsesPerfdata asserts that Icinga 2's own parser,
// parse_performance_data() evaluated by 'icinga2 console --eval' (local,
// no API needed), reads every space-separated item of perfdata (the part of
// a plugin's first line after '|') into a PerfdataValue with the item's label
// and a numeric value. As a control, it also asserts that the parser rejects
// an obviously broken item ('a'=1x2s), so a parser that accepts anything
// cannot pass for one that accepted this perfdata.
func icingaParsesPerfdata(t *testing.T, perfdata string) {
	t.Helper()
	bin := tool(t, "icinga2")
	parse := func(item string) (map[string]any, string, error) {
		// The item reaches the DSL as a constant, not spliced into an
		// expression, so its quotes need no escaping.
		ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "console", "-DFinessectlPerfdataItem="+item,
			"--eval", "parse_performance_data(FinessectlPerfdataItem)")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		out := strings.TrimSpace(stdout.String() + stderr.String())
		if err != nil {
			return nil, out, err
		}
		var v map[string]any
		if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &v); err != nil {
			return nil, out, fmt.Errorf("not a dictionary: %v", err)
		}
		return v, out, nil
	}

	items := perfdataItems(perfdata)
	if len(items) == 0 {
		t.Fatalf("no perfdata items in %q", perfdata)
	}
	for _, item := range items {
		v, out, err := parse(item)
		if err != nil {
			t.Errorf("Icinga 2 does not parse perfdata item %q: %v\n%s", item, err, out)
			continue
		}
		eq := strings.LastIndexByte(item, '=')
		label := item[:eq]
		if len(label) >= 2 && label[0] == '\'' && label[len(label)-1] == '\'' {
			label = label[1 : len(label)-1]
		}
		if v["type"] != "PerfdataValue" || v["label"] != label {
			t.Errorf("Icinga 2 reads perfdata item %q as %v, want a PerfdataValue labelled %q", item, v, label)
		}
		if _, ok := v["value"].(float64); !ok {
			t.Errorf("Icinga 2 reads perfdata item %q with value %v (%T), want a number", item, v["value"], v["value"])
		}
	}

	const broken = `'a'=1x2s`
	if v, out, err := parse(broken); err == nil {
		t.Errorf("control: Icinga 2 parses the broken perfdata item %q as %v; the check above proves nothing\n%s", broken, v, out)
	}
}

// perfdataItems splits perfdata at spaces outside single-quoted labels (a
// label may contain spaces, and two single quotes stand for one inside it).
func perfdataItems(perfdata string) []string {
	var items []string
	var cur strings.Builder
	quoted := false
	for _, r := range perfdata {
		switch {
		case r == '\'':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				items = append(items, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		items = append(items, cur.String())
	}
	return items
}

func TestIcingaParsesPerfdata(t *testing.T) {
	// The exact format 'finessectl check -o nagios' prints after '|'.
	icingaParsesPerfdata(t, `'finesse-a.example.com_systeminfo'=0.021s;;;0; 'finesse-a.example.com_available'=1;;;0;1 'duration'=0.084s;5;10;0;`)
}

func TestPerfdataItems(t *testing.T) {
	got := perfdataItems(`'a b'=1s;;;0; c=2  'd''e'=3`)
	want := []string{`'a b'=1s;;;0;`, `c=2`, `'d''e'=3`}
	if !slices.Equal(got, want) {
		t.Errorf("perfdataItems = %q, want %q", got, want)
	}
}

// ---------------------------------------------------------------- Nagios

// nagiosEnv is a throwaway Nagios Core: a nagios.cfg whose every path is in a
// temp dir, running as the current user, with the minimal objects the example
// service needs (the generic-service template of Nagios's sample config, a
// contact, a time period, the host for the pair).
type nagiosEnv struct {
	bin string
	dir string
}

func newNagiosEnv(t *testing.T) *nagiosEnv {
	t.Helper()
	return &nagiosEnv{bin: tool(t, "nagios4"), dir: t.TempDir()}
}

func (e *nagiosEnv) config(t *testing.T, include, extraMain string) string {
	t.Helper()
	usr, grp := currentUserGroup(t)
	objects := filepath.Join(e.dir, "objects.cfg")
	writeFile(t, objects, `define timeperiod {
    timeperiod_name 24x7
    alias           24 hours a day, 7 days a week
    sunday          00:00-24:00
    monday          00:00-24:00
    tuesday         00:00-24:00
    wednesday       00:00-24:00
    thursday        00:00-24:00
    friday          00:00-24:00
    saturday        00:00-24:00
}

define command {
    command_name notify-none
    command_line /bin/true
}

define contact {
    contact_name                  nagiosadmin
    host_notifications_enabled    0
    service_notifications_enabled 0
    host_notification_period      24x7
    service_notification_period   24x7
    host_notification_options     n
    service_notification_options  n
    host_notification_commands    notify-none
    service_notification_commands notify-none
}

define service {
    name                  generic-service
    register              0
    max_check_attempts    3
    check_interval        10
    retry_interval        2
    check_period          24x7
    notification_interval 60
    notification_period   24x7
    contacts              nagiosadmin
}

define host {
    host_name             finesse-site1
    address               finesse-a.example.com
    max_check_attempts    1
    check_period          24x7
    contacts              nagiosadmin
    notification_interval 0
    notification_period   24x7
}
`, 0o644)
	resource := filepath.Join(e.dir, "resource.cfg")
	writeFile(t, resource, "$USER1$=/usr/lib/nagios/plugins\n$USER3$="+filepath.Join(e.dir, "probe.pw")+"\n", 0o600)
	main := filepath.Join(e.dir, "nagios.cfg")
	p := func(name string) string { return filepath.Join(e.dir, name) }
	writeFile(t, main, fmt.Sprintf(`cfg_file=%s
cfg_file=%s
resource_file=%s
nagios_user=%s
nagios_group=%s
log_file=%s
temp_file=%s
temp_path=%s
check_result_path=%s
status_file=%s
state_retention_file=%s
object_cache_file=%s
precached_object_file=%s
command_file=%s
query_socket=%s
lock_file=%s
check_external_commands=0
illegal_macro_output_chars=`+"`~$&|'\"<>"+`
%s`, objects, include, resource, usr, grp, p("nagios.log"), p("nagios.tmp"), e.dir, e.dir, p("status.dat"),
		p("retention.dat"), p("objects.cache"), p("objects.precache"), p("nagios.cmd"), p("nagios.qh"), p("nagios.lock"),
		extraMain), 0o644)
	return main
}

func TestNagiosValidatesCommand(t *testing.T) {
	e := newNagiosEnv(t)
	conf := e.config(t, contribFile(t, "nagios/finessectl.cfg"), "")
	out, code := run(t, e.bin, "-v", conf)
	if code != 0 || !strings.Contains(out, "Things look okay") {
		t.Fatalf("nagios4 -v exit %d, want 0 and 'Things look okay':\n%s", code, out)
	}
	for _, want := range []string{"Checked 1 services.", "Checked 2 commands.", "Total Warnings: 0", "Total Errors:   0"} {
		if !strings.Contains(out, want) {
			t.Errorf("nagios4 -v does not report %q:\n%s", want, out)
		}
	}
}

func TestNagiosRejectsBrokenCommand(t *testing.T) {
	text := readFile(t, contribFile(t, "nagios/finessectl.cfg"))
	for _, c := range []struct{ name, old, new, want string }{
		{"unknown directive", "command_name    check_finessectl", "command_name    check_finessectl\n    frobnicate      1", "frobnicate"},
		{"service of an unknown command", "check_command           check_finessectl!", "check_command           check_finesse!", "check_finesse"},
		{"service of an unknown host", "host_name               finesse-site1", "host_name               finesse-site2", "finesse-site2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(text, c.old) {
				t.Fatalf("nagios/finessectl.cfg no longer contains %q", c.old)
			}
			e := newNagiosEnv(t)
			broken := filepath.Join(e.dir, "finessectl.cfg")
			writeFile(t, broken, strings.Replace(text, c.old, c.new, 1), 0o644)
			out, code := run(t, e.bin, "-v", e.config(t, broken, ""))
			if code == 0 || strings.Contains(out, "Things look okay") {
				t.Fatalf("nagios4 -v accepted a broken copy (%s):\n%s", c.name, out)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("nagios4 -v exit %d without naming %q:\n%s", code, c.want, out)
			}
		})
	}
}

// Nagios runs the example service's command (with the binary path pointed at
// a fake finessectl that records its arguments): the user and the password
// file arrive as single arguments, the servers as one argument each.
func TestNagiosRunsCommand(t *testing.T) {
	e := newNagiosEnv(t)
	record := filepath.Join(e.dir, "argv")
	fake := fakePlugin(t, e.dir, record)
	writeFile(t, filepath.Join(e.dir, "probe.pw"), "s3cret-pw\n", 0o600)

	shipped := readFile(t, contribFile(t, "nagios/finessectl.cfg"))
	const binary = "/usr/local/bin/finessectl "
	if !strings.Contains(shipped, binary) {
		t.Fatalf("nagios/finessectl.cfg no longer runs %s", binary)
	}
	copyCfg := filepath.Join(e.dir, "finessectl.cfg")
	writeFile(t, copyCfg, strings.Replace(shipped, binary, fake+" ", 1), 0o644)
	// Intervals in seconds, and the first check at once.
	conf := e.config(t, copyCfg, "interval_length=1\nmax_service_check_spread=1\nmax_host_check_spread=1\nexecute_host_checks=0\nenable_notifications=0\n")

	args, env := recorded(runDaemonUntil(t, record, e.bin, conf))
	t.Logf("nagios4 ran: %q", args)
	if len(args) < 5 || !slices.Equal(args[:3], []string{"check", "-o", "nagios"}) {
		t.Fatalf("arguments %q do not start with check -o nagios", args)
	}
	if got := args[len(args)-2:]; !slices.Equal(got, []string{"finesse-a.example.com", "finesse-b.example.com"}) {
		t.Errorf("the servers are not the last arguments, one each: %q", args)
	}
	assertFlag(t, args, "--user", "1080001")
	assertFlag(t, args, "--password-file", filepath.Join(e.dir, "probe.pw"))
	assertFlag(t, args, "--require", "any")
	assertFlag(t, args, "--ca-file", "/etc/finessectl/tomcat-ca.pem")
	assertFlag(t, args, "-w", "5")
	// A critical duration range below --timeout would make a pair with one
	// silent node CRITICAL instead of WARNING.
	if slices.Contains(args, "-c") || slices.Contains(args, "--critical") {
		t.Errorf("the example service sets a critical duration: %q", args)
	}
	if slices.Contains(args, "s3cret-pw") {
		t.Errorf("the password is an argument: %q", args)
	}
	if _, ok := env["FINESSE_PASSWORD"]; ok {
		t.Errorf("FINESSE_PASSWORD is in the environment: %v", env)
	}
}
