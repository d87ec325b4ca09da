// Package notifserver is a minimal Cisco Finesse Notification Service for the
// simulator: an XMPP client-to-server endpoint that does what a client of
// Finesse exercises and nothing more. It negotiates TLS (direct, as on 5223,
// or STARTTLS, as on 5222), SASL PLAIN and resource binding; answers the
// roster, session and ping IQs; publishes the presence of the 'finesse' user;
// and pushes SystemInfo notifications in Finesse's pubsub envelope. The same
// service runs over WebSocket (WebSocketHandler), and BOSH session creation
// and termination answer a liveness probe (BOSHHandler).
//
// The simulator drives the failure scenarios of the Finesse availability
// model through it: 'finesse' presence going unavailable, SystemInfo
// notifications, rejected logins, a silent network and a service shutdown.
package notifserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// defaultStepTimeout bounds each negotiation step (stream header, STARTTLS,
	// TLS handshake, SASL, bind): a client that stalls there is dropped.
	defaultStepTimeout = 30 * time.Second
	// defaultIdleTimeout bounds silence on a bound stream. Finesse clients ping
	// every 10 to 20 s; Openfire's default idle timeout is 6 minutes.
	defaultIdleTimeout = 6 * time.Minute
	// writeTimeout drops a client that stops reading what it is sent.
	writeTimeout = 10 * time.Second
	// maxSessionBytes caps what one connection may send us, TLS included.
	maxSessionBytes = 1 << 20
)

// Config describes the service.
type Config struct {
	Domain      string            // XMPP domain, e.g. "finesse-a.example.test"; pubsub service is "pubsub."+Domain
	TLS         *tls.Config       // server certificate (used for direct TLS and for STARTTLS)
	Users       map[string]string // localpart -> password accepted by SASL PLAIN (the probe users)
	FinesseUser string            // localpart whose presence the server publishes; "" means "finesse"
	// Logf, when set, receives one line per connection event. Passwords and
	// SASL payloads are never passed to it.
	Logf func(format string, args ...any)
}

// Server is the Notification Service. Its methods are safe for concurrent use.
type Server struct {
	cfg        Config
	authReject atomic.Bool

	// Timeouts live here rather than in constants so that tests can shorten them.
	stepTimeout time.Duration
	idleTimeout time.Duration

	// pushMu keeps pushes in the order their calls were made: two
	// SetFinesseAvailable calls racing must not leave clients with the older state.
	pushMu sync.Mutex

	mu       sync.Mutex
	sessions map[*session]struct{} // every live connection
	bound    map[string]*session   // full JID -> the session that bound it
	finesse  finesseState
	// hush is set while the network is silent (SetSilent), and closed when
	// it comes back or the server closes.
	hush   chan struct{}
	closed bool
	wg     sync.WaitGroup // session goroutines

	bosh *boshSessions
}

// New returns a server whose 'finesse' user is available and in every probe
// user's roster, as on a healthy node.
func New(cfg Config) *Server {
	if cfg.FinesseUser == "" {
		cfg.FinesseUser = "finesse"
	}
	return &Server{
		cfg:         cfg,
		stepTimeout: defaultStepTimeout,
		idleTimeout: defaultIdleTimeout,
		sessions:    make(map[*session]struct{}),
		bound:       make(map[string]*session),
		finesse:     finesseState{available: true, listed: true},
		bosh:        newBOSHSessions(),
	}
}

// Serve accepts on ln until ln is closed, then returns nil; any other accept
// error is returned. directTLS: TLS from the first byte (Finesse's 5223);
// otherwise a plain stream that offers and requires <starttls/> before SASL
// (Finesse's 5222). Each connection is served by one goroutine.
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	if s.cfg.TLS == nil {
		return errors.New("notifserver: Config.TLS is required: both listeners need a certificate")
	}
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("notifserver: accept: %w", err)
		}
		s.start(c, directTLS)
	}
}

func (s *Server) start(c net.Conn, directTLS bool) {
	w := newWire(c, maxSessionBytes, false)
	sess := newSession(s, w, newTCPStream(w, s.cfg.Domain, directTLS))
	if !s.admit(sess) {
		_ = c.Close()
		return
	}
	transport := "STARTTLS"
	if directTLS {
		transport = "direct TLS"
	}
	go func() {
		defer s.wg.Done()
		sess.run(transport)
	}()
}

// admit registers a new session and counts it in s.wg, or reports false
// when it must be closed at once: the server is closed, or the network went
// silent and came back since the connection was taken (SetSilent(false)
// closes the connections of a silent spell, and missed this one).
func (s *Server) admit(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	silent := s.hush != nil
	if s.closed || (sess.wire.silent.Load() && !silent) {
		return false
	}
	if silent {
		sess.wire.silent.Store(true)
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	return true
}

// finesseState is what probe users can know of the 'finesse' user.
type finesseState struct {
	available bool // its presence
	listed    bool // it is in every probe user's roster, so its presence is sent
}

// SetFinesseAvailable sets the 'finesse' user's presence and, when it
// changes, pushes it to every session that has sent its initial presence,
// unless the user is out of the rosters. It returns once the pushes are
// written.
func (s *Server) SetFinesseAvailable(available bool) {
	s.setFinesse(func(f *finesseState) { f.available = available })
}

// SetFinesse sets the 'finesse' user's presence, as SetFinesseAvailable
// does, and whether it is in every probe user's roster: with subscription
// both as Finesse provisions it, or left out, as on a deployment whose probe
// account lacks the contact; then the roster comes without it and its
// presence is never sent. A change reaches live sessions as from an XMPP
// server (RFC 6121): a roster push to those that asked for the roster,
// then, to those that sent initial presence, the user's unavailable
// presence when it leaves (its presence is no longer theirs to see) or its
// presence when it comes back. Both change in one step, so no session sees
// a presence the roster would not let through. It returns once the pushes
// are written.
func (s *Server) SetFinesse(available, listed bool) {
	s.setFinesse(func(f *finesseState) { f.available, f.listed = available, listed })
}

func (s *Server) setFinesse(change func(*finesseState)) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.mu.Lock()
	was := s.finesse
	change(&s.finesse)
	if s.finesse == was {
		s.mu.Unlock()
		return
	}
	updates := make(map[*session][]string)
	var targets []*session
	for sess := range s.sessions {
		if msgs := sess.finesseUpdate(was, s.finesse); len(msgs) > 0 {
			updates[sess] = msgs
			targets = append(targets, sess)
		}
	}
	s.mu.Unlock()
	fanOut(targets, func(sess *session) { _ = sess.write(updates[sess]...) })
}

// PublishSystemInfo sends a notification on node /finesse/api/SystemInfo to
// every bound session (Finesse subscribes every user to that node), in
// Finesse's envelope. systemInfoXML is the <SystemInfo> document, unescaped.
// It returns once the notifications are written.
func (s *Server) PublishSystemInfo(systemInfoXML string) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.mu.Lock()
	var targets []*session
	for sess := range s.sessions {
		if sess.jid != "" {
			targets = append(targets, sess)
		}
	}
	s.mu.Unlock()
	fanOut(targets, func(sess *session) { _ = sess.write(sess.systemInfoMessage(systemInfoXML)) })
}

// SetAuthReject makes every SASL attempt fail with <not-authorized/> while true.
func (s *Server) SetAuthReject(reject bool) { s.authReject.Store(reject) }

// SetSilent(true) models a network loss: new connections are accepted and
// never answered, new HTTP requests (WebSocket upgrades, BOSH) are never
// answered, and live sessions, WebSocket ones included, neither send nor read
// any more, so they hang until the client gives up. SetSilent(false) answers
// again and closes, without a TLS close_notify, the sessions silenced and the
// requests held meanwhile: the network came back but their TCP connections
// did not survive.
func (s *Server) SetSilent(silent bool) {
	s.mu.Lock()
	switch {
	case silent && s.hush == nil:
		s.hush = make(chan struct{})
	case !silent && s.hush != nil:
		close(s.hush)
		s.hush = nil
	}
	var dead []*session
	for sess := range s.sessions {
		switch {
		case silent:
			sess.wire.silent.Store(true)
		case sess.wire.silent.Load():
			s.forgetLocked(sess)
			dead = append(dead, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range dead {
		_ = sess.wire.Close()
	}
}

// DropAll ends every live session as a stopping Notification Service does:
// a <system-shutdown/> stream error, then the connection closes (WebSocket:
// <close/> and a close frame first). Sessions() is 0 when it returns, unless
// new connections arrived meanwhile. BOSH sessions are forgotten, so their
// next request gets a 404.
func (s *Server) DropAll() {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	s.bosh.reset()
	fanOut(all, func(sess *session) { sess.kill("system-shutdown") })
}

// Sessions returns how many connections, TCP or WebSocket, are live,
// negotiating or bound. BOSH sessions are not connections and not counted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Close closes every session, with TLS close_notify but no stream error,
// and waits for their goroutines to end; later connections are closed on
// arrival, and later HTTP requests answered 503. Listeners and HTTP servers
// belong to the caller.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		s.forgetLocked(sess)
		all = append(all, sess)
	}
	if s.hush != nil {
		close(s.hush)
		s.hush = nil
	}
	s.mu.Unlock()
	s.bosh.reset()
	fanOut(all, func(sess *session) { sess.hangUp() })
	s.wg.Wait()
	return nil
}

func (s *Server) isSilent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hush != nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// hangIfSilent holds a request while the network is silent, as a dead link
// would, and reports whether it did. When the network comes back or the
// server closes, the request's connection is dropped without a word: like
// the TCP sessions of a silent spell, it did not survive.
func (s *Server) hangIfSilent(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	hush := s.hush
	s.mu.Unlock()
	if hush == nil {
		return false
	}
	select {
	case <-r.Context().Done():
		return true
	case <-hush:
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 cannot hand the connection over; net/http's sentinel
		// resets the stream instead of answering it.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	_ = conn.Close()
	return true
}

// bind records full as bound by sess and returns the session that held it
// before, if any. A session that was dropped meanwhile binds nothing.
func (s *Server) bind(sess *session, full string) (old *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, live := s.sessions[sess]; !live {
		return nil
	}
	old = s.bound[full]
	s.bound[full] = sess
	sess.jid = full
	return old
}

// forget removes a session that is ending from the server's view.
func (s *Server) forget(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetLocked(sess)
}

func (s *Server) forgetLocked(sess *session) {
	delete(s.sessions, sess)
	// A conflict may already have given the JID to a newer session.
	if s.bound[sess.jid] == sess {
		delete(s.bound, sess.jid)
	}
	sess.available = false
}

// fanOut runs f for every session concurrently, so that the latency of one
// write is not multiplied by the number of sessions, and waits for all.
func fanOut(sessions []*session, f func(*session)) {
	var wg sync.WaitGroup
	for _, sess := range sessions {
		wg.Go(func() { f(sess) })
	}
	wg.Wait()
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}
