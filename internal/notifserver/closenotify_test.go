package notifserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// recorder is a client's TCP connection that keeps what the server sent.
// Only the goroutine reading the connection touches it.
type recorder struct {
	net.Conn
	received bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.received.Write(p[:n])
	return n, err
}

const (
	recordAlert           = 21
	recordApplicationData = 23
)

// lastRecord returns the content type and length of the last TLS record in
// data, which must hold whole records.
func lastRecord(t *testing.T, data []byte) (typ byte, length int) {
	t.Helper()
	for len(data) > 0 {
		if len(data) < 5 {
			t.Fatalf("%d bytes left, less than a record header", len(data))
		}
		typ, length = data[0], int(data[3])<<8|int(data[4])
		if len(data) < 5+length {
			t.Fatalf("record of %d bytes cut short at %d", length, len(data)-5)
		}
		data = data[5+length:]
	}
	return typ, length
}

// assertCloseNotify checks that the server's last TLS record is the
// close_notify alert, or, when want is false, that it is not. crypto/tls
// reads io.EOF either way (it forgives a TCP close at a record boundary),
// so the records themselves are looked at: under TLS 1.2 an alert travels
// as record type 21; under TLS 1.3 every record is type 23, and an
// encrypted two-byte alert is 19 bytes long (alert, inner type, 16-byte
// tag), shorter than any stanza.
func assertCloseNotify(t *testing.T, version uint16, tlsBytes []byte, want bool) {
	t.Helper()
	typ, length := lastRecord(t, tlsBytes)
	var alert bool
	switch version {
	case tls.VersionTLS12:
		alert = typ == recordAlert
	default:
		alert = typ == recordApplicationData && length == 2+1+16
	}
	if alert != want {
		t.Errorf("last TLS record: type %d, %d bytes; close_notify %v, want %v", typ, length, alert, want)
	}
}

var tlsVersions = []struct {
	name    string
	version uint16
}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}}

// Strict TLS clients (OpenSSL 3, so check_xmppng) call a session that ends
// without close_notify "unexpected EOF".
func TestCloseNotifyOnTCP(t *testing.T) {
	endings := []struct {
		name  string
		tune  func(*Server)
		end   func(e *testEnv, c *rawClient)
		alert bool
	}{
		{"client closes the stream", nil, func(e *testEnv, c *rawClient) {
			c.send("</stream:stream>")
			c.expectEnd()
		}, true},
		{"DropAll", nil, func(e *testEnv, c *rawClient) {
			e.srv.DropAll()
			c.expectStreamError("system-shutdown")
		}, true},
		{"stream error", nil, func(e *testEnv, c *rawClient) {
			c.send("<nonsense/>")
			c.expectStreamError("unsupported-stanza-type")
		}, true},
		{"idle timeout", func(s *Server) { s.idleTimeout = 300 * time.Millisecond }, func(e *testEnv, c *rawClient) {
			c.expectStreamError("connection-timeout")
		}, true},
		{"Close", nil, func(e *testEnv, c *rawClient) {
			_ = e.srv.Close()
			_ = c.conn.SetReadDeadline(time.Now().Add(ioWait))
			if n, err := c.r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				c.t.Fatalf("after Close: read %d bytes, %v; want io.EOF", n, err)
			}
		}, true},
		{"silenced, then the network is back", nil, func(e *testEnv, c *rawClient) {
			e.srv.SetSilent(true)
			e.srv.SetSilent(false)
			_ = c.conn.SetReadDeadline(time.Now().Add(ioWait))
			if n, err := c.r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				c.t.Fatalf("after the silence: read %d bytes, %v; want the connection closed", n, err)
			}
		}, false},
	}
	for _, mode := range modes {
		for _, v := range tlsVersions {
			for _, ending := range endings {
				t.Run(string(mode)+"/"+v.name+"/"+ending.name, func(t *testing.T) {
					var tune []func(*Server)
					if ending.tune != nil {
						tune = append(tune, ending.tune)
					}
					e := newEnv(t, Config{}, tune...)
					e.client.MinVersion, e.client.MaxVersion = v.version, v.version
					c := e.bound(t, mode, "raw")
					ending.end(e, c)
					assertCloseNotify(t, v.version, c.rec.received.Bytes()[c.tlsFrom:], ending.alert)
				})
			}
		}
	}
}

func TestCloseNotifyOnWebSocket(t *testing.T) {
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			addr := e.startHTTPS(t)
			d := e.wsDialer()
			d.TLSClientConfig.MinVersion, d.TLSClientConfig.MaxVersion = v.version, v.version
			var rec *recorder
			d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				var nd net.Dialer
				conn, err := nd.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				rec = &recorder{Conn: conn}
				return rec, nil
			}
			ws, _, err := d.Dial("wss://"+addr+finesse.WebSocketPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			c := &wsClient{t: t, ws: ws}
			c.open()
			c.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
			c.expect("close")
			c.expectClosed(websocket.CloseNormalClosure)
			assertCloseNotify(t, v.version, rec.received.Bytes(), true)
		})
	}
}

// A session that never finished its handshake has no TLS to close.
func TestNoCloseNotifyBeforeHandshake(t *testing.T) {
	e := newEnv(t, Config{}, func(s *Server) { s.stepTimeout = 100 * time.Millisecond })
	conn, err := net.Dial("tcp", e.addrs[xmppprobe.DirectTLS])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(ioWait))
	if b, err := io.ReadAll(conn); len(b) != 0 || err != nil {
		t.Errorf("server sent %d bytes (%v) to a client that never said hello, want none", len(b), err)
	}
}
