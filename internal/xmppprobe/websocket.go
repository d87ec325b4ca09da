package xmppprobe

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmltext"
)

// Transport is how the probe reaches the Notification Service.
type Transport string

const (
	// TCP is XMPP over TCP (RFC 6120) on 5222 or 5223; Mode says how TLS starts.
	TCP Transport = "tcp"
	// WebSocket is XMPP over WebSocket (RFC 7395) over HTTPS, the way Finesse
	// desktops connect: through the web proxy on 8445 from 12.6, on 7443 in
	// 12.0–12.5.
	WebSocket Transport = "websocket"
)

const (
	nsFraming = "urn:ietf:params:xml:ns:xmpp-framing"
	// maxUpgradeBytes caps the HTTP answer to the upgrade request: net/http
	// reads response headers without limit, so a hostile server could
	// otherwise stream headers until the deadline.
	maxUpgradeBytes = 64 << 10
)

// UpgradeError is an HTTP answer other than 101 to the WebSocket upgrade: the
// path is not served (404), the proxy's backend is down (502, 503), and so on.
type UpgradeError struct {
	StatusCode int
	Status     string // the status line's text, not sanitized
}

func (e *UpgradeError) Error() string {
	return fmt.Sprintf("WebSocket upgrade refused: HTTP %s", sanitize(e.Status))
}

// Absent reports whether err shows that nothing serves the attempted
// transport there at all, as opposed to a service that is there and failing:
// the connection was refused, or the WebSocket path answered 404. A timeout
// is never absence: a silent network hides a service, it does not rule it out.
func Absent(err error) bool {
	var ue *UpgradeError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &ue) && ue.StatusCode == http.StatusNotFound)
}

// upgrade turns the TLS connection into a WebSocket one with the "xmpp"
// subprotocol. gorilla/websocket is handed the connection the probe already
// secured, so that the probe's own trust settings, certificate facts and
// TLS error classification apply, which gosrc.io/xmpp's WebSocket transport
// would bypass.
func (s *Session) upgrade(ctx context.Context) error {
	capped := &cappedConn{Conn: s.conn, limit: &limitReader{r: s.conn, left: maxUpgradeBytes}}
	d := websocket.Dialer{
		NetDialTLSContext: func(context.Context, string, string) (net.Conn, error) { return capped, nil },
		Subprotocols:      []string{finesse.WebSocketSubprotocol},
		// The probe's deadline governs; gorilla's own 45 s default is not wanted.
		HandshakeTimeout: 0,
	}
	url := s.facts.URL
	s.trace.line("C:", "GET "+url+" (WebSocket upgrade, subprotocol xmpp)")
	c, resp, err := d.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	switch {
	case capped.limit.exceeded:
		return ErrTooMuchData
	case errors.Is(err, websocket.ErrBadHandshake) && resp != nil:
		s.trace.line("S:", "HTTP "+resp.Status)
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return errors.New("WebSocket upgrade answered 101 without a valid handshake")
		}
		return &UpgradeError{StatusCode: resp.StatusCode, Status: resp.Status}
	case err != nil:
		return err
	case c.Subprotocol() != finesse.WebSocketSubprotocol:
		_ = c.Close()
		return fmt.Errorf("server did not accept the %q WebSocket subprotocol (RFC 7395)", finesse.WebSocketSubprotocol)
	}
	s.trace.line("S:", "HTTP 101 Switching Protocols (subprotocol xmpp)")
	capped.limit = nil
	c.SetReadLimit(s.cfg.MaxBytes)
	s.stream = &wsStream{c: c}
	return nil
}

// cappedConn reads through limit until limit is set to nil: it bounds the
// upgrade's HTTP answer only, as the messages after it have their own cap.
// It is the connection gorilla/websocket is given, and it passes gorilla's
// deadlines on to the socket, but not "none": gorilla clears the deadline
// after its handshake, and sets its write deadline, none unless asked,
// before every data frame, which would undo the session's (Close's grace, a
// ping's timeout). The deadline of a pong that gorilla writes while reading
// (now + 1 s) does pass, so a server's keepalive ping is answered even after
// the session's last write deadline has gone by.
type cappedConn struct {
	net.Conn
	limit *limitReader
}

func (c *cappedConn) SetDeadline(t time.Time) error { return unlessNone(t, c.Conn.SetDeadline) }
func (c *cappedConn) SetWriteDeadline(t time.Time) error {
	return unlessNone(t, c.Conn.SetWriteDeadline)
}

// unlessNone sets deadline t with set, unless t is none (zero).
func unlessNone(t time.Time, set func(time.Time) error) error {
	if t.IsZero() {
		return nil
	}
	return set(t)
}

func (c *cappedConn) Read(p []byte) (int, error) {
	if c.limit == nil {
		return c.Conn.Read(p)
	}
	return c.limit.Read(p)
}

// wsStream presents WebSocket messages as the byte stream the probe reads
// and writes: reads run through the messages' payloads in order, each write
// is one text message. RFC 7395 makes every message one complete element, so
// the XML decoder reading across message boundaries sees the same elements.
type wsStream struct {
	c   *websocket.Conn
	cur io.Reader // the message being read
}

func (w *wsStream) Read(p []byte) (int, error) {
	for {
		if w.cur == nil {
			_, r, err := w.c.NextReader()
			if err != nil {
				return 0, wsReadErr(err)
			}
			w.cur = r
		}
		n, err := w.cur.Read(p)
		if errors.Is(err, io.EOF) {
			w.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		if err != nil {
			err = wsReadErr(err)
		}
		return n, err
	}
}

func (w *wsStream) Write(p []byte) (int, error) {
	if err := w.c.WriteMessage(websocket.TextMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// wsClosedError is a close frame from the server: the end of the
// connection, with the code and reason worth reporting.
type wsClosedError struct{ frame *websocket.CloseError }

func (e *wsClosedError) Error() string {
	return "server closed the WebSocket: " + sanitize(e.frame.Error())
}
func (e *wsClosedError) Unwrap() error { return io.EOF }

func wsReadErr(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &wsClosedError{frame: ce}
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return ErrTooMuchData
	}
	return err
}

// framing translates RFC 7395's framing elements into the RFC 6120 stream
// tokens the rest of the probe and gosrc.io/xmpp's stanza package read:
// <open/> becomes the stream header, declaring jabber:client as the default
// namespace so that stanzas sent without one still decode, and <close/>
// becomes </stream:stream>. It works on raw tokens, leaving namespace
// resolution to the decoder above it.
type framing struct {
	d       *xml.Decoder
	skipEnd string // the framing element whose end tag is still to come
}

// InputPos is where in the messages read so far the last token ended, for
// xmltext's syntax errors.
func (f *framing) InputPos() (line, column int) { return f.d.InputPos() }

func (f *framing) Token() (xml.Token, error) {
	for {
		t, err := f.d.RawToken()
		if err != nil {
			return nil, err
		}
		switch v := t.(type) {
		case xml.StartElement:
			if v.Name.Space == "" && attr(v.Attr, "xmlns") == nsFraming {
				switch v.Name.Local {
				case "open":
					f.skipEnd = v.Name.Local
					return streamHeader(v.Attr), nil
				case "close":
					f.skipEnd = v.Name.Local
					return xml.EndElement{Name: xml.Name{Space: "stream", Local: "stream"}}, nil
				}
			}
		case xml.EndElement:
			if f.skipEnd != "" && v.Name.Space == "" && v.Name.Local == f.skipEnd {
				f.skipEnd = ""
				continue
			}
		}
		return xml.CopyToken(t), nil
	}
}

// streamHeader is the <stream:stream> start an <open/> stands for, with its
// attributes (from, id, version ...) but its framing namespace.
func streamHeader(open []xml.Attr) xml.StartElement {
	attrs := []xml.Attr{
		{Name: xml.Name{Space: "xmlns", Local: "stream"}, Value: "http://etherx.jabber.org/streams"},
		{Name: xml.Name{Local: "xmlns"}, Value: "jabber:client"},
	}
	attrs = append(attrs, xmltext.WithoutNamespaceDeclarations(open)...)
	return xml.StartElement{Name: xml.Name{Space: "stream", Local: "stream"}, Attr: attrs}
}

func attr(attrs []xml.Attr, local string) string {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// qualify puts the jabber:client namespace on a stanza sent over WebSocket:
// each message stands alone (RFC 7395 section 3.3.3), so it cannot inherit it
// from a stream header. Only the probe's own stanzas pass here, each a
// literal starting with its element name.
func qualify(elem string) string {
	for _, name := range []string{"<iq", "<presence", "<message"} {
		if rest, ok := strings.CutPrefix(elem, name); ok && rest != "" && strings.ContainsRune(" />", rune(rest[0])) {
			return name + " xmlns='jabber:client'" + rest
		}
	}
	return elem
}
