package xmppprobe

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A server that floods requests and stops reading fills the socket with the
// probe's answers; Close must still return at once, not wait out crypto/tls's
// own five-second close_notify deadline.
func TestCloseDoesNotWaitForAServerThatStoppedReading(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	// The receive buffer must be small before listen, so that the window the
	// server advertises stays small and the probe's writes stall quickly.
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("&quot;", 4000) // a quote, escaped again in every answer
	f := serveFake(t, ln, c.server, finesseNode(func(p *peer) {
		for i := 0; i < 150; i++ { // under the probe's 4 MiB read cap
			ping := "<iq type='get' id='" + id + strconv.Itoa(i) + "' from='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>"
			if _, err := io.WriteString(p.conn, ping); err != nil {
				return
			}
		}
		time.Sleep(10 * time.Second) // and never reads again
	}))
	s, err := dialLogin(t, f, c, DirectTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AwaitPresence(ctxTimeout(t, time.Second), "finesse@finesse.test"); err == nil {
		t.Fatal("presence arrived from a server that sends none")
	}
	start := time.Now()
	_ = s.Close()
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("Close took %v", waited)
	}
}
