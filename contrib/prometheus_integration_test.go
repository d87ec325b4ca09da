//go:build integration

package contrib_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/finessectl/finessectl/internal/cli"
	"github.com/finessectl/finessectl/internal/simulator"
)

// promtool, from Debian's prometheus package, accepts the shipped scrape
// configuration and the alerting rules it loads, and rejects a broken copy of
// it.
func TestPromtoolChecksScrapeConfig(t *testing.T) {
	promtool := tool(t, "promtool")
	out, code := run(t, promtool, "check", "config", contribFile(t, "prometheus/prometheus.yml"))
	if code != 0 {
		t.Fatalf("promtool check config: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "SUCCESS: 1 rule files found") || !strings.Contains(out, "Checking "+contribFile(t, "prometheus/finesse-alerts.yml")) {
		t.Errorf("promtool check config did not find and check the alerting rules:\n%s", out)
	}
	broken := filepath.Join(t.TempDir(), "prometheus.yml")
	text := strings.Replace(readFile(t, "prometheus/prometheus.yml"), "scrape_timeout: 15s", "scrape_timeout: 15 seconds", 1)
	if err := os.WriteFile(broken, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := run(t, promtool, "check", "config", broken); code == 0 || !strings.Contains(out, `"15 seconds"`) {
		t.Errorf("promtool check config exit %d on a broken scrape_timeout, want it refused by name:\n%s", code, out)
	}
}

// promtool accepts the shipped alerting rules and rejects broken copies of
// them, naming what is broken.
func TestPromtoolChecksAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	out, code := run(t, promtool, "check", "rules", contribFile(t, "prometheus/finesse-alerts.yml"))
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(alertRules(t))); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("promtool check rules: exit %d, want 0 and %q\n%s", code, want, out)
	}

	text := readFile(t, "prometheus/finesse-alerts.yml")
	for _, c := range []struct{ name, old, new, want string }{
		{"bad PromQL", "max by (job, pair) (finesse_probe_success) == 0", "max by (job, pair) (finesse_probe_success == 0", "parse error"},
		{"bad duration", "for: 3m", "for: 3 minutes", "3 minutes"},
		{"bad template", "{{ if le $value 0.0 }}has expired", "{{ if le $value 0.0 }has expired", "template"},
		{"unknown field", "      - alert: FinessePairDown\n", "      - alert: FinessePairDown\n        frobnicate: true\n", "frobnicate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(text, c.old) {
				t.Fatalf("prometheus/finesse-alerts.yml no longer contains %q", c.old)
			}
			broken := filepath.Join(t.TempDir(), "finesse-alerts.yml")
			writeFile(t, broken, strings.Replace(text, c.old, c.new, 1), 0o644)
			out, code := run(t, promtool, "check", "rules", broken)
			if code == 0 {
				t.Fatalf("promtool check rules accepted a broken copy (%s):\n%s", c.name, out)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("promtool check rules exit %d without naming %q:\n%s", code, c.want, out)
			}
		})
	}
}

// The alerts' unit tests pass on the shipped rules, and fail on rules that
// alert wrongly: the tests would catch a regression, not merely run.
func TestPromtoolTestsAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	out, code := run(t, promtool, "test", "rules", contribFile(t, "prometheus/finesse-alerts.test.yml"))
	if code != 0 || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: exit %d, want 0 and SUCCESS\n%s", code, out)
	}

	rules := readFile(t, "prometheus/finesse-alerts.yml")
	tests := readFile(t, "prometheus/finesse-alerts.test.yml")
	for _, c := range []struct{ name, old, new string }{
		{"pair down on one node down", "max by (job, pair) (finesse_probe_success) == 0", "min by (job, pair) (finesse_probe_success) == 0"},
		{"pair down across pairs", "max by (job, pair) (finesse_probe_success) == 0", "max by (job) (finesse_probe_success) == 0"},
		{"node down at once", "for: 3m", "for: 0s"},
		{"node down without its scenario", `finesse_probe_failed_check_info{job=%q`, `finesse_probe_failed_check{job=%q`},
		{"warning from 10 days", "< 30 * 86400", "< 10 * 86400"},
		{"warning and critical at once", "\n          and finesse_tls_cert_not_after_timestamp_seconds - time() >= 7 * 86400", ""},
		{"scrape alert on every job", `up{job=~"finesse|finesse-.+"} == 0`, `up == 0`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(rules, c.old) {
				t.Fatalf("prometheus/finesse-alerts.yml no longer contains %q", c.old)
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "finesse-alerts.yml"), strings.Replace(rules, c.old, c.new, 1), 0o644)
			writeFile(t, filepath.Join(dir, "finesse-alerts.test.yml"), tests, 0o644)
			if out, code := run(t, promtool, "test", "rules", filepath.Join(dir, "finesse-alerts.test.yml")); code == 0 {
				t.Errorf("promtool test rules passes rules changed to %q:\n%s", c.new, out)
			}
		})
	}
}

// A Prometheus user runs finessectl serve, and Prometheus with the shipped
// scrape configuration and alerting rules (only addresses and intervals
// changed), against a simulated pair: Prometheus sees every node under its
// own instance, through the shipped relabelling; a node that fails shows its
// exit code and makes FinesseNodeDown pending, and the pair's second node
// failing makes FinessePairDown pending, for the blackbox-style job and the
// cluster job alike. That the alerts then fire after their 'for' is
// TestPromtoolTestsAlertRules's business.
func TestPrometheusScrapesSimulatedPair(t *testing.T) {
	prometheus := tool(t, "prometheus")
	const user, password = "1080001", "prometheus-e2e-pw"
	cl, err := simulator.Start(simulator.Config{Nodes: 2, Users: map[string]string{user: password}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := cl.CA.WriteCertFile(caFile); err != nil {
		t.Fatal(err)
	}
	nodes := []string{cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr()}
	_, _, securePort := cl.Nodes[0].Ports()

	// The cluster is there for the shipped cluster job (finesse-site1);
	// --allow-target is what a blackbox-style setup without clusters passes
	// for its targets (here the cluster's servers would be allowed anyway).
	serveConfig := filepath.Join(dir, "finessectl.yaml")
	writeFile(t, serveConfig, fmt.Sprintf("clusters:\n  site1:\n    servers: [%s, %s]\n", nodes[0], nodes[1]), 0o644)
	exporter := startExporter(t, map[string]string{"FINESSE_USER": user, "FINESSE_PASSWORD": password},
		"serve", "--listen", "127.0.0.1:0", "--config", serveConfig, "--allow-target", "127.0.0.*",
		"--ca-file", caFile, "--xmpp-port", strconv.Itoa(securePort),
		// Every 1s scrape checks afresh, so a scenario switch shows at once.
		"--min-interval", "0")
	prom := startPrometheus(t, prometheus, derivedPrometheusConfig(t, dir, exporter, nodes))

	// Every node, in both jobs, passes; the pair job's instance is the node
	// (the relabelling), the cluster job's the cluster.
	prom.await(t, 60*time.Second, "both nodes pass in both jobs", func() (bool, string) {
		got := prom.query(t, "finesse_probe_success")
		for _, n := range nodes {
			if got.value(map[string]string{"job": "finesse", "instance": n, "server": n}) != "1" ||
				got.value(map[string]string{"job": "finesse-site1", "instance": "site1", "server": n}) != "1" {
				return false, got.String()
			}
		}
		return true, ""
	})
	// Scrapes are spread over the interval: the exporter's own job may not
	// have had its first yet.
	prom.await(t, 30*time.Second, "every target scraped successfully", func() (bool, string) {
		for _, tg := range prom.activeTargets(t) {
			if tg.Health != "up" {
				return false, fmt.Sprintf("%s %s %s", tg.ScrapeURL, tg.Health, tg.LastError)
			}
		}
		return true, ""
	})
	for _, tg := range prom.activeTargets(t) {
		u, err := url.Parse(tg.ScrapeURL)
		if err != nil {
			t.Fatal(err)
		}
		if u.Host != exporter {
			t.Errorf("target %v: scrape URL %s, want finessectl serve at %s", tg.Labels, tg.ScrapeURL, exporter)
		}
		switch job, instance := tg.Labels["job"], tg.Labels["instance"]; job {
		case "finesse":
			if !slices.Contains(nodes, instance) || u.Path != "/probe" || u.Query().Get("target") != instance {
				t.Errorf("pair job target %s: scrape URL %s, want /probe?target= a node's address (%v)", instance, tg.ScrapeURL, nodes)
			}
		case "finesse-site1":
			if instance != "site1" || u.Path != "/probe" || u.Query().Get("cluster") != "site1" {
				t.Errorf("cluster job target %s: scrape URL %s, want /probe?cluster=site1", instance, tg.ScrapeURL)
			}
		}
	}
	certs := prom.query(t, `finesse_tls_cert_not_after_timestamp_seconds{job="finesse"}`)
	for _, n := range nodes {
		for _, port := range []string{"https", "xmpp"} {
			if certs.value(map[string]string{"server": n, "port": port}) == "" {
				t.Errorf("no certificate expiry for %s port %s: %s", n, port, certs)
			}
		}
	}

	// Every rule of the shipped file is loaded and evaluates on real series.
	want := map[string]bool{}
	for _, r := range alertRules(t) {
		want[r.Alert] = true
	}
	prom.await(t, 30*time.Second, "every rule evaluated without error", func() (bool, string) {
		rules := prom.rules(t)
		got := map[string]bool{}
		for _, r := range rules {
			if r.Health != "ok" {
				return false, fmt.Sprintf("%+v", rules)
			}
			got[r.Name] = true
		}
		return len(rules) == len(alertRules(t)) && maps.Equal(got, want), fmt.Sprintf("%+v", rules)
	})

	// One node down: its exit code and scenario, and a pending node alert
	// but no pair alert.
	if err := cl.SetScenario(1, simulator.TomcatDown); err != nil {
		t.Fatal(err)
	}
	down := map[string]string{"job": "finesse", "instance": nodes[1], "server": nodes[1]}
	prom.await(t, 30*time.Second, "node 1 fails with exit 10", func() (bool, string) {
		got := prom.query(t, `finesse_probe_exit_code{job="finesse"}`)
		return got.value(down) == "10" && got.value(map[string]string{"server": nodes[0]}) == "0", got.String()
	})
	info := prom.query(t, `finesse_probe_failed_check_info{job="finesse"}`)
	if len(info) != 1 || info.value(map[string]string{"server": nodes[1], "check": "systeminfo", "scenario": "tomcat-or-network-down"}) != "1" {
		t.Errorf("finesse_probe_failed_check_info: %s, want only node 1 with check systeminfo, scenario tomcat-or-network-down", info)
	}
	prom.await(t, 30*time.Second, "FinesseNodeDown pending for node 1", func() (bool, string) {
		got := prom.query(t, `ALERTS{alertname="FinesseNodeDown"}`)
		return got.value(map[string]string{"server": nodes[1], "job": "finesse", "alertstate": "pending"}) == "1", got.String()
	})
	if got := prom.query(t, `ALERTS{alertname="FinessePairDown"}`); len(got) != 0 {
		t.Errorf("a pair with one node up alerts: %s", got)
	}

	// Both nodes down: the pair alert, for each job style.
	if err := cl.SetScenario(0, simulator.TomcatDown); err != nil {
		t.Fatal(err)
	}
	prom.await(t, 30*time.Second, "FinessePairDown pending for both jobs", func() (bool, string) {
		got := prom.query(t, `ALERTS{alertname="FinessePairDown",alertstate="pending"}`)
		return got.value(map[string]string{"job": "finesse"}) == "1" && got.value(map[string]string{"job": "finesse-site1"}) == "1", got.String()
	})
	if got := prom.query(t, `ALERTS{alertname=~"FinesseCertificateExpiring|FinesseProbeScrapeFailing|FinessectlExporterDown"}`); len(got) != 0 {
		t.Errorf("alerts for a healthy exporter and 397-day certificates: %s", got)
	}
}

// startExporter runs finessectl (cli.Main, as the binary does) with args and
// env until the test ends, and returns the address serve listens on. What it
// logs goes to a file, which a failure shows.
func startExporter(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "finessectl.log")
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	ios := &cli.IOStreams{In: strings.NewReader(""), Out: log, ErrOut: log, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- cli.Main(ctx, args, ios, "") }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("finessectl %s: exit %d after cancel\n%s", args[0], code, readFile(t, logFile))
			}
		case <-time.After(10 * time.Second):
			t.Errorf("finessectl %s did not stop when cancelled", args[0])
		}
		log.Close()
	})

	listening := regexp.MustCompile(`listening on http://(\S+)/ `)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listening.FindStringSubmatch(readFile(t, logFile)); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("finessectl %s exited %d at start:\n%s", args[0], code, readFile(t, logFile))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("finessectl %s not listening after 10s:\n%s", args[0], readFile(t, logFile))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// derivedPrometheusConfig writes the shipped prometheus.yml with only what
// points at the world changed: scrape and evaluation intervals of 1s (and
// timeouts to match, which Prometheus requires), the rule files as absolute
// paths, the shipped exporter address (a target or a relabelling
// replacement) replaced by exporter, and the pair's example servers by
// nodes. The relabelling is kept as shipped, so that it is what is tested.
func derivedPrometheusConfig(t *testing.T, dir, exporter string, nodes []string) string {
	t.Helper()
	const where = "prometheus/prometheus.yml"
	doc := loadYAML(t, where)
	global := mapAt(t, doc, "global", where)
	global["scrape_interval"], global["evaluation_interval"] = "1s", "1s"

	shippedDir := filepath.Dir(contribFile(t, where))
	var ruleFiles []any
	for _, f := range stringList(t, doc["rule_files"], where+": rule_files") {
		ruleFiles = append(ruleFiles, filepath.Join(shippedDir, f))
	}
	doc["rule_files"] = ruleFiles

	jobs, ok := doc["scrape_configs"].([]any)
	if !ok {
		t.Fatalf("%s: scrape_configs is %T", where, doc["scrape_configs"])
	}
	servers, exporters, replacements := 0, 0, 0
	for _, j := range jobs {
		job, ok := j.(map[string]any)
		if !ok {
			t.Fatalf("%s: a scrape config is %T", where, j)
		}
		for _, k := range []string{"scrape_interval", "scrape_timeout"} {
			if _, ok := job[k]; ok {
				job[k] = "1s"
			}
		}
		statics, _ := job["static_configs"].([]any)
		for _, s := range statics {
			static, ok := s.(map[string]any)
			if !ok {
				t.Fatalf("%s: a static config is %T", where, s)
			}
			var targets []any
			for _, target := range stringList(t, static["targets"], where+": targets") {
				switch {
				case target == shippedExporter:
					targets = append(targets, exporter)
					exporters++
				case servers < len(nodes):
					targets = append(targets, nodes[servers])
					servers++
				default:
					t.Fatalf("%s: more Finesse servers than the %d simulated nodes: %s", where, len(nodes), target)
				}
			}
			static["targets"] = targets
		}
		relabels, _ := job["relabel_configs"].([]any)
		for _, r := range relabels {
			if rule, ok := r.(map[string]any); ok && rule["replacement"] == shippedExporter {
				rule["replacement"] = exporter
				replacements++
			}
		}
	}
	if servers != len(nodes) || exporters == 0 || replacements == 0 {
		t.Fatalf("%s: %d Finesse servers, %d exporter targets, %d exporter replacements; want %d, and the exporter %s as a target and in the relabelling",
			where, servers, exporters, replacements, len(nodes), shippedExporter)
	}

	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "prometheus.yml")
	writeFile(t, path, string(out), 0o644)
	return path
}

// promServer is a Prometheus server started by a test, and its HTTP API.
type promServer struct {
	base    string // http://127.0.0.1:PORT
	logFile string
}

// startPrometheus runs Prometheus with config on a free loopback port, its
// data in a temp dir, until the test ends, and waits until it is ready.
func startPrometheus(t *testing.T, bin, config string) *promServer {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &promServer{base: "http://" + addr, logFile: filepath.Join(dir, "prometheus.log")}
	log, err := os.Create(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		log.Close()
	})

	deadline := time.Now().Add(toolTimeout)
	for {
		if resp, err := http.Get(p.base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited (%v) at start:\n%s", err, readFile(t, p.logFile))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after %v:\n%s", toolTimeout, readFile(t, p.logFile))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// api GETs an API path and decodes its data into v.
func (p *promServer) api(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, readFile(t, p.logFile))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil || envelope.Status != "success" {
		t.Fatalf("GET %s: %d %s (%v)", path, resp.StatusCode, body, err)
	}
	if err := json.Unmarshal(envelope.Data, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, envelope.Data)
	}
}

// series is an instant vector: labels and value, as the API writes it.
type series []struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// value is the value of the one series whose labels include labels, or ""
// when there is none or more than one.
func (s series) value(labels map[string]string) string {
	found := ""
	n := 0
	for _, e := range s {
		match := true
		for k, v := range labels {
			match = match && e.Metric[k] == v
		}
		if match {
			found, _ = e.Value[1].(string)
			n++
		}
	}
	if n != 1 {
		return ""
	}
	return found
}

func (s series) String() string {
	var b strings.Builder
	for _, e := range s {
		fmt.Fprintf(&b, "\n  %v %v", e.Metric, e.Value[1])
	}
	if b.Len() == 0 {
		return "(no series)"
	}
	return b.String()
}

func (p *promServer) query(t *testing.T, q string) series {
	t.Helper()
	var data struct {
		ResultType string `json:"resultType"`
		Result     series `json:"result"`
	}
	p.api(t, "/api/v1/query?query="+url.QueryEscape(q), &data)
	if data.ResultType != "vector" {
		t.Fatalf("query %s: result type %q, want vector", q, data.ResultType)
	}
	return data.Result
}

type promTarget struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

func (p *promServer) activeTargets(t *testing.T) []promTarget {
	t.Helper()
	var data struct {
		ActiveTargets []promTarget `json:"activeTargets"`
	}
	p.api(t, "/api/v1/targets?state=active", &data)
	return data.ActiveTargets
}

type promRule struct {
	Name      string `json:"name"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

func (p *promServer) rules(t *testing.T) []promRule {
	t.Helper()
	var data struct {
		Groups []struct {
			Rules []promRule `json:"rules"`
		} `json:"groups"`
	}
	p.api(t, "/api/v1/rules", &data)
	var rules []promRule
	for _, g := range data.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// await polls cond until it holds, and fails the test after timeout with
// what cond last saw and Prometheus' log.
func (p *promServer) await(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var targets strings.Builder
			for _, tg := range p.activeTargets(t) {
				fmt.Fprintf(&targets, "\n  %s %s %s", tg.ScrapeURL, tg.Health, tg.LastError)
			}
			t.Fatalf("not within %v: %s; last saw: %s\ntargets:%s\nprometheus log:\n%s", timeout, what, saw, targets.String(), readFile(t, p.logFile))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
