//go:build integration

package simulator

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const checkXMPPNG = "/usr/lib/nagios/plugins/check_xmppng"

// TestCheckXMPPNG holds the simulator's Notification Service against
// check_xmppng (Debian package nagios-check-xmppng), a Nagios plugin written
// against real XMPP servers: it opens a stream, negotiates STARTTLS with
// the given CA, checks the certificate's expiry and closes the stream.
//
// check_xmppng 0.3.2 has no direct TLS mode (it always starts in plain
// text), so the direct TLS port is reached through a relay that does the TLS
// handshake, verified against the simulator's CA, and passes the plain
// stream on: check_xmppng then judges the stream, not the TLS.
func TestCheckXMPPNG(t *testing.T) {
	if _, err := os.Stat(checkXMPPNG); err != nil {
		t.Fatalf("%s not installed: run scripts/install-integration-deps.sh (%v)", checkXMPPNG, err)
	}
	c := startTest(t, 1)
	n := c.Nodes[0]
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := c.CA.WriteCertFile(caFile); err != nil {
		t.Fatal(err)
	}
	relayed := tlsRelay(t, n.DirectTLSAddr(), &tls.Config{RootCAs: c.CA.Pool(), ServerName: n.Host})
	tests := []struct {
		name     string
		scenario Scenario
		addr     string
		starttls bool
		wantCode int
		want     string // in check_xmppng's output
	}{
		{"healthy, STARTTLS", Healthy, n.StartTLSAddr(), true, 0, "XMPP OK"},
		{"healthy, direct TLS through a relay", Healthy, relayed, false, 0, "XMPP OK"},
		{"notification-down, STARTTLS", NotificationDown, n.StartTLSAddr(), true, 2, "XMPP CRITICAL"},
		{"cert-expired, STARTTLS", CertExpired, n.StartTLSAddr(), true, 2, "certificate has expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := n.SetScenario(tt.scenario); err != nil {
				t.Fatal(err)
			}
			host, port, _ := net.SplitHostPort(tt.addr)
			args := []string{checkXMPPNG, "--c2s", "-H", host, "-p", port, "--servername", n.Host, "-r", caFile}
			if tt.starttls {
				args = append(args, "--starttls")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Debian's python3, which has the plugin's modules, whatever
			// python3 PATH would find first.
			cmd := exec.CommandContext(ctx, "/usr/bin/python3", args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			t.Logf("check_xmppng %s: exit %d\n%s", strings.Join(args[1:], " "), code, out.String())
			if code != tt.wantCode || !strings.Contains(out.String(), tt.want) {
				t.Errorf("exit %d, want %d with %q in the output", code, tt.wantCode, tt.want)
			}
		})
	}
}

// tlsRelay listens on loopback and relays each connection in plain text to
// a TLS connection to addr, until the test ends. It returns its address.
func tlsRelay(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			plain, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer plain.Close()
				secure, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
				if err != nil {
					t.Logf("relay: %v", err)
					return
				}
				defer secure.Close()
				// Each direction ends the other: the client closing its
				// socket, or the server closing the stream.
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(secure, plain); done <- struct{}{} }()
				go func() { _, _ = io.Copy(plain, secure); done <- struct{}{} }()
				<-done
			})
		}
	})
	return ln.Addr().String()
}
