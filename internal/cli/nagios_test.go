package cli

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/finessectl/finessectl/internal/nagios"
	"github.com/finessectl/finessectl/internal/simulator"
)

// Flags of the plugin mode, resolved with the run function replaced.
func TestNagiosFlags(t *testing.T) {
	creds := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw"}
	tests := []struct {
		name               string
		args               []string
		wantErr            string
		wantWarn, wantCrit string // canonical ranges; "" = none
	}{
		{name: "no thresholds", args: []string{"-o", "nagios", "fin-a"}},
		{name: "long flags", args: []string{"-o", "nagios", "--warning", "5", "--critical", "10", "fin-a"}, wantWarn: "5", wantCrit: "10"},
		{name: "attached shorthands", args: []string{"-onagios", "-w10", "-c1:", "fin-a"}, wantWarn: "10", wantCrit: "1:"},
		{name: "ranges", args: []string{"-o", "nagios", "-w", "@10:20", "-c", "~:30.5", "fin-a"}, wantWarn: "@10:20", wantCrit: "~:30.5"},
		{name: "negative start as the next argument", args: []string{"-o", "nagios", "-w", "-5:5", "fin-a"}, wantWarn: "-5:5"},
		{name: "empty is not given", args: []string{"-o", "nagios", "-w", "", "fin-a"}},
		{name: "bad warning", args: []string{"-o", "nagios", "-w", "abc", "fin-a"}, wantErr: `--warning: threshold "abc"`},
		{name: "start after end", args: []string{"-o", "nagios", "-c", "20:10", "fin-a"}, wantErr: "--critical: threshold \"20:10\": start is greater than end"},
		{name: "thresholds without nagios", args: []string{"-w", "5", "fin-a"}, wantErr: "apply to -o nagios only"},
		{name: "thresholds with json", args: []string{"-o", "json", "-c", "5", "fin-a"}, wantErr: "apply to -o nagios only"},
		{name: "quiet refused", args: []string{"-o", "nagios", "-q", "fin-a"}, wantErr: "must always print its status line"},
		{name: "unknown format lists nagios", args: []string{"-o", "yaml", "fin-a"}, wantErr: "use text, json, nagios"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _, ok := resolveArgs(t, creds, "", tt.args, tt.wantErr)
			if !ok {
				return
			}
			if s := rangeString(got.warn); s != tt.wantWarn {
				t.Errorf("warning %q, want %q", s, tt.wantWarn)
			}
			if s := rangeString(got.crit); s != tt.wantCrit {
				t.Errorf("critical %q, want %q", s, tt.wantCrit)
			}
		})
	}
}

func rangeString(r *nagios.Range) string {
	if r == nil {
		return ""
	}
	return r.String()
}

// In plugin mode nothing but 0-3 leaves the process, and whatever went
// wrong is one stdout line: Nagios does not read stderr, Icinga 2 mixes it in.
func TestNagiosUsageErrorsAreUnknown(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		want      int
		stdoutHas string // for an error: the text after "FINESSE UNKNOWN - "
		helpLike  bool   // stdout is help or version text, not a plugin line
	}{
		{name: "no servers", args: []string{"check", "-o", "nagios"}, want: 3, stdoutHas: "check needs at least one SERVER"},
		{name: "unknown flag after -o", args: []string{"check", "-o", "nagios", "--bogus", "fin-a"}, want: 3, stdoutHas: "unknown flag: --bogus"},
		{name: "unknown flag before -o", args: []string{"check", "--bogus", "--output=nagios", "fin-a"}, want: 3, stdoutHas: "unknown flag: --bogus"},
		{name: "flag without its value", args: []string{"check", "fin-a", "-o", "nagios", "-t"}, want: 3, stdoutHas: "flag needs an argument"},
		{name: "-o in a shorthand group", args: []string{"check", "-kqonagios", "fin-a"}, want: 3, stdoutHas: "-q/--quiet does not apply"},
		{name: "bad range", args: []string{"check", "-o", "nagios", "-w", "abc", "fin-a"}, want: 3, stdoutHas: `--warning: threshold "abc"`},
		{name: "bad timeout", args: []string{"check", "-o", "nagios", "-t", "-1s", "fin-a"}, want: 3, stdoutHas: "must be positive"},
		{name: "missing credentials", args: []string{"check", "-o", "nagios", "fin-a"}, want: 3, stdoutHas: "no probe credentials. Give"},
		{name: "not a check command line", args: []string{"--version", "-o", "nagios"}, want: 3, stdoutHas: `unknown command "nagios"`},
		{name: "help", args: []string{"check", "--help", "-o", "nagios"}, want: 3, stdoutHas: "-o nagios makes finessectl a monitoring plugin", helpLike: true},
		{name: "-h", args: []string{"check", "-o", "nagios", "-h"}, want: 3, stdoutHas: "Usage:", helpLike: true},
		{name: "version", args: []string{"check", "--version", "-o", "nagios"}, want: 3, stdoutHas: "finessectl v9.9.9", helpLike: true},
		// Without -o nagios the contract's codes stay.
		{name: "version without nagios", args: []string{"check", "--version"}, want: 0, stdoutHas: "finessectl v9.9.9", helpLike: true},
		{name: "-o nagios after --", args: []string{"check", "-t", "-1s", "--", "-o", "nagios"}, want: 64, stdoutHas: "", helpLike: true},
		{name: "nagios overridden", args: []string{"check", "-o", "nagios", "-o", "text", "-t", "-1s", "fin-a"}, want: 64, stdoutHas: "", helpLike: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tio := newTestIO(nil, "")
			got := Main(context.Background(), tt.args, tio.ios, "v9.9.9")
			if got != tt.want {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", got, tt.want, tio.out, tio.errOut)
			}
			out := tio.out.String()
			if tt.helpLike {
				if !strings.Contains(out, tt.stdoutHas) {
					t.Fatalf("stdout lacks %q:\n%s", tt.stdoutHas, out)
				}
				return
			}
			want := "FINESSE UNKNOWN - "
			if !strings.HasPrefix(out, want) || !strings.Contains(out, tt.stdoutHas) || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
				t.Fatalf("stdout %q: want one line %q...%q", out, want, tt.stdoutHas)
			}
			if tio.errOut.Len() != 0 {
				t.Errorf("stderr %q, want nothing", tio.errOut)
			}
		})
	}
}

func TestNagiosPanicIsUnknown(t *testing.T) {
	tio := newTestIO(nil, "")
	root := &cobra.Command{Use: "finessectl", RunE: func(*cobra.Command, []string) error { panic("boom") }}
	root.Flags().StringP("output", "o", "", "")
	if code := execute(context.Background(), root, []string{"-o", "nagios"}, tio.ios); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	if got := tio.out.String(); got != "FINESSE UNKNOWN - internal error: boom\n" || tio.errOut.Len() != 0 {
		t.Fatalf("stdout %q, stderr %q", got, tio.errOut)
	}
}

// The help texts say that the plugin mode has codes of its own.
func TestNagiosHelpTexts(t *testing.T) {
	for _, tt := range []struct {
		args []string
		has  string
	}{
		{[]string{"help", "exit-codes"}, "Except with 'check -o nagios', the monitoring-plugin mode, which exits 0 OK,\n1 WARNING, 2 CRITICAL or 3 UNKNOWN instead"},
		{[]string{"check", "--help"}, "exit codes 0 OK, 1 WARNING,\n2 CRITICAL, 3 UNKNOWN instead of the codes below"},
		{[]string{"check", "--help"}, "-w, --warning RANGE"},
	} {
		tio := newTestIO(nil, "")
		if code := Main(context.Background(), tt.args, tio.ios, ""); code != 0 || !strings.Contains(tio.out.String(), tt.has) {
			t.Errorf("%v: exit %d, output lacks %q:\n%s", tt.args, code, tt.has, tio.out)
		}
	}
}

func TestNagiosOutputCompletion(t *testing.T) {
	tio := newTestIO(nil, "")
	if code := Main(context.Background(), []string{"__complete", "check", "-o", ""}, tio.ios, ""); code != 0 {
		t.Fatalf("exit %d: %s", code, tio.errOut)
	}
	if got := strings.Fields(tio.out.String()); len(got) < 3 || strings.Join(got[:3], " ") != "text json nagios" {
		t.Fatalf("completions %q", tio.out)
	}
}

// The plugin mode over real sockets: a simulated Finesse pair (loopback,
// 127.0.0.1 and 127.0.0.2, as every simulated node has its own address)
// through the states Nagios must see.
func TestNagiosEndToEnd(t *testing.T) {
	cl, caFile := startSimulator(t, 2, "1080001", "pw-nagios")
	_, _, secure := cl.Nodes[0].Ports()
	env := map[string]string{"FINESSE_USER": "1080001", "FINESSE_PASSWORD": "pw-nagios"}
	healthy := simulator.Healthy
	tests := []struct {
		name      string
		scenarios [2]simulator.Scenario
		args      []string
		want      int
		first     string // the text before the perfdata, as a regexp
	}{
		{"pair healthy", [2]simulator.Scenario{healthy, healthy}, nil, 0, `^FINESSE OK - 2 of 2 servers fully available$`},
		{"one node down, --require any", [2]simulator.Scenario{healthy, simulator.WebappDown}, []string{"--require", "any"}, 1,
			`^FINESSE WARNING - pair degraded: 1 of 2 fully available$`},
		{"one node down, --require all", [2]simulator.Scenario{healthy, simulator.WebappDown}, []string{"--require", "all"}, 2,
			`^FINESSE CRITICAL - 127\.0\.0\.2:\d+: exit 12 systeminfo not IN_SERVICE$`},
		{"node in maintenance", [2]simulator.Scenario{simulator.Maintenance, healthy}, nil, 1,
			`^FINESSE WARNING - 127\.0\.0\.1:\d+: in maintenance$`},
		{"refused is CRITICAL", [2]simulator.Scenario{healthy, simulator.TomcatDown}, nil, 2,
			`^FINESSE CRITICAL - 127\.0\.0\.2:\d+: exit 10 systeminfo unreachable$`},
		{"timeout is CRITICAL", [2]simulator.Scenario{simulator.NetworkLoss, healthy}, []string{"-t", "1s"}, 2,
			`^FINESSE CRITICAL - 127\.0\.0\.1:\d+: exit 10 systeminfo unreachable$`},
		{"duration over -w", [2]simulator.Scenario{healthy, healthy}, []string{"-w", "0.000001"}, 1,
			`^FINESSE WARNING - 2 of 2 servers fully available; took [0-9.]+m?s \(-w 0\.000001\)$`},
		{"duration over -c", [2]simulator.Scenario{healthy, healthy}, []string{"-w", "0.000001", "-c", "@0:3600"}, 2,
			`^FINESSE CRITICAL - 2 of 2 servers fully available; took [0-9.]+m?s \(-c @3600\)$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, sc := range tt.scenarios {
				if err := cl.SetScenario(i, sc); err != nil {
					t.Fatal(err)
				}
			}
			tio := newTestIO(env, "")
			args := append(append([]string{"check", "-o", "nagios", "-t", "2s", "--presence-timeout", "1s", "--ca-file", caFile,
				"--xmpp-port", strconv.Itoa(secure)}, tt.args...), cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr())
			code := Main(context.Background(), args, tio.ios, "")
			out := tio.out.String()
			if code != tt.want {
				t.Fatalf("exit %d, want %d:\n%s%s", code, tt.want, out, tio.errOut)
			}
			first, rest, _ := strings.Cut(out, "\n")
			text, perf, _ := strings.Cut(first, "|")
			if !regexp.MustCompile(tt.first).MatchString(text) {
				t.Errorf("first line %q does not match %s", text, tt.first)
			}
			if !strings.Contains(perf, "_available'=") || !strings.Contains(perf, "'duration'=") || strings.Contains(rest, "|") {
				t.Errorf("perfdata or long text wrong:\n%s", out)
			}
			if n := strings.Count(rest, "\n"); n < 2 {
				t.Errorf("long text has %d lines, want one per server:\n%s", n, out)
			}
			if tio.errOut.Len() != 0 {
				t.Errorf("stderr %q, want nothing", tio.errOut)
			}
		})
	}
}
