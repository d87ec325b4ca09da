//go:build unix

package cli

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// The long-running commands stop cleanly on SIGTERM (what systemd and
// 'kill' send) and SIGINT (Ctrl-C): exit 0, with what they print on the way
// out. The signal goes to this very process, which the command's handler
// takes over while it runs; no other test runs at the same time.
func TestLongRunningCommandsStopOnSignals(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-watch")
	node := cl.Nodes[0]
	_, _, secure := node.Ports()
	for _, c := range []struct {
		name    string
		args    []string
		ready   func(r *running) bool
		sig     syscall.Signal
		goodbye string
	}{
		{"watch, SIGTERM", watchArgs(caFile, secure, node.HTTPSAddr()),
			func(r *running) bool { return strings.Contains(r.out.String(), "fully available") }, syscall.SIGTERM, "■ stopped: interrupted"},
		{"watch, SIGINT", watchArgs(caFile, secure, node.HTTPSAddr()),
			func(r *running) bool { return strings.Contains(r.out.String(), "fully available") }, syscall.SIGINT, "■ stopped: interrupted"},
		{"serve, SIGTERM", append([]string{"serve", "--listen", "127.0.0.1:0"}, serveArgs(caFile, secure)...),
			func(r *running) bool { return strings.Contains(r.errOut.String(), "listening on") }, syscall.SIGTERM, "finessectl serve: stopping"},
		{"simulate, SIGTERM", []string{"simulate", "--https-port", "0", "--xmpp-port", "0", "--xmpp-secure-port", "0", "--bosh-port", "0"},
			func(r *running) bool { return strings.Contains(r.out.String(), "Stop with Ctrl-C") }, syscall.SIGTERM, "finessectl simulate: stopping"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := startCommand(watchEnv, c.args...)
			defer r.cancel()
			r.waitFor(t, func() bool { return c.ready(r) })
			if err := syscall.Kill(syscall.Getpid(), c.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case code := <-r.done:
				if all := r.out.String() + r.errOut.String(); code != 0 || !strings.Contains(all, c.goodbye) {
					t.Errorf("exit %d, want 0 with %q:\n%s", code, c.goodbye, all)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("still running 5s after %v", c.sig)
			}
		})
	}
}
