package simulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// login opens a probe session on n's direct TLS port.
func login(t *testing.T, c *Cluster, n *Node) *xmppprobe.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := xmppprobe.New(xmppprobe.Config{Addr: n.DirectTLSAddr(), Domain: n.Host, TLS: &tls.Config{RootCAs: c.CA.Pool(), ServerName: n.Host}})
	t.Cleanup(func() { s.Close() })
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Login(ctx, "probe", "pw", xmppprobe.NewResource()); err != nil {
		t.Fatal(err)
	}
	return s
}

func awaitFinesse(s *xmppprobe.Session, n *Node, wait time.Duration) (xmppprobe.Presence, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return s.AwaitPresence(ctx, "finesse@"+n.Host)
}

// finesse-not-in-roster: a new session's roster comes without the
// 'finesse' user and no presence of it follows; a live session is told as
// by an XMPP server, with the user's unavailable presence, and gets its
// presence again when the scenario ends.
func TestFinesseNotInRoster(t *testing.T) {
	c := startTest(t, 1)
	n := c.Nodes[0]
	live := login(t, c, n)
	if p, err := awaitFinesse(live, n, 5*time.Second); err != nil || !p.Available || !p.Roster.Listed || p.Roster.Subscription != "both" {
		t.Fatalf("healthy: presence %+v, %v", p, err)
	}

	if err := n.SetScenario(FinesseNotInRoster); err != nil {
		t.Fatal(err)
	}
	if p, err := awaitFinesse(live, n, 5*time.Second); err != nil || p.Available {
		t.Errorf("live session after the contact left: %+v, %v; want its unavailable presence", p, err)
	}
	fresh := login(t, c, n)
	_, err := awaitFinesse(fresh, n, 500*time.Millisecond)
	var np *xmppprobe.NoPresenceError
	if !errors.As(err, &np) || !np.Roster.Received || np.Roster.Listed {
		t.Fatalf("new session: %v; want no presence, and a roster received without the user", err)
	}

	if err := n.SetScenario(Healthy); err != nil {
		t.Fatal(err)
	}
	// fresh gave up waiting, which ends a probe session; a new one is needed.
	for name, s := range map[string]*xmppprobe.Session{"live": live, "new": login(t, c, n)} {
		if p, err := awaitFinesse(s, n, 5*time.Second); err != nil || !p.Available {
			t.Errorf("%s session after the contact came back: %+v, %v; want its presence", name, p, err)
		}
	}
}

// notification-cert-stale: the Notification Service's ports present the
// expired certificate, Tomcat's port the valid one; healthy again restores
// the valid one everywhere.
func TestNotificationCertStale(t *testing.T) {
	c := startTest(t, 1)
	n := c.Nodes[0]
	valid := peerCertificate(t, n.HTTPSAddr())
	if err := n.SetScenario(NotificationCertStale); err != nil {
		t.Fatal(err)
	}
	handshake := func(addr string, mode xmppprobe.TLSMode) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s := xmppprobe.New(xmppprobe.Config{Addr: addr, Domain: n.Host, Mode: mode, TLS: &tls.Config{RootCAs: c.CA.Pool(), ServerName: n.Host}})
		defer s.Close()
		return s.Connect(ctx)
	}
	for _, tc := range []struct {
		name    string
		addr    string
		mode    xmppprobe.TLSMode // "" for HTTPS
		expired bool
	}{
		{"HTTPS (Tomcat, and the web proxy's /ws/)", n.HTTPSAddr(), "", false},
		{"7443 (WebSocket and BOSH)", n.BOSHAddr(), "", true},
		{"XMPP direct TLS", n.DirectTLSAddr(), xmppprobe.DirectTLS, true},
		{"XMPP STARTTLS", n.StartTLSAddr(), xmppprobe.StartTLS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.mode == "" {
				leaf := peerCertificate(t, tc.addr)
				_, err = leaf.Verify(x509.VerifyOptions{Roots: c.CA.Pool(), DNSName: n.Host})
				if !tc.expired && !leaf.Equal(valid) {
					t.Errorf("presents a certificate valid to %v, not the node's own", leaf.NotAfter)
				}
			} else {
				err = handshake(tc.addr, tc.mode)
			}
			var invalid x509.CertificateInvalidError
			if expired := errors.As(err, &invalid) && invalid.Reason == x509.Expired; expired != tc.expired {
				t.Errorf("handshake: %v; want an expiry error: %t", err, tc.expired)
			}
		})
	}
	if err := n.SetScenario(Healthy); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{n.BOSHAddr(), n.DirectTLSAddr()} {
		if got := peerCertificate(t, addr); !got.Equal(valid) {
			t.Errorf("healthy again: %s presents a certificate valid to %v, not the node's own", addr, got.NotAfter)
		}
	}
}

// What finessectl's check concludes in finesse-not-in-roster and
// notification-cert-stale, per way to the Notification Service: the stale
// certificate fails every way but the web proxy's, which presents Tomcat's.
func TestRosterAndStaleCertificateExitCodes(t *testing.T) {
	c := startTest(t, 1)
	n := c.Nodes[0]
	target, err := check.ParseTarget(n.HTTPSAddr())
	if err != nil {
		t.Fatal(err)
	}
	_, xmppPort, securePort := n.Ports()
	ways := map[string]check.Options{
		"direct TLS":        {XMPPTransport: check.TransportTCP, XMPPMode: xmppprobe.DirectTLS, XMPPPort: securePort},
		"STARTTLS":          {XMPPTransport: check.TransportTCP, XMPPMode: xmppprobe.StartTLS, XMPPPort: xmppPort},
		"WebSocket on 8445": {XMPPTransport: check.TransportWebSocket},
		"WebSocket on 7443": {XMPPTransport: check.TransportWebSocket, XMPPPort: n.BOSHPort()},
	}
	for _, tc := range []struct {
		scenario Scenario
		want     map[string]finesse.Code
	}{
		{FinesseNotInRoster, map[string]finesse.Code{"direct TLS": finesse.FinessePresenceMissing, "STARTTLS": finesse.FinessePresenceMissing,
			"WebSocket on 8445": finesse.FinessePresenceMissing, "WebSocket on 7443": finesse.FinessePresenceMissing}},
		{NotificationCertStale, map[string]finesse.Code{"direct TLS": finesse.XMPPTLS, "STARTTLS": finesse.XMPPTLS,
			"WebSocket on 8445": finesse.OK, "WebSocket on 7443": finesse.XMPPTLS}},
	} {
		if err := n.SetScenario(tc.scenario); err != nil {
			t.Fatal(err)
		}
		for way, want := range tc.want {
			t.Run(string(tc.scenario)+"/"+way, func(t *testing.T) {
				o := ways[way]
				o.Timeout, o.PresenceTimeout = 5*time.Second, 300*time.Millisecond
				o.TLS, o.User, o.Password = &tls.Config{RootCAs: c.CA.Pool()}, "probe", "pw"
				s := check.Run(context.Background(), []check.Target{target}, o).Servers[0]
				if s.ExitCode() != want {
					t.Errorf("exit %d, want %d; failure %v", s.ExitCode(), want, s.Failure)
				}
			})
		}
	}
}
