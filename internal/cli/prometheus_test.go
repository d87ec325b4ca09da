package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/finessectl/finessectl/internal/simulator"
)

// -o prometheus and --textfile write the exposition through the real
// command path; the Prometheus text parser reads both, and --textfile is
// written even when -q prints nothing.
func TestPrometheusOutputAndTextfile(t *testing.T) {
	cl, caFile := startSimulator(t, 2, "1080001", "pw-prom")
	if err := cl.SetScenario(1, simulator.WebappDown); err != nil {
		t.Fatal(err)
	}
	_, _, secure := cl.Nodes[0].Ports()
	env := map[string]string{"FINESSE_USER": "1080001", "FINESSE_PASSWORD": "pw-prom"}
	textfile := filepath.Join(t.TempDir(), "finesse.prom")
	servers := []string{cl.Nodes[0].HTTPSAddr(), cl.Nodes[1].HTTPSAddr()}
	run := func(args ...string) (int, *testIO) {
		tio := newTestIO(env, "")
		base := []string{"check", "-t", "2s", "--presence-timeout", "1s", "--ca-file", caFile, "--xmpp-port", strconv.Itoa(secure)}
		return Main(context.Background(), append(append(base, args...), servers...), tio.ios, ""), &tio
	}

	code, tio := run("-o", "prometheus")
	if code != 12 {
		t.Fatalf("exit %d, want 12\n%s", code, tio.errOut)
	}
	assertSuccess(t, tio.out.Bytes(), servers, []float64{1, 0})

	if err := cl.SetScenario(1, simulator.Healthy); err != nil {
		t.Fatal(err)
	}
	code, tio = run("-q", "--textfile", textfile)
	if code != 0 || tio.out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q; want 0 and nothing", code, tio.out)
	}
	data, err := os.ReadFile(textfile)
	if err != nil {
		t.Fatal(err)
	}
	assertSuccess(t, data, servers, []float64{1, 1})

	// When every server passed, the textfile's failure is the outcome, and
	// the only thing reported: one document, one plugin state.
	missing := filepath.Join(t.TempDir(), "missing", "finesse.prom")
	code, tio = run("--textfile", missing)
	if code != 64 || !strings.Contains(tio.errOut.String(), "--textfile") || tio.out.Len() != 0 {
		t.Fatalf("textfile in a missing directory: exit %d, stdout %q, stderr %q", code, tio.out, tio.errOut)
	}
	code, tio = run("-o", "json", "--textfile", missing)
	dec := json.NewDecoder(tio.out)
	var doc struct {
		ExitCode int    `json:"exit_code"`
		Error    string `json:"error"`
	}
	if err := dec.Decode(&doc); err != nil || code != 64 || doc.ExitCode != 64 || !strings.Contains(doc.Error, "--textfile") {
		t.Fatalf("-o json, textfile in a missing directory: exit %d, document %+v (%v)", code, doc, err)
	}
	if err := dec.Decode(&doc); err != io.EOF {
		t.Errorf("-o json wrote a second document, or more (%v): %+v", err, doc)
	}
	code, tio = run("-o", "nagios", "--textfile", missing)
	if first, _, _ := strings.Cut(tio.out.String(), "\n"); code != 3 || !strings.HasPrefix(first, "FINESSE UNKNOWN - ") ||
		strings.Count(tio.out.String(), "FINESSE ") != 1 {
		t.Fatalf("-o nagios, textfile in a missing directory: exit %d, want 3 and one UNKNOWN state:\n%s", code, tio.out)
	}
	// A textfile that cannot be written does not hide an outage: the report
	// and the check's exit code still come.
	if err := cl.SetScenario(1, simulator.WebappDown); err != nil {
		t.Fatal(err)
	}
	code, tio = run("-q", "--textfile", filepath.Join(t.TempDir(), "missing", "finesse.prom"))
	if code != 12 || !strings.Contains(tio.out.String(), "NOT AVAILABLE (exit 12)") || !strings.Contains(tio.errOut.String(), "--textfile") {
		t.Fatalf("outage with an unwritable textfile: exit %d\n%s%s", code, tio.out, tio.errOut)
	}
	// So does a degraded pair under --require any, which exits 0: one
	// document, the report's.
	code, tio = run("-q", "--require", "any", "-o", "json", "--textfile", missing)
	dec = json.NewDecoder(tio.out)
	var report struct {
		ExitCode int    `json:"exit_code"`
		Verdict  string `json:"verdict"`
	}
	if err := dec.Decode(&report); err != nil || code != 0 || report.ExitCode != 0 || report.Verdict != "degraded" ||
		!strings.Contains(tio.errOut.String(), "--textfile") {
		t.Fatalf("degraded pair under --require any with an unwritable textfile: exit %d, report %+v (%v)\n%s", code, report, err, tio.errOut)
	}
	if err := dec.Decode(&report); err != io.EOF {
		t.Errorf("a second document, or more (%v)", err)
	}
}

func assertSuccess(t *testing.T, exposition []byte, servers []string, want []float64) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(exposition))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, exposition)
	}
	fam := families["finesse_probe_success"]
	if fam == nil {
		t.Fatalf("no finesse_probe_success in\n%s", exposition)
	}
	got := map[string]float64{}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "server" {
				got[l.GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	for i, s := range servers {
		if v, ok := got[s]; !ok || v != want[i] {
			t.Errorf("finesse_probe_success{server=%q} = %v (present %v), want %v", s, v, ok, want[i])
		}
	}
}
