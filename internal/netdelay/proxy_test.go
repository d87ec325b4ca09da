package netdelay

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echoServer answers every read with its bytes upper-cased, and closes at
// the client's end of stream.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if _, werr := c.Write([]byte(strings.ToUpper(string(buf[:n])))); werr != nil || err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// Through the proxy a request and its answer take the round trip, a
// half-close still gets the answer, and Close cuts live connections and
// leaves no goroutine behind.
func TestProxy(t *testing.T) {
	const rtt = 100 * time.Millisecond
	upstream := echoServer(t)
	defer noLeak(t)()
	p, err := NewProxy(upstream, rtt)
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(p.Addr()); host != "127.0.0.1" {
		t.Errorf("proxy listens on %s, want loopback", p.Addr())
	}

	// The first exchange of a connection pays for the TCP handshake too,
	// which the kernel completed locally.
	start := time.Now()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, want := range []time.Duration{2 * rtt, rtt} {
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if got := readFull(t, c, 4); string(got) != "PING" {
			t.Fatalf("answer %q", got)
		}
		if took := time.Since(start); took < want {
			t.Errorf("exchange %d through the proxy took %v, want at least %v", i+1, took, want)
		}
		start = time.Now()
	}

	half, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	if _, err := half.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	_ = half.(*net.TCPConn).CloseWrite()
	if got, err := io.ReadAll(half); string(got) != "LAST" || err != nil {
		t.Errorf("after a half-close: %q, %v; want the answer, then EOF", got, err)
	}

	// c is still open; Close must cut it.
	cut := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		cut <- err
	}()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-cut:
		if err == nil {
			t.Error("a read after Close returned data")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cut a live connection")
	}
	if again, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		again.Close()
		t.Error("the proxy still accepts after Close")
	}
}
