//go:build integration

package notifserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/xmppprobe"
)

const goSendXMPP = "/usr/bin/go-sendxmpp"

// TestGoSendXMPP logs in with an independent client, go-sendxmpp (Debian
// package go-sendxmpp, built on the go-xmpp library), which then sends
// <presence/> and a chat message to the 'finesse' user and disconnects.
// The server ignores messages, so success is go-sendxmpp's exit status
// after the server saw it authenticate and bind.
//
// The certificate is trusted through SSL_CERT_FILE, which Go's crypto/x509
// reads on Linux in place of the system store. go-sendxmpp verifies it
// against the domain of --username, not the --jserver host, so the test
// certificate names testDomain.
func TestGoSendXMPP(t *testing.T) {
	if _, err := os.Stat(goSendXMPP); err != nil {
		t.Fatalf("%s not installed: run scripts/install-integration-deps.sh (%v)", goSendXMPP, err)
	}
	tests := []struct {
		name       string
		mode       xmppprobe.TLSMode
		flags      []string
		trustStore bool // point SSL_CERT_FILE at the test CA
	}{
		{"direct TLS, CA trusted", xmppprobe.DirectTLS, []string{"--tls"}, true},
		{"STARTTLS, CA trusted", xmppprobe.StartTLS, nil, true},
		{"direct TLS, no verification", xmppprobe.DirectTLS, []string{"--tls", "--no-tls-verify"}, false},
		{"STARTTLS, no verification", xmppprobe.StartTLS, []string{"--no-tls-verify"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var events []string
			e := newEnv(t, Config{Logf: func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				events = append(events, fmt.Sprintf(format, args...))
				t.Logf(format, args...)
			}})
			dir := t.TempDir()
			caFile := filepath.Join(dir, "ca.pem")
			if err := e.ca.WriteCertFile(caFile); err != nil {
				t.Fatal(err)
			}
			args := append([]string{
				"--debug",
				"--jserver", e.addrs[tt.mode],
				"--username", testUser + "@" + testDomain,
				"--password", testPassword,
				"--timeout", "10",
			}, tt.flags...)
			args = append(args, finesseBare)

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, goSendXMPP, args...)
			// An empty HOME keeps a developer's sendxmpprc out of the test.
			cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}
			if tt.trustStore {
				cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+caFile)
			}
			cmd.Stdin = strings.NewReader("hello from go-sendxmpp")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			// The debug output holds the SASL payload; these are test credentials.
			t.Logf("go-sendxmpp %s:\n%s", strings.Join(tt.flags, " "), out.String())
			if err != nil {
				t.Fatalf("go-sendxmpp failed: %v", err)
			}
			mu.Lock()
			log := strings.Join(events, "\n")
			mu.Unlock()
			for _, want := range []string{`authenticated "` + testUser + `"`, "bound " + testUser + "@" + testDomain + "/go-sendxmpp."} {
				if !strings.Contains(log, want) {
					t.Errorf("the server did not log %q", want)
				}
			}
		})
	}
}
