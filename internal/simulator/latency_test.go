package simulator

import (
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// readUntil reads from c until what it read contains want.
func readUntil(t *testing.T, c net.Conn, want string) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !strings.Contains(string(got), want) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("waiting for %q: %v after %q", want, err, got)
		}
	}
	return string(got)
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// --latency L adds L to every round trip on every port, TLS handshakes
// included, without serialising a connection: two requests sent together
// are answered one round trip later, not two.
func TestLatencyAddsToEveryRoundTrip(t *testing.T) {
	const latency = 150 * time.Millisecond
	c, err := Start(Config{Nodes: 1, Users: map[string]string{"probe": "pw"}, Latency: latency})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := c.Nodes[0]
	cfg := &tls.Config{RootCAs: c.CA.Pool(), ServerName: n.Host}
	header := "<?xml version='1.0'?><stream:stream to='" + n.Host + "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

	for _, addr := range []string{n.HTTPSAddr(), n.BOSHAddr(), n.DirectTLSAddr()} {
		start := time.Now()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if took := time.Since(start); took < latency {
			t.Errorf("TLS handshake with %s took %v, under the %v latency", addr, took, latency)
		}
	}
	// A response the server closes the connection after still arrives.
	start := time.Now()
	if _, err := fetch(t, c, n); err != nil {
		t.Fatalf("SystemInfo: %v", err)
	}
	if took := time.Since(start); took < 2*latency {
		t.Errorf("SystemInfo took %v, under two round trips (TLS, request) of %v", took, latency)
	}

	plain, err := net.DialTimeout("tcp", n.StartTLSAddr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	start = time.Now()
	write(t, plain, header)
	readUntil(t, plain, "</stream:features>")
	if took := time.Since(start); took < latency {
		t.Errorf("stream header to features on %s took %v, under the %v latency", n.StartTLSAddr(), took, latency)
	}

	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", n.DirectTLSAddr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	write(t, conn, header)
	readUntil(t, conn, "</stream:features>")
	write(t, conn, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+base64.StdEncoding.EncodeToString([]byte("\x00probe\x00pw"))+"</auth>")
	readUntil(t, conn, "<success")
	write(t, conn, header)
	readUntil(t, conn, "</stream:features>")
	write(t, conn, "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	readUntil(t, conn, "</iq>")

	start = time.Now()
	write(t, conn, "<iq type='get' id='ping-1'><ping xmlns='urn:xmpp:ping'/></iq>")
	write(t, conn, "<iq type='get' id='ping-2'><ping xmlns='urn:xmpp:ping'/></iq>")
	if got := readUntil(t, conn, "id='ping-2'"); !strings.Contains(got, "id='ping-1'") {
		t.Fatalf("answers out of order: %q", got)
	}
	if took := time.Since(start); took < latency || took >= 2*latency {
		t.Errorf("two pipelined pings answered after %v; want one round trip of %v, under %v", took, latency, 2*latency)
	}
}
