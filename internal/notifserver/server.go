// Package notifserver is a minimal Cisco Finesse Notification Service for the
// simulator: an XMPP client-to-server endpoint that does what a client of
// Finesse exercises and nothing more. It negotiates TLS (direct, as on 5223,
// or STARTTLS, as on 5222), SASL PLAIN and resource binding; answers the
// roster, session and ping IQs; publishes the presence of the 'finesse' user;
// and pushes SystemInfo notifications in Finesse's pubsub envelope.
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

	mu               sync.Mutex
	sessions         map[*session]struct{} // every live connection
	bound            map[string]*session   // full JID -> the session that bound it
	finesseAvailable bool
	silent           bool
	closed           bool
	wg               sync.WaitGroup // session goroutines
}

// New returns a server whose 'finesse' user is available, as on a healthy node.
func New(cfg Config) *Server {
	if cfg.FinesseUser == "" {
		cfg.FinesseUser = "finesse"
	}
	return &Server{
		cfg:              cfg,
		stepTimeout:      defaultStepTimeout,
		idleTimeout:      defaultIdleTimeout,
		sessions:         make(map[*session]struct{}),
		bound:            make(map[string]*session),
		finesseAvailable: true,
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return
	}
	sess := newSession(s, newWire(c, maxSessionBytes, s.silent), directTLS)
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sess.run()
	}()
}

// SetFinesseAvailable sets the 'finesse' user's presence and, when it
// changes, pushes it to every session that has sent its initial presence. It
// returns once the pushes are written.
func (s *Server) SetFinesseAvailable(available bool) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.mu.Lock()
	if s.finesseAvailable == available {
		s.mu.Unlock()
		return
	}
	s.finesseAvailable = available
	var targets []*session
	for sess := range s.sessions {
		if sess.available {
			targets = append(targets, sess)
		}
	}
	s.mu.Unlock()
	fanOut(targets, func(sess *session) { _ = sess.write(sess.finessePresence(available)) })
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
// never answered, and live sessions neither send nor read any more, so they
// hang until the client gives up. SetSilent(false) answers new connections
// again and closes the sessions silenced meanwhile: the network came back but
// their TCP connections did not survive.
func (s *Server) SetSilent(silent bool) {
	s.mu.Lock()
	s.silent = silent
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
// a <system-shutdown/> stream error, then the socket closes. Sessions()
// is 0 when it returns, unless new connections arrived meanwhile.
func (s *Server) DropAll() {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	fanOut(all, func(sess *session) { sess.kill("system-shutdown") })
}

// Sessions returns how many connections are live, negotiating or bound.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Close closes every session and waits for their goroutines to end; later
// connections are closed on arrival. Listeners belong to the caller.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for sess := range s.sessions {
		s.forgetLocked(sess)
		_ = sess.wire.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
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
