package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/finessectl/finessectl/internal/exporter"
	"github.com/finessectl/finessectl/internal/simulator"
)

// startServe runs 'finessectl serve' on a free loopback port with env as its
// environment until the test ends, which fails it unless the command then
// exits 0; it returns the base URL and what the command logs.
func startServe(t *testing.T, env map[string]string, args ...string) (base string, logs *syncBuffer) {
	t.Helper()
	r := startCommand(env, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	t.Cleanup(func() { r.stop(t) })
	listening := regexp.MustCompile(`listening on (http://\S+)/ `)
	r.waitFor(t, func() bool { return listening.MatchString(r.errOut.String()) })
	return listening.FindStringSubmatch(r.errOut.String())[1], r.errOut
}

// get fetches url, with the scrape timeout header when timeout is not "".
func get(t *testing.T, url, timeout string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if timeout != "" {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// samples parses an exposition into "name{label=value,...}" -> value.
func samples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, text)
	}
	out := map[string]float64{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue()
			if m.Counter != nil {
				v = m.GetCounter().GetValue()
			}
			out[name+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}

// probe scrapes /probe with the query q and parses the answer.
func probe(t *testing.T, base, q, timeout string) map[string]float64 {
	t.Helper()
	code, body := get(t, base+"/probe?"+q, timeout)
	if code != http.StatusOK {
		t.Fatalf("/probe?%s: %d %s", q, code, body)
	}
	return samples(t, body)
}

func probeCounts(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := get(t, base+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	all := samples(t, body)
	counts := map[string]float64{}
	for _, r := range []string{"success", "failure", "cached", "auth-suppressed"} {
		v, ok := all["finessectl_probes_total{result="+r+"}"]
		if !ok {
			t.Fatalf("/metrics lacks finessectl_probes_total{result=%q}:\n%s", r, body)
		}
		counts[r] = v
	}
	return counts
}

// serveArgs are the flags of a serve that checks the simulator's nodes,
// which listen on 127.0.0.0/8.
func serveArgs(caFile string, securePort int, more ...string) []string {
	return append([]string{"--ca-file", caFile, "--xmpp-port", strconv.Itoa(securePort), "--presence-timeout", "2s",
		"--allow-target", "127.*"}, more...)
}

// A healthy node probes as a success, a node whose webapp is down as exit
// 12; the page lists both with their reports, and bad scrapes are refused.
func TestServeProbesTargets(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-serve")
	node := cl.Nodes[0]
	_, _, secure := node.Ports()
	env := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw-serve"}
	base, _ := startServe(t, env, serveArgs(caFile, secure, "--min-interval", "0")...)
	target := "target=" + url.QueryEscape(node.HTTPSAddr())
	server := "{server=" + node.HTTPSAddr() + "}"

	got := probe(t, base, target, "")
	if got["finesse_probe_success"+server] != 1 || got["finesse_probe_exit_code"+server] != 0 {
		t.Errorf("healthy node: %v", got)
	}
	if err := node.SetScenario(simulator.WebappDown); err != nil {
		t.Fatal(err)
	}
	got = probe(t, base, target, "")
	if got["finesse_probe_success"+server] != 0 || got["finesse_probe_exit_code"+server] != 12 {
		t.Errorf("webapp-down node: %v", got)
	}
	if c := probeCounts(t, base); c["success"] != 1 || c["failure"] != 1 {
		t.Errorf("probe counts %v, want one success and one failure", c)
	}
	code, body := get(t, base+"/metrics", "")
	if code != http.StatusOK || !strings.Contains(body, `finessectl_probe_failures_total{scenario="not-in-service"} 1`) ||
		!strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}

	code, body = get(t, base+"/", "")
	if code != http.StatusOK || strings.Count(body, `<a href="/logs?id=`) != 2 {
		t.Errorf("/: %d, want two probes listed\n%s", code, body)
	}
	for id, want := range map[string]string{"1": "fully available", "2": "NOT AVAILABLE (exit 12)"} {
		if code, body := get(t, base+"/logs?id="+id, ""); code != http.StatusOK || !strings.Contains(body, want) || strings.Contains(body, "\x1b") {
			t.Errorf("/logs?id=%s: %d, want %q without colour\n%s", id, code, want, body)
		}
	}
	if code, _ := get(t, base+"/logs?id=99", ""); code != http.StatusNotFound {
		t.Errorf("/logs?id=99: %d, want 404", code)
	}
	if code, body := get(t, base+"/-/healthy", ""); code != http.StatusOK || strings.TrimSpace(body) != "OK" {
		t.Errorf("/-/healthy: %d %q", code, body)
	}

	for q, reason := range map[string]string{
		"":                          "missing target",
		"target=a.example&target=b": "given 2 times",
		"target=" + url.QueryEscape("host:99999"):      "port",
		target + "&password=x":                         "password in the URL is refused",
		target + "&user=x":                             "user in the URL is refused",
		target + "&module=finesse":                     "unknown parameter",
		"cluster=site1":                                "no config file",
		target + "&cluster=site1":                      "not both",
		"target=" + url.QueryEscape("https://u:p@h.x"): "credentials",
	} {
		code, body := get(t, base+"/probe?"+q, "")
		if code != http.StatusBadRequest || !strings.Contains(body, reason) {
			t.Errorf("/probe?%s: %d %q, want 400 naming %q", q, code, body, reason)
		}
	}
	if code, body := get(t, base+"/probe?"+target, "0.4"); code != http.StatusBadRequest || !strings.Contains(body, "margin") {
		t.Errorf("scrape timeout 0.4s: %d %q, want 400", code, body)
	}
}

// A cluster of the config file is checked with its settings.
func TestServeProbesACluster(t *testing.T) {
	cl, caFile := startSimulator(t, 2, "probe", "pw-cluster")
	_, _, secure := cl.Nodes[0].Ports()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "probe.pw")
	if err := os.WriteFile(pwFile, []byte("pw-cluster\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`defaults:
  user: probe
  password_file: probe.pw
  ca_file: %s
  presence_timeout: 2s
clusters:
  site1:
    servers: [%s, %s]
    xmpp_port: %d
  site2:
    servers: [%s]
    xmpp_port: 1
`, caFile, cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr(), secure, cl.Nodes[0].HTTPSAddr()))
	base, _ := startServe(t, nil, "--config", cfg)

	got := probe(t, base, "cluster=site1", "")
	for _, n := range cl.Nodes {
		if got["finesse_probe_success{server="+n.HTTPSAddr()+"}"] != 1 {
			t.Errorf("cluster site1, %s: %v", n.HTTPSAddr(), got)
		}
	}
	if got["finesse_run_exit_code{}"] != 0 {
		t.Errorf("cluster site1: %v", got)
	}
	// site2's own xmpp_port applies: nothing listens on port 1.
	got = probe(t, base, "cluster=site2", "")
	if got["finesse_probe_exit_code{server="+cl.Nodes[0].HTTPSAddr()+"}"] != 20 {
		t.Errorf("cluster site2 with xmpp_port 1: %v", got)
	}
	if code, body := get(t, base+"/probe?cluster=site9", ""); code != http.StatusBadRequest || !strings.Contains(body, "site1, site2") {
		t.Errorf("unknown cluster: %d %q", code, body)
	}
}

// Eight scrapes at once of one target make one check; the others get its
// result.
func TestServeConcurrentScrapesCheckOnce(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-storm")
	node := cl.Nodes[0]
	_, _, secure := node.Ports()
	env := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw-storm"}
	base, _ := startServe(t, env, serveArgs(caFile, secure)...)
	var wg sync.WaitGroup
	var passed atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if probe(t, base, "target="+url.QueryEscape(node.HTTPSAddr()), "15")["finesse_probe_success{server="+node.HTTPSAddr()+"}"] == 1 {
				passed.Add(1)
			}
		}()
	}
	wg.Wait()
	if passed.Load() != 8 {
		t.Errorf("%d of 8 scrapes answered success", passed.Load())
	}
	if c := probeCounts(t, base); c["success"] != 1 || c["cached"] != 7 {
		t.Errorf("probe counts %v, want 1 success and 7 cached", c)
	}
}

// serveSilentNode serves checks with the given --timeout, next to a node
// that has lost its network: it accepts connections and never answers.
func serveSilentNode(t *testing.T, timeout string) (base string, node *simulator.Node) {
	t.Helper()
	cl, caFile := startSimulator(t, 1, "probe", "pw-silent")
	node = cl.Nodes[0]
	if err := node.SetScenario(simulator.NetworkLoss); err != nil {
		t.Fatal(err)
	}
	_, _, secure := node.Ports()
	env := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw-silent"}
	base, _ = startServe(t, env, serveArgs(caFile, secure, "--timeout", timeout)...)
	return base, node
}

// A scrape timeout of 1 s ends the check of a node that never answers in
// time for the answer to reach Prometheus.
func TestServeScrapeTimeoutBoundsTheCheck(t *testing.T) {
	base, node := serveSilentNode(t, "10s")
	start := time.Now()
	got := probe(t, base, "target="+url.QueryEscape(node.HTTPSAddr()), "1")
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
		t.Errorf("scrape with a 1s timeout took %v", elapsed)
	}
	if got["finesse_probe_success{server="+node.HTTPSAddr()+"}"] != 0 || got["finesse_probe_exit_code{server="+node.HTTPSAddr()+"}"] != 10 {
		t.Errorf("network-loss node: %v", got)
	}
}

// startCountingSimulator starts a pair whose failed logins are counted.
func startCountingSimulator(t *testing.T, user, password string) (cl *simulator.Cluster, caFile string, failedLogins *atomic.Int32) {
	t.Helper()
	failedLogins = &atomic.Int32{}
	cl, err := simulator.Start(simulator.Config{Nodes: 2, Users: map[string]string{user: password},
		Logf: func(format string, args ...any) {
			if strings.Contains(fmt.Sprintf(format, args...), "SASL failure") {
				failedLogins.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := cl.CA.WriteCertFile(caFile); err != nil {
		t.Fatal(err)
	}
	return cl, caFile, failedLogins
}

// exitCodeOf scrapes /probe?target=target and returns the exit code of server.
func exitCodeOf(t *testing.T, base, target, server string) float64 {
	t.Helper()
	return probe(t, base, "target="+url.QueryEscape(target), "")["finesse_probe_exit_code{server="+server+"}"]
}

// A storm of scrapes with a wrong password, of both nodes under several
// spellings at once, makes one login: logins with one account take turns,
// and the rejection is known before the next turn. Probes then answer the
// remembered failure until the password file changes.
func TestServeDoesNotRetryAWrongPassword(t *testing.T) {
	cl, caFile, failedLogins := startCountingSimulator(t, "probe", "right")
	_, _, secure := cl.Nodes[0].Ports()
	pwFile := filepath.Join(t.TempDir(), "probe.pw")
	if err := os.WriteFile(pwFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, logs := startServe(t, map[string]string{"FINESSE_USER": "probe"},
		serveArgs(caFile, secure, "--password-file", pwFile, "--min-interval", "0")...)

	var wg sync.WaitGroup
	for i := range 9 {
		n := cl.Nodes[i%2]
		target := []string{n.HTTPSAddr(), "https://" + n.HTTPSAddr(), "https://" + n.HTTPSAddr() + "/"}[i%3]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code := exitCodeOf(t, base, target, target); code != 22 {
				t.Errorf("scrape of %s: exit %v, want 22", target, code)
			}
		}()
	}
	wg.Wait()
	if n := failedLogins.Load(); n != 1 {
		t.Errorf("9 scrapes at once made %d failed logins, want 1", n)
	}
	if c := probeCounts(t, base); c["failure"] != 1 || c["failure"]+c["auth-suppressed"]+c["cached"] != 9 {
		t.Errorf("probe counts %v, want 1 failure and the rest auth-suppressed or cached", c)
	}
	if !strings.Contains(logs.String(), `not logging in as "probe"`) {
		t.Errorf("no log line for the suppressed logins:\n%s", logs)
	}
	_, page := get(t, base+"/", "")
	if !strings.Contains(page, "auth-suppressed") {
		t.Errorf("page does not list the suppressed probes:\n%s", page)
	}

	// Rewritten, even with the same password, the file is read again and
	// the login tried once more.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(pwFile, later, later); err != nil {
		t.Fatal(err)
	}
	addr := cl.Nodes[1].HTTPSAddr()
	if code := exitCodeOf(t, base, addr, addr); code != 22 || failedLogins.Load() != 2 {
		t.Errorf("after touching the password file: exit %v, %d failed logins; want 22 and 2", code, failedLogins.Load())
	}
	if err := os.WriteFile(pwFile, []byte("right\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr = cl.Nodes[0].HTTPSAddr()
	if code := exitCodeOf(t, base, addr, addr); code != 0 {
		t.Errorf("with the right password: exit %v, want 0", code)
	}
}

// The memory of a rejected password is the account's, not a file's: two
// clusters whose password files hold the same wrong password make one
// failed login, until one of the files changes.
func TestServeRemembersAWrongPasswordAcrossFiles(t *testing.T) {
	cl, caFile, failedLogins := startCountingSimulator(t, "probe", "right")
	_, _, secure := cl.Nodes[0].Ports()
	dir := t.TempDir()
	for _, f := range []string{"a.pw", "b.pw"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("wrong\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`defaults:
  user: probe
  ca_file: %s
  xmpp_port: %d
clusters:
  a:
    servers: [%s]
    password_file: a.pw
  b:
    servers: [%s]
    password_file: b.pw
`, caFile, secure, cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr()))
	base, _ := startServe(t, nil, "--config", cfg, "--min-interval", "0")
	for _, c := range []string{"a", "b", "a", "b"} {
		if got := probe(t, base, "cluster="+c, "")["finesse_run_exit_code{}"]; got != 22 {
			t.Errorf("cluster %s: exit %v, want 22", c, got)
		}
	}
	if n := failedLogins.Load(); n != 1 {
		t.Errorf("%d failed logins, want 1", n)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "b.pw"), later, later); err != nil {
		t.Fatal(err)
	}
	probe(t, base, "cluster=b", "")
	probe(t, base, "cluster=a", "")
	if n := failedLogins.Load(); n != 2 {
		t.Errorf("after b.pw changed: %d failed logins, want 2 (b tried once more, a still remembered)", n)
	}
}

// A scrape ends within its own timeout: while another scrape's longer check
// of the same silent node runs, it answers 503 rather than wait for it.
func TestServeScrapeTimeoutBoundsTheWait(t *testing.T) {
	base, node := serveSilentNode(t, "4s")
	target := base + "/probe?target=" + url.QueryEscape(node.HTTPSAddr())
	long := make(chan int, 1)
	go func() {
		code, _ := get(t, target, "")
		long <- code
	}()
	time.Sleep(200 * time.Millisecond) // the first scrape's check is running
	start := time.Now()
	code, body := get(t, target, "1")
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
		t.Errorf("scrape with a 1s timeout took %v", elapsed)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "still running") {
		t.Errorf("scrape during another's check: %d %q, want 503", code, body)
	}
	if code := <-long; code != http.StatusOK {
		t.Errorf("the first scrape: %d", code)
	}
}

// The scrape timeout bounds a cluster checked in waves too: the second
// wave's server is reported not checked, in time.
func TestServeScrapeTimeoutBoundsTheWaves(t *testing.T) {
	cl, caFile := startSimulator(t, 2, "probe", "pw-waves")
	for _, n := range cl.Nodes {
		if err := n.SetScenario(simulator.NetworkLoss); err != nil {
			t.Fatal(err)
		}
	}
	_, _, secure := cl.Nodes[0].Ports()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`defaults:
  ca_file: %s
  xmpp_port: %d
  concurrency: 1
  connect_only: true
clusters:
  pair:
    servers: [%s, %s]
`, caFile, secure, cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr()))
	base, _ := startServe(t, nil, "--config", cfg)
	start := time.Now()
	got := probe(t, base, "cluster=pair", "1.5")
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("scrape with a 1.5s timeout took %v", elapsed)
	}
	first, second := cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr()
	if got["finesse_probe_exit_code{server="+first+"}"] != 10 || got["finesse_probe_exit_code{server="+second+"}"] != 70 {
		t.Errorf("two silent nodes in two waves within one scrape timeout: %v", got)
	}
}

// A probe sends the password to the server it checks, so serve checks only
// servers it was told of.
func TestServeChecksOnlyServersItWasToldOf(t *testing.T) {
	cl, caFile := startSimulator(t, 2, "probe", "pw-allow")
	_, _, secure := cl.Nodes[0].Ports()
	env := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw-allow"}
	first, second := cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr()

	base, logs := startServe(t, env, "--ca-file", caFile, "--xmpp-port", strconv.Itoa(secure))
	if !strings.Contains(logs.String(), "every /probe?target= scrape will be refused") {
		t.Errorf("no warning that every target is refused:\n%s", logs)
	}
	if code, body := get(t, base+"/probe?target="+url.QueryEscape(first), ""); code != http.StatusForbidden || !strings.Contains(body, "--allow-target") {
		t.Errorf("target without an allow-list: %d %q, want 403", code, body)
	}

	firstHost, _, _ := net.SplitHostPort(first)
	cfg := writeConfig(t, t.TempDir(), fmt.Sprintf("clusters:\n  one:\n    servers: [%s]\n", first))
	base, _ = startServe(t, env, "--ca-file", caFile, "--xmpp-port", strconv.Itoa(secure), "--config", cfg, "--allow-target", "finesse-*.example.com")
	if got := probe(t, base, "target="+url.QueryEscape("https://"+first), ""); got["finesse_probe_success{server=https://"+first+"}"] != 1 {
		t.Errorf("a server of a cluster: %v", got)
	}
	for _, target := range []string{second, firstHost + ":9", "evil.example.com"} {
		if code, _ := get(t, base+"/probe?target="+url.QueryEscape(target), ""); code != http.StatusForbidden {
			t.Errorf("target %s, in no cluster and matching no pattern: %d, want 403", target, code)
		}
	}
	tio := newTestIO(nil, "")
	if code := Main(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--allow-target", "["}, tio.ios, ""); code != 64 || !strings.Contains(tio.errOut.String(), "not a valid pattern") {
		t.Errorf("--allow-target [: exit %d, want 64\n%s", code, tio.errOut)
	}
}

// The page lists targets as scrapes named them, escaped.
func TestServePageEscapesTargets(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-page")
	_, _, secure := cl.Nodes[0].Ports()
	env := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw-page"}
	base, _ := startServe(t, env, serveArgs(caFile, secure)...)
	hostile := "https://" + cl.Nodes[0].HTTPSAddr() + "/<script>alert(1)</script>"
	probe(t, base, "target="+url.QueryEscape(hostile), "")
	_, page := get(t, base+"/", "")
	if strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("page does not escape the target:\n%s", page)
	}
}

func TestServeRefusesStdinPassword(t *testing.T) {
	tio := newTestIO(nil, "pw\n")
	if code := Main(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--password-file", "-"}, tio.ios, ""); code != 64 {
		t.Errorf("--password-file -: exit %d, want 64\n%s", code, tio.errOut)
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:9720": true, "[::1]:9720": true, "0.0.0.0:9720": false, "192.0.2.1:9720": false} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopback(a); got != want {
			t.Errorf("loopback(%s) = %v, want %v", addr, got, want)
		}
	}
}

// With --peers, serve checks the alternate node a server's SystemInfo names
// only when a scrape could name it too: otherwise whoever controls an
// allowed server's SystemInfo would choose where the password goes.
func TestServePeersAreHeldToTheAllowList(t *testing.T) {
	cl, caFile := startSimulator(t, 2, "probe", "pw-serve-peers")
	node := cl.Nodes[0]
	_, _, secure := node.Ports()
	env := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw-serve-peers"}
	// serveArgs allows 127.*: the node given, not the name its SystemInfo
	// gives its peer.
	base, logs := startServe(t, env, serveArgs(caFile, secure, "--peers", "--min-interval", "0")...)
	got := probe(t, base, "target="+url.QueryEscape(node.HTTPSAddr()), "")
	if got["finesse_probe_success{server="+node.HTTPSAddr()+"}"] != 1 {
		t.Errorf("the node given: %v", got)
	}
	for series := range got {
		if strings.Contains(series, cl.Nodes[1].Host) {
			t.Errorf("the peer %s, allowed by no pattern, was checked: %s", cl.Nodes[1].Host, series)
		}
	}
	if !strings.Contains(logs.String(), "--peers: "+cl.Nodes[1].Host) || !strings.Contains(logs.String(), "not checked") {
		t.Errorf("the log does not say the peer was not checked:\n%s", logs)
	}
}

// The memory of a rejected password lasts until the files the credentials
// came from change: the config file as much as the password file.
func TestServeCredentialsChangeWithEitherFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "probe.pw")
	if err := os.WriteFile(pw, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, "defaults:\n  user: \"1080001\"\n  password_file: probe.pw\nclusters:\n  c:\n    servers: [a.example]\n")
	var opts *ServeOptions
	tio := newTestIO(nil, "")
	cmd := NewCmdServe(tio.ios, func(_ context.Context, o *ServeOptions) error { opts = o; return nil })
	cmd.SetArgs([]string{"--config", cfg})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	changed := func() time.Time {
		t.Helper()
		p, err := opts.probe(exporter.Request{Cluster: "c"})
		if err != nil {
			t.Fatal(err)
		}
		return p.CredentialsChanged
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, f := range []string{cfg, pw} {
		if err := os.Chtimes(f, base, base); err != nil {
			t.Fatal(err)
		}
	}
	if got := changed(); !got.Equal(base) {
		t.Fatalf("credentials changed %v, want %v", got, base)
	}
	for i, f := range []string{cfg, pw} {
		later := base.Add(time.Duration(i+1) * time.Minute)
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
		if got := changed(); !got.Equal(later) {
			t.Errorf("after %s was written: credentials changed %v, want %v", filepath.Base(f), got, later)
		}
	}
}
