package notifserver

import (
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// closeNotifyTimeout bounds the TLS close_notify at the end of a session.
const closeNotifyTimeout = time.Second

// errTooMuchData is returned by a read once the session has used its byte cap.
var errTooMuchData = errors.New("client sent more than the per-session byte cap")

// wire is the connection as the simulator's network sees it. On the TCP
// listeners it sits under TLS, so everything the server sends or receives
// goes through it: handshake records are capped like stanzas, and a silenced
// wire swallows them like a broken network would. Under a WebSocket it sits
// over the TLS that net/http terminated, and does the same for the
// WebSocket frames.
type wire struct {
	net.Conn
	silent atomic.Bool

	// left and exceeded are only touched by reads, which only the session's
	// own goroutine makes (TLS included: writes never read here).
	max      int64
	left     int64
	exceeded bool
}

func newWire(c net.Conn, maxBytes int64, silent bool) *wire {
	w := &wire{Conn: c, max: maxBytes, left: maxBytes}
	w.silent.Store(silent)
	return w
}

// Read never reads past the byte cap, so a client that stops at the cap
// leaves nothing unread and the connection closes cleanly. While silenced it
// discards what arrives, so the session hangs as if nothing came, yet still
// notices the client giving up (EOF) or the read deadline.
func (w *wire) Read(p []byte) (int, error) {
	for {
		if w.left <= 0 {
			w.exceeded = true
			return 0, errTooMuchData
		}
		if int64(len(p)) > w.left {
			p = p[:w.left]
		}
		n, err := w.Conn.Read(p)
		w.left -= int64(n)
		if !w.silent.Load() {
			return n, err
		}
		if err != nil {
			return 0, err
		}
	}
}

// Write on a silenced wire reports success and sends nothing, so the session carries on into a read
// that will never be answered, like a server behind a dead link.
func (w *wire) Write(p []byte) (int, error) {
	if w.silent.Load() {
		return len(p), nil
	}
	return w.Conn.Write(p)
}

// renew gives the cap back after a stanza of a bound stream: a desktop that
// stays connected for weeks sends far more than the cap in pings alone, while
// one endless element must still be cut off.
func (w *wire) renew() { w.left = w.max }

// Close closes the connection. When TLS runs under the wire (WebSocket), it
// sends TLS close_notify first, unless silenced: a dead network carries
// nothing, so the TCP connection under TLS just closes.
func (w *wire) Close() error {
	tc, ok := w.Conn.(*tls.Conn)
	switch {
	case !ok:
		return w.Conn.Close()
	case w.silent.Load():
		return tc.NetConn().Close()
	default:
		closeTLS(tc)
		return nil
	}
}

// closeTLS sends TLS close_notify, then closes. Without the alert, clients
// built on OpenSSL 3, such as check_xmppng, report a server that ends a
// session as "unexpected EOF": a truncation attack cannot be told from it.
// crypto/tls gives the alert's write 5 s of its own; a client that stopped
// reading must not hold a shutdown that long, so the connection under TLS
// is closed after closeNotifyTimeout whatever the alert's fate.
func closeTLS(tc *tls.Conn) {
	cut := time.AfterFunc(closeNotifyTimeout, func() { _ = tc.NetConn().Close() })
	defer cut.Stop()
	_ = tc.Close()
}
