package check

import (
	"context"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/simulator"
)

// A Finesse pair with one node down is degraded: under --require all that is
// the failing node's code, under --require any it passes.
func TestPairVerdicts(t *testing.T) {
	cl, opts := startSimulator(t, 2, simulator.Healthy, "1080001")
	targets := []Target{nodeTarget(t, cl.Nodes[0]), nodeTarget(t, cl.Nodes[1])}
	tests := []struct {
		down    []int
		require Require
		verdict Verdict
		exit    int
	}{
		{nil, RequireAll, VerdictAvailable, 0},
		{nil, RequireAny, VerdictAvailable, 0},
		{[]int{1}, RequireAll, VerdictDegraded, 12},
		{[]int{1}, RequireAny, VerdictDegraded, 0},
		{[]int{0, 1}, RequireAny, VerdictUnavailable, 12},
	}
	for _, tt := range tests {
		for i := range cl.Nodes {
			s := simulator.Healthy
			for _, d := range tt.down {
				if d == i {
					s = simulator.WebappDown
				}
			}
			if err := cl.SetScenario(i, s); err != nil {
				t.Fatal(err)
			}
		}
		opts.Require = tt.require
		res := Run(context.Background(), targets, opts)
		if res.Verdict() != tt.verdict || int(res.ExitCode()) != tt.exit {
			t.Errorf("down %v, require %s: verdict %s, exit %d; want %s, %d", tt.down, tt.require, res.Verdict(), res.ExitCode(), tt.verdict, tt.exit)
		}
	}
}

// startPeers is a healthy pair whose nodes' names resolve to their
// addresses, and options that check with --peers.
func startPeers(t *testing.T) (*simulator.Cluster, Options) {
	t.Helper()
	cl, opts := startSimulator(t, 2, simulator.Healthy, "1080001")
	opts.Resolver = nettest.DNS(t, map[string]net.IP{
		cl.Nodes[0].Host: net.ParseIP("127.0.0.1"),
		cl.Nodes[1].Host: net.ParseIP("127.0.0.2"),
	})
	opts.Peers = true
	return cl, opts
}

// --peers adds the alternate node SystemInfo names, once, after the servers
// given, and says which server named it.
func TestPeersAddTheAlternateNodeOnce(t *testing.T) {
	cl, opts := startPeers(t)
	a := nodeTarget(t, cl.Nodes[0])
	res := Run(context.Background(), []Target{a}, opts)
	if len(res.Servers) != 2 {
		t.Fatalf("%d servers checked, want the one given and its peer", len(res.Servers))
	}
	peer := res.Servers[1]
	if peer.Target.Host != cl.Nodes[1].Host || peer.PeerOf != a.Name || !peer.Available() {
		t.Fatalf("peer %s (of %q): exit %d %v", peer.Target.Name, peer.PeerOf, peer.ExitCode(), peer.Failure)
	}
	// Given both nodes, nothing is added.
	b, err := ParseTarget(peer.Target.Name)
	if err != nil {
		t.Fatal(err)
	}
	if res := Run(context.Background(), []Target{a, b}, opts); len(res.Servers) != 2 {
		t.Fatalf("%d servers checked for a pair given whole", len(res.Servers))
	}
}

// A peer that PeerAllowed refuses is not checked: its name came from a
// server's SystemInfo, and its check would send the password there.
func TestPeersRefusedAreNotChecked(t *testing.T) {
	cl, opts := startPeers(t)
	var asked []string
	opts.PeerAllowed = func(t Target) error {
		asked = append(asked, t.Host)
		return errors.New("not told of it")
	}
	res := Run(context.Background(), []Target{nodeTarget(t, cl.Nodes[0])}, opts)
	if len(res.Servers) != 1 || !res.Servers[0].Available() {
		t.Fatalf("%d servers checked, want only the one given, available", len(res.Servers))
	}
	if len(asked) != 1 || asked[0] != cl.Nodes[1].Host {
		t.Errorf("PeerAllowed asked about %v, want %s once", asked, cl.Nodes[1].Host)
	}
}

// A certificate close to expiry on a port that passed is a warning, and a
// critical one within --cert-crit, on each port that presents it.
func TestCertificateExpiryWarnings(t *testing.T) {
	cl, opts := startSimulator(t, 1, simulator.Healthy, "1080001")
	target := nodeTarget(t, cl.Nodes[0])
	notAfter := Run(context.Background(), []Target{target}, opts).Servers[0].SystemInfo.Certificate.NotAfter
	tests := []struct {
		left time.Duration
		want []Warning
	}{
		{60 * 24 * time.Hour, nil},
		{20 * 24 * time.Hour, []Warning{{WarnHTTPSCertExpiring, SeverityWarning}, {WarnXMPPCertExpiring, SeverityWarning}}},
		{3 * 24 * time.Hour, []Warning{{WarnHTTPSCertExpiring, SeverityCritical}, {WarnXMPPCertExpiring, SeverityCritical}}},
	}
	for _, tt := range tests {
		opts.Now = func() time.Time { return notAfter.Add(-tt.left) }
		s := Run(context.Background(), []Target{target}, opts).Servers[0]
		if !s.Available() || !reflect.DeepEqual(s.Warnings, tt.want) {
			t.Errorf("%v left: available %v, warnings %v; want %v", tt.left, s.Available(), s.Warnings, tt.want)
		}
	}
}
