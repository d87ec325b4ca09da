package metrics

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/simulator"
)

// A real run over loopback against a simulated pair: both nodes pass, and
// the exposition carries the phase timings of both protocols.
func TestSimulatedPairEndToEnd(t *testing.T) {
	cl, err := simulator.Start(simulator.Config{Nodes: 2, Users: map[string]string{"1080001": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	_, _, secure := cl.Nodes[0].Ports()
	opts := check.Options{Timeout: 5 * time.Second, PresenceTimeout: 2 * time.Second, XMPPPort: secure,
		TLS: &tls.Config{RootCAs: cl.CA.Pool()}, User: "1080001", Password: "pw"}
	var targets []check.Target
	for _, n := range cl.Nodes {
		tg, err := check.ParseTarget(n.HTTPSAddr())
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, tg)
	}

	res := check.Run(context.Background(), targets, opts)
	got := parse(t, render(t, res))

	want := func(name string, value float64, kv ...string) {
		t.Helper()
		k := m(name, value, kv...).key()
		s, ok := got[k]
		if !ok {
			t.Errorf("missing %s", k)
		} else if s.value != value {
			t.Errorf("%s = %v, want %v", k, s.value, value)
		}
	}
	want("finesse_run_verdict", 1, "verdict", "available")
	want("finesse_run_exit_code", 0)
	for _, tg := range targets {
		want("finesse_probe_success", 1, "server", tg.Name)
		want("finesse_probe_exit_code", 0, "server", tg.Name)
		want("finesse_systeminfo_in_service", 1, "server", tg.Name)
		phases := map[string]int{}
		for _, s := range got {
			if s.labels["server"] != tg.Name {
				continue
			}
			switch s.name {
			case "finesse_probe_phase_duration_seconds":
				if s.value <= 0 {
					t.Errorf("%s = %v, want a duration", s.key(), s.value)
				}
				phases[s.labels["check"]]++
			case "finesse_tls_cert_not_after_timestamp_seconds":
				if s.value < float64(time.Now().Unix()) {
					t.Errorf("%s = %v, want the future", s.key(), s.value)
				}
			}
		}
		// The TLS handshake is a phase of both protocols.
		for _, c := range []string{"systeminfo", "xmpp"} {
			if phases[c] == 0 {
				t.Errorf("%s: no %s phases", tg.Name, c)
			}
			k := m("finesse_probe_phase_duration_seconds", 0, "server", tg.Name, "check", c, "phase", "tls").key()
			if _, ok := got[k]; !ok {
				t.Errorf("missing %s", k)
			}
		}
		for _, port := range []string{"https", "xmpp"} {
			if _, ok := got[m("finesse_tls_cert_not_after_timestamp_seconds", 0, "server", tg.Name, "port", port).key()]; !ok {
				t.Errorf("%s: no certificate expiry for %s", tg.Name, port)
			}
		}
	}
}
