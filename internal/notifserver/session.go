package notifserver

import (
	"bufio"
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"gosrc.io/xmpp/stanza"

	"github.com/finessectl/finessectl/internal/finesse"
)

const (
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsPing    = "urn:xmpp:ping"

	featuresStartTLS = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
	featuresSASL     = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	featuresBind     = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>" +
		"<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"

	// finesseResource is the resource of the 'finesse' user's available presence.
	finesseResource = "finesse"
	systemInfoNode  = finesse.SystemInfoPath
)

var (
	// errStreamClosed means the client sent </stream:stream>.
	errStreamClosed = errors.New("client closed the stream")
	// errHandshake marks TLS handshake failures: nothing can be said to a
	// client that is not speaking TLS with us, so the socket just closes.
	errHandshake = errors.New("TLS handshake failed")
)

// streamError is an RFC 6120 stream error condition to send before closing.
type streamError struct{ condition string }

func (e *streamError) Error() string { return "stream error " + e.condition }

// session is one client connection. Its own goroutine runs negotiation and
// reads stanzas; other goroutines only write to it (pushes, kills) or close
// its wire.
type session struct {
	srv       *Server
	wire      *wire
	id        string // for logs
	directTLS bool

	wmu  sync.Mutex // serialises writes, which come from several goroutines
	conn net.Conn   // the wire, or TLS over it, nil during the TLS handshake; guarded by wmu
	open bool       // our stream header is out on conn, so a stream error may follow it; guarded by wmu

	// Used by the session goroutine only.
	r    *bufio.Reader
	dec  *xml.Decoder
	user string

	// Guarded by srv.mu. jid is set once, before the session can be the
	// target of a push, so pushes read it without the lock.
	jid       string // full JID, once bound
	available bool   // initial presence received: 'finesse' presence is pushed
}

func newSession(srv *Server, w *wire, directTLS bool) *session {
	return &session{srv: srv, wire: w, id: randomID(), directTLS: directTLS, conn: w, r: bufio.NewReader(w)}
}

func (c *session) run() {
	c.srv.logf("notifserver %s: connection from %s", c.id, c.wire.RemoteAddr())
	err := c.negotiate()
	if err == nil {
		err = c.serve()
	}
	c.end(err)
}

// negotiate takes the connection from its first byte to a bound resource.
func (c *session) negotiate() error {
	if c.directTLS {
		if err := c.startTLS(); err != nil {
			return err
		}
	} else {
		if err := c.openStream(featuresStartTLS); err != nil {
			return err
		}
		if err := c.awaitStartTLS(); err != nil {
			return err
		}
	}
	if err := c.openStream(featuresSASL); err != nil {
		return err
	}
	if err := c.authenticate(); err != nil {
		return err
	}
	if err := c.openStream(featuresBind); err != nil {
		return err
	}
	return c.bind()
}

// openStream reads the client's stream header and answers with ours and the
// features of this stage.
func (c *session) openStream(features string) error {
	to, err := c.readHeader()
	if err != nil {
		return err
	}
	if !strings.EqualFold(to, c.srv.cfg.Domain) {
		return &streamError{"host-unknown"}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.open = true
	return c.writeLocked(c.header() + features)
}

// readHeader starts a fresh parser, as every stream start and restart needs,
// and reads the client's stream header, returning its 'to'.
func (c *session) readHeader() (string, error) {
	c.dec = xml.NewDecoder(c.r)
	_ = c.wire.SetReadDeadline(time.Now().Add(c.srv.stepTimeout))
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.ProcInst, xml.CharData: // the XML declaration, whitespace
		case xml.StartElement:
			if t.Name != (xml.Name{Space: stanza.NSStream, Local: "stream"}) || attr(t, "xmlns") != stanza.NSClient {
				return "", &streamError{"invalid-namespace"}
			}
			return attr(t, "to"), nil
		default:
			return "", &streamError{"restricted-xml"}
		}
	}
}

// awaitStartTLS requires <starttls/> as the first element of the plain stream.
func (c *session) awaitStartTLS() error {
	se, err := c.next(c.srv.stepTimeout)
	if err != nil {
		return err
	}
	if se.Name != (xml.Name{Space: nsTLS, Local: "starttls"}) {
		return &streamError{"policy-violation"} // RFC 6120 5.3.1: TLS is mandatory here
	}
	if err := c.dec.Skip(); err != nil {
		return err
	}
	// Plain bytes read past <starttls/> must not be taken as part of the
	// TLS stream (the STARTTLS command injection flaw). Whitespace is fine,
	// go-xmpp sends a newline; it is dropped with this reader.
	pending, _ := c.r.Peek(c.r.Buffered())
	if len(bytes.TrimSpace(pending)) > 0 {
		return &streamError{"policy-violation"}
	}
	if err := c.write("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		return err
	}
	return c.startTLS()
}

func (c *session) startTLS() error {
	// No other goroutine may write until the handshake is done: a write on
	// the tls.Conn would join the handshake, one on the wire would corrupt it.
	c.wmu.Lock()
	c.conn, c.open = nil, false
	c.wmu.Unlock()
	tc := tls.Server(c.wire, c.srv.cfg.TLS)
	_ = c.wire.SetDeadline(time.Now().Add(c.srv.stepTimeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("%w: %w", errHandshake, err)
	}
	c.wmu.Lock()
	c.conn = tc
	c.wmu.Unlock()
	c.r = bufio.NewReader(tc)
	return nil
}

// authenticate runs SASL PLAIN until a login succeeds. A failure leaves the
// stream open for another attempt (RFC 6120 6.4.5); the step timeout and the
// byte cap bound the attempts.
func (c *session) authenticate() error {
	for {
		se, err := c.next(c.srv.stepTimeout)
		if err != nil {
			return err
		}
		if se.Name != (xml.Name{Space: stanza.NSSASL, Local: "auth"}) {
			return &streamError{"not-authorized"} // RFC 6120 6.4.1: nothing else before SASL
		}
		var auth stanza.SASLAuth
		if err := c.dec.DecodeElement(&auth, &se); err != nil {
			return err
		}
		user, failure := c.checkPlain(auth)
		if failure != "" {
			c.srv.logf("notifserver %s: SASL failure %s", c.id, failure)
			err := c.write("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><" + failure + "/></failure>")
			if err != nil {
				return err
			}
			continue
		}
		c.user = user
		c.srv.logf("notifserver %s: authenticated %q", c.id, user)
		return c.writeSuccess()
	}
}

// writeSuccess ends SASL. The client then restarts the stream and waits for
// our new header, which a stream error sent meanwhile must come with.
func (c *session) writeSuccess() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.open = false
	return c.writeLocked("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
}

// checkPlain returns the authenticated user, or the SASL failure condition.
// The authzid is ignored: the session is bound to the authcid, so it cannot
// be used to act as someone else.
func (c *session) checkPlain(auth stanza.SASLAuth) (user, failure string) {
	if auth.Mechanism != "PLAIN" {
		return "", "invalid-mechanism"
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(auth.Value))
	if err != nil {
		return "", "incorrect-encoding"
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 {
		return "", "malformed-request"
	}
	user, password := parts[1], parts[2]
	want, known := c.srv.cfg.Users[user]
	match := subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
	if !known || !match || c.srv.authReject.Load() {
		return "", "not-authorized"
	}
	return user, ""
}

// bind handles the resource binding IQ, which must come first after SASL.
func (c *session) bind() error {
	se, err := c.next(c.srv.stepTimeout)
	if err != nil {
		return err
	}
	if se.Name != (xml.Name{Space: stanza.NSClient, Local: "iq"}) {
		return &streamError{"not-authorized"} // RFC 6120 7.1: no stanza before binding
	}
	var iq stanza.IQ
	if err := c.dec.DecodeElement(&iq, &se); err != nil {
		return err
	}
	req, ok := iq.Payload.(*stanza.Bind)
	if !ok || iq.Type != stanza.IQTypeSet {
		return &streamError{"not-authorized"}
	}
	resource := req.Resource
	if resource == "" {
		resource = randomID()
	}
	full := c.user + "@" + c.srv.cfg.Domain + "/" + resource
	if old := c.srv.bind(c, full); old != nil {
		// Openfire keeps the newest session of a full JID.
		old.kill("conflict")
	}
	c.srv.logf("notifserver %s: bound %s", c.id, full)
	return c.write(c.iqResult(&iq, "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>"+escape(full)+"</jid></bind>"))
}

// serve handles the stanzas of a bound session until the stream ends.
func (c *session) serve() error {
	for {
		se, err := c.next(c.srv.idleTimeout)
		if err != nil {
			return err
		}
		switch se.Name {
		case xml.Name{Space: stanza.NSClient, Local: "iq"}:
			err = c.handleIQ(se)
		case xml.Name{Space: stanza.NSClient, Local: "presence"}:
			err = c.handlePresence(se)
		case xml.Name{Space: stanza.NSClient, Local: "message"}:
			err = c.dec.Skip() // nobody here reads messages
		default:
			err = &streamError{"unsupported-stanza-type"}
		}
		if err != nil {
			return err
		}
		c.wire.renew()
	}
}

func (c *session) handleIQ(se xml.StartElement) error {
	var iq stanza.IQ
	if err := c.dec.DecodeElement(&iq, &se); err != nil {
		return err
	}
	if iq.Type != stanza.IQTypeGet && iq.Type != stanza.IQTypeSet {
		return nil // results and errors answer nothing we asked
	}
	ns := ""
	switch {
	case iq.Payload != nil:
		ns = iq.Payload.Namespace()
	case iq.Any != nil:
		ns = iq.Any.XMLName.Space
	}
	switch {
	case !c.forServer(iq.To):
		// Other users and pubsub.DOMAIN (explicit subscriptions) are not simulated.
	case iq.Type == stanza.IQTypeGet && ns == stanza.NSRoster:
		item := c.srv.cfg.FinesseUser + "@" + c.srv.cfg.Domain
		return c.write(c.iqResult(&iq, "<query xmlns='jabber:iq:roster'><item jid='"+escape(item)+
			"' subscription='both' name='"+escape(c.srv.cfg.FinesseUser)+"'/></query>"))
	case iq.Type == stanza.IQTypeSet && ns == stanza.NSSession,
		iq.Type == stanza.IQTypeGet && ns == nsPing:
		return c.write(c.iqResult(&iq, ""))
	}
	return c.write(c.iqReply(&iq, "error", "<error type='cancel'><service-unavailable xmlns='"+nsStanzas+"'/></error>"))
}

// forServer reports whether a stanza addressed to 'to' is the server's to
// answer: no 'to', the domain, or the user's own bare JID (RFC 6120 10.3).
func (c *session) forServer(to string) bool {
	return to == "" || strings.EqualFold(to, c.srv.cfg.Domain) ||
		strings.EqualFold(to, c.user+"@"+c.srv.cfg.Domain)
}

func (c *session) handlePresence(se xml.StartElement) error {
	var p stanza.Presence
	if err := c.dec.DecodeElement(&p, &se); err != nil {
		return err
	}
	if p.To != "" {
		return nil // directed presence: no other user is simulated
	}
	switch p.Type {
	case "":
		return c.becomeAvailable()
	case stanza.PresenceTypeUnavailable:
		c.srv.mu.Lock()
		c.available = false
		c.srv.mu.Unlock()
	}
	return nil
}

// becomeAvailable answers the initial presence with the 'finesse' user's
// presence, as the roster subscription makes Openfire do. The write lock is
// taken before the state is read, so a concurrent SetFinesseAvailable push
// is written after this one and the client ends up with the newest state.
func (c *session) becomeAvailable() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.srv.mu.Lock()
	if c.available {
		c.srv.mu.Unlock()
		return nil // a presence update, not the initial presence
	}
	c.available = true
	finesse := c.srv.finesseAvailable
	c.srv.mu.Unlock()
	return c.writeLocked(c.finessePresence(finesse))
}

func (c *session) finessePresence(available bool) string {
	bare := c.srv.cfg.FinesseUser + "@" + c.srv.cfg.Domain
	if available {
		return "<presence from='" + escape(bare+"/"+finesseResource) + "' to='" + escape(c.jid) + "'/>"
	}
	return "<presence type='unavailable' from='" + escape(bare) + "' to='" + escape(c.jid) + "'/>"
}

// systemInfoMessage wraps a SystemInfo document in Finesse's pubsub
// envelope: an <Update>, XML-escaped as the text of <notification>.
func (c *session) systemInfoMessage(systemInfoXML string) string {
	update := "<Update><data>" + withoutDeclaration(systemInfoXML) + "</data><event>PUT</event><requestId></requestId><source>" +
		systemInfoNode + "</source></Update>"
	return "<message from='pubsub." + escape(c.srv.cfg.Domain) + "' to='" + escape(c.jid) + "' id='" + randomID() + "'>" +
		"<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='" + systemInfoNode + "'>" +
		"<item id='" + randomID() + "'><notification xmlns='http://jabber.org/protocol/pubsub'>" + escape(update) +
		"</notification></item></items></event></message>"
}

func (c *session) iqResult(iq *stanza.IQ, payload string) string {
	return c.iqReply(iq, "result", payload)
}

// iqReply answers iq from whom it was sent to, keeping its id, as clients
// such as Smack match replies on both.
func (c *session) iqReply(iq *stanza.IQ, typ, payload string) string {
	from := ""
	if iq.To != "" {
		from = " from='" + escape(iq.To) + "'"
	}
	return "<iq type='" + typ + "' id='" + escape(iq.Id) + "'" + from + " to='" + escape(c.jid) + "'>" + payload + "</iq>"
}

// next returns the next top-level element of the client's stream, skipping
// whitespace keepalives. The deadline covers the whole element, as callers
// decode it before the next call.
func (c *session) next(timeout time.Duration) (xml.StartElement, error) {
	_ = c.wire.SetReadDeadline(time.Now().Add(timeout))
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement: // at this depth, only </stream:stream>
			return xml.StartElement{}, errStreamClosed
		case xml.CharData:
		default:
			return xml.StartElement{}, &streamError{"restricted-xml"}
		}
	}
}

// end says why the stream ends, when the client can still hear it, and
// closes the connection.
func (c *session) end(err error) {
	c.srv.forget(c)
	var se *streamError
	switch {
	case errors.Is(err, errHandshake):
	case errors.As(err, &se):
		c.sendStreamError(se.condition)
	case errors.Is(err, errStreamClosed):
		_ = c.write("</stream:stream>")
	case c.wire.exceeded:
		c.sendStreamError("policy-violation")
	case isTimeout(err):
		c.sendStreamError("connection-timeout")
	case isSyntaxError(err):
		c.sendStreamError("not-well-formed")
	}
	_ = c.wire.Close()
	c.srv.logf("notifserver %s: closed: %v", c.id, err)
}

// kill ends the session from another goroutine: conflict, shutdown.
func (c *session) kill(condition string) {
	c.srv.forget(c)
	c.sendStreamError(condition)
	_ = c.wire.Close()
}

func (c *session) sendStreamError(condition string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.conn == nil {
		return // mid-handshake: there is no stream to speak on yet
	}
	msg := "<stream:error><" + condition + " xmlns='" + nsStreams + "'/></stream:error></stream:stream>"
	if !c.open {
		msg = c.header() + msg // RFC 6120 4.9.1.1: an error needs an open stream
	}
	_ = c.writeLocked(msg)
}

func (c *session) header() string {
	return "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='" +
		randomID() + "' from='" + escape(c.srv.cfg.Domain) + "' version='1.0'>"
}

func (c *session) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(s)
}

// writeLocked writes s whole or kills the connection: a stanza cut short
// would corrupt the stream for whatever follows.
func (c *session) writeLocked(s string) error {
	_ = c.wire.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := io.WriteString(c.conn, s)
	if err != nil {
		_ = c.wire.Close()
	}
	return err
}
