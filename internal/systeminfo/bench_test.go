package systeminfo

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkParse(b *testing.B) {
	data := fixture(b, "sysinfo-12.6-schema.xml")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetch measures one check over loopback TLS: a new connection,
// the handshake, the request and the parse, as every Fetch pays them.
func BenchmarkFetch(b *testing.B) {
	body := fixture(b, "sysinfo-12.6-schema.xml")
	leaf, err := trustedCA(b).Issue([]string{"127.0.0.1"}, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(respond(200, string(body)))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	c := newClient(trustedCA(b).Pool())
	base, err := url.Parse(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	fetches := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Fetch(ctx, base); err != nil {
			b.Fatal(err)
		}
		fetches++
	}
	if n := int(conns.Load()); n != fetches {
		b.Errorf("%d connections for %d fetches; each check must measure a fresh one", n, fetches)
	}
}
