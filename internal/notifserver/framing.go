package notifserver

import (
	"bufio"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"time"

	"gosrc.io/xmpp/stanza"

	"github.com/finessectl/finessectl/internal/xmltext"
)

// errNoStream is a write attempted while TLS is being negotiated: nothing
// can be said to the client until the handshake is done.
var errNoStream = errors.New("no stream to write on during the TLS handshake")

// framing is what XMPP over TCP (RFC 6120) and XMPP over WebSocket (RFC 7395)
// do differently: how a stream opens, restarts and closes, where a top-level
// element ends, which namespaces an element must declare itself, and how
// bytes leave. The session runs negotiation and the stanza service on top of
// it, the same for both.
type framing interface {
	// readOpen reads the client's stream header, or its <open/>, with a
	// fresh parser, as every stream start and restart needs, and returns its
	// 'to'. The read deadline is the caller's.
	readOpen() (to string, err error)
	// next reads up to the start of the next top-level element and returns
	// the parser the rest of it is read from. errStreamClosed means the
	// client closed the stream.
	next() (*xml.Decoder, xml.StartElement, error)

	// The server's side of the stream. Each string is written whole, by
	// write, in order.
	opening(features string) []string
	streamError(condition string, opened bool) []string
	closing() []string
	// stanzaNS is what a stanza we send must declare: nothing where the
	// stream header has declared jabber:client, itself where no header does.
	stanzaNS() string

	// write sends one unit; the caller holds session.wmu.
	write(s string) error
	// hangUp closes the connection, with a TLS close_notify when TLS is up
	// and the network is not silenced. The caller holds session.wmu; a
	// second call does nothing.
	hangUp()
}

// tcpStream frames XMPP over TCP: each direction is one XML document, begun
// again after STARTTLS and SASL, and an element ends where the parser says.
type tcpStream struct {
	wire      *wire
	domain    string
	directTLS bool

	conn net.Conn // the wire, or TLS over it; nil during the TLS handshake. Guarded by session.wmu.

	// Used by the session goroutine only.
	r   *bufio.Reader
	dec *xml.Decoder
}

func newTCPStream(w *wire, domain string, directTLS bool) *tcpStream {
	return &tcpStream{wire: w, domain: domain, directTLS: directTLS, conn: w, r: bufio.NewReader(w)}
}

func (t *tcpStream) readOpen() (string, error) {
	t.dec = xml.NewDecoder(t.r)
	for {
		tok, err := t.dec.Token()
		if err != nil {
			return "", err
		}
		switch el := tok.(type) {
		case xml.ProcInst, xml.CharData: // the XML declaration, whitespace
		case xml.StartElement:
			if el.Name != (xml.Name{Space: stanza.NSStream, Local: "stream"}) || attr(el, "xmlns") != stanza.NSClient {
				return "", &streamError{"invalid-namespace"}
			}
			return attr(el, "to"), nil
		default:
			return "", &streamError{"restricted-xml"}
		}
	}
}

// next skips whitespace keepalives between elements.
func (t *tcpStream) next() (*xml.Decoder, xml.StartElement, error) {
	for {
		tok, err := t.dec.Token()
		if err != nil {
			return nil, xml.StartElement{}, err
		}
		switch el := tok.(type) {
		case xml.StartElement:
			return t.dec, el, nil
		case xml.EndElement: // at this depth, only </stream:stream>
			return nil, xml.StartElement{}, errStreamClosed
		case xml.CharData:
		default:
			return nil, xml.StartElement{}, &streamError{"restricted-xml"}
		}
	}
}

// opening is one write: a client may read the header and the features with
// one read, and some wait for both before answering.
func (t *tcpStream) opening(features string) []string {
	return []string{t.header() + "<stream:features>" + features + "</stream:features>"}
}

func (t *tcpStream) streamError(condition string, opened bool) []string {
	msg := "<stream:error><" + condition + " xmlns='" + nsStreams + "'/></stream:error></stream:stream>"
	if !opened {
		msg = t.header() + msg // RFC 6120 4.9.1.1: an error needs an open stream
	}
	return []string{msg}
}

func (t *tcpStream) closing() []string { return []string{"</stream:stream>"} }

func (t *tcpStream) stanzaNS() string { return "" }

func (t *tcpStream) header() string {
	return "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='" +
		randomID() + "' from='" + xmltext.Escape(t.domain) + "' version='1.0'>"
}

func (t *tcpStream) write(s string) error {
	if t.conn == nil {
		return errNoStream
	}
	_ = t.wire.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := io.WriteString(t.conn, s)
	return err
}

func (t *tcpStream) hangUp() {
	if tc, ok := t.conn.(*tls.Conn); ok {
		closeTLS(tc)
		return
	}
	_ = t.wire.Close()
}
