package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/simulator"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// startSimulator runs simulated Finesse nodes in the given scenario and
// returns the options that check them over direct TLS.
func startSimulator(t *testing.T, nodes int, s simulator.Scenario, user string) (*simulator.Cluster, Options) {
	t.Helper()
	cl, err := simulator.Start(simulator.Config{Nodes: nodes, Scenario: s, Users: map[string]string{user: "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	_, _, secure := cl.Nodes[0].Ports()
	return cl, Options{Timeout: 2 * time.Second, PresenceTimeout: time.Second, XMPPPort: secure,
		TLS: &tls.Config{RootCAs: cl.CA.Pool()}, User: user, Password: "pw"}
}

func nodeTarget(t *testing.T, n *simulator.Node) Target {
	t.Helper()
	tg, err := ParseTarget(n.HTTPSAddr())
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// A node that passes while draining for maintenance, or with a failed CTI
// heartbeat, is available with a warning; the facts behind it are kept.
func TestWarningsOnAnInServiceNode(t *testing.T) {
	tests := []struct {
		scenario simulator.Scenario
		want     []Warning
	}{
		{simulator.Healthy, nil},
		{simulator.Maintenance, []Warning{{WarnMaintenance, SeverityWarning}}},
		{simulator.CTIHeartbeatLost, []Warning{{WarnCTIHeartbeat, SeverityWarning}}},
	}
	for _, tt := range tests {
		t.Run(string(tt.scenario), func(t *testing.T) {
			cl, opts := startSimulator(t, 1, tt.scenario, "1080001")
			s := Run(context.Background(), []Target{nodeTarget(t, cl.Nodes[0])}, opts).Servers[0]
			if !s.Available() || s.ExitCode() != 0 {
				t.Fatalf("exit %d (%v), want 0", s.ExitCode(), s.Failure)
			}
			if !reflect.DeepEqual(s.Warnings, tt.want) {
				t.Fatalf("warnings %v, want %v", s.Warnings, tt.want)
			}
		})
	}
}

// Every probe reports what it saw: HTTP status, certificates, the bound JID,
// the roster entry, and per-phase timings of both protocols.
func TestResultCarriesTheProbesFacts(t *testing.T) {
	cl, opts := startSimulator(t, 1, simulator.Healthy, "1080001")
	s := Run(context.Background(), []Target{nodeTarget(t, cl.Nodes[0])}, opts).Servers[0]
	if !s.Available() {
		t.Fatalf("not available: %v", s.Failure)
	}
	h := s.SystemInfo
	if h.HTTPStatus != 200 || h.Certificate == nil || h.Info.Status != "IN_SERVICE" || len(s.Checks[0].Phases) == 0 {
		t.Errorf("SystemInfo facts incomplete: %+v", h)
	}
	x := s.XMPP
	if x.Certificate == nil || x.TLSVersion == "" || !strings.HasPrefix(x.JID, "1080001@") || x.Mode != xmppprobe.DirectTLS {
		t.Errorf("XMPP facts incomplete: %+v", x)
	}
	if phases := phaseNames(s.Checks[1]); !strings.HasPrefix(phases, "connect tls stream auth") {
		t.Errorf("XMPP phases %q", phases)
	}
	p := s.Presence
	if !p.Received || !p.Presence.Available || !p.Presence.Roster.Listed || p.Presence.Roster.Subscription != "both" {
		t.Errorf("presence facts incomplete: %+v", p)
	}
}

func phaseNames(c CheckResult) string {
	var names []string
	for _, p := range c.Phases {
		names = append(names, p.Phase)
	}
	return strings.Join(names, " ")
}

// A rejected login on UCCE says what usually causes it: a login name where
// the agent ID belongs, and an SSO or HYBRID system.
func TestAuthFailureHints(t *testing.T) {
	cl, opts := startSimulator(t, 1, simulator.AuthReject, "healthprobe")
	s := Run(context.Background(), []Target{nodeTarget(t, cl.Nodes[0])}, opts).Servers[0]
	if s.ExitCode() != 22 {
		t.Fatalf("exit %d (%v), want 22", s.ExitCode(), s.Failure)
	}
	if want := []Hint{HintAgentID, HintSSO}; !reflect.DeepEqual(s.Failure.Hints, want) {
		t.Fatalf("hints %v, want %v", s.Failure.Hints, want)
	}
}

// When a server's SystemInfo cannot be read, the servers of the same run
// that are fully available are where agents can go.
func TestUnreadableServerNamesAvailablePeers(t *testing.T) {
	cl, opts := startSimulator(t, 2, simulator.Healthy, "1080001")
	if err := cl.SetScenario(0, simulator.TomcatDown); err != nil {
		t.Fatal(err)
	}
	a, b := nodeTarget(t, cl.Nodes[0]), nodeTarget(t, cl.Nodes[1])
	res := Run(context.Background(), []Target{a, b}, opts)
	if res.Servers[0].ExitCode() != 10 || res.Servers[1].ExitCode() != 0 {
		t.Fatalf("exits %d, %d; want 10, 0", res.Servers[0].ExitCode(), res.Servers[1].ExitCode())
	}
	if got := res.Servers[0].AvailablePeers; !reflect.DeepEqual(got, []string{b.Name}) {
		t.Fatalf("available peers of the failed node: %v, want [%s]", got, b.Name)
	}
}

// A name that does not resolve is exit 10 with the DNS error kept, so the
// report can say it is a name problem rather than Tomcat being down.
func TestUnresolvableNameKeepsTheDNSError(t *testing.T) {
	noDNS := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	tg, err := ParseTarget("finesse-x.example.test")
	if err != nil {
		t.Fatal(err)
	}
	s := Run(context.Background(), []Target{tg}, Options{Timeout: time.Second, Resolver: noDNS}).Servers[0]
	var dns *net.DNSError
	if s.ExitCode() != 10 || !errors.As(s.Failure, &dns) {
		t.Fatalf("exit %d (%v), want 10 with a *net.DNSError", s.ExitCode(), s.Failure)
	}
}

// Answers that come from something other than this Finesse node, and TLS
// that cannot be agreed, are named precisely: 13 and 11 on HTTPS, 21 on XMPP.
func TestHTTPSAndXMPPDiagnoses(t *testing.T) {
	p := newTestPKI(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{p.leaf}}
	oldTLS := &tls.Config{Certificates: []tls.Certificate{p.leaf}, MaxVersion: tls.VersionTLS11}
	body := inService
	ok := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	plain := func(t *testing.T) string {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) })}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		return ln.Addr().String()
	}
	tests := []struct {
		name  string
		https func(*testing.T) string
		xmpp  func(*testing.T) string
		want  int
	}{
		{"plain HTTP on the HTTPS port", plain, nil, 13},
		{"negative Content-Length", func(t *testing.T) string {
			return nettest.TLS(t, serverTLS, nettest.Answer("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n"+body))
		}, nil, 13},
		{"two Content-Lengths", func(t *testing.T) string {
			return nettest.TLS(t, serverTLS, nettest.Answer(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Length: 3\r\n\r\n%s", len(body), body)))
		}, nil, 13},
		{"HTTP/0.9", func(t *testing.T) string { return nettest.TLS(t, serverTLS, nettest.Answer(body)) }, nil, 13},
		{"redirect to another host", func(t *testing.T) string {
			return nettest.TLS(t, serverTLS, nettest.Answer("HTTP/1.1 302 Found\r\nLocation: https://10.11.12.13:8445/finesse/api/SystemInfo\r\nContent-Length: 0\r\n\r\n"))
		}, nil, 13},
		{"TLS 1.1 only on HTTPS", func(t *testing.T) string { return nettest.TLS(t, oldTLS, nettest.Answer(ok)) }, nil, 11},
		{"TLS 1.1 only on XMPP", func(t *testing.T) string { return nettest.TLS(t, serverTLS, nettest.Answer(ok)) },
			func(t *testing.T) string {
				return nettest.TLS(t, oldTLS, func(c *tls.Conn) { _ = c.Handshake() })
			}, 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := ParseTarget(tt.https(t))
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Timeout: 2 * time.Second, TLS: p.clientTLS(), User: "probe", Password: "pw"}
			if tt.xmpp != nil {
				_, port, _ := net.SplitHostPort(tt.xmpp(t))
				fmt.Sscan(port, &opts.XMPPPort)
			}
			s := Run(context.Background(), []Target{tg}, opts).Servers[0]
			if int(s.ExitCode()) != tt.want {
				t.Fatalf("exit %d (%v), want %d", s.ExitCode(), s.Failure, tt.want)
			}
			if tt.want == 13 && !errors.Is(s.Failure, systeminfo.ErrUnusable) {
				t.Fatalf("%v does not wrap ErrUnusable", s.Failure)
			}
		})
	}
}

// --trace with several servers: one writer, whole lines, each prefixed with
// its server, and no data race (this test runs under -race in make test).
func TestTraceOfSeveralServersIsPrefixedAndWhole(t *testing.T) {
	cl, opts := startSimulator(t, 3, simulator.Healthy, "1080001")
	var buf lockedBuffer
	opts.Trace = &buf
	var targets []Target
	for _, n := range cl.Nodes {
		targets = append(targets, nodeTarget(t, n))
	}
	res := Run(context.Background(), targets, opts)
	if res.ExitCode() != 0 {
		t.Fatalf("exit %d", res.ExitCode())
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		name, rest, ok := strings.Cut(line, "] ")
		if !ok || !strings.HasPrefix(name, "[") || !(strings.HasPrefix(rest, "C: ") || strings.HasPrefix(rest, "S: ")) {
			t.Fatalf("trace line not prefixed and whole: %q", line)
		}
		seen[strings.TrimPrefix(name, "[")]++
	}
	for _, tg := range targets {
		if seen[tg.Name] == 0 {
			t.Errorf("no trace lines for %s", tg.Name)
		}
	}
	if strings.Contains(buf.String(), "pw") && strings.Contains(buf.String(), "AHB3") {
		t.Error("the trace holds the SASL payload")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
