//go:build integration

package check_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/netdelay"
	"github.com/finessectl/finessectl/internal/prosodytest"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// wanRTT is the round trip the benchmark puts between finessectl and its
// servers: a WAN between a monitoring host and a data centre.
const wanRTT = 50 * time.Millisecond

const labDomain = "finesse.test"

// wan is a real Prosody and a SystemInfo fixture, each behind a delay proxy
// that adds wanRTT to every round trip.
type wan struct {
	systemInfo string // host:port of the proxied SystemInfo server
	direct     string // proxied direct TLS c2s
	startTLS   string // proxied STARTTLS c2s
	https      string // proxied XMPP over WebSocket
	tls        *tls.Config
}

func newWAN(b *testing.B) *wan {
	b.Helper()
	prosody := prosodytest.Start(b, prosodytest.Config{
		Domain:      labDomain,
		Users:       map[string]string{"finesse": "finesse-pw", "probe": "probe-pw"},
		RosterGroup: []string{"finesse", "probe"},
	})
	pool := prosody.CA.Pool()
	w := &wan{tls: &tls.Config{RootCAs: pool}}
	finesseOnline(b, prosody.DirectTLSAddr, &tls.Config{RootCAs: pool, ServerName: labDomain})
	leaf, err := prosody.CA.Issue([]string{"127.0.0.1"}, time.Time{})
	if err != nil {
		b.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/xml")
		_, _ = io.WriteString(rw, `<SystemInfo><status>IN_SERVICE</status><deploymentType>UCCE</deploymentType>`+
			`<primaryNode><host>`+labDomain+`</host></primaryNode><xmppDomain>`+labDomain+`</xmppDomain></SystemInfo>`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	srv.StartTLS()
	b.Cleanup(srv.Close)

	for _, p := range []struct {
		to   *string
		from string
	}{
		{&w.systemInfo, srv.Listener.Addr().String()},
		{&w.direct, prosody.DirectTLSAddr},
		{&w.startTLS, prosody.StartTLSAddr},
		{&w.https, prosody.HTTPSAddr},
	} {
		proxy, err := netdelay.NewProxy(p.from, wanRTT)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = proxy.Close() })
		*p.to = proxy.Addr()
	}
	return w
}

// finesseOnline keeps the 'finesse' user logged in, as Finesse Tomcat does.
func finesseOnline(b *testing.B, addr string, cfg *tls.Config) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := xmppprobe.New(xmppprobe.Config{Addr: addr, Domain: labDomain, TLS: cfg})
	if err := s.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.Login(ctx, "finesse", "finesse-pw", "tomcat"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
}

func port(b *testing.B, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkRoundTrips counts the round trips of a full check (the three
// criteria, logged in) over a link with a 50 ms round trip: its time divided
// by the round trip, in all (rtt/op), per criterion and per phase, against a
// real Prosody. With the overlap, the xmpp criterion's connect and tls (or
// websocket) phases run while systeminfo's do, so the criteria add up to
// more than the whole. The targets are 8 round trips over direct TLS and 10 over
// STARTTLS, plus 20 ms of CPU.
func BenchmarkRoundTrips(b *testing.B) {
	w := newWAN(b)
	target, err := check.ParseTarget(w.systemInfo)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name      string
		transport check.Transport
		mode      xmppprobe.TLSMode
		xmppAddr  string
	}{
		{"direct", check.TransportTCP, xmppprobe.DirectTLS, w.direct},
		{"starttls", check.TransportTCP, xmppprobe.StartTLS, w.startTLS},
		{"websocket", check.TransportWebSocket, xmppprobe.DirectTLS, w.https},
	} {
		for _, sequential := range []bool{false, true} {
			name := fmt.Sprintf("%s/overlap=%t", bc.name, !sequential)
			b.Run(name, func(b *testing.B) {
				opts := check.Options{XMPPTransport: bc.transport, XMPPMode: bc.mode, XMPPPort: port(b, bc.xmppAddr),
					TLS: w.tls, User: "probe", Password: "probe-pw", Sequential: sequential}
				// Time per criterion and per phase ("xmpp-auth"), summed over
				// the runs.
				spent := map[string]time.Duration{}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r := check.Run(context.Background(), []check.Target{target}, opts)
					if code := r.ExitCode(); code != 0 {
						b.Fatalf("exit %d: %v", code, r.Servers[0].Failure)
					}
					for _, c := range r.Servers[0].Checks {
						spent[string(c.Criterion)] += c.Duration
						for _, ph := range c.Phases {
							spent[string(c.Criterion)+"-"+ph.Phase] += ph.Duration
						}
					}
				}
				b.StopTimer()
				rtts := func(d time.Duration) float64 { return float64(d) / float64(b.N) / float64(wanRTT) }
				b.ReportMetric(rtts(b.Elapsed()), "rtt/op")
				for name, d := range spent {
					b.ReportMetric(rtts(d), "rtt-"+name+"/op")
				}
			})
		}
	}
}
