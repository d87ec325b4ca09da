// Package xmppprobe connects to a Cisco Finesse Notification Service as a
// client and reports how far it got: TCP and TLS, stream negotiation, SASL
// PLAIN, resource binding, and the presence of a watched user.
//
// The probe owns its socket. gosrc.io/xmpp's Client cannot be given a
// deadline for negotiation, only dials plain TCP (no direct TLS on 5223),
// waits again on Close after a failure, logs the SASL payload, and flattens
// TLS errors into strings. So this package dials, sets deadlines from the
// context and negotiates itself, and uses gosrc.io/xmpp's stanza package for
// what it does well: decoding IQs, presences and errors.
package xmppprobe

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gosrc.io/xmpp/stanza"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/xmltext"
)

// TLSMode is how the probe secures the stream.
type TLSMode string

const (
	// DirectTLS starts TLS with the first byte, as Finesse's port 5223 does.
	DirectTLS TLSMode = "direct"
	// StartTLS connects in clear text and upgrades with <starttls/>, as on 5222.
	StartTLS TLSMode = "starttls"
	// NoTLS stays in clear text, for a plain 5222 that offers no STARTTLS.
	// Such a session can only be connected: Login refuses to send a
	// password over it.
	NoTLS TLSMode = "none"
)

// Label names the mode for people: "direct TLS", "STARTTLS" or "no TLS".
func (m TLSMode) Label() string {
	switch m {
	case StartTLS:
		return "STARTTLS"
	case NoTLS:
		return "no TLS"
	}
	return "direct TLS"
}

// DefaultPort is the Finesse port for the mode.
func (m TLSMode) DefaultPort() int {
	if m == StartTLS || m == NoTLS {
		return finesse.XMPPPort
	}
	return finesse.XMPPSecurePort
}

// ErrNoTLS is returned by Login on a session without TLS.
var ErrNoTLS = errors.New("refusing to log in without TLS: the password would cross the network in clear text")

// DefaultMaxBytes caps what one session reads from the server.
const DefaultMaxBytes = 4 << 20

// closeGrace bounds the polite goodbye on Close; the verdict is already known.
const closeGrace = 250 * time.Millisecond

// Config describes one connection attempt.
type Config struct {
	Addr      string    // host:port to dial
	Domain    string    // XMPP domain put in the stream header (SystemInfo's xmppDomain)
	Transport Transport // TCP when empty
	Mode      TLSMode   // DirectTLS when empty; WebSocket is always over TLS from the first byte
	// WebSocketPath is the HTTP path of the WebSocket endpoint;
	// finesse.WebSocketPath when empty.
	WebSocketPath string
	TLS           *tls.Config // ServerName must name the dialed host: Finesse nodes present their own certificate
	// Trace, when set, receives the conversation with credentials redacted.
	Trace    io.Writer
	MaxBytes int64 // DefaultMaxBytes when zero
	// Resolver looks up the host of Addr; nil means the system's.
	Resolver *net.Resolver
	// Lockstep waits for each answer before the next request: no
	// <starttls/> with the stream header, no bind request with the stream
	// restart (XEP-0305), for a server that mishandles pipelined input.
	// Each costs a round trip.
	Lockstep bool
}

// Facts is what the probe saw of the server, whatever the outcome: the
// caller renders it, next to the verdict, for failures as well as successes.
type Facts struct {
	Addr        string             // host:port dialed
	Transport   Transport          // TCP or WebSocket
	URL         string             // the WebSocket URL; "" over TCP
	Mode        TLSMode            // how the stream was secured
	Domain      string             // the domain put in the stream header
	Certificate *probe.Certificate // the leaf presented, also when verification failed; nil before a handshake
	TLSVersion  string             // as tls.VersionName gives it; "" before a handshake
	JID         string             // the full JID bound; "" until Login succeeds
	Timings     []probe.Timing     // completed phases, in order
}

// Session is one XMPP connection attempt. It is used by one goroutine, but
// for Close, which may also be called while Listen runs.
type Session struct {
	cfg Config
	// dial opens the TCP connection. Tests wrap the connection it returns
	// to see the conversation from the probe's side.
	dial   func(ctx context.Context, network, address string) (net.Conn, error)
	dialed bool     // Dial was called: a session is one attempt
	raw    net.Conn // the TCP connection; deadlines are set on it
	conn   net.Conn // raw, or the TLS connection over it
	// stream carries the XML: conn, or the WebSocket messages over it.
	stream io.ReadWriter
	// closed is set before Close cuts the socket, so that a writer that
	// pushed a deadline forward can tell that it must not write.
	closed atomic.Bool
	// dmu orders Close's deadline and the cut of a context that ends
	// meanwhile, so that the cut never lands on Close's goodbye.
	dmu sync.Mutex
	// wmu serializes writes: Listen's pinger, its answers to the server and
	// Close write from different goroutines.
	wmu    sync.Mutex
	limit  *limitReader
	reader *bufio.Reader
	// dec parses the current stream; nil until Open sends the first header.
	dec      *xml.Decoder
	trace    *tracer
	features features
	facts    Facts
	// The roster result arrives with the first presences and is read by
	// whichever AwaitPresence call is running; later calls still need it.
	rosterReceived bool
	roster         []stanza.RosterItem
}

// errNotConnected reports an Open without a connection to open a stream on.
var errNotConnected = errors.New("xmppprobe: the session is not connected")

// errNoStream reports a Login, AwaitPresence or Listen without an open stream.
var errNoStream = errors.New("xmppprobe: the session has no open stream")

// errNotLoggedIn reports a Listen before Login succeeded.
var errNotLoggedIn = errors.New("xmppprobe: the session is not logged in")

// New prepares a session; it does no I/O.
func New(cfg Config) *Session {
	if cfg.Transport == "" {
		cfg.Transport = TCP
	}
	if cfg.Mode == "" || cfg.Transport == WebSocket {
		cfg.Mode = DirectTLS
	}
	if cfg.WebSocketPath == "" {
		cfg.WebSocketPath = finesse.WebSocketPath
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	s := &Session{cfg: cfg, limit: &limitReader{left: cfg.MaxBytes}}
	s.dial = (&net.Dialer{Resolver: cfg.Resolver}).DialContext
	if cfg.Trace != nil {
		s.trace = &tracer{w: cfg.Trace}
	}
	s.facts = Facts{Addr: cfg.Addr, Transport: cfg.Transport, Mode: cfg.Mode, Domain: cfg.Domain}
	if cfg.Transport == WebSocket {
		s.facts.URL = "wss://" + cfg.Addr + cfg.WebSocketPath
	}
	return s
}

// Dial connects, and secures and upgrades the connection where that needs
// no XMPP: the TCP connection, direct TLS, the WebSocket upgrade. It sends no
// XMPP, so it is safe to run before it is known whether the server is worth
// logging into. Errors are the same as Connect's for those phases
// (PhaseConnect, PhaseTLS, PhaseUpgrade; Absent(err) still true for
// connection refused and HTTP 404). Every step ends by ctx's deadline, and
// ctx has no hold on the connection once Dial has returned. On failure the
// socket is closed, and Facts keeps what was seen up to the failure.
func (s *Session) Dial(ctx context.Context) error {
	if s.dialed {
		return errors.New("xmppprobe: Dial called twice on one session")
	}
	s.dialed = true
	start := time.Now()
	raw, err := s.dial(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return &PhaseError{Phase: PhaseConnect, Err: err}
	}
	s.raw, s.conn, s.stream = raw, raw, raw
	s.record(PhaseConnect, start)
	return s.guarded(ctx, s.secure)
}

// Open opens the XMPP stream to domain (Config.Domain when domain is ""),
// and negotiates STARTTLS in that mode, leaving the session ready to Login.
// Facts().Domain reports the domain used. Errors are those of Connect's
// later phases (PhaseStream, PhaseStartTLS). Every step ends by ctx's
// deadline. On failure the socket is closed, as Dial's is.
func (s *Session) Open(ctx context.Context, domain string) error {
	switch {
	case s.raw == nil || s.closed.Load():
		return errNotConnected
	case s.dec != nil:
		return errors.New("xmppprobe: Open called twice on one session")
	}
	if domain != "" {
		s.cfg.Domain, s.facts.Domain = domain, domain
	}
	return s.guarded(ctx, s.negotiate)
}

// Connect is Dial then Open(ctx, ""): it dials, secures the connection and
// opens the stream, leaving the session ready to Login.
func (s *Session) Connect(ctx context.Context) error {
	if err := s.Dial(ctx); err != nil {
		return err
	}
	return s.Open(ctx, "")
}

// guarded runs step under ctx (see watch) and closes the socket when it
// fails: a connection left halfway through negotiation is of use to nobody.
func (s *Session) guarded(ctx context.Context, step func(context.Context) error) error {
	release := s.watch(ctx)
	defer release()
	if err := step(ctx); err != nil {
		s.closed.Store(true)
		_ = s.raw.Close()
		return err
	}
	return nil
}

// secure is Dial's share of the negotiation, the part without XMPP.
func (s *Session) secure(ctx context.Context) error {
	if s.cfg.Mode == DirectTLS {
		start := time.Now()
		if err := s.handshake(ctx); err != nil {
			return s.fail(ctx, PhaseTLS, err)
		}
		s.record(PhaseTLS, start)
	}
	if s.cfg.Transport == WebSocket {
		start := time.Now()
		if err := s.upgrade(ctx); err != nil {
			return s.fail(ctx, PhaseUpgrade, err)
		}
		s.record(PhaseUpgrade, start)
	}
	return nil
}

// negotiate is Open's share: the stream, then STARTTLS.
func (s *Session) negotiate(ctx context.Context) error {
	s.attach()
	start := time.Now()
	// <starttls/> goes out with the stream header, as XEP-0305 pipelines
	// it, saving the round trip spent waiting for features that a server
	// on a STARTTLS port offers anyway. Nothing else is sent before TLS,
	// and without the feature the server's <failure/> is never read.
	var ahead []string
	if s.cfg.Mode == StartTLS {
		ahead = append(ahead, startTLSRequest)
	}
	if err := s.openStream(ahead...); err != nil {
		return s.fail(ctx, PhaseStream, err)
	}
	s.record(PhaseStream, start)

	if s.cfg.Mode == StartTLS {
		start := time.Now()
		if err := s.startTLS(ctx); err != nil {
			return s.fail(ctx, PhaseStartTLS, err)
		}
		s.record(PhaseStartTLS, start)
	}
	return nil
}

// startTLSRequest asks for TLS on a stream in clear text.
const startTLSRequest = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"

// startTLS reads the answer to the <starttls/> sent with the stream header,
// then secures the connection and opens the stream again over TLS.
func (s *Session) startTLS(ctx context.Context) error {
	if s.features.StartTLS == nil {
		return ErrNoStartTLS
	}
	if err := s.sendHeld(startTLSRequest); err != nil {
		return err
	}
	se, err := s.nextStart()
	if err != nil {
		return err
	}
	if se.Name.Space != "urn:ietf:params:xml:ns:xmpp-tls" || se.Name.Local != "proceed" {
		return fmt.Errorf("expected <proceed/> after <starttls/>, got <%s>", sanitize(se.Name.Local))
	}
	if err := s.handshake(ctx); err != nil {
		return err
	}
	s.attach()
	return s.openStream()
}

// handshake wraps the TCP connection in TLS. Failures of TLS itself come
// back as *probe.TLSError around the crypto/tls error, so a certificate or
// protocol-version problem stays distinguishable from a network one. The
// certificate is kept even when it failed verification: it is what an
// operator needs to see then.
func (s *Session) handshake(ctx context.Context) error {
	// XEP-0368 names this ALPN protocol; servers that do not know ALPN
	// ignore it. A WebSocket upgrade is HTTP/1.1: offered nothing, a proxy
	// might pick HTTP/2, where the upgrade does not exist.
	alpn := "xmpp-client"
	if s.cfg.Transport == WebSocket {
		alpn = "http/1.1"
	}
	conn, cert, version, err := probe.Handshake(ctx, s.raw, s.cfg.TLS, alpn)
	if version != "" {
		s.facts.TLSVersion = version
	}
	s.facts.Certificate = cert
	if err != nil {
		return err
	}
	s.conn, s.stream = conn, conn
	return nil
}

// features is what the probe reads of <stream:features>. gosrc.io/xmpp's
// StreamFeatures cannot see <optional/> in the session feature (its field
// has no XML tag), and that decides whether a round trip is spent on it.
type features struct {
	StartTLS   *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-tls starttls"`
	Mechanisms []string  `xml:"urn:ietf:params:xml:ns:xmpp-sasl mechanisms>mechanism"`
	Bind       *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
	Session    *struct {
		Optional *struct{} `xml:"optional"`
	} `xml:"urn:ietf:params:xml:ns:xmpp-session session"`
}

// sessionRequired reports an RFC 3921 server (old Openfire among them),
// which wants the session IQ before it treats the client as available. RFC
// 6121 servers omit the feature, or keep it for old clients and mark it
// <optional/> (draft-cridland-xmpp-session-01).
func (f features) sessionRequired() bool {
	return f.Session != nil && f.Session.Optional == nil
}

// attach makes the session read from s.stream. Called again after STARTTLS,
// it drops whatever was read ahead of the handshake: plaintext must not pass
// for part of the TLS stream.
func (s *Session) attach() {
	s.limit.r = s.stream
	var r io.Reader = s.limit
	if s.trace != nil {
		r = teeReader{r: r, t: s.trace}
	}
	s.reader = bufio.NewReader(r)
}

// openStream sends a stream header, with the requests ahead that answer
// features the probe expects (XEP-0305 pipelining; held back in Lockstep
// for sendHeld to send once the features are read), and reads the server's
// header and features.
func (s *Session) openStream(ahead ...string) error {
	elems := []string{s.header()}
	if !s.cfg.Lockstep {
		elems = append(elems, ahead...)
	}
	if err := s.send(elems...); err != nil {
		return err
	}
	return s.readFeatures()
}

// sendHeld sends a request that openStream held back in Lockstep; without
// Lockstep it went out with the header.
func (s *Session) sendHeld(request string) error {
	if !s.cfg.Lockstep {
		return nil
	}
	return s.send(request)
}

// header starts a stream, or restarts it.
func (s *Session) header() string {
	if s.cfg.Transport == WebSocket {
		return "<open xmlns='" + nsFraming + "' to='" + xmltext.Escape(s.cfg.Domain) + "' version='1.0'/>"
	}
	return "<?xml version='1.0'?><stream:stream to='" + xmltext.Escape(s.cfg.Domain) +
		"' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
}

// streamDecoder is the decoder of a stream read from r: elements nested no
// deeper than xmltext.MaxDepth, and over WebSocket RFC 7395's framing made
// the RFC 6120 stream the probe reads. It gives tokens, not bytes: never
// DecodeElement from it into a struct with an innerxml field, which
// encoding/xml cannot fill from tokens (it panics on nested ones);
// decodeMessage encodes the element again and decodes the bytes instead.
func streamDecoder(r io.Reader, websocket bool) *xml.Decoder {
	raw := xml.NewDecoder(r)
	tokens := xmltext.RawTokens(raw)
	if websocket {
		tokens = &framing{d: raw}
	}
	return xmltext.LimitDepth(tokens)
}

// readFeatures reads the server's stream header, with the fresh parser that
// every stream start needs, and the features that follow it.
func (s *Session) readFeatures() error {
	s.dec = streamDecoder(s.reader, s.cfg.Transport == WebSocket)
	if _, err := stanza.InitStream(s.dec); err != nil {
		return s.readErr(err)
	}
	se, err := s.nextStart()
	if err != nil {
		return err
	}
	switch {
	case se.Name == xml.Name{Space: stanza.NSStream, Local: "features"}:
	case se.Name.Space == stanza.NSStream || se.Name.Space == stanza.NSClient:
		return fmt.Errorf("expected <stream:features>, got <%s>", sanitize(se.Name.Local))
	default:
		// Whatever speaks in a namespace of its own, its namespace may say.
		return fmt.Errorf("expected <stream:features>, got <%s> of unknown namespace %s", sanitize(se.Name.Local), sanitize(se.Name.Space))
	}
	var f features
	if err := s.dec.DecodeElement(&f, &se); err != nil {
		return s.readErr(err)
	}
	s.features = f
	return nil
}

// Login authenticates with SASL PLAIN, binds resource, sends initial presence
// with priority 0 (the Finesse guide asks for a non-negative priority) and
// asks for the roster. It never retries: five failures lock a Finesse account.
//
// The auth phase ends at SASL <success/>: until then a silent server may be
// waiting on its authentication backend, while silence in the restart phase
// that follows means the Notification Service itself is broken.
//
// Requests that need no answer in between share a flight: the stream
// restart with the bind request, as XEP-0305 suggests (a server reads them
// in order), and the roster request with the initial presence. Credentials
// wait for the features that offer PLAIN, and the legacy session IQ is sent
// only to a server that requires it.
func (s *Session) Login(ctx context.Context, user, password, resource string) error {
	if !s.streamOpen() {
		return errNoStream
	}
	if s.cfg.Mode == NoTLS {
		return &PhaseError{Phase: PhaseAuth, Err: ErrNoTLS}
	}
	release := s.watch(ctx)
	defer release()

	start := time.Now()
	if err := s.auth(user, password); err != nil {
		return s.fail(ctx, PhaseAuth, err)
	}
	s.record(PhaseAuth, start)

	start = time.Now()
	request := bindRequest(resource)
	if err := s.openStream(request); err != nil {
		return s.fail(ctx, PhaseRestart, err)
	}
	s.record(PhaseRestart, start)

	start = time.Now()
	jid, err := s.bind(request)
	if err == nil {
		// Roster first, then presence, as RFC 6121 recommends; the answers
		// are read by AwaitPresence.
		err = s.send("<iq type='get' id='roster-1'><query xmlns='jabber:iq:roster'/></iq>",
			"<presence><priority>0</priority></presence>")
	}
	if err != nil {
		return s.fail(ctx, PhaseBind, err)
	}
	s.record(PhaseBind, start)
	s.facts.JID = jid
	return nil
}

func (s *Session) auth(user, password string) error {
	offered := slices.ContainsFunc(s.features.Mechanisms, func(m string) bool { return strings.EqualFold(m, "PLAIN") })
	if !offered {
		return &AuthError{Condition: "no usable mechanism",
			Text: fmt.Sprintf("the probe uses SASL PLAIN, the server offers %v", s.features.Mechanisms)}
	}
	payload := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	if err := s.send(saslAuth + payload + "</auth>"); err != nil {
		return err
	}
	se, err := s.nextStart()
	if err != nil {
		return err
	}
	switch {
	case se.Name.Space == "urn:ietf:params:xml:ns:xmpp-sasl" && se.Name.Local == "success":
		return s.readErr(s.dec.Skip())
	case se.Name.Space == "urn:ietf:params:xml:ns:xmpp-sasl" && se.Name.Local == "failure":
		var f struct {
			Conditions []struct{ XMLName xml.Name } `xml:",any"`
			Text       string                       `xml:"text"`
		}
		if err := s.dec.DecodeElement(&f, &se); err != nil {
			return s.readErr(err)
		}
		ae := &AuthError{Text: f.Text}
		for _, c := range f.Conditions {
			if c.XMLName.Local != "text" {
				ae.Condition = c.XMLName.Local
			}
		}
		return ae
	}
	return fmt.Errorf("expected SASL <success/> or <failure/>, got <%s>", sanitize(se.Name.Local))
}

// bindRequest asks to bind resource. It goes out with the stream restart,
// ahead of the features that offer binding: bind reads them first.
func bindRequest(resource string) string {
	return "<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
		xmltext.Escape(resource) + "</resource></bind></iq>"
}

// bind reads the answer to the bind request (sent only now in Lockstep) and
// returns the full JID the server bound, after establishing the session
// where the server requires it.
func (s *Session) bind(request string) (string, error) {
	// Whatever a server that offers no binding makes of the request, the
	// probe does not wait for it.
	if s.features.Bind == nil {
		return "", errors.New("resource binding refused: the server does not offer it")
	}
	if err := s.sendHeld(request); err != nil {
		return "", err
	}
	iq, err := s.nextIQ("bind-1")
	if err != nil {
		return "", err
	}
	b, ok := iq.Payload.(*stanza.Bind)
	if iq.Type != stanza.IQTypeResult || !ok {
		return "", fmt.Errorf("resource binding refused: %s", iqErrorText(iq))
	}
	if !s.features.sessionRequired() {
		return b.Jid, nil
	}
	if err := s.send("<iq type='set' id='session-1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"); err != nil {
		return "", err
	}
	iq, err = s.nextIQ("session-1")
	if err != nil {
		return "", err
	}
	if iq.Type != stanza.IQTypeResult {
		return "", fmt.Errorf("session establishment refused: %s", iqErrorText(iq))
	}
	return b.Jid, nil
}

// Presence is the availability of the awaited user. Its strings are the
// server's, not sanitized.
type Presence struct {
	Available bool
	Show      string      // away, dnd ... when available but not plainly so
	Status    string      // free text the user set
	Roster    RosterState // what the probe user's roster said about the user
}

// AwaitPresence waits until a presence stanza from jid's bare JID arrives, or
// ctx ends (NoPresenceError). Presence of other users, messages and pubsub
// events are read past; pings and roster pushes are answered so the server
// keeps the stream. A stream that ends meanwhile is reported as an error.
func (s *Session) AwaitPresence(ctx context.Context, jid string) (Presence, error) {
	if !s.streamOpen() {
		return Presence{}, errNoStream
	}
	release := s.watch(ctx)
	defer release()
	start := time.Now()

	want := bareJID(jid)
	for {
		p, err := s.next()
		if err != nil {
			if expired(ctx) && !s.limit.exceeded {
				return Presence{}, &PhaseError{Phase: PhasePresence, Err: &NoPresenceError{JID: want, Roster: s.rosterState(want)}}
			}
			return Presence{}, &PhaseError{Phase: PhasePresence, Err: err}
		}
		switch v := p.(type) {
		case stanza.Presence:
			if pres, ok := s.presenceOf(v, want); ok {
				s.record(PhasePresence, start)
				return pres, nil
			}
		case *stanza.IQ:
			if reply := s.onIQ(v); reply != "" {
				if err := s.send(reply); err != nil {
					return Presence{}, &PhaseError{Phase: PhasePresence, Err: err}
				}
			}
		}
	}
}

// presenceOf reports p when it is an available or unavailable presence of
// the bare JID want; other types (probe, subscribe, error) say nothing of
// the user's availability.
func (s *Session) presenceOf(p stanza.Presence, want string) (Presence, bool) {
	if bareJID(p.From) != want {
		return Presence{}, false
	}
	switch p.Type {
	case "":
		return Presence{Available: true, Show: string(p.Show), Status: p.Status, Roster: s.rosterState(want)}, true
	case stanza.PresenceTypeUnavailable:
		return Presence{Available: false, Status: p.Status, Roster: s.rosterState(want)}, true
	}
	return Presence{}, false
}

// Close ends the stream without waiting for the server to agree: the probe
// has its answer, and a dead server must not delay the verdict. A logged-in
// session first says it is unavailable, as a desktop signing out does, so
// that the server drops it from presence at once rather than when the
// connection's end is noticed. Close closes the TCP socket itself, skipping
// TLS close_notify, whose own five-second write deadline would otherwise
// wait on a server that stopped reading.
//
// Close may be called on a session that never connected, whose Dial or Open
// failed, or that is already closed; it does nothing then. A session that
// was dialed but never opened is hung up without a word: it has no stream to
// end. Close may be called while Listen runs, which then returns.
func (s *Session) Close() error {
	s.dmu.Lock()
	if s.raw == nil || s.closed.Load() {
		s.dmu.Unlock()
		return nil
	}
	s.closed.Store(true)
	// The deadline comes before the lock: it also cuts a ping stuck
	// writing to a server that stopped reading, which holds the lock.
	deadline := time.Now().Add(closeGrace)
	_ = s.raw.SetDeadline(deadline)
	s.dmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// Again: a ping that got the lock first pushed its own deadline.
	_ = s.raw.SetDeadline(deadline)
	if s.dec != nil {
		bye := []string{"</stream:stream>"}
		if s.cfg.Transport == WebSocket {
			bye = []string{"<close xmlns='" + nsFraming + "'/>"}
		}
		if s.facts.JID != "" {
			bye = slices.Insert(bye, 0, "<presence type='unavailable'/>")
		}
		_ = s.sendLocked(bye...)
	}
	return s.raw.Close()
}

// Endpoint names what the session dials, for people: the WebSocket URL, or
// host:port over TCP.
func (f Facts) Endpoint() string {
	if f.URL != "" {
		return f.URL
	}
	return f.Addr
}

// Facts returns what the session has seen so far.
func (s *Session) Facts() Facts {
	f := s.facts
	f.Timings = slices.Clone(f.Timings)
	return f
}

// onIQ keeps the roster result Login asked for and returns the answer the
// server expects to a request: pings and roster pushes are acknowledged so
// that it keeps the stream, anything else is refused as RFC 6120 asks. It
// returns "" when iq needs no answer.
func (s *Session) onIQ(iq *stanza.IQ) string {
	if iq.Id == "roster-1" && iq.Type == stanza.IQTypeResult {
		s.rosterReceived = true
		if items, ok := iq.Payload.(*stanza.RosterItems); ok {
			s.roster = items.Items
		}
		return ""
	}
	if iq.Type != stanza.IQTypeGet && iq.Type != stanza.IQTypeSet {
		return ""
	}
	id := xmltext.Escape(iq.Id)
	to := xmltext.Escape(iq.From)
	_, isRosterPush := iq.Payload.(*stanza.RosterItems)
	if isRosterPush || (iq.Any != nil && iq.Any.XMLName.Space == "urn:xmpp:ping") {
		return "<iq type='result' id='" + id + "' to='" + to + "'/>"
	}
	return "<iq type='error' id='" + id + "' to='" + to + "'><error type='cancel'>" +
		"<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
}

// next reads the next top-level element and turns stream errors and stream
// ends into errors, since no caller can continue after them.
func (s *Session) next() (stanza.Packet, error) {
	p, err := stanza.NextPacket(s.dec)
	if err != nil {
		// gosrc.io/xmpp hands on the decoder's error as text behind its
		// own function's name, which is no news to whoever reads it.
		if msg, ok := strings.CutPrefix(err.Error(), "NextStart "); ok {
			err = errors.New(msg)
		}
		return nil, s.readErr(err)
	}
	switch v := p.(type) {
	case stanza.StreamError:
		return nil, &StreamError{Condition: v.Error.Local, Text: v.Text}
	case stanza.StreamClosePacket:
		return nil, ErrStreamClosed
	}
	return p, nil
}

// nextStart reads the next top-level start element for the replies the
// stanza package does not decode (features, <proceed/>, SASL with its
// condition, live events). Like next, it turns a stream error or the
// stream's end into an error, since no caller can continue after them.
func (s *Session) nextStart() (xml.StartElement, error) {
	for {
		t, err := s.dec.Token()
		if err != nil {
			return xml.StartElement{}, s.readErr(err)
		}
		switch v := t.(type) {
		case xml.StartElement:
			if v.Name == (xml.Name{Space: stanza.NSStream, Local: "error"}) {
				return xml.StartElement{}, s.streamError(v)
			}
			return v, nil
		case xml.EndElement:
			if v.Name.Space == stanza.NSStream && v.Name.Local == "stream" {
				return xml.StartElement{}, ErrStreamClosed
			}
		}
	}
}

func (s *Session) nextIQ(id string) (*stanza.IQ, error) {
	for {
		p, err := s.next()
		if err != nil {
			return nil, err
		}
		if iq, ok := p.(*stanza.IQ); ok && iq.Id == id {
			return iq, nil
		}
	}
}

func (s *Session) streamError(se xml.StartElement) error {
	var e stanza.StreamError
	if err := s.dec.DecodeElement(&e, &se); err != nil {
		return s.readErr(err)
	}
	return &StreamError{Condition: e.Error.Local, Text: e.Text}
}

// saslAuth starts the one element that carries a secret, the password in
// base64: the trace shows it without its content.
const saslAuth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"

// send writes elems as one flight: nothing is read between them, so none
// waits on an answer to another. Over TCP they go in one write; over
// WebSocket each is a message of its own (RFC 7395 section 3.3.3), back to
// back.
func (s *Session) send(elems ...string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.sendLocked(elems...)
}

// sendLocked is send for a caller holding wmu. The trace lines are written
// under it too, so that the trace shows writes in the order they were made.
func (s *Session) sendLocked(elems ...string) error {
	msgs := make([]string, len(elems))
	for i, e := range elems {
		if s.cfg.Transport == WebSocket {
			e = qualify(e)
		}
		msgs[i] = e
		if strings.HasPrefix(e, saslAuth) {
			e = saslAuth + "[redacted]</auth>"
		}
		s.trace.line("C:", e)
	}
	if s.cfg.Transport != WebSocket {
		msgs = []string{strings.Join(msgs, "")}
	}
	for _, m := range msgs {
		if _, err := io.WriteString(s.stream, m); err != nil {
			return err
		}
	}
	return nil
}

// streamOpen reports whether the session has a stream to log in on or read.
func (s *Session) streamOpen() bool {
	return s.dec != nil && !s.closed.Load()
}

// readErr names the real cause of a failed read: the byte cap, or the end of
// the connection, which reaches here as an XML syntax error.
func (s *Session) readErr(err error) error {
	switch {
	case err == nil:
		return nil
	case s.limit.exceeded:
		return ErrTooMuchData
	case errors.As(err, new(*wsClosedError)) || errors.Is(err, ErrTooMuchData) || errors.Is(err, xmltext.ErrTooDeep):
		return err
	case s.limit.eof || errors.Is(err, io.EOF):
		return fmt.Errorf("server closed the connection without ending the stream: %w", io.EOF)
	}
	return &readError{err: err}
}

// watch applies ctx's deadline to the socket and cuts it short if ctx is
// cancelled early, so no read or write outlives the caller's deadline.
// release waits for a cut already under way: landing later, it would undo
// the deadline of whatever comes next, Close's goodbye among them.
func (s *Session) watch(ctx context.Context) (release func()) {
	deadline, _ := ctx.Deadline()
	_ = s.raw.SetDeadline(deadline)
	cut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		s.cut()
		close(cut)
	})
	return func() {
		if !stop() {
			<-cut
		}
	}
}

// cut ends every read and write under way, unless Close has already set the
// deadline for its goodbye.
func (s *Session) cut() {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if !s.closed.Load() {
		_ = s.raw.SetDeadline(time.Unix(1, 0))
	}
}

// fail wraps err with its phase; when ctx ended, the deadline is the cause
// worth reporting, not the "i/o timeout" it produced.
func (s *Session) fail(ctx context.Context, phase Phase, err error) error {
	if expired(ctx) && !isTLS(err) && !s.limit.exceeded {
		err = fmt.Errorf("no answer before the deadline: %w", context.DeadlineExceeded)
	}
	return &PhaseError{Phase: phase, Err: err}
}

// expired reports whether ctx has ended. The socket deadline is ctx's own, so
// a read can time out a moment before ctx notices; the clock decides then.
func expired(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

func (s *Session) record(p Phase, start time.Time) {
	s.facts.Timings = append(s.facts.Timings, probe.Timing{Phase: string(p), Duration: time.Since(start)})
}

func isTLS(err error) bool {
	var te *probe.TLSError
	return errors.As(err, &te)
}

func (s *Session) rosterState(want string) RosterState {
	st := RosterState{Received: s.rosterReceived}
	for _, it := range s.roster {
		if bareJID(it.Jid) == want {
			st.Listed, st.Subscription = true, it.Subscription
		}
	}
	return st
}

func iqErrorText(iq *stanza.IQ) string {
	if iq.Error == nil {
		return "unexpected reply of type " + sanitize(string(iq.Type))
	}
	return conditionText(iq.Error.Reason, iq.Error.Text)
}

// bareJID drops the resource and folds case, which is how Openfire and
// Prosody compare the localpart and domain of ASCII JIDs.
func bareJID(jid string) string {
	if i := strings.IndexByte(jid, '/'); i >= 0 {
		jid = jid[:i]
	}
	return strings.ToLower(jid)
}

// NewResource returns a resource unique to this run. A fixed resource would
// replace (and so disconnect) another session of the same user.
func NewResource() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "finessectl-" + hex.EncodeToString(b)
}
