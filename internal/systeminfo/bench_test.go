package systeminfo

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	data := fixture(b, "sysinfo-12.6-schema.xml")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetch measures a fetch over loopback TLS on a kept-alive
// connection: the cost of a watch loop's poll, not of a handshake.
func BenchmarkFetch(b *testing.B) {
	body := fixture(b, "sysinfo-12.6-schema.xml")
	srv := serve(b, respond(200, string(body)))
	c := newClient(b, trustedCA(b).Pool())
	var dials atomic.Int32
	c.HTTP.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	base, err := url.Parse(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Fetch(ctx, base); err != nil { // warm the connection
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Fetch(ctx, base); err != nil {
			b.Fatal(err)
		}
	}
	if n := dials.Load(); n != 1 {
		b.Errorf("%d connections; keep-alive is not working", n)
	}
}
