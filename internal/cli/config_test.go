package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/simulator"
)

// planArgs parses args as 'finessectl check' would, with the run function
// replaced, and plans its runs. With wantErr set it asserts a usage error
// holding it and returns nil.
func planArgs(t *testing.T, env map[string]string, args []string, wantErr string) []*CheckOptions {
	t.Helper()
	tio := newTestIO(env, "")
	var opts *CheckOptions
	cmd := NewCmdCheck(tio.ios, func(_ context.Context, o *CheckOptions) error { opts = o; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(tio.out)
	cmd.SetErr(tio.errOut)
	err := cmd.Execute()
	var runs []*CheckOptions
	if err == nil {
		runs, err = opts.plan()
	}
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) || exitCode(err) != 64 {
			t.Fatalf("want usage error containing %q, got %v", wantErr, err)
		}
		return nil
	}
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return runs
}

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const precedenceConfig = `defaults:
  timeout: 8s
  require: any
  user: "1080001"
  ca_file: default-ca.pem
  xmpp_port: 5300
clusters:
  site1:
    servers: [a1.example.com, b1.example.com]
    timeout: 6s
    user: "1080009"
    ca_file: site1-ca.pem
    xmpp_port: 5222
  site2:
    servers: [a2.example.com]
`

// writePrecedenceConfig writes precedenceConfig into dir with the CA files
// it names, which planning requires to exist.
func writePrecedenceConfig(t *testing.T, dir string) string {
	t.Helper()
	for _, f := range []string{"default-ca.pem", "site1-ca.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return writeConfig(t, dir, precedenceConfig)
}

// Flags given on the command line override the cluster, the cluster
// overrides defaults, defaults override the flags' own defaults.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := writePrecedenceConfig(t, dir)
	type want struct {
		timeout  time.Duration
		require  string
		user     string
		caFile   string
		xmppPort int
		servers  string
	}
	tests := []struct {
		name string
		args []string
		want want
	}{
		{"cluster over defaults", []string{"--config", cfg, "--cluster", "site1"},
			want{6 * time.Second, "any", "1080009", filepath.Join(dir, "site1-ca.pem"), 5222, "a1.example.com b1.example.com"}},
		{"defaults where the cluster is silent", []string{"--config", cfg, "--cluster", "site2"},
			want{8 * time.Second, "any", "1080001", filepath.Join(dir, "default-ca.pem"), 5300, "a2.example.com"}},
		{"command line over the cluster", []string{"--config", cfg, "--cluster", "site1", "-t", "3s", "--require", "all",
			"-u", "1080777", "--ca-file", "cli.pem", "--xmpp-port", "5999"},
			want{3 * time.Second, "all", "1080777", "cli.pem", 5999, "a1.example.com b1.example.com"}},
		{"servers on the command line take defaults only", []string{"--config", cfg, "x.example.com"},
			want{8 * time.Second, "any", "1080001", filepath.Join(dir, "default-ca.pem"), 5300, "x.example.com"}},
		{"built-in defaults without a config", []string{"x.example.com"},
			want{check.DefaultTimeout, "all", "", "", 0, "x.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs := planArgs(t, nil, tt.args, "")
			r := runs[0]
			got := want{r.Timeout, r.Require, r.User, r.CAFile, r.XMPPPort, strings.Join(r.Servers, " ")}
			if len(runs) != 1 || got != tt.want {
				t.Errorf("%d runs, first %+v, want %+v", len(runs), got, tt.want)
			}
		})
	}
}

// Without --cluster or servers every cluster runs, in file order, each
// with its own settings; the default file is found through the injected
// environment.
func TestConfigRunsEveryCluster(t *testing.T) {
	xdg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(xdg, "finessectl"), 0o755); err != nil {
		t.Fatal(err)
	}
	writePrecedenceConfig(t, filepath.Join(xdg, "finessectl"))
	for _, env := range []map[string]string{
		{"XDG_CONFIG_HOME": xdg},
		{"HOME": filepath.Dir(xdg), "XDG_CONFIG_HOME": ""},
	} {
		if env["HOME"] != "" {
			// ~/.config/finessectl/config.yaml, under a home of our own.
			home := t.TempDir()
			if err := os.MkdirAll(filepath.Join(home, ".config"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(xdg, "finessectl"), filepath.Join(home, ".config", "finessectl")); err != nil {
				t.Fatal(err)
			}
			env["HOME"] = home
		}
		runs := planArgs(t, env, nil, "")
		if len(runs) != 2 || runs[0].Timeout != 6*time.Second || runs[1].Timeout != 8*time.Second || runs[1].Servers[0] != "a2.example.com" {
			t.Errorf("env %v: runs %+v", env, runs)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, precedenceConfig)
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"--config", write("typo.yaml", "clusters:\n  site1:\n    servers: [a]\n\n\n\n    timout: 5s\n")},
			`typo.yaml:7: unknown key "timout" in cluster "site1"`},
		{"unknown cluster", []string{"--config", good, "--cluster", "site9"},
			"--cluster site9: no such cluster in " + good + " (clusters: site1, site2)"},
		{"malformed yaml", []string{"--config", write("bad.yaml", "defaults:\n  timeout: 5s\n  user: [x\n")}, "bad.yaml:2: did not find expected ',' or ']'"},
		{"bad duration", []string{"--config", write("dur.yaml", "defaults:\n  require: any\n\n  timeout: 10x\n"), "x.example.com"},
			`dur.yaml:4: timeout: time: unknown unit "x" in duration "10x"`},
		{"bad days", []string{"--config", write("days.yaml", "defaults:\n  cert_warn: 30 days\n"), "x.example.com"},
			`days.yaml:2: cert_warn: "30 days": use whole days such as 30d`},
		{"bad port", []string{"--config", write("port.yaml", "clusters:\n  s:\n    servers: [a]\n    xmpp_port: five\n")}, "port.yaml:4: xmpp_port: "},
		{"bad server", []string{"--config", write("srv.yaml", "clusters:\n  s:\n    servers:\n      - a\n      - http://b:8082\n")}, "srv.yaml:5: server"},
		{"no servers", []string{"--config", write("empty.yaml", "clusters:\n  s:\n    timeout: 5s\n")}, `empty.yaml:3: cluster "s" has no servers`},
		{"password", []string{"--config", write("pw.yaml", "defaults:\n  password: hunter2\n")}, "pw.yaml:2: key \"password\" in defaults: a password does not belong in a config file"},
		{"trace is not a setting", []string{"--config", write("trace.yaml", "defaults:\n  trace: true\n")}, `trace.yaml:2: unknown key "trace"`},
		{"report setting in a cluster", []string{"--config", write("out.yaml", "clusters:\n  s:\n    servers: [a]\n    output: json\n")},
			`out.yaml:4: output in cluster "s": it shapes the whole report, so it belongs under defaults`},
		{"servers and --cluster", []string{"--config", good, "--cluster", "site1", "x.example.com"}, "give SERVER arguments or --cluster NAME, not both"},
		{"--cluster twice", []string{"--config", good, "--cluster", "site1", "--cluster", "site1"}, "--cluster site1: given twice"},
		{"--cluster without a file", []string{"--cluster", "site1"}, "--cluster site1: no config file"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, "--config " + filepath.Join(dir, "nope.yaml") + ": open"},
		{"a directory", []string{"--config", dir}, "not a regular file (a directory)"},
		{"no clusters", []string{"--config", write("defaults.yaml", "defaults:\n  timeout: 5s\n")}, "check needs at least one SERVER (host, host:port or https://host:port), or clusters in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			planArgs(t, nil, tt.args, tt.want)
		})
	}
}

// A config file larger than 1 MiB is refused, as an oversized --ca-file is.
func TestConfigSizeLimit(t *testing.T) {
	big := writeConfig(t, t.TempDir(), "defaults:\n"+strings.Repeat("# padding\n", 110_000))
	planArgs(t, nil, []string{"--config", big}, "larger than 1 MiB")
}

// A value a cluster sets that only resolve can judge names the cluster.
func TestConfigResolveErrorNamesTheCluster(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "clusters:\n  site1:\n    servers: [a]\n    timeout: 2h\n    connect_only: true\n")
	tio := newTestIO(nil, "")
	if code := Main(context.Background(), []string{"check", "--config", cfg}, tio.ios, ""); code != 64 ||
		!strings.Contains(tio.errOut.String(), `cluster "site1" of `+cfg+`: --timeout 2h0m0s`) {
		t.Fatalf("exit %d, stderr %s", code, tio.errOut)
	}
}

// A value with a fixed set of choices, or a file that does not exist, is
// refused at its line.
func TestConfigValueErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ yaml, want string }{
		{"clusters:\n  c:\n    servers: [a]\n    require: some\n", `:4: require: "some": use all`},
		{"defaults:\n  timeout: 5s\n  xmpp_tls: plain\nclusters:\n  c:\n    servers: [a]\n", `:3: xmpp_tls: "plain": use direct`},
		{"defaults:\n  output: yaml\nclusters:\n  c:\n    servers: [a]\n", `:2: output: "yaml": use text, json`},
		{"clusters:\n  c:\n    servers: [a]\n    ca_file: missing.pem\n", `:4: ca_file: stat ` + filepath.Join(dir, "missing.pem")},
		{"defaults:\n  password_file: missing.pw\nclusters:\n  c:\n    servers: [a]\n", `:2: password_file: stat ` + filepath.Join(dir, "missing.pw")},
	} {
		cfg := writeConfig(t, dir, tt.yaml)
		tio := newTestIO(nil, "")
		if code := Main(context.Background(), []string{"check", "--config", cfg}, tio.ios, ""); code != 64 ||
			!strings.Contains(tio.errOut.String(), cfg+tt.want) {
			t.Errorf("%q: exit %d, want 64 naming %q\n%s", tt.yaml, code, cfg+tt.want, tio.errOut)
		}
	}
}

// Two simulated clusters on their own addresses, ports and CAs, checked
// through Main from one config file.
func TestConfigClustersEndToEnd(t *testing.T) {
	dir := t.TempDir()
	var clusters [2]*simulator.Cluster
	var yaml strings.Builder
	yaml.WriteString("defaults:\n  user: \"1080001\"\n  password_file: probe.pw\n  timeout: 2s\n  presence_timeout: 1s\nclusters:\n")
	for i, ip := range []string{"127.0.0.1", "127.0.0.3"} {
		cl, err := simulator.Start(simulator.Config{IP: ip, Nodes: 2, Users: map[string]string{"1080001": "pw-config"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		clusters[i] = cl
		ca := "site" + strconv.Itoa(i+1) + "-ca.pem"
		if err := cl.CA.WriteCertFile(filepath.Join(dir, ca)); err != nil {
			t.Fatal(err)
		}
		_, _, secure := cl.Nodes[0].Ports()
		yaml.WriteString("  site" + strconv.Itoa(i+1) + ":\n    servers: [" + cl.Nodes[0].HTTPSAddr() + ", " + cl.Nodes[1].HTTPSAddr() + "]\n" +
			"    ca_file: " + ca + "\n    xmpp_port: " + strconv.Itoa(secure) + "\n")
	}
	yaml.WriteString("    require: all\n") // site2; site1 keeps the built-in 'all' too
	if err := os.WriteFile(filepath.Join(dir, "probe.pw"), []byte("pw-config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, yaml.String())

	run := func(args ...string) (int, []string) {
		t.Helper()
		tio := newTestIO(nil, "")
		code := Main(context.Background(), append([]string{"check", "--config", cfg, "-o", "json"}, args...), tio.ios, "")
		var doc struct {
			Servers []struct {
				Server string `json:"server"`
			} `json:"servers"`
		}
		if err := json.Unmarshal(tio.out.Bytes(), &doc); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, tio.out, tio.errOut)
		}
		var servers []string
		for _, s := range doc.Servers {
			servers = append(servers, s.Server)
		}
		return code, servers
	}
	addrs := func(cls ...*simulator.Cluster) []string {
		var out []string
		for _, cl := range cls {
			out = append(out, cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr())
		}
		return out
	}
	site1, site2 := clusters[0], clusters[1]
	tests := []struct {
		name     string
		down     *simulator.Cluster // its second node's web app is down
		args     []string
		wantCode int
		want     []string
	}{
		{"every cluster in file order", nil, nil, 0, addrs(site1, site2)},
		{"one cluster", nil, []string{"--cluster", "site2"}, 0, addrs(site2)},
		{"clusters in the order given", nil, []string{"--cluster", "site2", "--cluster", "site1"}, 0, addrs(site2, site1)},
		{"a cluster with a node down gives its code", site2, nil, 12, addrs(site1, site2)},
		{"the other cluster passes", site2, []string{"--cluster", "site1"}, 0, addrs(site1)},
		{"--require any on the command line overrides", site2, []string{"--require", "any"}, 0, addrs(site1, site2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cl := range clusters {
				scenario := simulator.Healthy
				if cl == tt.down {
					scenario = simulator.WebappDown
				}
				if err := cl.SetScenario(1, scenario); err != nil {
					t.Fatal(err)
				}
			}
			code, servers := run(tt.args...)
			if code != tt.wantCode || strings.Join(servers, " ") != strings.Join(tt.want, " ") {
				t.Errorf("exit %d with servers %v, want %d with %v", code, servers, tt.wantCode, tt.want)
			}
		})
	}
}

// The config file's password_file is held to the flag's rule (mode 0600 or
// stricter), and its relative paths, textfile included, are relative to
// the config file, not to where cron runs the command.
func TestConfigPasswordFileModeAndRelativeTextfile(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "1080001", "pw-relative")
	_, _, secure := cl.Nodes[0].Ports()
	dir := t.TempDir()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "probe.pw")
	if err := os.WriteFile(pw, []byte("pw-relative\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, "defaults:\n  user: \"1080001\"\n  password_file: probe.pw\n  ca_file: ca.pem\n"+
		"  textfile: site1.prom\n  timeout: 3s\n  presence_timeout: 1s\nclusters:\n  site1:\n"+
		"    servers: ["+cl.Nodes[0].HTTPSAddr()+"]\n    xmpp_port: "+strconv.Itoa(secure)+"\n")

	tio := newTestIO(nil, "")
	if code := Main(context.Background(), []string{"check", "--config", cfg}, tio.ios, ""); code != 64 ||
		!strings.Contains(tio.errOut.String(), "chmod 600 "+pw) {
		t.Fatalf("a password_file readable by others: exit %d, want 64 and the chmod to run\n%s", code, tio.errOut)
	}
	if err := os.Chmod(pw, 0o600); err != nil {
		t.Fatal(err)
	}
	tio = newTestIO(nil, "")
	if code := Main(context.Background(), []string{"check", "-q", "--config", cfg}, tio.ios, ""); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, tio.out, tio.errOut)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "site1.prom")); err != nil || !strings.Contains(string(data), "finesse_probe_success") {
		t.Errorf("textfile next to the config file: %v\n%s", err, data)
	}
}
