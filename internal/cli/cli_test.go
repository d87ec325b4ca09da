package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/spf13/pflag"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/simulator"
)

type testIO struct {
	ios         *IOStreams
	out, errOut *bytes.Buffer
}

func newTestIO(env map[string]string, stdin string) testIO {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return testIO{
		ios: &IOStreams{In: strings.NewReader(stdin), Out: out, ErrOut: errOut,
			Getenv: func(k string) string { return env[k] }},
		out: out, errOut: errOut,
	}
}

// resolveArgs parses args as 'finessectl check' would, with the run function
// replaced, and resolves them. With wantErr set it asserts a usage error
// holding it and returns ok false; otherwise resolving must succeed.
func resolveArgs(t *testing.T, env map[string]string, stdin string, args []string, wantErr string) (
	opts *CheckOptions, copts check.Options, targets []check.Target, ok bool) {
	t.Helper()
	tio := newTestIO(env, stdin)
	cmd := NewCmdCheck(tio.ios, func(_ context.Context, o *CheckOptions) error { opts = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(tio.out)
	cmd.SetErr(tio.errOut)
	if err := cmd.Execute(); err != nil {
		// A value a flag refuses as it is parsed.
		if wantErr == "" || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("execute: %v, want an error containing %q", err, wantErr)
		}
		return opts, copts, targets, false
	}
	copts, targets, err := opts.resolve()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) || exitCode(err) != 64 {
			t.Fatalf("want usage error containing %q, got %v", wantErr, err)
		}
		return opts, copts, targets, false
	}
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	return opts, copts, targets, true
}

// TestCheckFlags covers flag and environment handling with the run function
// replaced, so nothing touches the network.
func TestCheckFlags(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\nsecond line ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "from-env"}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		stdin    string
		wantErr  string
		wantUser string
		wantPass string
		check    func(*testing.T, check.Options, []check.Target)
	}{
		{name: "env credentials", args: []string{"fin-a"}, env: creds, wantUser: "probe", wantPass: "from-env"},
		{name: "flag user wins", args: []string{"-u", "other", "fin-a"}, env: creds, wantUser: "other", wantPass: "from-env"},
		{name: "password file first line", args: []string{"--password-file", pwFile, "fin-a"}, env: creds, wantUser: "probe", wantPass: "from-file"},
		{name: "password from stdin", args: []string{"--password-file", "-", "fin-a"}, env: map[string]string{"FINESSE_USER": "probe"},
			stdin: "piped\n", wantUser: "probe", wantPass: "piped"},
		{name: "no credentials", args: []string{"fin-a"}, wantErr: "no probe credentials"},
		{name: "user without password", args: []string{"fin-a"}, env: map[string]string{"FINESSE_USER": "1080001"},
			wantErr: `the probe user "1080001" is set, but no password`},
		{name: "presence wait longer than the deadline", args: []string{"-t", "2s", "--presence-timeout", "3s", "fin-a"}, env: creds,
			wantErr: "--presence-timeout 3s is longer than --timeout 2s"},
		{name: "certificate thresholds in days", args: []string{"--cert-warn", "45d", "--cert-crit", "36h", "fin-a"}, env: creds,
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if o.CertWarn != 45*24*time.Hour || o.CertCrit != 36*time.Hour {
					t.Errorf("thresholds %v / %v", o.CertWarn, o.CertCrit)
				}
			}},
		{name: "critical threshold beyond the warning", args: []string{"--cert-warn", "7d", "--cert-crit", "30d", "fin-a"}, env: creds,
			wantErr: "--cert-warn 7d and --cert-crit 30d"},
		{name: "default presence wait shrinks to a short deadline", args: []string{"-t", "1s", "fin-a"}, env: creds,
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if o.PresenceTimeout != time.Second {
					t.Errorf("presence timeout %v, want the 1s deadline", o.PresenceTimeout)
				}
			}},
		{name: "connect-only needs none", args: []string{"--connect-only", "fin-a"},
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if !o.ConnectOnly || o.Password != "" {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "missing password file", args: []string{"--password-file", "/nonexistent/pw", "fin-a"}, env: creds, wantErr: "--password-file"},
		{name: "bad xmpp-tls", args: []string{"--xmpp-tls", "plain", "fin-a"}, env: creds, wantErr: "--xmpp-tls"},
		{name: "transport defaults to auto", args: []string{"fin-a"}, env: creds,
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if o.XMPPTransport != check.TransportAuto || o.XMPPPort != 0 || o.WebSocketPath != "/ws/" || o.BOSHProbe {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "xmpp-port alone means tcp, as before", args: []string{"--xmpp-port", "15223", "fin-a"}, env: creds,
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if o.XMPPTransport != check.TransportTCP || o.XMPPPort != 15223 {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "xmpp-tls alone means tcp, as before", args: []string{"--xmpp-tls", "direct", "fin-a"}, env: creds,
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if o.XMPPTransport != check.TransportTCP || o.XMPPMode != "direct" {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "websocket with a port and path", args: []string{"--xmpp-transport", "websocket", "--xmpp-port", "7443", "--ws-path", "/ws2/", "fin-a"}, env: creds,
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if o.XMPPTransport != check.TransportWebSocket || o.XMPPPort != 7443 || o.WebSocketPath != "/ws2/" {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "require-bosh implies the probe", args: []string{"--require-bosh", "fin-a"}, env: creds,
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if !o.BOSHProbe || !o.RequireBOSH {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "plain 5222 with connect-only", args: []string{"--xmpp-tls", "none", "--connect-only", "fin-a"},
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if o.XMPPTransport != check.TransportTCP || o.XMPPMode != "none" {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "no password without TLS", args: []string{"--xmpp-tls", "none", "fin-a"}, env: creds, wantErr: "--xmpp-tls none needs --connect-only"},
		{name: "auto with its last resort's port", args: []string{"--xmpp-transport", "auto", "--xmpp-port", "15223", "--bosh-port", "17443", "fin-a"}, env: creds,
			check: func(t *testing.T, o check.Options, _ []check.Target) {
				if o.XMPPTransport != check.TransportAuto || o.XMPPPort != 15223 || o.BOSHPort != 17443 {
					t.Errorf("options = %+v", o)
				}
			}},
		{name: "bad bosh port", args: []string{"--bosh-port", "70000", "fin-a"}, env: creds, wantErr: "--bosh-port 70000"},
		{name: "websocket has no starttls", args: []string{"--xmpp-transport", "websocket", "--xmpp-tls", "starttls", "fin-a"}, env: creds, wantErr: "applies to XMPP over TCP"},
		{name: "bad transport", args: []string{"--xmpp-transport", "bosh", "fin-a"}, env: creds, wantErr: "--xmpp-transport"},
		{name: "relative ws path", args: []string{"--xmpp-transport", "websocket", "--ws-path", "ws", "fin-a"}, env: creds, wantErr: "--ws-path"},
		{name: "bad output", args: []string{"-o", "yaml", "fin-a"}, env: creds, wantErr: "--output"},
		{name: "bad color", args: []string{"--color", "sometimes", "fin-a"}, env: creds, wantErr: "--color"},
		{name: "zero timeout", args: []string{"-t", "0s", "fin-a"}, env: creds, wantErr: "positive"},
		{name: "bad server", args: []string{"http://fin-a:8082"}, env: creds, wantErr: "HTTPS only"},
		{name: "ca file without certs", args: []string{"--ca-file", pwFile, "fin-a"}, env: creds, wantErr: "no PEM certificate"},
		{name: "starttls defaults", args: []string{"--xmpp-tls", "starttls", "-t", "4s", "--presence-timeout", "1500ms", "fin-a", "fin-b:9443"}, env: creds,
			check: func(t *testing.T, o check.Options, tg []check.Target) {
				if o.XMPPMode != "starttls" || o.Timeout != 4*time.Second || o.PresenceTimeout != 1500*time.Millisecond {
					t.Errorf("options = %+v", o)
				}
				if len(tg) != 2 || tg[1].HTTPSPort != 9443 {
					t.Errorf("targets = %+v", tg)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, copts, targets, ok := resolveArgs(t, tt.env, tt.stdin, tt.args, tt.wantErr)
			if !ok {
				return
			}
			if tt.wantUser != "" && (copts.User != tt.wantUser || copts.Password != tt.wantPass) {
				t.Errorf("credentials = %q/%q, want %q/%q", copts.User, copts.Password, tt.wantUser, tt.wantPass)
			}
			if tt.check != nil {
				tt.check(t, copts, targets)
			}
		})
	}
}

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		want      int
		stdoutHas string
		stderrHas string
	}{
		{name: "version", args: []string{"--version"}, want: 0, stdoutHas: "finessectl v9.9.9"},
		{name: "help", args: []string{"check", "--help"}, want: 0, stdoutHas: "FINESSE_PASSWORD"},
		{name: "help lists exit codes", args: []string{"check", "--help"}, want: 0, stdoutHas: "  31  no presence of the 'finesse' user"},
		{name: "exit codes topic", args: []string{"help", "exit-codes"}, want: 0, stdoutHas: "31  no presence"},
		{name: "no servers", args: []string{"check"}, want: 64, stderrHas: "at least one SERVER"},
		{name: "unknown flag", args: []string{"check", "--bogus"}, want: 64, stderrHas: "Run 'finessectl check --help'"},
		{name: "unknown command", args: []string{"chekc"}, want: 64, stderrHas: "unknown command"},
		{name: "completion", args: []string{"completion", "bash"}, want: 0, stdoutHas: "__start_finessectl"},
		{name: "zsh completion", args: []string{"completion", "zsh"}, want: 0, stdoutHas: "#compdef finessectl"},
		{name: "fish completion", args: []string{"completion", "fish"}, want: 0, stdoutHas: "complete -c finessectl"},
		{name: "powershell completion", args: []string{"completion", "powershell"}, want: 0, stdoutHas: "Register-ArgumentCompleter"},
		{name: "a choice flag completes its values", args: []string{"__complete", "check", "--xmpp-transport", ""}, want: 0, stdoutHas: "auto\ntcp\nwebsocket\n"},
		{name: "watch completes its own formats", args: []string{"__complete", "watch", "-o", ""}, want: 0, stdoutHas: "text\njson\n:4"},
		{name: "json usage error is a document", args: []string{"check", "-o", "json"}, want: 64,
			stdoutHas: `"exit_code": 64`, stderrHas: "at least one SERVER"},
		{name: "json unknown flag after -o", args: []string{"check", "--output=json", "--bogus", "fin-a"}, want: 64,
			stdoutHas: `"error": "unknown flag: --bogus"`},
		{name: "json unknown flag before -o", args: []string{"check", "--bogus", "-ojson", "fin-a"}, want: 64, stdoutHas: `"servers": []`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tio := newTestIO(nil, "")
			got := Main(context.Background(), tt.args, tio.ios, "v9.9.9")
			if got != tt.want {
				t.Fatalf("exit %d, want %d; stderr: %s", got, tt.want, tio.errOut)
			}
			if !strings.Contains(tio.out.String(), tt.stdoutHas) || !strings.Contains(tio.errOut.String(), tt.stderrHas) {
				t.Fatalf("stdout %q / stderr %q lack %q / %q", tio.out, tio.errOut, tt.stdoutHas, tt.stderrHas)
			}
		})
	}
}

// A run against a refused port goes through the real command path and ends
// with the contract's code, a report on stdout and nothing on stderr.
func TestCheckEndToEndRefused(t *testing.T) {
	tio := newTestIO(nil, "")
	code := Main(context.Background(), []string{"check", "--connect-only", "-o", "json", "127.0.0.1:1"}, tio.ios, "")
	if code != 10 {
		t.Fatalf("exit %d, want 10; stderr %s", code, tio.errOut)
	}
	if !strings.Contains(tio.out.String(), `"exit_code": 10`) || tio.errOut.Len() != 0 {
		t.Fatalf("stdout %s\nstderr %s", tio.out, tio.errOut)
	}
}

// A usage error under -o json writes exactly one JSON document, and text
// mode writes none.
func TestUsageErrorOutputFollowsTheFormat(t *testing.T) {
	for _, tt := range []struct {
		args []string
		json bool
	}{
		{[]string{"check", "-o", "json", "-t", "-1s", "fin-a"}, true},
		{[]string{"check", "-o", "json", "-o", "text", "-t", "-1s", "fin-a"}, false},
		{[]string{"check", "-t", "-1s", "fin-a"}, false},
		{[]string{"check", "-t", "-1s", "--", "-o", "json"}, false},
	} {
		tio := newTestIO(nil, "")
		if code := Main(context.Background(), tt.args, tio.ios, ""); code != 64 {
			t.Fatalf("%v: exit %d, want 64", tt.args, code)
		}
		if !tt.json {
			if tio.out.Len() != 0 {
				t.Errorf("%v: stdout %q, want nothing", tt.args, tio.out)
			}
			continue
		}
		var doc struct {
			ExitCode int             `json:"exit_code"`
			Error    string          `json:"error"`
			Servers  json.RawMessage `json:"servers"`
		}
		if err := json.Unmarshal(tio.out.Bytes(), &doc); err != nil || doc.ExitCode != 64 || doc.Error == "" || string(doc.Servers) != "[]" {
			t.Errorf("%v: document %s (%v)", tt.args, tio.out, err)
		}
	}
}

// -q prints nothing when every server is available and the whole report
// when one is not, whatever the format.
func TestQuiet(t *testing.T) {
	cl, caFile := startSimulator(t, 2, "1080001", "pw-q")
	_, _, secure := cl.Nodes[0].Ports()
	env := map[string]string{"FINESSE_USER": "1080001", "FINESSE_PASSWORD": "pw-q"}
	run := func(format string, extra ...string) (int, string) {
		tio := newTestIO(env, "")
		args := append([]string{"check", "-q", "-o", format, "-t", "2s", "--presence-timeout", "1s",
			"--ca-file", caFile, "--xmpp-port", strconv.Itoa(secure)}, extra...)
		code := Main(context.Background(), append(args, cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr()), tio.ios, "")
		return code, tio.out.String() + tio.errOut.String()
	}
	for _, format := range []string{"text", "json"} {
		if code, out := run(format); code != 0 || out != "" {
			t.Fatalf("%s, healthy: exit %d, output %q; want 0 and nothing", format, code, out)
		}
	}
	if err := cl.SetScenario(1, simulator.WebappDown); err != nil {
		t.Fatal(err)
	}
	if code, out := run("text"); code != 12 || !strings.Contains(out, "NOT AVAILABLE (exit 12)") || !strings.Contains(out, "fully available") {
		t.Fatalf("one node down: exit %d, report:\n%s", code, out)
	}
	if code, out := run("text", "--require", "any"); code != 0 || !strings.Contains(out, "degraded") {
		t.Fatalf("one node down under --require any: exit %d, report:\n%s", code, out)
	}
}

func TestPanicBecomesInternalError(t *testing.T) {
	tio := newTestIO(nil, "")
	root := &cobra.Command{Use: "finessectl", RunE: func(*cobra.Command, []string) error { panic("boom") }}
	code := execute(context.Background(), root, nil, tio.ios)
	if code != 70 {
		t.Fatalf("exit %d, want 70", code)
	}
	if !strings.Contains(tio.errOut.String(), "internal error: boom") || strings.Contains(tio.errOut.String(), "goroutine") {
		t.Fatalf("stderr %q: want a one-line internal error and no stack trace", tio.errOut)
	}
}

func TestColorDecision(t *testing.T) {
	tests := []struct {
		mode string
		tty  bool
		env  map[string]string
		want bool
	}{
		{"auto", true, nil, true},
		{"auto", false, nil, false},
		{"auto", true, map[string]string{"NO_COLOR": "1"}, false},
		{"auto", true, map[string]string{"TERM": "dumb"}, false},
		{"always", false, map[string]string{"NO_COLOR": "1"}, true},
		{"never", true, nil, false},
	}
	for _, tt := range tests {
		ios := &IOStreams{OutIsTerminal: tt.tty, Getenv: func(k string) string { return tt.env[k] }}
		if got := ios.colorEnabled(tt.mode); got != tt.want {
			t.Errorf("mode %s tty %v env %v: colour %v, want %v", tt.mode, tt.tty, tt.env, got, tt.want)
		}
	}
}

// The dial overlaps SystemInfo unless --overlap=false says otherwise.
func TestOverlapFlag(t *testing.T) {
	creds := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw"}
	for _, tc := range []struct {
		args       []string
		sequential bool
	}{
		{nil, false},
		{[]string{"--overlap"}, false},
		{[]string{"--overlap=false"}, true},
	} {
		_, copts, _, _ := resolveArgs(t, creds, "", append(tc.args, "finesse-a.example.test"), "")
		if copts.Sequential != tc.sequential {
			t.Errorf("%v: Sequential %v, want %v", tc.args, copts.Sequential, tc.sequential)
		}
	}
}

// Every flag of check has a row in the README's flag table.
func TestREADMEListsEveryCheckFlag(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	NewCmdCheck(newTestIO(nil, "").ios, nil).Flags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(string(readme), "| `--"+f.Name) && !strings.Contains(string(readme), ", --"+f.Name+"`") &&
			!strings.Contains(string(readme), "/ `-"+f.Shorthand+", --"+f.Name+"`") {
			t.Errorf("README.md's flag table has no row for --%s", f.Name)
		}
	})
}

// The default column of the README's flag table is each flag's default: a
// value in backquotes is the flag's own, "off" and "on" a boolean's, and
// words or placeholders (none, system roots, `$FINESSE_USER`,
// `finesse@<xmppDomain>` ...) a flag whose own default is empty, filled in
// elsewhere.
func TestREADMEFlagDefaults(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(?:-\\w, )?--([a-z-]+)[^`]*`(?: / `[^`]*`)? \\| ([^|]*) \\|")
	defaults := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		defaults[m[1]] = strings.TrimSpace(m[2])
	}
	checked := 0
	NewCmdCheck(newTestIO(nil, "").ios, nil).Flags().VisitAll(func(f *pflag.Flag) {
		doc, ok := defaults[f.Name]
		if !ok {
			return // TestREADMEListsEveryCheckFlag reports it
		}
		checked++
		switch {
		case f.Value.Type() == "bool":
			if want := map[string]string{"false": "off", "true": "on"}[f.DefValue]; doc != want {
				t.Errorf("--%s: README default %q, want %q", f.Name, doc, want)
			}
		case strings.HasPrefix(doc, "`") && strings.HasSuffix(doc, "`") && !strings.ContainsAny(doc[1:len(doc)-1], "`$<"):
			if doc[1:len(doc)-1] != f.DefValue {
				t.Errorf("--%s: README default %s, the flag's is %q", f.Name, doc, f.DefValue)
			}
		case f.DefValue != "" && f.DefValue != "0" && f.DefValue != "[]":
			t.Errorf("--%s: README default %q in words, the flag's is %q", f.Name, doc, f.DefValue)
		}
	})
	if checked < 25 {
		t.Errorf("compared %d defaults; the table's rows were not read", checked)
	}
}

// 'make fuzz' runs every fuzz target of the repository, in its package, and
// the README's table of hostile input names each.
func TestMakeFuzzRunsEveryFuzzTarget(t *testing.T) {
	root := filepath.Join("..", "..")
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	found := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == ".git" || d.Name() == "bin") {
			return cmp.Or(err, filepath.SkipDir)
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllSubmatch(src, -1) {
			found++
			name := string(m[1])
			line := fmt.Sprintf("-fuzz '^%s$$' -fuzztime $(FUZZTIME) ./%s\n", name, filepath.ToSlash(pkg))
			if !strings.Contains(string(makefile), line) {
				t.Errorf("make fuzz does not run %s of ./%s (want a line ending %q)", name, pkg, line)
			}
			if !strings.Contains(string(readme), "`"+name+"`") {
				t.Errorf("README.md does not name %s", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 8 {
		t.Errorf("found %d fuzz targets, want the 8 or more there are", found)
	}
}

// The README's exit-code table is the published contract; it must say what
// the code says.
func TestREADMEListsEveryExitCode(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range finesse.Scenarios {
		row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(strconv.Itoa(int(s.Code))) + ` \| ` + regexp.QuoteMeta(s.Meaning) +
			` \| *` + regexp.QuoteMeta(s.Guide) + ` *\|`)
		if !row.Match(readme) {
			t.Errorf("README.md has no row '| %d | %s | %s |'", s.Code, s.Meaning, s.Guide)
		}
	}
}

// A pair with one node down: --require all fails with that node's code,
// --require any passes and says the pair is degraded, in text and JSON.
func TestRequireAnyOnADegradedPair(t *testing.T) {
	cl, caFile := startSimulator(t, 2, "1080001", "pw-pair")
	if err := cl.SetScenario(1, simulator.WebappDown); err != nil {
		t.Fatal(err)
	}
	_, _, secure := cl.Nodes[0].Ports()
	env := map[string]string{"FINESSE_USER": "1080001", "FINESSE_PASSWORD": "pw-pair"}
	for _, tt := range []struct {
		args []string
		code int
		has  string
	}{
		{[]string{"--require", "all"}, 12, "degraded: every server must pass (--require all); exit 12"},
		{[]string{"--require", "any"}, 0, "degraded: agents can work on the servers that passed (--require any); exit 0"},
		{[]string{"--require", "any", "-o", "json"}, 0, `"verdict": "degraded"`},
		{[]string{"--require", "some"}, 64, ""},
	} {
		tio := newTestIO(env, "")
		args := append(append([]string{"check", "-t", "2s", "--presence-timeout", "1s", "--ca-file", caFile,
			"--xmpp-port", strconv.Itoa(secure)}, tt.args...), cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr())
		if code := Main(context.Background(), args, tio.ios, ""); code != tt.code || !strings.Contains(tio.out.String(), tt.has) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s%s", tt.args, code, tt.code, tt.has, tio.out, tio.errOut)
		}
	}
}

// The README shows the document a usage error writes under -o json; it must
// be exactly what finessectl writes.
func TestREADMEShowsTheUsageErrorDocument(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)reads empty input:\n\n```json\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md lost its usage-error JSON example")
	}
	tio := newTestIO(nil, "")
	if code := Main(context.Background(), []string{"check", "-o", "json"}, tio.ios, ""); code != 64 {
		t.Fatalf("exit %d", code)
	}
	if got := tio.out.String(); got != string(m[1]) {
		t.Fatalf("README shows\n%s\nfinessectl writes\n%s", m[1], got)
	}
}

// -o junit writes a JUnit report through the real command path and keeps
// the exit code of the contract.
func TestJUnitOutputKeepsTheExitCode(t *testing.T) {
	cl, caFile := startSimulator(t, 2, "1080001", "pw-junit")
	if err := cl.SetScenario(1, simulator.WebappDown); err != nil {
		t.Fatal(err)
	}
	_, _, secure := cl.Nodes[0].Ports()
	tio := newTestIO(map[string]string{"FINESSE_USER": "1080001", "FINESSE_PASSWORD": "pw-junit"}, "")
	code := Main(context.Background(), []string{"check", "-o", "junit", "-t", "2s", "--presence-timeout", "1s", "--ca-file", caFile,
		"--xmpp-port", strconv.Itoa(secure), cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr()}, tio.ios, "")
	if code != 12 {
		t.Fatalf("exit %d, want 12\n%s", code, tio.errOut)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Skipped  int `xml:"skipped,attr"`
	}
	if err := xml.Unmarshal(tio.out.Bytes(), &doc); err != nil || doc.Tests != 6 || doc.Failures != 1 || doc.Skipped != 2 {
		t.Fatalf("report %+v (%v):\n%s", doc, err, tio.out)
	}
}

// The README's plugin-mode sample is the golden output of that case.
func TestREADMEShowsTheNagiosGolden(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", "pair-degraded-require-any.nagios.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\\$ finessectl check -o nagios --require any [^\n]*\n(.*?)```").FindSubmatch(readme)
	if m == nil || string(m[1]) != string(golden) {
		t.Fatalf("README's -o nagios sample differs from the golden file:\n%s", golden)
	}
}
