package notifserver

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"gosrc.io/xmpp/stanza"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmltext"
)

const (
	nsFraming = "urn:ietf:params:xml:ns:xmpp-framing"

	// wsReadLimit caps one message. It is well under the wire's cap, which
	// counts gorilla's read-ahead too, so that the WebSocket layer, which
	// refuses a message from its frame header alone, is the one that acts.
	wsReadLimit = maxSessionBytes / 2

	// wsWrapperOpen gives each client message the context a TCP stream
	// header gives a stanza: jabber:client as the default namespace and the
	// stream prefix. RFC 7395 has clients declare both on every element;
	// those that rely on the stream's context still parse the same.
	wsWrapperOpen  = "<ws xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	wsWrapperClose = "</ws>"
)

// WebSocketHandler serves XMPP over WebSocket (RFC 7395, subprotocol
// "xmpp"), as Finesse's /ws/ on 8445 (12.6+) and 7443 (12.0–12.5) does. It
// expects its HTTP server to terminate TLS, so it offers no STARTTLS; SASL
// PLAIN, binding and the stanza service are those of the TCP listeners, and
// so are the scenario hooks: SetSilent, DropAll, Sessions and Close treat a
// WebSocket session like any other. The server must speak HTTP/1.1 to the
// client: the upgrade takes over its connection.
func (s *Server) WebSocketHandler() http.Handler {
	up := &websocket.Upgrader{
		HandshakeTimeout: writeTimeout,
		// Non-zero, so that gorilla reads through the wire it is given
		// rather than through net/http's buffer under it.
		ReadBufferSize:  4 << 10,
		WriteBufferSize: 4 << 10,
		Subprotocols:    []string{finesse.WebSocketSubprotocol},
		// Any origin: desktops and gadgets are pages from other origins than
		// the Notification Service's port, and the SASL login that follows
		// authenticates the client; no cookie or ambient credential rides
		// on the upgrade for a foreign page to abuse.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.hangIfSilent(w, r) {
			return
		}
		if s.isClosed() {
			http.Error(w, "notifserver: the Notification Service is stopped", http.StatusServiceUnavailable)
			return
		}
		if !slices.Contains(websocket.Subprotocols(r), finesse.WebSocketSubprotocol) {
			http.Error(w, `notifserver: XMPP over WebSocket needs the "xmpp" subprotocol (RFC 7395)`, http.StatusBadRequest)
			return
		}
		hw := &wireHijacker{ResponseWriter: w, srv: s}
		ws, err := up.Upgrade(hw, r, nil)
		if err != nil {
			s.logf("notifserver: WebSocket upgrade from %s: %v", r.RemoteAddr, err)
			return // gorilla has answered, or closed the connection
		}
		ws.SetReadLimit(wsReadLimit)
		sess := newSession(s, hw.wire, &wsStream{ws: ws, domain: s.cfg.Domain})
		if !s.admit(sess) {
			_ = hw.wire.Close()
			return
		}
		defer s.wg.Done()
		sess.run("WebSocket")
	})
}

// wireHijacker hands gorilla the hijacked connection wrapped in a wire, so
// that a WebSocket session has the byte cap and the silence of the TCP ones.
type wireHijacker struct {
	http.ResponseWriter
	srv  *Server
	wire *wire
}

func (h *wireHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("notifserver: taking over the connection for WebSocket: %w", err)
	}
	h.wire = newWire(c, maxSessionBytes, h.srv.isSilent())
	return h.wire, brw, nil
}

// wsStream frames XMPP over WebSocket: every message is one complete
// element that declares its own namespaces, <open/> and <close/> stand for
// the stream header and its end, and a restart is a new <open/>.
type wsStream struct {
	ws     *websocket.Conn
	domain string
}

func (f *wsStream) readOpen() (string, error) {
	_, se, err := f.readElement()
	if err != nil {
		return "", err
	}
	switch se.Name {
	case xml.Name{Space: nsFraming, Local: "open"}:
	case xml.Name{Space: nsFraming, Local: "close"}: // leaving before a restart
		return "", errStreamClosed
	default:
		return "", &streamError{"invalid-namespace"}
	}
	return attr(se, "to"), nil
}

func (f *wsStream) next() (*xml.Decoder, xml.StartElement, error) {
	dec, se, err := f.readElement()
	if err == nil && se.Name == (xml.Name{Space: nsFraming, Local: "close"}) {
		return nil, xml.StartElement{}, errStreamClosed
	}
	return dec, se, err
}

// readElement reads the next message and returns the start of its element.
// Whitespace-only messages are skipped, as whitespace is between elements
// on TCP.
func (f *wsStream) readElement() (*xml.Decoder, xml.StartElement, error) {
	for {
		typ, msg, err := f.ws.ReadMessage()
		if err != nil {
			return nil, xml.StartElement{}, err
		}
		if typ != websocket.TextMessage {
			return nil, xml.StartElement{}, &streamError{"not-well-formed"} // RFC 7395 3.2: text frames only
		}
		if len(bytes.TrimSpace(msg)) == 0 {
			continue
		}
		return parseMessage(msg)
	}
}

// parseMessage checks that msg is one element, then returns a parser
// positioned just after its start tag. Checking first, with a parser of its
// own, keeps a message such as "<iq/><iq/>" from being half served.
func parseMessage(msg []byte) (*xml.Decoder, xml.StartElement, error) {
	if err := oneElement(msg); err != nil {
		return nil, xml.StartElement{}, err
	}
	dec := wrapped(msg)
	if _, err := dec.Token(); err != nil { // the wrapper
		return nil, xml.StartElement{}, fmt.Errorf("WebSocket message: %w", err)
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, xml.StartElement{}, fmt.Errorf("WebSocket message: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			return dec, se, nil
		}
	}
}

// oneElement reports whether msg holds exactly one element, and nothing
// else but whitespace, within the wrapper. Closing the wrapper early to
// smuggle in a second one is caught by tokens appearing after it.
func oneElement(msg []byte) error {
	dec := wrapped(msg)
	depth, elements, closed := 0, 0, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("WebSocket message: %w", err)
		}
		if closed {
			return &streamError{"not-well-formed"}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				elements++
			}
		case xml.EndElement:
			depth--
			closed = depth == 0
		case xml.CharData:
			if depth == 1 && len(bytes.TrimSpace(t)) > 0 {
				return &streamError{"not-well-formed"}
			}
		default:
			if depth == 1 {
				return &streamError{"restricted-xml"}
			}
		}
	}
	if elements != 1 {
		return &streamError{"not-well-formed"} // RFC 7395 3.3.3: one complete element per message
	}
	return nil
}

func wrapped(msg []byte) *xml.Decoder {
	return xml.NewDecoder(io.MultiReader(strings.NewReader(wsWrapperOpen), bytes.NewReader(msg), strings.NewReader(wsWrapperClose)))
}

func (f *wsStream) opening(features string) []string {
	return []string{
		"<open xmlns='" + nsFraming + "' from='" + xmltext.Escape(f.domain) + "' id='" + randomID() + "' version='1.0' xml:lang='en'/>",
		"<stream:features xmlns:stream='" + stanza.NSStream + "'>" + features + "</stream:features>",
	}
}

func (f *wsStream) streamError(condition string, opened bool) []string {
	msgs := []string{
		"<stream:error xmlns:stream='" + stanza.NSStream + "'><" + condition + " xmlns='" + nsStreams + "'/></stream:error>",
		f.closing()[0],
	}
	if !opened {
		msgs = append([]string{f.opening("")[0]}, msgs...) // an error needs an open stream
	}
	return msgs
}

func (f *wsStream) closing() []string { return []string{"<close xmlns='" + nsFraming + "'/>"} }

func (f *wsStream) stanzaNS() string { return " xmlns='jabber:client'" }

func (f *wsStream) write(s string) error {
	_ = f.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return f.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

// hangUp sends the WebSocket close frame, then closes the wire, which sends
// TLS close_notify.
func (f *wsStream) hangUp() {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = f.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeNotifyTimeout))
	_ = f.ws.Close()
}
