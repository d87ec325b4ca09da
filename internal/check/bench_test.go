package check_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/simulator"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// BenchmarkRun measures a whole check (SystemInfo over HTTPS, XMPP connect,
// TLS, SASL, bind, presence) against simulated nodes on loopback: the cost of
// finessectl itself, with network latency taken out.
func BenchmarkRun(b *testing.B) {
	for _, bc := range []struct {
		name    string
		nodes   int
		mode    xmppprobe.TLSMode
		latency time.Duration
	}{
		{"direct/servers=1", 1, xmppprobe.DirectTLS, 0},
		{"starttls/servers=1", 1, xmppprobe.StartTLS, 0},
		{"direct/servers=8", 8, xmppprobe.DirectTLS, 0},
		// The simulator's latency model: the round trips BenchmarkRoundTrips
		// counts against Prosody behind a delay proxy, but for the TCP
		// handshake the simulator does not charge (see netdelay.Listener):
		// one round trip less, as the XMPP one overlaps SystemInfo.
		{"direct/servers=1/rtt=50ms", 1, xmppprobe.DirectTLS, 50 * time.Millisecond},
		{"starttls/servers=1/rtt=50ms", 1, xmppprobe.StartTLS, 50 * time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cl, err := simulator.Start(simulator.Config{Nodes: bc.nodes, Users: map[string]string{"probe": "pw"}, Latency: bc.latency})
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			var targets []check.Target
			for _, n := range cl.Nodes {
				t, err := check.ParseTarget(n.HTTPSAddr())
				if err != nil {
					b.Fatal(err)
				}
				targets = append(targets, t)
			}
			_, xmppPort, securePort := cl.Nodes[0].Ports()
			port := securePort
			if bc.mode == xmppprobe.StartTLS {
				port = xmppPort
			}
			opts := check.Options{XMPPMode: bc.mode, XMPPPort: port, TLS: &tls.Config{RootCAs: cl.CA.Pool()}, User: "probe", Password: "pw"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if r := check.Run(context.Background(), targets, opts); r.ExitCode() != 0 {
					b.Fatalf("exit %d: %v", r.ExitCode(), r.Servers[0].Failure)
				}
			}
			if bc.latency > 0 {
				b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(bc.latency), "rtt/op")
			}
		})
	}
}
