package simulator

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// peerCertificate returns the leaf addr presents, unverified.
func peerCertificate(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// A node negotiates the classical key exchange even with Go's default client,
// which offers the post-quantum hybrid first, on Tomcat's port and on the
// Notification Service's alike.
func TestNodesNegotiateNoPostQuantumHybrid(t *testing.T) {
	n := startTest(t, 1).Nodes[0]
	for _, addr := range []string{n.HTTPSAddr(), n.DirectTLSAddr(), n.BOSHAddr()} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := conn.ConnectionState().CurveID; got != tls.X25519 {
			t.Errorf("%s negotiated %v, want X25519", addr, got)
		}
		conn.Close()
	}
}

// Each node's certificate names that node alone, as each real node's Tomcat
// certificate does: a checker sent to one node under another's name fails.
func TestEachNodeHasItsOwnCertificate(t *testing.T) {
	c := startTest(t, 2)
	certs := []*x509.Certificate{peerCertificate(t, c.Nodes[0].HTTPSAddr()), peerCertificate(t, c.Nodes[1].HTTPSAddr())}
	for _, tc := range []struct {
		node   int
		name   string
		verify bool
	}{
		{0, "finesse-a.example.test", true},
		{0, "127.0.0.1", true},
		{0, "localhost", true},
		{0, "::1", true},
		{0, "finesse-b.example.test", false},
		{0, "127.0.0.2", false},
		{1, "finesse-b.example.test", true},
		{1, "127.0.0.2", true},
		{1, "finesse-a.example.test", false},
		{1, "127.0.0.1", false},
		{1, "localhost", false},
		{1, "::1", false},
	} {
		t.Run(strconv.Itoa(tc.node)+"/"+tc.name, func(t *testing.T) {
			_, err := certs[tc.node].Verify(x509.VerifyOptions{Roots: c.CA.Pool(), DNSName: tc.name})
			if tc.verify && err != nil {
				t.Errorf("node %d's certificate does not verify for %s: %v", tc.node, tc.name, err)
			}
			var host x509.HostnameError
			if !tc.verify && !errors.As(err, &host) {
				t.Errorf("node %d's certificate for %s: %v, want a name mismatch", tc.node, tc.name, err)
			}
		})
	}
}

// A given certificate is served by every node, as before certificates were
// issued per node.
func TestGivenCertificateServedByEveryNode(t *testing.T) {
	ca := startTest(t, 1).CA
	leaf, err := ca.Issue([]string{"finesse.example.test", "127.0.0.1", "127.0.0.2"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	cert := leaf.TLSCertificate()
	c, err := Start(Config{Nodes: 2, Certificate: &cert, Users: map[string]string{"probe": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, n := range c.Nodes {
		for _, addr := range []string{n.HTTPSAddr(), n.DirectTLSAddr(), n.BOSHAddr()} {
			if got := peerCertificate(t, addr); !got.Equal(leaf.Cert) {
				t.Errorf("node %d on %s serves %v, want the given certificate", i, addr, got.DNSNames)
			}
		}
	}
	if err := c.SetScenario(0, CertExpired); err == nil {
		t.Error("cert-expired with a given certificate: no error, yet no CA to issue an expired one")
	}
}

// cert-expired makes every TLS port of the node present an expired
// certificate from the same CA, and only that: switching back restores the
// valid one without a restart.
func TestCertExpiredOnEveryTLSPort(t *testing.T) {
	c := startTest(t, 1)
	n := c.Nodes[0]
	handshake := func(addr string, mode xmppprobe.TLSMode) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		cfg := &tls.Config{RootCAs: c.CA.Pool(), ServerName: n.Host}
		if mode == "" {
			conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", addr)
			if err == nil {
				conn.Close()
			}
			return err
		}
		s := xmppprobe.New(xmppprobe.Config{Addr: addr, Domain: n.Host, Mode: mode, TLS: cfg})
		defer s.Close()
		return s.Connect(ctx)
	}
	ports := []struct {
		name string
		addr string
		mode xmppprobe.TLSMode // "" for TLS from the first byte without XMPP
	}{
		{"HTTPS", n.HTTPSAddr(), ""},
		{"BOSH and WebSocket", n.BOSHAddr(), ""},
		{"XMPP direct TLS", n.DirectTLSAddr(), xmppprobe.DirectTLS},
		{"XMPP STARTTLS", n.StartTLSAddr(), xmppprobe.StartTLS},
	}
	for _, s := range []Scenario{CertExpired, Healthy} {
		if err := n.SetScenario(s); err != nil {
			t.Fatal(err)
		}
		for _, p := range ports {
			t.Run(string(s)+"/"+p.name, func(t *testing.T) {
				err := handshake(p.addr, p.mode)
				var invalid x509.CertificateInvalidError
				expired := errors.As(err, &invalid) && invalid.Reason == x509.Expired
				if s == CertExpired && !expired {
					t.Errorf("handshake: %v, want an x509 expiry error", err)
				}
				if s == Healthy && err != nil {
					t.Errorf("handshake after recovery: %v", err)
				}
			})
		}
	}
	if err := n.SetScenario(CertExpired); err != nil {
		t.Fatal(err)
	}
	leaf := peerCertificate(t, n.HTTPSAddr())
	if age := time.Since(leaf.NotAfter); age < 12*time.Hour || leaf.NotAfter.Sub(leaf.NotBefore) < 365*24*time.Hour {
		t.Errorf("expired certificate valid %v to %v: want a full term that ended about a day ago", leaf.NotBefore, leaf.NotAfter)
	}
	if err := leaf.CheckSignatureFrom(c.CA.Cert); err != nil {
		t.Errorf("the expired certificate is not from the simulator's CA: %v", err)
	}
	if err := leaf.VerifyHostname(n.Host); err != nil {
		t.Errorf("the expired certificate does not name the node: %v", err)
	}
}

// finessectl's own check of a node in cert-expired fails criterion 1 with
// the TLS exit code, in both XMPP modes.
func TestCertExpiredFailsSystemInfoWithTLSCode(t *testing.T) {
	c, err := Start(Config{Nodes: 1, Scenario: CertExpired, Users: map[string]string{"probe": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := c.Nodes[0]
	target, err := check.ParseTarget(n.HTTPSAddr())
	if err != nil {
		t.Fatal(err)
	}
	_, xmppPort, securePort := n.Ports()
	for mode, port := range map[xmppprobe.TLSMode]int{xmppprobe.DirectTLS: securePort, xmppprobe.StartTLS: xmppPort} {
		t.Run(string(mode), func(t *testing.T) {
			res := check.Run(context.Background(), []check.Target{target}, check.Options{
				Timeout: 2 * time.Second, PresenceTimeout: time.Second, XMPPMode: mode, XMPPPort: port,
				TLS: &tls.Config{RootCAs: c.CA.Pool()}, User: "probe", Password: "pw",
			})
			s := res.Servers[0]
			if s.ExitCode() != finesse.SystemInfoTLS || s.Failure.Criterion != finesse.CriterionSystemInfo {
				t.Fatalf("exit %d, failure %v; want %d on criterion 1", s.ExitCode(), s.Failure, finesse.SystemInfoTLS)
			}
		})
	}
}

// Node 0 also listens on [::1], with the same port numbers, and scenarios
// switch both addresses together.
func TestNodeZeroOnIPv6Loopback(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("this machine has no IPv6 loopback: %v", err)
	}
	probe.Close()
	c := startTest(t, 2)
	n := c.Nodes[0]
	if !c.IPv6 || !n.ListensOnIPv6() || c.Nodes[1].ListensOnIPv6() {
		t.Fatalf("cluster IPv6 %t, node 0 %t, node 1 %t: want node 0 alone on [::1]", c.IPv6, n.ListensOnIPv6(), c.Nodes[1].ListensOnIPv6())
	}
	https, _, _ := n.Ports()
	v6 := net.JoinHostPort("::1", strconv.Itoa(https))
	client := &systeminfo.Client{TLS: &tls.Config{RootCAs: c.CA.Pool()}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := client.Fetch(ctx, &url.URL{Scheme: "https", Host: v6})
	if err != nil {
		t.Fatalf("SystemInfo over https://%s: %v", v6, err)
	}
	if resp.Info.Status != finesse.StatusInService || resp.Info.XMPPDomain != n.Host {
		t.Errorf("SystemInfo over IPv6: %+v", resp.Info)
	}
	if err := n.SetScenario(TomcatDown); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{n.HTTPSAddr(), v6} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("tomcat-down: %s still accepts", addr)
		}
	}
	for _, port := range []int{n.BOSHPort(), portOf(n.DirectTLSAddr()), portOf(n.StartTLSAddr())} {
		addr := net.JoinHostPort("::1", strconv.Itoa(port))
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Errorf("tomcat-down: %s refuses: %v", addr, err)
			continue
		}
		conn.Close()
	}
}

// recordConn keeps every byte read from the server, TLS records and all.
type recordConn struct {
	net.Conn
	read []byte
}

func (c *recordConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read = append(c.read, b[:n]...)
	return n, err
}

// lastRecordType walks TLS records and returns the content type of the
// last complete one.
func lastRecordType(raw []byte) (byte, bool) {
	var last byte
	found := false
	for len(raw) >= 5 {
		n := 5 + (int(raw[3])<<8 | int(raw[4]))
		if len(raw) < n {
			break
		}
		last, found = raw[0], true
		raw = raw[n:]
	}
	return last, found
}

// The HTTPS servers (SystemInfo's port and 7443) end every response with
// close_notify before the TCP close, so a strict client sees a complete
// response and not a truncation. TLS 1.2 shows the alert's record type in
// the clear.
func TestHTTPSClosesWithCloseNotify(t *testing.T) {
	c := startTest(t, 1)
	n := c.Nodes[0]
	const alert = 21
	for _, tc := range []struct{ name, addr, path string }{
		{"SystemInfo", n.HTTPSAddr(), finesse.SystemInfoPath},
		{"unknown path on the HTTPS port", n.HTTPSAddr(), "/nothing"},
		{"unknown path on 7443", n.BOSHAddr(), "/nothing"},
		{"WebSocket path without an upgrade", n.BOSHAddr(), finesse.WebSocketPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.DialTimeout("tcp", tc.addr, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recordConn{Conn: raw}
			conn := tls.Client(rec, &tls.Config{RootCAs: c.CA.Pool(), ServerName: n.Host, MaxVersion: tls.VersionTLS12})
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, "GET "+tc.path+" HTTP/1.1\r\nHost: "+n.Host+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("after the response: %v, want EOF", err)
			}
			if typ, ok := lastRecordType(rec.read); !ok || typ != alert {
				t.Errorf("last TLS record type %d (found %t), want an alert (close_notify) before the TCP close; %s", typ, ok, strings.TrimSpace(resp.Status))
			}
		})
	}
}
