// Package nettest provides the hostile and absent peers that tests of
// deadlines and diagnoses need: a port that accepts and never answers, one
// that refuses, and a TLS server that answers with whatever bytes a test
// scripts. All listen on 127.0.0.1 only.
package nettest

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Silent returns the address of a listener that accepts every connection and
// never sends a byte. Listener and connections close when the test ends.
func Silent(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// Refused returns a loopback address where nothing listens, so connecting
// to it is refused at once.
func Refused(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TLS serves TLS with cfg on 127.0.0.1 and hands every connection to handle,
// which may misbehave as it likes within five seconds. It returns host:port;
// the listener closes, and every handler has returned, when the test ends.
func TLS(t testing.TB, cfg *tls.Config, handle func(*tls.Conn)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				handle(c.(*tls.Conn))
			}()
		}
	}()
	return ln.Addr().String()
}

// Answer is a TLS handler that reads an HTTP request head and writes raw
// back, byte for byte, then hangs up: for responses net/http would refuse
// to write.
func Answer(raw string) func(*tls.Conn) {
	return func(c *tls.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(c, raw)
	}
}
