package contrib_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/metrics"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/systeminfo"
)

// These tests hold contrib/prometheus to 'finessectl serve': the scrape
// configuration sends each target as ?target= to the exporter (blackbox
// style) or a cluster as ?cluster=, loads the alerting rules, and every query
// of the dashboard and of the alerts names metrics finessectl exports.
// promtool checks the files themselves, and runs the alerts' unit tests, in
// prometheus_integration_test.go, where a real Prometheus also scrapes a
// simulated pair through finessectl serve.

type scrapeConfig struct {
	JobName       string              `yaml:"job_name"`
	MetricsPath   string              `yaml:"metrics_path"`
	ScrapeTimeout string              `yaml:"scrape_timeout"`
	Params        map[string][]string `yaml:"params"`
	StaticConfigs []struct {
		Targets []string `yaml:"targets"`
	} `yaml:"static_configs"`
	RelabelConfigs []struct {
		SourceLabels []string `yaml:"source_labels"`
		TargetLabel  string   `yaml:"target_label"`
		Replacement  string   `yaml:"replacement"`
	} `yaml:"relabel_configs"`
}

// shippedExporter is where prometheus.yml expects finessectl serve: its
// default --listen.
const shippedExporter = "127.0.0.1:9720"

type prometheusConfig struct {
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

func loadPrometheusConfig(t *testing.T) prometheusConfig {
	t.Helper()
	var cfg prometheusConfig
	if err := yaml.Unmarshal([]byte(readFile(t, "prometheus/prometheus.yml")), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPrometheusScrapeConfig(t *testing.T) {
	cfg := loadPrometheusConfig(t)
	// Relative to prometheus.yml's directory, as Prometheus reads it.
	if !slices.Equal(cfg.RuleFiles, []string{"finesse-alerts.yml"}) {
		t.Errorf("rule_files %q, want the alerts shipped beside it: [finesse-alerts.yml]", cfg.RuleFiles)
	}
	// Without it, a user copying the file gets 403 on every target.
	if text := readFile(t, "prometheus/prometheus.yml"); !strings.Contains(text, "--allow-target") || !strings.Contains(text, "403") {
		t.Error("prometheus.yml does not say that serve refuses (403) targets it was not told of with --allow-target or --config")
	}
	jobs := map[string]scrapeConfig{}
	for _, j := range cfg.ScrapeConfigs {
		jobs[j.JobName] = j
	}

	pair, ok := jobs["finesse"]
	if !ok {
		t.Fatal("no job finesse")
	}
	if pair.MetricsPath != "/probe" || pair.ScrapeTimeout != "15s" {
		t.Errorf("job finesse: metrics_path %q, scrape_timeout %q; want /probe and 15s", pair.MetricsPath, pair.ScrapeTimeout)
	}
	if len(pair.StaticConfigs) != 1 || len(pair.StaticConfigs[0].Targets) != 2 {
		t.Errorf("job finesse: want one static config with the two servers of a pair: %+v", pair.StaticConfigs)
	}
	// The blackbox relabeling, in order: the target becomes ?target= and
	// the instance label, then the exporter becomes the address scraped.
	steps := pair.RelabelConfigs
	if len(steps) != 3 ||
		len(steps[0].SourceLabels) != 1 || steps[0].SourceLabels[0] != "__address__" || steps[0].TargetLabel != "__param_target" ||
		len(steps[1].SourceLabels) != 1 || steps[1].SourceLabels[0] != "__param_target" || steps[1].TargetLabel != "instance" ||
		steps[2].TargetLabel != "__address__" || steps[2].Replacement != shippedExporter {
		t.Errorf("job finesse: not the blackbox relabeling: %+v", steps)
	}

	site, ok := jobs["finesse-site1"]
	if !ok {
		t.Fatal("no job finesse-site1")
	}
	if site.MetricsPath != "/probe" || len(site.Params["cluster"]) != 1 || site.Params["cluster"][0] != "site1" {
		t.Errorf("job finesse-site1: metrics_path %q, params %v; want /probe and cluster: [site1]", site.MetricsPath, site.Params)
	}
	if len(site.StaticConfigs) != 1 || len(site.StaticConfigs[0].Targets) != 1 || site.StaticConfigs[0].Targets[0] != shippedExporter {
		t.Errorf("job finesse-site1 must scrape the exporter: %+v", site.StaticConfigs)
	}
	for _, j := range cfg.ScrapeConfigs {
		for k := range j.Params {
			if k != "target" && k != "cluster" {
				t.Errorf("job %s: param %q, which finessectl serve refuses", j.JobName, k)
			}
		}
	}
}

// exportedNames are the metric families finessectl exports for a result
// that has every kind of sample: a failed server and one whose SystemInfo and
// certificate were read.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	now := time.Now()
	cert := &probe.Certificate{NotAfter: now.Add(90 * 24 * time.Hour)}
	res := check.Result{Require: check.RequireAll, Started: now, Servers: []check.ServerResult{
		{Target: check.Target{Name: "a", Host: "a", HTTPSPort: 8445},
			Checks:     []check.CheckResult{{Criterion: finesse.CriterionSystemInfo, Status: check.Pass, Duration: time.Millisecond}},
			SystemInfo: &systeminfo.Response{Info: &systeminfo.Info{Status: "IN_SERVICE"}, Certificate: cert}},
		{Target: check.Target{Name: "b", Host: "b", HTTPSPort: 8445},
			Failure: &check.Failure{Criterion: finesse.CriterionSystemInfo, Code: finesse.SystemInfoUnreachable, Err: errors.New("refused")}},
	}}
	var b bytes.Buffer
	if err := metrics.WriteText(&b, res); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(b.String(), -1) {
		names[m[1]] = true
	}
	return names
}

// metricName matches the names of finessectl's metrics (finesse_ for the
// probes, finessectl_ for the exporter's own) in a query or a template.
var metricName = regexp.MustCompile(`\bfinesse(?:ctl)?_[a-z0-9_]+`)

// queriedMetrics returns the finessectl metrics text names, and fails the
// test for each one that finessectl does not export.
func queriedMetrics(t *testing.T, where, text string, exported map[string]bool) []string {
	t.Helper()
	names := metricName.FindAllString(text, -1)
	for _, n := range names {
		if !exported[n] {
			t.Errorf("%s: %q names %s, which finessectl does not export", where, text, n)
		}
	}
	return names
}

func TestGrafanaDashboardQueriesExportedMetrics(t *testing.T) {
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(readFile(t, "prometheus/finesse-dashboard.json")), &dash); err != nil {
		t.Fatal(err)
	}
	exported := exportedNames(t)
	if !exported["finesse_tls_cert_not_after_timestamp_seconds"] || !exported["finesse_probe_check_duration_seconds"] {
		t.Fatalf("the hand-built result does not export every metric: %v", exported)
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			names := queriedMetrics(t, "panel "+strconv.Quote(p.Title), q.Expr, exported)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no finessectl metric", p.Title, q.Expr)
			}
			for _, n := range names {
				used[n] = true
			}
		}
	}
	for _, n := range []string{"finesse_probe_success", "finesse_probe_exit_code", "finesse_probe_check_duration_seconds",
		"finesse_tls_cert_not_after_timestamp_seconds"} {
		if !used[n] {
			t.Errorf("no panel shows %s", n)
		}
	}
}

// alertRule is a rule of prometheus/finesse-alerts.yml.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// alertRules reads the rules of every group of prometheus/finesse-alerts.yml.
func alertRules(t *testing.T) []alertRule {
	t.Helper()
	var file struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "prometheus/finesse-alerts.yml")), &file); err != nil {
		t.Fatal(err)
	}
	var rules []alertRule
	for _, g := range file.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("prometheus/finesse-alerts.yml has no rules")
	}
	return rules
}

// upJobs matches the job matcher of an alert on up.
var upJobs = regexp.MustCompile(`\bup\{job(=~|=)"([^"]*)"\}`)

// Every alert the issue asks for is there, with a severity and text for the
// engineer it wakes, and queries only metrics finessectl exports; an alert
// on failed scrapes covers exactly the shipped jobs it is meant for.
// promtool test rules (prometheus_integration_test.go) checks what fires.
func TestPrometheusAlertRulesQueryExportedMetrics(t *testing.T) {
	exported := exportedNames(t)
	var probeJobs, otherJobs []string
	for _, j := range loadPrometheusConfig(t).ScrapeConfigs {
		if j.MetricsPath == "/probe" {
			probeJobs = append(probeJobs, j.JobName)
		} else {
			otherJobs = append(otherJobs, j.JobName)
		}
	}
	wantUpJobs := map[string][]string{"FinesseProbeScrapeFailing": probeJobs, "FinessectlExporterDown": otherJobs}

	seen := map[string]bool{}
	for _, r := range alertRules(t) {
		where := "alert " + r.Alert
		if r.Alert == "" {
			t.Errorf("rule %q (record %q) is not an alert", r.Expr, r.Record)
			continue
		}
		sev := r.Labels["severity"]
		seen[r.Alert+"/"+sev] = true
		if sev != "warning" && sev != "critical" {
			t.Errorf("%s: severity %q, want warning or critical", where, sev)
		}
		if d, err := model.ParseDuration(r.For); err != nil || d == 0 {
			t.Errorf("%s: for %q, want a positive duration: one bad scrape must not page", where, r.For)
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", where, a)
			}
			queriedMetrics(t, where+" annotation "+a, r.Annotations[a], exported)
		}

		if m := upJobs.FindStringSubmatch(r.Expr); m != nil {
			want, ok := wantUpJobs[r.Alert]
			if !ok {
				t.Errorf("%s: an alert on up that this test does not know", where)
				continue
			}
			pattern := regexp.QuoteMeta(m[2])
			if m[1] == "=~" {
				pattern = m[2] // PromQL anchors regular expressions
			}
			jobRe := regexp.MustCompile("^(?:" + pattern + ")$")
			var matched []string
			for _, j := range append(slices.Clone(probeJobs), otherJobs...) {
				if jobRe.MatchString(j) {
					matched = append(matched, j)
				}
			}
			if !slices.Equal(matched, want) || len(want) == 0 {
				t.Errorf("%s: %s selects the shipped jobs %q, want %q", where, m[0], matched, want)
			}
			continue
		}
		if len(queriedMetrics(t, where, r.Expr, exported)) == 0 {
			t.Errorf("%s: %q names no finessectl metric", where, r.Expr)
		}
	}
	for _, want := range []string{"FinesseNodeDown/warning", "FinessePairDown/critical",
		"FinesseCertificateExpiring/warning", "FinesseCertificateExpiring/critical",
		"FinesseProbeScrapeFailing/warning", "FinessectlExporterDown/warning"} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
}
