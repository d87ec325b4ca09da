package boshprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/pki"
	"github.com/finessectl/finessectl/internal/probe"
)

const (
	created  = `<body xmlns="http://jabber.org/protocol/httpbind" xmlns:stream="http://etherx.jabber.org/streams" sid="s1" wait="10" requests="2" ver="1.6" from="finesse.test"><stream:features><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism></mechanisms></stream:features></body>`
	noFeats  = `<body xmlns="http://jabber.org/protocol/httpbind" sid="s1" wait="10" requests="2" ver="1.6" from="finesse.test"/>`
	features = `<body xmlns="http://jabber.org/protocol/httpbind" xmlns:stream="http://etherx.jabber.org/streams"><stream:features><mechanisms xmlns="urn:ietf:params:xml:ns:xmpp-sasl"><mechanism>PLAIN</mechanism></mechanisms></stream:features></body>`
	ended    = `<body xmlns="http://jabber.org/protocol/httpbind" type="terminate"/>`
)

// server answers the n-th POST with answers[n] (status 200) and records
// the requests' bodies.
type server struct {
	mu       sync.Mutex
	requests []string
}

func start(t *testing.T, trusted bool, handle func(s *server, n int, w http.ResponseWriter)) (*server, Config) {
	t.Helper()
	ca, err := pki.NewCA("bosh test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue([]string{"127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, string(data))
		n := len(s.requests) - 1
		s.mu.Unlock()
		handle(s, n, w)
	}))
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	roots := ca.Pool()
	if !trusted {
		other, err := pki.NewCA("another CA", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		roots = other.Pool()
	}
	return s, Config{URL: ts.URL + "/http-bind/", Domain: "finesse.test", TLS: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}}
}

func answers(bodies ...string) func(*server, int, http.ResponseWriter) {
	return func(_ *server, n int, w http.ResponseWriter) {
		if n < len(bodies) {
			_, _ = io.WriteString(w, bodies[n])
		}
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name     string
		trusted  bool
		handle   func(*server, int, http.ResponseWriter)
		requests int    // how many the probe made
		want     string // "" for success, else held by the error
	}{
		{"features at creation", true, answers(created, ended), 2, ""},
		{"features in the next answer", true, answers(noFeats, features, ended), 3, ""},
		{"no endpoint", true, func(_ *server, _ int, w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) }, 1, "HTTP 404"},
		{"refused by the server", true, answers(`<body xmlns="http://jabber.org/protocol/httpbind" type="terminate" condition="host-unknown"/>`), 1, "host-unknown"},
		{"no sid", true, answers(`<body xmlns="http://jabber.org/protocol/httpbind"/>`), 1, "without a sid"},
		{"not BOSH", true, answers(`<html>hello</html>`), 1, "not a <body/>"},
		{"endless answer", true, func(_ *server, _ int, w http.ResponseWriter) {
			_, _ = io.WriteString(w, strings.Repeat("<body>", 100_000))
		}, 1, "larger than"},
		{"no features at all", true, answers(noFeats, noFeats, ended), 3, "no stream features"},
		{"untrusted certificate", false, answers(created, ended), 0, "TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, cfg := start(t, tt.trusted, tt.handle)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := Probe(ctx, cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Probe: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Probe: %v, want an error holding %q", err, tt.want)
			}
			if len(s.requests) != tt.requests {
				t.Errorf("%d requests, want %d: %q", len(s.requests), tt.requests, s.requests)
			}
			if tt.want == "" {
				if !res.SessionID || strings.Join(res.Mechanisms, " ") != "PLAIN" || res.Certificate == nil {
					t.Errorf("result %+v", res)
				}
				last := s.requests[len(s.requests)-1]
				if !strings.Contains(last, `type="terminate"`) || !strings.Contains(last, `sid="s1"`) {
					t.Errorf("the session was not terminated: %q", last)
				}
				if !strings.Contains(s.requests[0], `to="finesse.test"`) || !strings.Contains(s.requests[0], `xmpp:version="1.0"`) {
					t.Errorf("session request %q", s.requests[0])
				}
			}
			if !tt.trusted {
				var te *probe.TLSError
				if !errors.As(err, &te) || res.Certificate == nil {
					t.Errorf("err %v (want a TLS error), certificate %v", err, res.Certificate)
				}
			}
		})
	}
}

// A server that never answers is given up on at the deadline.
func TestProbeEndsAtTheDeadline(t *testing.T) {
	_, cfg := start(t, true, func(*server, int, http.ResponseWriter) { time.Sleep(time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begun := time.Now()
	if _, err := Probe(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the deadline", err)
	}
	if d := time.Since(begun); d > time.Second {
		t.Errorf("took %v with a 300ms deadline", d)
	}
}

// A server whose headers do not end is cut off at maxHeader, not read into
// memory for as long as the deadline allows.
func TestProbeRefusesHugeHeaders(t *testing.T) {
	_, cfg := start(t, true, func(_ *server, _ int, w http.ResponseWriter) {
		for i := range 2000 {
			w.Header().Set(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("x", 100))
		}
		_, _ = io.WriteString(w, created)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Probe(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("headers exceeded %d bytes", maxHeader)) {
		t.Errorf("err %v, want the headers refused at %d bytes", err, maxHeader)
	}
}

// An answer nested without end is refused at the depth limit.
func TestProbeRefusesDeepAnswers(t *testing.T) {
	_, cfg := start(t, true, answers(`<body xmlns="http://jabber.org/protocol/httpbind" sid="s1">`+strings.Repeat("<a>", 10_000)))
	_, err := Probe(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "nested more than 64 deep") {
		t.Errorf("err %v, want the depth limit", err)
	}
}
