package notifserver

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/xmltext"
)

const (
	nsHTTPBind = "http://jabber.org/protocol/httpbind"

	// boshMaxBody is far above a session request (a few hundred bytes) and
	// below anything that could hurt.
	boshMaxBody = 64 << 10
	// boshMaxWait is the longest 'wait' we grant (XEP-0124 7.1: the
	// client's, or less).
	boshMaxWait = 60
	// defaultBOSHInactivity is what we announce as 'inactivity' and how long
	// an idle session is remembered.
	defaultBOSHInactivity = 30 * time.Second
	// defaultBOSHMaxSessions bounds what a flood of session requests can
	// make us remember.
	defaultBOSHMaxSessions = 1000
)

// boshSessions remembers the BOSH sessions created and not yet terminated,
// and when each was last used.
type boshSessions struct {
	inactivity time.Duration // fields rather than constants so that tests can shorten them
	max        int

	mu       sync.Mutex
	lastSeen map[string]time.Time // sid -> last request
}

func newBOSHSessions() *boshSessions {
	return &boshSessions{inactivity: defaultBOSHInactivity, max: defaultBOSHMaxSessions, lastSeen: map[string]time.Time{}}
}

// create returns a new sid, or "" when the table is full of live sessions.
func (b *boshSessions) create(now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lastSeen) >= b.max {
		b.sweepLocked(now)
	}
	if len(b.lastSeen) >= b.max {
		return ""
	}
	sid := randomID()
	b.lastSeen[sid] = now
	return sid
}

// touch reports whether sid is live, and keeps it so.
func (b *boshSessions) touch(sid string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sweepLocked(now)
	if _, ok := b.lastSeen[sid]; !ok {
		return false
	}
	b.lastSeen[sid] = now
	return true
}

func (b *boshSessions) forget(sid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.lastSeen, sid)
}

func (b *boshSessions) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.lastSeen)
}

func (b *boshSessions) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lastSeen)
}

// sweepLocked forgets idle sessions. It runs on requests rather than on a
// timer: the table is bounded, so a sweep is cheap, and no goroutine is left
// to stop.
func (b *boshSessions) sweepLocked(now time.Time) {
	for sid, seen := range b.lastSeen {
		if now.Sub(seen) > b.inactivity {
			delete(b.lastSeen, sid)
		}
	}
}

// boshBody is the part of a client's <body/> we read.
type boshBody struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/httpbind body"`
	SID     string   `xml:"sid,attr"`
	RID     string   `xml:"rid,attr"`
	To      string   `xml:"to,attr"`
	Type    string   `xml:"type,attr"`
	Wait    string   `xml:"wait,attr"`
	Inner   []byte   `xml:",innerxml"`
}

// BOSHHandler serves BOSH (XEP-0124, XEP-0206), as Finesse's /http-bind/ on
// 7443 (12.0–12.5) does, only as far as a login-free liveness probe goes:
// session creation, answered with the SASL PLAIN stream features, and
// termination. Nobody logs in over it here: a session request carrying a
// payload is terminated with condition undefined-condition, and an empty one
// is answered at once with an empty body. Sessions not terminated are
// forgotten after 'inactivity' (30 s); at most 1,000 are remembered, beyond
// which creation is answered 503. SetSilent holds requests unanswered;
// DropAll and Close forget every session.
func (s *Server) BOSHHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.hangIfSilent(w, r) {
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "notifserver: BOSH takes POST requests", http.StatusMethodNotAllowed)
			return
		}
		if s.isClosed() {
			http.Error(w, "notifserver: the Notification Service is stopped", http.StatusServiceUnavailable)
			return
		}
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, boshMaxBody))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "notifserver: BOSH body over 64 KiB", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			s.logf("notifserver: BOSH request from %s: reading the body: %v", r.RemoteAddr, err)
			return // the client is gone
		}
		var body boshBody
		if err := xml.Unmarshal(raw, &body); err != nil {
			// XEP-0124 19.2: bad-request, as the legacy HTTP status.
			http.Error(w, "notifserver: not a BOSH <body/>: "+err.Error(), http.StatusBadRequest)
			return
		}
		if body.SID == "" {
			s.boshCreate(w, r, &body)
		} else {
			s.boshContinue(w, &body)
		}
	})
}

func (s *Server) boshCreate(w http.ResponseWriter, r *http.Request, body *boshBody) {
	if rid, err := strconv.ParseUint(body.RID, 10, 64); err != nil || rid == 0 {
		http.Error(w, "notifserver: a BOSH session request needs a numeric 'rid'", http.StatusBadRequest)
		return
	}
	if !strings.EqualFold(body.To, s.cfg.Domain) {
		writeBOSH(w, "<body xmlns='"+nsHTTPBind+"' type='terminate' condition='host-unknown'/>")
		return
	}
	sid := s.bosh.create(time.Now())
	if sid == "" {
		retry := strconv.Itoa(int(s.bosh.inactivity.Seconds()))
		w.Header().Set("Retry-After", retry)
		http.Error(w, "notifserver: too many BOSH sessions", http.StatusServiceUnavailable)
		return
	}
	wait := boshMaxWait
	if n, err := strconv.Atoi(body.Wait); err == nil && n > 0 && n < wait {
		wait = n
	}
	s.logf("notifserver: BOSH session %s from %s", sid, r.RemoteAddr)
	writeBOSH(w, "<body xmlns='"+nsHTTPBind+"' xmlns:xmpp='urn:xmpp:xbosh' xmlns:stream='http://etherx.jabber.org/streams'"+
		" sid='"+sid+"' wait='"+strconv.Itoa(wait)+"' requests='2' inactivity='"+strconv.Itoa(int(s.bosh.inactivity.Seconds()))+
		"' polling='5' hold='1' ver='1.6' from='"+xmltext.Escape(s.cfg.Domain)+"' authid='"+randomID()+"' xmpp:version='1.0'>"+
		"<stream:features>"+featuresSASL+"</stream:features></body>")
}

func (s *Server) boshContinue(w http.ResponseWriter, body *boshBody) {
	if !s.bosh.touch(body.SID, time.Now()) {
		// XEP-0124 19.3: item-not-found, as the legacy HTTP status.
		http.Error(w, "notifserver: no such BOSH session", http.StatusNotFound)
		return
	}
	switch {
	case body.Type == "terminate":
		s.bosh.forget(body.SID)
		writeBOSH(w, "<body xmlns='"+nsHTTPBind+"' type='terminate'/>")
	case len(bytes.TrimSpace(body.Inner)) > 0:
		s.bosh.forget(body.SID)
		writeBOSH(w, "<body xmlns='"+nsHTTPBind+"' type='terminate' condition='undefined-condition'/>")
	default:
		writeBOSH(w, "<body xmlns='"+nsHTTPBind+"'/>")
	}
}

func writeBOSH(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = io.WriteString(w, body)
}
