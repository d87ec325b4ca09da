package contrib_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/metrics"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/systeminfo"
)

// These tests hold contrib/prometheus to 'finessectl serve': the scrape
// configuration sends each target as ?target= to the exporter (blackbox
// style) or a cluster as ?cluster=, and every query of the dashboard names
// metrics finessectl exports. promtool checks the file itself in
// prometheus_integration_test.go.

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

func TestPrometheusScrapeConfig(t *testing.T) {
	var cfg struct {
		ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, "prometheus/prometheus.yml")), &cfg); err != nil {
		t.Fatal(err)
	}
	jobs := map[string]scrapeConfig{}
	for _, j := range cfg.ScrapeConfigs {
		jobs[j.JobName] = j
	}
	const exporter = "127.0.0.1:9720"

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
		steps[2].TargetLabel != "__address__" || steps[2].Replacement != exporter {
		t.Errorf("job finesse: not the blackbox relabeling: %+v", steps)
	}

	site, ok := jobs["finesse-site1"]
	if !ok {
		t.Fatal("no job finesse-site1")
	}
	if site.MetricsPath != "/probe" || len(site.Params["cluster"]) != 1 || site.Params["cluster"][0] != "site1" {
		t.Errorf("job finesse-site1: metrics_path %q, params %v; want /probe and cluster: [site1]", site.MetricsPath, site.Params)
	}
	if len(site.StaticConfigs) != 1 || len(site.StaticConfigs[0].Targets) != 1 || site.StaticConfigs[0].Targets[0] != exporter {
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
	metricName := regexp.MustCompile(`\bfinesse(?:ctl)?_[a-z0-9_]+`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			names := metricName.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no finessectl metric", p.Title, q.Expr)
			}
			for _, n := range names {
				used[n] = true
				if !exported[n] {
					t.Errorf("panel %q: query %q names %s, which finessectl does not export", p.Title, q.Expr, n)
				}
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
