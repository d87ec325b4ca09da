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
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"gosrc.io/xmpp/stanza"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmltext"
)

const (
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsPing    = "urn:xmpp:ping"

	// The content of <stream:features> at each stage.
	featuresStartTLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
	featuresSASL     = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
	featuresBind     = "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>" +
		"<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>"

	// finesseResource is the resource of the 'finesse' user's available presence.
	finesseResource = "finesse"
	systemInfoNode  = finesse.SystemInfoPath
)

var (
	// errStreamClosed means the client sent </stream:stream>, or <close/>.
	errStreamClosed = errors.New("client closed the stream")
	// errHandshake marks TLS handshake failures: nothing can be said to a
	// client that is not speaking TLS with us, so the socket just closes.
	errHandshake = errors.New("TLS handshake failed")
)

// streamError is an RFC 6120 stream error condition to send before closing.
type streamError struct{ condition string }

func (e *streamError) Error() string { return "stream error " + e.condition }

// session is one client connection, over TCP or WebSocket. Its own
// goroutine runs negotiation and reads stanzas; other goroutines only write
// to it (pushes, kills) or hang it up.
type session struct {
	srv  *Server
	wire *wire
	f    framing
	id   string // for logs

	wmu  sync.Mutex // serialises writes, which come from several goroutines
	open bool       // our stream header or <open/> is out, so a stream error may follow it; guarded by wmu

	// Used by the session goroutine only.
	dec  *xml.Decoder // reads the rest of the element next returned
	user string

	// Guarded by srv.mu. jid is set once, before the session can be the
	// target of a push, so pushes read it without the lock.
	jid         string // full JID, once bound
	available   bool   // initial presence received: 'finesse' presence is pushed
	rosterAsked bool   // the roster was asked for: roster pushes are sent
}

func newSession(srv *Server, w *wire, f framing) *session {
	return &session{srv: srv, wire: w, f: f, id: randomID()}
}

func (c *session) run(transport string) {
	c.srv.logf("notifserver %s: %s connection from %s", c.id, transport, c.wire.RemoteAddr())
	err := c.negotiate()
	if err == nil {
		err = c.serve()
	}
	c.end(err)
}

// negotiate takes the connection from its first byte to a bound resource.
// Over WebSocket, TLS is the HTTPS server's, done before the first message.
func (c *session) negotiate() error {
	if t, ok := c.f.(*tcpStream); ok {
		if err := c.secure(t); err != nil {
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

// secure brings TLS to a TCP connection: from the first byte (5223), or
// after <starttls/> on a plain stream (5222).
func (c *session) secure(t *tcpStream) error {
	if !t.directTLS {
		if err := c.openStream(featuresStartTLS); err != nil {
			return err
		}
		if err := c.awaitStartTLS(t); err != nil {
			return err
		}
	}
	return c.startTLS(t)
}

// openStream reads the client's stream header or <open/> and answers with
// ours and the features of this stage.
func (c *session) openStream(features string) error {
	_ = c.wire.SetReadDeadline(time.Now().Add(c.srv.stepTimeout))
	to, err := c.f.readOpen()
	if err != nil {
		return err
	}
	if !strings.EqualFold(to, c.srv.cfg.Domain) {
		return &streamError{"host-unknown"}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.open = true
	return c.writeLocked(c.f.opening(features)...)
}

// awaitStartTLS requires <starttls/> as the first element of the plain stream.
func (c *session) awaitStartTLS(t *tcpStream) error {
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
	pending, _ := t.r.Peek(t.r.Buffered())
	if len(bytes.TrimSpace(pending)) > 0 {
		return &streamError{"policy-violation"}
	}
	return c.write("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
}

func (c *session) startTLS(t *tcpStream) error {
	// No other goroutine may write until the handshake is done: a write on
	// the tls.Conn would join the handshake, one on the wire would corrupt it.
	c.wmu.Lock()
	t.conn, c.open = nil, false
	c.wmu.Unlock()
	tc := tls.Server(c.wire, c.srv.cfg.TLS)
	_ = c.wire.SetDeadline(time.Now().Add(c.srv.stepTimeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("%w: %w", errHandshake, err)
	}
	c.wmu.Lock()
	t.conn = tc
	c.wmu.Unlock()
	t.r = bufio.NewReader(tc)
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
	return c.write(c.iqResult(&iq, "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>"+xmltext.Escape(full)+"</jid></bind>"))
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
		return c.answerRoster(&iq)
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

// answerRoster sends the probe user's roster: the 'finesse' user, unless it
// was taken out. As in becomeAvailable, the write lock is taken before the
// state is read, so the push of a concurrent change follows this answer.
func (c *session) answerRoster(iq *stanza.IQ) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.srv.mu.Lock()
	c.rosterAsked = true
	listed := c.srv.finesse.listed
	c.srv.mu.Unlock()
	item := ""
	if listed {
		item = c.finesseItem("both")
	}
	return c.writeLocked(c.iqResult(iq, "<query xmlns='jabber:iq:roster'>"+item+"</query>"))
}

// becomeAvailable answers the initial presence with the 'finesse' user's
// presence, as the roster subscription makes Openfire do; without the
// subscription nothing comes. The write lock is taken before the state is
// read, so a concurrent push is written after this one and the client ends
// up with the newest state.
func (c *session) becomeAvailable() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.srv.mu.Lock()
	if c.available {
		c.srv.mu.Unlock()
		return nil // a presence update, not the initial presence
	}
	c.available = true
	finesse := c.srv.finesse
	c.srv.mu.Unlock()
	if !finesse.listed {
		return nil
	}
	return c.writeLocked(c.finessePresence(finesse.available))
}

// finesseUpdate is what the session is sent when the 'finesse' user's state
// goes from was to now; the caller holds srv.mu.
func (c *session) finesseUpdate(was, now finesseState) []string {
	var msgs []string
	if was.listed != now.listed && c.rosterAsked {
		subscription := "remove"
		if now.listed {
			subscription = "both"
		}
		msgs = append(msgs, "<iq"+c.f.stanzaNS()+" type='set' id='"+randomID()+"' to='"+xmltext.Escape(c.jid)+"'>"+
			"<query xmlns='jabber:iq:roster'>"+c.finesseItem(subscription)+"</query></iq>")
	}
	switch {
	case !c.available:
	case now.listed && (!was.listed || was.available != now.available):
		msgs = append(msgs, c.finessePresence(now.available))
	case was.listed && !now.listed && was.available:
		msgs = append(msgs, c.finessePresence(false))
	}
	return msgs
}

func (c *session) finesseItem(subscription string) string {
	return "<item jid='" + xmltext.Escape(c.srv.cfg.FinesseUser+"@"+c.srv.cfg.Domain) + "' subscription='" + subscription +
		"' name='" + xmltext.Escape(c.srv.cfg.FinesseUser) + "'/>"
}

func (c *session) finessePresence(available bool) string {
	bare := c.srv.cfg.FinesseUser + "@" + c.srv.cfg.Domain
	if available {
		return "<presence" + c.f.stanzaNS() + " from='" + xmltext.Escape(bare+"/"+finesseResource) + "' to='" + xmltext.Escape(c.jid) + "'/>"
	}
	return "<presence" + c.f.stanzaNS() + " type='unavailable' from='" + xmltext.Escape(bare) + "' to='" + xmltext.Escape(c.jid) + "'/>"
}

// systemInfoMessage wraps a SystemInfo document in Finesse's pubsub
// envelope: an <Update>, XML-escaped as the text of <notification>.
func (c *session) systemInfoMessage(systemInfoXML string) string {
	update := "<Update><data>" + withoutDeclaration(systemInfoXML) + "</data><event>PUT</event><requestId></requestId><source>" +
		systemInfoNode + "</source></Update>"
	return "<message" + c.f.stanzaNS() + " from='pubsub." + xmltext.Escape(c.srv.cfg.Domain) + "' to='" + xmltext.Escape(c.jid) + "' id='" + randomID() + "'>" +
		"<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='" + systemInfoNode + "'>" +
		"<item id='" + randomID() + "'><notification xmlns='http://jabber.org/protocol/pubsub'>" + xmltext.Escape(update) +
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
		from = " from='" + xmltext.Escape(iq.To) + "'"
	}
	return "<iq" + c.f.stanzaNS() + " type='" + typ + "' id='" + xmltext.Escape(iq.Id) + "'" + from + " to='" + xmltext.Escape(c.jid) + "'>" + payload + "</iq>"
}

// next returns the next top-level element of the client's stream. The
// deadline covers the whole element, as callers decode it before the next
// call.
func (c *session) next(timeout time.Duration) (xml.StartElement, error) {
	_ = c.wire.SetReadDeadline(time.Now().Add(timeout))
	dec, se, err := c.f.next()
	c.dec = dec
	return se, err
}

// end says why the stream ends, when the client can still hear it, and
// hangs up.
func (c *session) end(err error) {
	c.srv.forget(c)
	var se *streamError
	switch {
	case errors.Is(err, errHandshake):
	case errors.As(err, &se):
		c.sendStreamError(se.condition)
	case errors.Is(err, errStreamClosed):
		c.wmu.Lock()
		_ = c.writeLocked(c.f.closing()...)
		c.wmu.Unlock()
	case c.wire.exceeded, errors.Is(err, websocket.ErrReadLimit):
		c.sendStreamError("policy-violation")
	case isTimeout(err):
		c.sendStreamError("connection-timeout")
	case isSyntaxError(err):
		c.sendStreamError("not-well-formed")
	}
	c.hangUp()
	c.srv.logf("notifserver %s: closed: %v", c.id, err)
}

// kill ends the session from another goroutine: conflict, shutdown.
func (c *session) kill(condition string) {
	c.srv.forget(c)
	c.sendStreamError(condition)
	c.hangUp()
}

// hangUp closes the connection once no write of ours is under way:
// crypto/tls drops the close_notify of a Close that meets a Write. A write
// stuck on a client that stopped reading is cut short first, so that it
// cannot hold the hang-up for the whole write timeout.
func (c *session) hangUp() {
	_ = c.wire.SetWriteDeadline(time.Now().Add(closeNotifyTimeout))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.f.hangUp()
}

func (c *session) sendStreamError(condition string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.writeLocked(c.f.streamError(condition, c.open)...)
}

func (c *session) write(msgs ...string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(msgs...)
}

// writeLocked writes each of msgs whole or kills the connection: a stanza
// cut short would corrupt the stream for whatever follows.
func (c *session) writeLocked(msgs ...string) error {
	for _, m := range msgs {
		if err := c.f.write(m); err != nil {
			_ = c.wire.Close()
			return err
		}
	}
	return nil
}
