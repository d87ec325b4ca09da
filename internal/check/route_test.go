package check

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/simulator"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// auto picks the transport desktops of the node's Finesse version use, and
// passes over only what is plainly not there.
func TestAutoPicksTheTransportOfTheVersion(t *testing.T) {
	port := func(addr string) int {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return n
	}
	refused, silent := port(nettest.Refused(t)), port(nettest.Silent(t))
	tests := []struct {
		name    string
		version string
		// boshPort and xmppPort, given the node, are auto's 7443 and 5223.
		boshPort, xmppPort func(n *simulator.Node) int
		code               finesse.Code
		transport          xmppprobe.Transport
		wherePort          func(n *simulator.Node) int
		skipped            []string // what the passed-over routes failed with
	}{
		{"12.6: WebSocket on the HTTPS port", simulator.Version126,
			(*simulator.Node).BOSHPort, nil, finesse.OK, xmppprobe.WebSocket,
			func(n *simulator.Node) int { https, _, _ := n.Ports(); return https }, nil},
		{"12.5: no /ws/ on 8445, WebSocket on 7443", simulator.Version125,
			(*simulator.Node).BOSHPort, nil, finesse.OK, xmppprobe.WebSocket,
			(*simulator.Node).BOSHPort, []string{"HTTP 404"}},
		{"no WebSocket at all: direct TLS", simulator.Version125,
			func(*simulator.Node) int { return refused },
			func(n *simulator.Node) int { _, _, secure := n.Ports(); return secure },
			finesse.OK, xmppprobe.TCP,
			func(n *simulator.Node) int { _, _, secure := n.Ports(); return secure }, []string{"HTTP 404", "refused"}},
		{"a silent 7443 is the outage, not a reason to move on", simulator.Version125,
			func(*simulator.Node) int { return silent },
			func(n *simulator.Node) int { _, _, secure := n.Ports(); return secure },
			finesse.XMPPConnectionFailed, xmppprobe.WebSocket,
			func(*simulator.Node) int { return silent }, []string{"HTTP 404"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, err := simulator.Start(simulator.Config{Nodes: 1, Version: tt.version, Users: map[string]string{"probe": "pw"}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			n := cl.Nodes[0]
			o := Options{Timeout: time.Second, PresenceTimeout: time.Second, XMPPTransport: TransportAuto,
				BOSHPort: tt.boshPort(n), TLS: &tls.Config{RootCAs: cl.CA.Pool()}, User: "probe", Password: "pw"}
			if tt.xmppPort != nil {
				o.XMPPPort = tt.xmppPort(n)
			}
			r := Run(context.Background(), []Target{nodeTarget(t, n)}, o).Servers[0]
			if r.ExitCode() != tt.code {
				t.Fatalf("exit %d, want %d: %v", r.ExitCode(), tt.code, r.Failure)
			}
			if r.XMPP.Transport != tt.transport || !strings.HasSuffix(r.XMPP.Addr, ":"+strconv.Itoa(tt.wherePort(n))) {
				t.Errorf("reached over %s at %s, want %s on port %d", r.XMPP.Transport, r.XMPP.Addr, tt.transport, tt.wherePort(n))
			}
			if !strings.HasPrefix(r.XMPPRoute.Why, "auto: ") {
				t.Errorf("why %q", r.XMPPRoute.Why)
			}
			if len(r.XMPPRoute.Skipped) != len(tt.skipped) {
				t.Fatalf("skipped %+v, want %d", r.XMPPRoute.Skipped, len(tt.skipped))
			}
			for i, want := range tt.skipped {
				if got := r.XMPPRoute.Skipped[i].Err.Error(); !strings.Contains(got, want) {
					t.Errorf("skipped #%d: %q, want it to hold %q", i, got, want)
				}
			}
		})
	}
}
