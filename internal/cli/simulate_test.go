package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/pki"
	"github.com/finessectl/finessectl/internal/simulator"
)

func TestEveryScenarioHasAnExpectedCode(t *testing.T) {
	for _, b := range simulator.Behaviours {
		if _, ok := expectedCodes[b.Scenario]; !ok {
			t.Errorf("scenario %s has no expected exit code", b.Scenario)
		}
	}
	if len(expectedCodes) != len(simulator.Behaviours) {
		t.Errorf("%d expected codes for %d scenarios", len(expectedCodes), len(simulator.Behaviours))
	}
}

// startSimulator runs simulated nodes for one probe user until the test
// ends, and writes their CA where --ca-file can read it.
func startSimulator(t *testing.T, nodes int, user, password string) (cl *simulator.Cluster, caFile string) {
	t.Helper()
	cl, err := simulator.Start(simulator.Config{Nodes: nodes, Users: map[string]string{user: password}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := cl.CA.WriteCertFile(caFile); err != nil {
		t.Fatal(err)
	}
	return cl, caFile
}

// Every scenario of the simulator, checked through the real command path over
// real sockets, over direct TLS, STARTTLS and WebSocket (through the web
// proxy on the HTTPS port, and on the Notification Service's own), gives the
// contract's exit code.
func TestEveryScenarioEndToEnd(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-e2e")
	node := cl.Nodes[0]
	_, xmppPort, securePort := node.Ports()
	env := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw-e2e"}
	for _, b := range simulator.Behaviours {
		for mode, transport := range map[string][]string{
			"direct":         {"--xmpp-tls", "direct", "--xmpp-port", strconv.Itoa(securePort)},
			"starttls":       {"--xmpp-tls", "starttls", "--xmpp-port", strconv.Itoa(xmppPort)},
			"websocket":      {"--xmpp-transport", "websocket"},
			"websocket-7443": {"--xmpp-transport", "websocket", "--xmpp-port", strconv.Itoa(node.BOSHPort())},
		} {
			t.Run(string(b.Scenario)+"/"+mode, func(t *testing.T) {
				if err := node.SetScenario(b.Scenario); err != nil {
					t.Fatal(err)
				}
				tio := newTestIO(env, "")
				start := time.Now()
				args := append([]string{"check", "-t", "1s", "--presence-timeout", "1s", "--ca-file", caFile, node.HTTPSAddr()}, transport...)
				code := Main(context.Background(), args, tio.ios, "")
				if want := expectedCode(b.Scenario, mode == "websocket"); code != int(want) {
					t.Fatalf("exit %d, want %d\n%s%s", code, want, tio.out, tio.errOut)
				}
				if elapsed := time.Since(start); elapsed > 2*time.Second {
					t.Errorf("took %v with a 1s deadline", elapsed)
				}
			})
		}
	}
}

func TestDemo(t *testing.T) {
	tio := newTestIO(nil, "")
	code := Main(context.Background(), []string{"demo", "--color", "never"}, tio.ios, "")
	if code != 0 {
		t.Fatalf("demo exit %d\n%s%s", code, tio.out, tio.errOut)
	}
	out := tio.out.String()
	for _, b := range simulator.Behaviours {
		row := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(string(b.Scenario)) + `\s+` + strconv.Itoa(int(expectedCodes[b.Scenario])) + `\s+\d+\s+\d+\s+\d+\s+\d+  ✔`)
		if !row.MatchString(out) {
			t.Errorf("demo output has no passing row for %s:\n%s", b.Scenario, out)
		}
	}
	if !strings.Contains(out, "fully available") || strings.Contains(out, "\x1b") {
		t.Errorf("demo output:\n%s", out)
	}
	// The README shows the demo's table: every row of it must be a row the
	// demo prints.
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile("(?s)```\n  scenario +expect.*?\n\n").Find(readme)
	if table == nil {
		t.Fatal("README.md lost the demo's table")
	}
	for _, row := range strings.Split(strings.TrimSpace(string(table[4:])), "\n") {
		if !strings.Contains(out, row) {
			t.Errorf("README's demo row %q is not in the demo's output:\n%s", row, out)
		}
	}
}

// syncBuffer lets the test read what a command running in another goroutine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a long-running command ('simulate', 'serve') started by a test.
type running struct {
	out, errOut *syncBuffer
	done        chan int
	cancel      context.CancelFunc
}

// startCommand runs finessectl with args and env in the background.
func startCommand(env map[string]string, args ...string) *running {
	r := &running{out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan int, 1)}
	ios := &IOStreams{In: strings.NewReader(""), Out: r.out, ErrOut: r.errOut, Getenv: func(k string) string { return env[k] }}
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	go func() { r.done <- Main(ctx, args, ios, "") }()
	return r
}

// waitFor polls until ready says the command has started, failing the test
// if it exits or takes more than 10 s.
func (r *running) waitFor(t *testing.T, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ready() {
		select {
		case code := <-r.done:
			t.Fatalf("exited %d at start:\n%s\n%s", code, r.out, r.errOut)
		default:
		}
		if time.Now().After(deadline) {
			r.cancel()
			t.Fatalf("not started after 10s:\n%s\n%s", r.out, r.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop cancels the command, as Ctrl-C would, and fails the test unless it
// then exits 0 within 5 s.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		if code != 0 {
			t.Errorf("exit %d after cancel\n%s", code, r.errOut)
		}
	case <-time.After(5 * time.Second):
		t.Error("did not stop when cancelled")
	}
}

// startSimulate runs 'finessectl simulate' with args on free ports until
// stop, which fails the test unless the command then exits 0, and returns
// what it printed at start.
func startSimulate(t *testing.T, args ...string) (banner string, stop func()) {
	t.Helper()
	r := startCommand(nil, append([]string{"simulate", "--https-port", "0", "--xmpp-port", "0", "--xmpp-secure-port", "0", "--bosh-port", "0"}, args...)...)
	r.waitFor(t, func() bool { return strings.Contains(r.out.String(), "Stop with Ctrl-C.") })
	return r.out.String(), func() { t.Helper(); r.stop(t) }
}

var controlLine = regexp.MustCompile(`(?m)^  control API:\s+(http://\S+/scenario\?token=(\S+))  \(POST &name=SCENARIO\[&node=N\]\)$`)

// 'finessectl simulate' prints a check command that works as printed, and its
// control API switches scenarios that the next check sees.
func TestSimulatePrintsAWorkingCheckCommand(t *testing.T) {
	banner, stop := startSimulate(t, "--nodes", "2")
	line := regexp.MustCompile(`(?m)^  (FINESSE_USER=\S+) (FINESSE_PASSWORD=\S+) finessectl (check .*)$`).FindStringSubmatch(banner)
	control := controlLine.FindStringSubmatch(banner)
	if line == nil || control == nil {
		stop()
		t.Fatalf("banner lacks the check command or the control API:\n%s", banner)
	}
	env := map[string]string{}
	for _, kv := range line[1:3] {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	runPrinted := func() int {
		tio := newTestIO(env, "")
		return Main(context.Background(), append(strings.Fields(line[3]), "-t", "2s"), tio.ios, "")
	}
	if code := runPrinted(); code != 0 {
		t.Errorf("printed command exits %d, want 0", code)
	}
	post := func(url string) int {
		resp, err := http.Post(url, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	withoutToken := strings.Replace(control[1], "token="+control[2], "token=", 1)
	if code := post(withoutToken + "&name=tomcat-down&node=1"); code != http.StatusForbidden {
		t.Errorf("POST without the token: %d, want 403", code)
	}
	if code := runPrinted(); code != 0 {
		t.Errorf("after a POST without the token: exit %d, want 0", code)
	}
	// As the banner says: the printed URL, then &name=SCENARIO&node=N.
	if code := post(control[1] + "&name=tomcat-down&node=1"); code != http.StatusOK {
		t.Errorf("POST to the printed URL: %d, want 200", code)
	}
	if code := runPrinted(); code != 10 {
		t.Errorf("after tomcat-down on node 1: exit %d, want 10", code)
	}
	stop()
}

// Each run makes its own control token, so one run's URL does not control the next.
func TestSimulateTokenDiffersBetweenRuns(t *testing.T) {
	var tokens []string
	for range 2 {
		banner, stop := startSimulate(t)
		stop()
		control := controlLine.FindStringSubmatch(banner)
		if control == nil {
			t.Fatalf("banner lacks the control API:\n%s", banner)
		}
		tokens = append(tokens, control[2])
	}
	if tokens[0] == tokens[1] {
		t.Errorf("two runs print the same token %s", tokens[0])
	}
}

// The simulator and its control API never listen beyond loopback.
func TestSimulateListensOnLoopbackOnly(t *testing.T) {
	for _, args := range [][]string{
		{"simulate", "--listen", "0.0.0.0"},
		{"simulate", "--control", "0.0.0.0:0"},
		{"simulate", "--control", ":9720"},
		{"simulate", "--control", "finesse.example.com:9720"},
	} {
		tio := newTestIO(nil, "")
		if code := Main(context.Background(), args, tio.ios, ""); code != 64 || !strings.Contains(tio.errOut.String(), "loopback") {
			t.Errorf("%v: exit %d, stderr %q; want 64 naming loopback", args, code, tio.errOut)
		}
	}
}

// The banner names where desktops reach the Notification Service over
// HTTPS, which depends on --finesse-version.
func TestSimulateFinesseVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    *regexp.Regexp
	}{
		{"12.6", regexp.MustCompile(`(?m)^  WebSocket: +wss://HOST:\d+/ws/ and wss://HOST:\d+/ws/; BOSH https://HOST:\d+/http-bind/$`)},
		{"12.5", regexp.MustCompile(`(?m)^  WebSocket: +wss://HOST:\d+/ws/; BOSH https://HOST:\d+/http-bind/$`)},
	} {
		t.Run(tc.version, func(t *testing.T) {
			banner, stop := startSimulate(t, "--finesse-version", tc.version)
			stop()
			if !tc.want.MatchString(banner) || !strings.Contains(banner, "Finesse "+tc.version+" node(s)") ||
				!regexp.MustCompile(`(?m)^  node 0 .* WebSocket/BOSH 127\.0\.0\.1:\d+$`).MatchString(banner) {
				t.Errorf("banner:\n%s", banner)
			}
		})
	}
}

func TestSimulateRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--finesse-version", "12.0"}, "--finesse-version"},
		{[]string{"--finesse-version", ""}, "--finesse-version"},
		{[]string{"--latency", "-5ms"}, "--latency"},
		{[]string{"--nodes", strconv.Itoa(simulator.MaxNodes + 1)}, fmt.Sprintf("use 1 to %d", simulator.MaxNodes)},
		{[]string{"--scenario", "cert-expired", "--cert", certFile, "--key", keyFile}, "cert-expired"},
		{[]string{"--scenario", "notification-cert-stale", "--cert", certFile, "--key", keyFile}, "notification-cert-stale"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			tio := newTestIO(nil, "")
			code := Main(context.Background(), append([]string{"simulate", "--https-port", "0", "--xmpp-port", "0", "--xmpp-secure-port", "0", "--bosh-port", "0"}, tc.args...), tio.ios, "")
			if code != 64 || !strings.Contains(tio.errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 64 naming %s", code, tio.errOut, tc.want)
			}
		})
	}
}

// --latency is the round trip the simulator adds, passed on as given.
func TestSimulateLatencyFlag(t *testing.T) {
	var got time.Duration
	cmd := NewCmdSimulate(newTestIO(nil, "").ios, func(_ context.Context, o *SimulateOptions) error {
		cfg, _, err := o.resolve()
		got = cfg.Latency
		return err
	})
	cmd.SetArgs([]string{"--latency", "50ms"})
	if err := cmd.Execute(); err != nil || got != 50*time.Millisecond {
		t.Fatalf("--latency 50ms: Config.Latency %v, %v", got, err)
	}
}

func TestSimulateHelpListsTransportsAndScenarios(t *testing.T) {
	tio := newTestIO(nil, "")
	if code := Main(context.Background(), []string{"simulate", "--help"}, tio.ios, ""); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := tio.out.String()
	for _, want := range []string{"--bosh-port", "7443", "/ws/", "/http-bind/", "--finesse-version", "12.5", "[::1]", string(simulator.CertExpired),
		fmt.Sprintf("1 to %d", simulator.MaxNodes)} {
		if !strings.Contains(help, want) {
			t.Errorf("simulate --help does not mention %s", want)
		}
	}
}

// --write-ca saves the CA where the check command printed reads it, and a
// FINESSE_PASSWORD given to simulate is the probe's password: the banner
// refers to it without printing it, and the fixed password no longer logs
// in.
func TestSimulateWriteCAAndOwnPassword(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "sim-ca.pem")
	r := startCommand(map[string]string{"FINESSE_PASSWORD": "own-secret-pw"}, "simulate", "--https-port", "0", "--xmpp-port", "0",
		"--xmpp-secure-port", "0", "--bosh-port", "0", "--user", "probe", "--write-ca", caFile)
	r.waitFor(t, func() bool { return strings.Contains(r.out.String(), "Stop with Ctrl-C.") })
	defer r.stop(t)
	banner := r.out.String()
	line := regexp.MustCompile(`(?m)^  FINESSE_USER=probe FINESSE_PASSWORD="\$FINESSE_PASSWORD" finessectl (check .*)$`).FindStringSubmatch(banner)
	if line == nil || !strings.Contains(line[1], "--ca-file "+caFile+" ") || strings.Contains(banner, "own-secret-pw") {
		t.Fatalf("banner does not print the check with --ca-file %s and the password by reference only:\n%s", caFile, banner)
	}
	if pem, err := os.ReadFile(caFile); err != nil || !strings.HasPrefix(string(pem), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("--write-ca %s: %v\n%s", caFile, err, pem)
	}
	for password, want := range map[string]int{"own-secret-pw": 0, "simulator-only-password": 22} {
		tio := newTestIO(map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": password}, "")
		if code := Main(context.Background(), append(strings.Fields(line[1]), "-t", "2s"), tio.ios, ""); code != want {
			t.Errorf("password %q: exit %d, want %d\n%s", password, code, want, tio.out)
		}
	}
}
