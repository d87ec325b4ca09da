package systeminfo

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/nettest"
	"github.com/finessectl/finessectl/internal/probe"
)

func phases(ts []probe.Timing) []string {
	var names []string
	for _, t := range ts {
		names = append(names, t.Phase)
	}
	return names
}

func hasPhase(ts []probe.Timing, phase string) bool {
	return hasPhases(ts, phase)
}

// hasPhases reports whether want occur in ts in this order, perhaps with
// other phases in between.
func hasPhases(ts []probe.Timing, want ...string) bool {
	for _, t := range ts {
		if len(want) > 0 && t.Phase == want[0] {
			want = want[1:]
		}
	}
	return len(want) == 0
}

func TestFetchResponseOnSuccess(t *testing.T) {
	srv := serve(t, respondFixture(t, 200, "sysinfo-12.6-schema.xml"))
	leaf := srv.TLS.Certificates[0].Leaf
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	tests := []struct {
		name   string
		base   string
		phases []string
	}{
		// An IP address needs no lookup, so there is no dns phase.
		{"IP address", srv.URL, []string{"connect", "tls", "request", "body"}},
		{"host name", "https://finesse-a.example.test:" + port, []string{"dns", "connect", "tls", "request", "body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(trustedCA(t).Pool())
			c.Resolver = nettest.DNS(t, map[string]net.IP{"finesse-a.example.test": net.IPv4(127, 0, 0, 1)})
			c.TLS.ServerName = "127.0.0.1" // the certificate's name
			resp, err := fetch(t, c, tt.base)
			if err != nil {
				t.Fatal(err)
			}
			if resp.URL != tt.base+apiPath || resp.FinalURL != "" || resp.HTTPStatus != 200 || resp.Proto != "HTTP/1.1" {
				t.Errorf("Response = %+v", resp)
			}
			if !resp.Info.InService() || len(resp.Info.CTIServers) != 2 {
				t.Errorf("Info = %+v", resp.Info)
			}
			cert := resp.Certificate
			if cert == nil || cert.Subject != "CN=127.0.0.1" || cert.Subject != leaf.Subject.String() ||
				!cert.NotAfter.Equal(leaf.NotAfter) || cert.Issuer != trustedCA(t).Cert.Subject.String() {
				t.Errorf("Certificate = %+v, want that of %v", cert, leaf.Subject)
			}
			if got := phases(resp.Timings); !reflect.DeepEqual(got, tt.phases) {
				t.Errorf("phases %v, want %v", got, tt.phases)
			}
			for _, p := range resp.Timings {
				if p.Duration <= 0 || p.Duration > 10*time.Second {
					t.Errorf("%s took %v", p.Phase, p.Duration)
				}
			}
		})
	}
}

func TestFetchResponseOn503(t *testing.T) {
	srv := serve(t, respondFixture(t, 503, "apierrors-503-server-out-of-service.xml"))
	resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
	var nis *NotInServiceError
	if !errors.As(err, &nis) || nis.Reason != "SERVER_OUT_OF_SERVICE" {
		t.Fatalf("err = %v, want *NotInServiceError", err)
	}
	if resp.HTTPStatus != 503 || resp.Proto != "HTTP/1.1" || resp.Info != nil || resp.Certificate == nil {
		t.Errorf("Response = %+v", resp)
	}
	if !hasPhases(resp.Timings, "connect", "tls", "request", "body") {
		t.Errorf("Timings = %v", resp.Timings)
	}

	// A 503 with a SystemInfo body hands it over, as a 200 would.
	srv = serve(t, respondFixture(t, 503, "sysinfo-out-of-service.xml"))
	resp, err = fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
	if !errors.As(err, &nis) || resp.Info == nil || resp.Info != nis.Info || resp.Info.Status != "OUT_OF_SERVICE" {
		t.Errorf("Fetch = %+v, %v", resp, err)
	}
}

func TestFetchHeaderLimit(t *testing.T) {
	padded := func(total int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < total/1024; i++ {
				w.Header().Set(fmt.Sprintf("X-Pad-%d", i), strings.Repeat("a", 1000))
			}
			respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")(w, r)
		}
	}
	srv := serve(t, padded(50<<10))
	if resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL); err != nil || !resp.Info.InService() {
		t.Fatalf("50 KiB of headers: %+v, %v", resp, err)
	}

	srv = serve(t, padded(100<<10))
	resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
	if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "response headers exceed 64 KiB") {
		t.Fatalf("100 KiB of headers: err = %v, want ErrUnusable (response headers exceed 64 KiB)", err)
	}
	if resp.HTTPStatus != 0 || resp.Certificate == nil || !hasPhase(resp.Timings, "request") {
		t.Errorf("Response = %+v", resp)
	}
}

// listenTLS serves h on addr with a certificate for names.
func listenTLS(t *testing.T, addr string, names []string, h http.Handler) *httptest.Server {
	t.Helper()
	leaf, err := trustedCA(t).Issue(names, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchRedirectToAnotherHost(t *testing.T) {
	names := []string{"127.0.0.1", "127.0.0.2", "finesse-a.example.test"}
	var otherHits atomic.Int32
	other := listenTLS(t, "127.0.0.2:0", names, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>")(w, r)
	}))
	port := func(s *httptest.Server) string { return s.URL[strings.LastIndex(s.URL, ":")+1:] }

	t.Run("another host", func(t *testing.T) {
		srv := listenTLS(t, "127.0.0.1:0", names, http.RedirectHandler(other.URL+apiPath, http.StatusFound))
		resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
		if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "redirected to another host 127.0.0.2, not 127.0.0.1") {
			t.Fatalf("err = %v, want ErrUnusable (redirected to another host)", err)
		}
		if !strings.Contains(err.Error(), "(redirected to "+other.URL+apiPath+")") {
			t.Errorf("error does not say where it pointed: %v", err)
		}
		if otherHits.Load() != 0 {
			t.Error("the other host was contacted")
		}
		if resp.HTTPStatus != http.StatusFound || resp.FinalURL != other.URL+apiPath || resp.Info != nil {
			t.Errorf("Response = %+v", resp)
		}
	})
	t.Run("same host in other case, other port", func(t *testing.T) {
		target := listenTLS(t, "127.0.0.1:0", names, respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>"))
		moved := "https://FINESSE-A.example.test.:" + port(target) + apiPath
		srv := listenTLS(t, "127.0.0.1:0", names, http.RedirectHandler(moved, http.StatusMovedPermanently))
		c := newClient(trustedCA(t).Pool())
		c.Resolver = nettest.DNS(t, map[string]net.IP{"finesse-a.example.test": net.IPv4(127, 0, 0, 1)})
		resp, err := fetch(t, c, "https://finesse-a.example.test:"+port(srv))
		if err != nil || !resp.Info.InService() || resp.FinalURL != moved {
			t.Fatalf("Fetch = %+v, %v; want the redirect followed", resp, err)
		}
	})
}

func TestFetchPlainHTTPOnHTTPSPort(t *testing.T) {
	plain := httptest.NewServer(respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>"))
	defer plain.Close()
	resp, err := fetch(t, newClient(trustedCA(t).Pool()), strings.Replace(plain.URL, "http://", "https://", 1))
	if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "plain HTTP on the HTTPS port") {
		t.Fatalf("err = %v, want ErrUnusable (plain HTTP on the HTTPS port)", err)
	}
	var te *probe.TLSError
	if errors.As(err, &te) {
		t.Errorf("err = %v: a server that answers in HTTP is not a TLS failure", err)
	}
	if resp.HTTPStatus != 0 || resp.Certificate != nil || !hasPhase(resp.Timings, "tls") {
		t.Errorf("Response = %+v", resp)
	}
}

// rawTLS serves TLS on 127.0.0.1 and answers every request with answer,
// byte for byte, then hangs up.
func rawTLS(t *testing.T, answer string) string {
	t.Helper()
	leaf, err := trustedCA(t).Issue([]string{"127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return "https://" + nettest.TLS(t, &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}, nettest.Answer(answer))
}

func TestFetchBadFraming(t *testing.T) {
	const doc = "<SystemInfo><status>IN_SERVICE</status></SystemInfo>"
	tests := []struct {
		name   string
		answer string
		status int    // what Response.HTTPStatus says
		want   string // in the error
	}{
		{"negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n" + doc, 0, `bad Content-Length "-1"`},
		{"two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 53\r\nContent-Length: 54\r\n\r\n" + doc, 0, "multiple Content-Length"},
		{"HTTP/0.9 answer", doc + "\n", 0, "malformed HTTP response"},
		{"status line without a code", "HTTP/1.1 OK\r\nContent-Length: 53\r\n\r\n" + doc, 0, "malformed HTTP status code"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + doc, 200, "reading body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := fetch(t, newClient(trustedCA(t).Pool()), rawTLS(t, tt.answer))
			if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), "malformed HTTP response: ") ||
				!strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrUnusable (malformed HTTP response: ...%s...)", err, tt.want)
			}
			var te *probe.TLSError
			if errors.As(err, &te) {
				t.Errorf("err = %v is not a TLS failure", err)
			}
			if resp.HTTPStatus != tt.status || resp.Info != nil || resp.Certificate == nil || !hasPhase(resp.Timings, "request") {
				t.Errorf("Response = %+v", resp)
			}
		})
	}

	// Silence is the network's failure, not the server's HTTP.
	t.Run("closed without an answer", func(t *testing.T) {
		resp, err := fetch(t, newClient(trustedCA(t).Pool()), rawTLS(t, ""))
		if err == nil || errors.Is(err, ErrUnusable) {
			t.Fatalf("err = %v, want a network error", err)
		}
		if !errors.Is(err, io.EOF) {
			t.Errorf("err = %v, want io.EOF", err)
		}
		if resp.Certificate == nil || hasPhase(resp.Timings, "request") {
			t.Errorf("Response = %+v", resp)
		}
	})
}

func TestFetchNameNotFound(t *testing.T) {
	c := &Client{Resolver: nettest.DNS(t, nil)}
	resp, err := fetch(t, c, "https://finesse-x.example.test:8445")
	var dns *net.DNSError
	if !errors.As(err, &dns) || !dns.IsNotFound || errors.Is(err, ErrUnusable) {
		t.Fatalf("err = %v, want a *net.DNSError (not found)", err)
	}
	if got := phases(resp.Timings); !reflect.DeepEqual(got, []string{"dns"}) {
		t.Errorf("phases %v, want [dns]", got)
	}
}

func TestFetchTLSVersionRefused(t *testing.T) {
	leaf, err := trustedCA(t).Issue([]string{"127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(respond(200, ""))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}, MaxVersion: tls.VersionTLS11}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	resp, err := fetch(t, newClient(trustedCA(t).Pool()), srv.URL)
	var te *probe.TLSError
	if !errors.As(err, &te) || errors.Is(err, ErrUnusable) {
		t.Fatalf("err = %v, want *probe.TLSError", err)
	}
	if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("err = %v", err)
	}
	if resp.Certificate != nil || !hasPhases(resp.Timings, "connect", "tls") {
		t.Errorf("Response = %+v", resp)
	}
}

// A proxy would be checked instead of the node, so the environment's is
// ignored.
func TestFetchIgnoresProxyEnvironment(t *testing.T) {
	proxy := "http://" + nettest.Refused(t)
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		t.Setenv(k, proxy)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	srv := serve(t, respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>"))
	// net/http never proxies loopback addresses, so dial by name.
	base := "https://finesse-a.example.test:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	req, err := http.NewRequest(http.MethodGet, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	// net/http reads the environment once per process, so with -count > 1
	// this is the first run's proxy: any proxy will do.
	if u, err := http.ProxyFromEnvironment(req); err != nil || u == nil {
		t.Fatalf("the environment names no proxy (%v): the test would prove nothing", err)
	}

	c := newClient(trustedCA(t).Pool())
	c.Resolver = nettest.DNS(t, map[string]net.IP{"finesse-a.example.test": net.IPv4(127, 0, 0, 1)})
	c.TLS.ServerName = "127.0.0.1"
	resp, err := fetch(t, c, base)
	if err != nil || !resp.Info.InService() {
		t.Fatalf("Fetch = %+v, %v", resp, err)
	}
}

func TestFetchConcurrently(t *testing.T) {
	srv := serve(t, respond(200, "<SystemInfo><status>IN_SERVICE</status></SystemInfo>"))
	cfg := &tls.Config{RootCAs: trustedCA(t).Pool()}
	c := &Client{TLS: cfg}
	base, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 3 {
				resp, err := c.Fetch(context.Background(), base)
				if err != nil || !resp.Info.InService() {
					t.Errorf("Fetch = %+v, %v", resp, err)
				}
			}
		})
	}
	wg.Wait()
	if cfg.MinVersion != 0 || cfg.NextProtos != nil || cfg.ServerName != "" {
		t.Errorf("Fetch modified the caller's tls.Config: %+v", cfg)
	}
}

// The transport goes on with a dial that its request gave up on, without
// the request's deadline; Fetch must not leave it hanging on a server that
// never completes the handshake.
func TestFetchAbandonsHandshakeAtDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			closed <- err
			return
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, conn) // nil once the client hangs up
		closed <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	resp, err := newClient(trustedCA(t).Pool()).Fetch(ctx, &url.URL{Scheme: "https", Host: ln.Addr().String()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	var te *probe.TLSError
	if errors.As(err, &te) {
		t.Errorf("err = %v: a handshake cut by the deadline is not a TLS failure", err)
	}
	if !hasPhase(resp.Timings, "connect") {
		t.Errorf("Timings = %v", resp.Timings)
	}
	if err := <-closed; err != nil {
		t.Errorf("the connection was left open: %v", err)
	}
}
