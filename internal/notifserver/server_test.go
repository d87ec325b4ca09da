package notifserver

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/xmppprobe"
)

func TestProbeSeesFinesseAvailable(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, Config{})
			s := e.login(t, mode, xmppprobe.NewResource())
			if want := testUser + "@" + testDomain + "/finessectl-"; !strings.HasPrefix(s.Facts().JID, want) {
				t.Errorf("bound JID %q, want prefix %q", s.Facts().JID, want)
			}
			p, err := awaitFinesse(s, ioWait)
			if err != nil || !p.Available {
				t.Fatalf("AwaitPresence = %+v, %v; want available", p, err)
			}
			if n := e.srv.Sessions(); n != 1 {
				t.Errorf("Sessions() = %d with one probe connected, want 1", n)
			}
			_ = s.Close()
			if !waitFor(func() bool { return e.srv.Sessions() == 0 }) {
				t.Errorf("Sessions() = %d after the probe left, want 0", e.srv.Sessions())
			}
		})
	}
}

func TestNewProbeSeesFinesseUnavailable(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, Config{})
			e.srv.SetFinesseAvailable(false)
			p, err := awaitFinesse(e.login(t, mode, xmppprobe.NewResource()), ioWait)
			if err != nil || p.Available {
				t.Fatalf("AwaitPresence = %+v, %v; want unavailable", p, err)
			}
		})
	}
}

func TestFinessePresenceIsPushed(t *testing.T) {
	e := newEnv(t, Config{})
	s := e.login(t, xmppprobe.DirectTLS, xmppprobe.NewResource())
	for i, want := range []bool{true, false, true} {
		if i > 0 {
			e.srv.SetFinesseAvailable(want)
		}
		p, err := awaitFinesse(s, ioWait)
		if err != nil || p.Available != want {
			t.Fatalf("presence %d = %+v, %v; want available=%v", i, p, err, want)
		}
	}
}

func TestPresenceIsPushedOnlyAfterInitialPresence(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.bound(t, xmppprobe.DirectTLS, "raw")

	// Bound, and only a directed presence sent: no push. The ping result
	// coming next proves it.
	c.send("<presence to='" + finesseBare + "'/>")
	e.srv.SetFinesseAvailable(false)
	c.ping("before-presence")

	// Initial presence is answered with the current state.
	c.send("<presence><priority>0</priority></presence>")
	el := c.next()
	if el.XMLName.Local != "presence" || el.attr("type") != "unavailable" ||
		el.attr("from") != finesseBare || el.attr("to") != c.jid {
		t.Fatalf("got <%s %v>, want unavailable presence from %s to %s", el.XMLName.Local, el.Attrs, finesseBare, c.jid)
	}

	// A later presence is an update, not the initial presence: no answer.
	c.send("<presence><show>away</show></presence>")
	c.ping("presence-update")

	// Pushed while available.
	e.srv.SetFinesseAvailable(true)
	el = c.next()
	if el.XMLName.Local != "presence" || el.attr("type") != "" || el.attr("from") != finesseBare+"/finesse" {
		t.Fatalf("got <%s %v>, want available presence from %s/finesse", el.XMLName.Local, el.Attrs, finesseBare)
	}

	// Setting the same state again pushes nothing.
	e.srv.SetFinesseAvailable(true)
	c.ping("unchanged")

	// No more pushes once the client went unavailable. Stanzas are handled
	// in order, so the ping result says the presence was processed.
	c.send("<presence type='unavailable'/>")
	c.ping("went-unavailable")
	e.srv.SetFinesseAvailable(false)
	c.ping("after-unavailable")
}

func TestLoginRejected(t *testing.T) {
	tests := []struct {
		name, user, password string
		reject               bool
	}{
		{"wrong password", testUser, "wrong", false},
		{"unknown user", "nobody", testPassword, false},
		{"finesse user cannot log in", "finesse", testPassword, false},
		{"auth-reject scenario", testUser, testPassword, true},
	}
	e := newEnv(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.srv.SetAuthReject(tt.reject)
			defer e.srv.SetAuthReject(false)
			ctx, cancel := context.WithTimeout(context.Background(), ioWait)
			defer cancel()
			s := xmppprobe.New(e.probeConfig(xmppprobe.DirectTLS))
			defer s.Close()
			if err := s.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			err := s.Login(ctx, tt.user, tt.password, xmppprobe.NewResource())
			var ae *xmppprobe.AuthError
			if !errors.As(err, &ae) || ae.Condition != "not-authorized" {
				t.Fatalf("Login = %v, want AuthError not-authorized", err)
			}
		})
	}
	// The scenario ends: the same credentials work again.
	e.login(t, xmppprobe.DirectTLS, xmppprobe.NewResource())
}

func TestSASLFailureKeepsStreamOpen(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dialRaw(t, xmppprobe.DirectTLS)
	features := c.open()
	if !strings.Contains(features.Inner, "<mechanism>PLAIN</mechanism>") || strings.Contains(features.Inner, "starttls") {
		t.Fatalf("features after TLS = %s, want only the PLAIN mechanism", features.Inner)
	}
	sasl := "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism="
	tests := []struct{ name, auth, condition string }{
		{"malformed base64", sasl + "'PLAIN'>not*base64</auth>", "incorrect-encoding"},
		{"other mechanism", sasl + "'SCRAM-SHA-1'>biwsbj1w</auth>", "invalid-mechanism"},
		{"not three fields", sasl + "'PLAIN'>cHJvYmUAczNjcmV0</auth>", "malformed-request"},
		{"wrong password", authPayload(testUser, "wrong"), "not-authorized"},
	}
	for _, tt := range tests {
		c.send(tt.auth)
		el := c.next()
		if el.XMLName.Local != "failure" || !strings.Contains(el.Inner, "<"+tt.condition+"/>") {
			t.Errorf("%s: got <%s>%s, want failure %s", tt.name, el.XMLName.Local, el.Inner, tt.condition)
		}
	}
	c.send(authPayload(testUser, testPassword))
	if el := c.next(); el.XMLName.Local != "success" {
		t.Fatalf("after failures, got <%s>%s, want success", el.XMLName.Local, el.Inner)
	}
}

func TestWrongDomainIsHostUnknown(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, Config{})
			cfg := e.probeConfig(mode)
			cfg.Domain = "finesse-b.example.test"
			ctx, cancel := context.WithTimeout(context.Background(), ioWait)
			defer cancel()
			s := xmppprobe.New(cfg)
			err := s.Connect(ctx)
			s.Close()
			var se *xmppprobe.StreamError
			if !errors.As(err, &se) || se.Condition != "host-unknown" {
				t.Fatalf("Connect = %v, want StreamError host-unknown", err)
			}
		})
	}
}

func TestStartTLSIsRequired(t *testing.T) {
	tests := []struct{ name, first string }{
		{"SASL before STARTTLS", authPayload(testUser, testPassword)},
		{"stanza before STARTTLS", "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"},
		// Plain bytes pipelined after <starttls/> must not reach the TLS layer.
		{"data after starttls", "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><presence/>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.dialRaw(t, xmppprobe.StartTLS)
			features := c.open()
			if !strings.Contains(features.Inner, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>") ||
				strings.Contains(features.Inner, "mechanism") {
				t.Fatalf("features before TLS = %s, want only starttls with required", features.Inner)
			}
			c.send(tt.first)
			c.expectStreamError("policy-violation")
		})
	}
}

func TestBindingAgainKicksTheOldSession(t *testing.T) {
	e := newEnv(t, Config{})
	first := e.login(t, xmppprobe.DirectTLS, "fixed")
	other := e.login(t, xmppprobe.StartTLS, "other")
	for _, s := range []*xmppprobe.Session{first, other} {
		if _, err := awaitFinesse(s, ioWait); err != nil {
			t.Fatal(err)
		}
	}

	second := e.login(t, xmppprobe.DirectTLS, "fixed")
	if second.Facts().JID != first.Facts().JID {
		t.Fatalf("second session bound %q, want %q", second.Facts().JID, first.Facts().JID)
	}
	if n := e.srv.Sessions(); n != 2 {
		t.Errorf("Sessions() = %d after the conflict, want 2", n)
	}
	_, err := awaitFinesse(first, ioWait)
	var se *xmppprobe.StreamError
	if !errors.As(err, &se) || se.Condition != "conflict" {
		t.Fatalf("old session got %v, want StreamError conflict", err)
	}

	// The new session and the one with another resource are still served.
	e.srv.SetFinesseAvailable(false)
	for _, s := range []*xmppprobe.Session{second, other} {
		if _, err := awaitFinesse(s, ioWait); err != nil {
			t.Fatalf("%s after the conflict: %v", s.Facts().JID, err)
		}
	}
}

func TestDropAll(t *testing.T) {
	e := newEnv(t, Config{})
	probes := []*xmppprobe.Session{
		e.login(t, xmppprobe.DirectTLS, xmppprobe.NewResource()),
		e.login(t, xmppprobe.StartTLS, xmppprobe.NewResource()),
	}
	for _, s := range probes {
		if _, err := awaitFinesse(s, ioWait); err != nil {
			t.Fatal(err)
		}
	}
	negotiating := e.dialRaw(t, xmppprobe.StartTLS)
	negotiating.open()

	e.srv.DropAll()
	if n := e.srv.Sessions(); n != 0 {
		t.Errorf("Sessions() = %d after DropAll, want 0", n)
	}
	for _, s := range probes {
		_, err := awaitFinesse(s, ioWait)
		var se *xmppprobe.StreamError
		if !errors.As(err, &se) || se.Condition != "system-shutdown" {
			t.Errorf("%s got %v, want StreamError system-shutdown", s.Facts().JID, err)
		}
	}
	negotiating.expectStreamError("system-shutdown")

	// The listeners stay up: the service can come back.
	e.login(t, xmppprobe.DirectTLS, xmppprobe.NewResource())
}

func TestSilent(t *testing.T) {
	e := newEnv(t, Config{})
	live := e.bound(t, xmppprobe.DirectTLS, "raw")
	live.send("<presence/>")
	if el := live.next(); el.XMLName.Local != "presence" {
		t.Fatalf("got <%s>, want the finesse presence", el.XMLName.Local)
	}

	e.srv.SetSilent(true)
	for _, mode := range modes {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		s := xmppprobe.New(e.probeConfig(mode))
		err := s.Connect(ctx)
		cancel()
		s.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Connect(%s) while silent = %v, want a deadline error", mode, err)
		}
	}
	// Neither the push nor the answer to a ping gets through. The bytes are
	// read without the XML parser, whose errors are final.
	e.srv.SetFinesseAvailable(false)
	live.send("<iq type='get' id='lost'><ping xmlns='urn:xmpp:ping'/></iq>")
	buf := make([]byte, 1)
	_ = live.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := live.r.Read(buf); n != 0 || !isTimeout(err) {
		t.Errorf("live session while silent: read %d bytes, %v; want nothing", n, err)
	}

	e.srv.SetSilent(false)
	if n := e.srv.Sessions(); n != 0 {
		t.Errorf("Sessions() = %d after the network came back, want 0", n)
	}
	_ = live.conn.SetReadDeadline(time.Now().Add(ioWait))
	if n, err := live.r.Read(buf); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("silenced session after SetSilent(false): read %d bytes, %v; want the connection closed", n, err)
	}
	p, err := awaitFinesse(e.login(t, xmppprobe.StartTLS, xmppprobe.NewResource()), ioWait)
	if err != nil || p.Available {
		t.Errorf("new session after SetSilent(false): %+v, %v; want unavailable", p, err)
	}
}

// notification is the part of Finesse's pubsub envelope the tests check.
type notification struct {
	XMLName xml.Name `xml:"jabber:client message"`
	From    string   `xml:"from,attr"`
	To      string   `xml:"to,attr"`
	ID      string   `xml:"id,attr"`
	Event   struct {
		XMLName xml.Name `xml:"http://jabber.org/protocol/pubsub#event event"`
		Items   struct {
			Node string `xml:"node,attr"`
			Item struct {
				ID           string `xml:"id,attr"`
				Notification struct {
					XMLName xml.Name
					Text    string `xml:",chardata"`
				} `xml:"notification"`
			} `xml:"item"`
		} `xml:"items"`
	} `xml:"event"`
}

type update struct {
	XMLName xml.Name `xml:"Update"`
	Data    struct {
		SystemInfo struct {
			Status       string `xml:"status"`
			StatusReason string `xml:"statusReason"`
		} `xml:"SystemInfo"`
	} `xml:"data"`
	Event     string  `xml:"event"`
	RequestID *string `xml:"requestId"`
	Source    string  `xml:"source"`
}

func TestPublishSystemInfo(t *testing.T) {
	// With a declaration, as the REST body has it.
	const systemInfo = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<SystemInfo><status>OUT_OF_SERVICE</status>" +
		"<statusReason>CTI &amp; AWDB down</statusReason></SystemInfo>"
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, Config{})
			c := e.bound(t, mode, "raw")
			e.srv.PublishSystemInfo(systemInfo)

			_ = c.conn.SetReadDeadline(time.Now().Add(ioWait))
			var msg notification
			if err := c.dec.Decode(&msg); err != nil {
				t.Fatalf("decoding the notification: %v", err)
			}
			if msg.From != "pubsub."+testDomain || msg.To != c.jid || msg.ID == "" {
				t.Errorf("message from=%q to=%q id=%q, want from pubsub.%s to %s with an id",
					msg.From, msg.To, msg.ID, testDomain, c.jid)
			}
			items := msg.Event.Items
			if items.Node != "/finesse/api/SystemInfo" || items.Item.ID == "" {
				t.Errorf("items node=%q item id=%q, want node /finesse/api/SystemInfo and an item id", items.Node, items.Item.ID)
			}
			if ns := items.Item.Notification.XMLName.Space; ns != "http://jabber.org/protocol/pubsub" {
				t.Errorf("notification namespace %q", ns)
			}
			// The decoder has undone one level of escaping: the text is the <Update> document.
			if text := items.Item.Notification.Text; !strings.HasPrefix(text, "<Update><data><SystemInfo>") {
				t.Errorf("notification text %q, want <Update><data><SystemInfo>…", text)
			}
			var u update
			if err := xml.Unmarshal([]byte(items.Item.Notification.Text), &u); err != nil {
				t.Fatalf("notification text %q is not an <Update>: %v", items.Item.Notification.Text, err)
			}
			if u.Source != "/finesse/api/SystemInfo" || u.Event != "PUT" || u.RequestID == nil || *u.RequestID != "" {
				t.Errorf("Update source=%q event=%q requestId=%v", u.Source, u.Event, u.RequestID)
			}
			if si := u.Data.SystemInfo; si.Status != "OUT_OF_SERVICE" || si.StatusReason != "CTI & AWDB down" {
				t.Errorf("SystemInfo status=%q reason=%q", si.Status, si.StatusReason)
			}
		})
	}
}

func TestIQs(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.bound(t, xmppprobe.StartTLS, "raw")
	bare := testUser + "@" + testDomain
	unavailable := "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
	tests := []struct {
		name, iq, wantType, wantFrom, wantInner string
	}{
		{"roster", "<iq type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>", "result", "",
			"<item jid='" + finesseBare + "' subscription='both' name='finesse'/>"},
		{"session", "<iq type='set' id='%s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>", "result", "", ""},
		{"ping without to", "<iq type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>", "result", "", ""},
		{"ping to domain", "<iq type='get' id='%s' to='" + testDomain + "'><ping xmlns='urn:xmpp:ping'/></iq>", "result", testDomain, ""},
		{"ping to own bare JID", "<iq type='get' id='%s' to='" + bare + "'><ping xmlns='urn:xmpp:ping'/></iq>", "result", bare, ""},
		{"ping to pubsub", "<iq type='get' id='%s' to='pubsub." + testDomain + "'><ping xmlns='urn:xmpp:ping'/></iq>",
			"error", "pubsub." + testDomain, unavailable},
		{"disco", "<iq type='get' id='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", "error", "", unavailable},
		{"pubsub subscribe", "<iq type='set' id='%s' to='pubsub." + testDomain + "'><pubsub xmlns='http://jabber.org/protocol/pubsub'>" +
			"<subscribe node='/finesse/api/Team/1/Users' jid='" + bare + "'/></pubsub></iq>", "error", "pubsub." + testDomain, unavailable},
		{"roster set", "<iq type='set' id='%s'><query xmlns='jabber:iq:roster'><item jid='x@y'/></query></iq>", "error", "", unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := strings.ReplaceAll(tt.name, " ", "-")
			c.send(strings.Replace(tt.iq, "%s", id, 1))
			el := c.next()
			if el.XMLName.Local != "iq" || el.attr("id") != id || el.attr("type") != tt.wantType ||
				el.attr("from") != tt.wantFrom || el.attr("to") != c.jid {
				t.Fatalf("got <%s %v>, want iq id=%s type=%s from=%q to=%s", el.XMLName.Local, el.Attrs, id, tt.wantType, tt.wantFrom, c.jid)
			}
			if !strings.Contains(el.Inner, tt.wantInner) || (tt.wantInner == "" && el.Inner != "") {
				t.Errorf("payload %s, want %s", el.Inner, tt.wantInner)
			}
			if tt.wantType == "error" && !strings.Contains(el.Inner, "<error type='cancel'>") {
				t.Errorf("error %s, want type cancel", el.Inner)
			}
		})
	}

	// Answers, messages and whitespace are read and need no reply.
	c.send("<iq type='result' id='unasked'/> \n<message to='" + finesseBare + "'><body>hi</body></message> ")
	c.ping("after-silent-stanzas")
}

func TestBinding(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.bound(t, xmppprobe.DirectTLS, "")
	if prefix := testUser + "@" + testDomain + "/"; !strings.HasPrefix(c.jid, prefix) || len(c.jid) == len(prefix) {
		t.Errorf("empty resource bound %q, want a generated resource", c.jid)
	}

	c = e.authenticated(t, xmppprobe.DirectTLS)
	c.send("<presence/>")
	c.expectStreamError("not-authorized")
}

func TestClientClosesStream(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.bound(t, xmppprobe.DirectTLS, "raw")
	c.send("</stream:stream>")
	c.expectEnd()
	if !waitFor(func() bool { return e.srv.Sessions() == 0 }) {
		t.Errorf("Sessions() = %d after the client left, want 0", e.srv.Sessions())
	}
}

func TestStalledNegotiationIsDropped(t *testing.T) {
	const step = 200 * time.Millisecond
	shorten := func(s *Server) { s.stepTimeout = step }
	tests := []struct {
		name  string
		mode  xmppprobe.TLSMode
		stall func(e *testEnv, t *testing.T) *rawClient
		want  string // stream error condition; "" when the socket just closes
	}{
		{"partial header", xmppprobe.StartTLS, func(e *testEnv, t *testing.T) *rawClient {
			c := e.dialRaw(t, xmppprobe.StartTLS)
			c.send("<?xml version='1.0'?><stream:str")
			return c
		}, "connection-timeout"},
		{"no starttls", xmppprobe.StartTLS, func(e *testEnv, t *testing.T) *rawClient {
			c := e.dialRaw(t, xmppprobe.StartTLS)
			c.open()
			return c
		}, "connection-timeout"},
		{"no ClientHello", xmppprobe.DirectTLS, nil, ""},
		{"no auth", xmppprobe.DirectTLS, func(e *testEnv, t *testing.T) *rawClient {
			c := e.dialRaw(t, xmppprobe.DirectTLS)
			c.open()
			return c
		}, "connection-timeout"},
		{"no bind", xmppprobe.StartTLS, func(e *testEnv, t *testing.T) *rawClient {
			return e.authenticated(t, xmppprobe.StartTLS)
		}, "connection-timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{}, shorten)
			start := time.Now()
			if tt.stall == nil {
				conn, err := net.Dial("tcp", e.addrs[tt.mode])
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(ioWait))
				if n, err := conn.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
					t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
				}
			} else {
				c := tt.stall(e, t)
				if c.dec == nil { // no stream header came back yet
					c.readHeader()
				}
				c.expectStreamError(tt.want)
			}
			if took := time.Since(start); took < step {
				t.Errorf("dropped after %v, before the %v step timeout", took, step)
			}
		})
	}

	t.Run("bound session may idle", func(t *testing.T) {
		e := newEnv(t, Config{}, shorten)
		c := e.bound(t, xmppprobe.DirectTLS, "raw")
		time.Sleep(3 * step)
		c.ping("after-idle")
	})
}

func TestByteCap(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dialRaw(t, xmppprobe.StartTLS)
	// A header that never ends, exactly as long as the cap allows, so the
	// server reads everything and closes without a reset.
	head := strings.TrimSuffix(clientHeader, ">") + " pad='"
	sent := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c.conn, head+strings.Repeat("x", maxSessionBytes-len(head)))
		sent <- err
	}()
	c.readHeader()
	c.expectStreamError("policy-violation")
	if err := <-sent; err != nil {
		t.Errorf("writing up to the cap: %v", err)
	}
}

// On a bound stream the cap is per stanza: a client that stays connected
// for days sends more than the cap in pings, and is not cut off for it.
func TestByteCapIsPerStanzaOnceBound(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.bound(t, xmppprobe.DirectTLS, "raw")
	pad := strings.Repeat("p", 64<<10)
	for i := range maxSessionBytes/len(pad) + 4 {
		c.ping(fmt.Sprintf("%s-%d", pad, i))
	}
}

func TestCloseRefusesNewConnections(t *testing.T) {
	e := newEnv(t, Config{})
	live := e.bound(t, xmppprobe.DirectTLS, "raw")
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	_ = live.conn.SetReadDeadline(time.Now().Add(ioWait))
	if n, err := live.r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("live session after Close: read %d bytes, %v; want the connection closed", n, err)
	}
	conn, err := net.Dial("tcp", e.addrs[xmppprobe.StartTLS])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(ioWait))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("connection after Close: read %d bytes, %v; want it closed", n, err)
	}
}

func TestServeRequiresTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := New(Config{Domain: testDomain}).Serve(ln, true); err == nil {
		t.Error("Serve without Config.TLS returned nil, want an error")
	}
}

func TestGoroutinesEndWithTheServer(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEnv(t, Config{})
	probe := e.login(t, xmppprobe.DirectTLS, xmppprobe.NewResource())
	negotiating := e.dialRaw(t, xmppprobe.StartTLS)
	negotiating.open()
	e.srv.SetSilent(true)
	silenced, err := net.Dial("tcp", e.addrs[xmppprobe.DirectTLS])
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(func() bool { return e.srv.Sessions() == 3 }) {
		t.Fatalf("Sessions() = %d, want 3", e.srv.Sessions())
	}

	e.stop()
	_ = probe.Close()
	_ = negotiating.conn.Close()
	_ = silenced.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Close, %d before:\n%s", after, before, buf[:runtime.Stack(buf, true)])
	}
}

// go-xmpp follows <starttls/> with a newline in the same write.
func TestStartTLSAllowsTrailingWhitespace(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.dialRaw(t, xmppprobe.StartTLS)
	c.open()
	c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n")
	if el := c.next(); el.XMLName.Local != "proceed" {
		t.Fatalf("got <%s>%s, want <proceed/>", el.XMLName.Local, el.Inner)
	}
	c.upgrade(e.client)
	if features := c.open(); !strings.Contains(features.Inner, "PLAIN") {
		t.Errorf("features after STARTTLS = %s, want PLAIN", features.Inner)
	}
}

type rosterItem struct {
	JID          string `xml:"jid,attr"`
	Subscription string `xml:"subscription,attr"`
}

// rosterItems decodes the items of the roster query inside an iq.
func rosterItems(t *testing.T, iq element) []rosterItem {
	t.Helper()
	var q struct {
		Items []rosterItem `xml:"query>item"`
	}
	if err := xml.Unmarshal([]byte("<iq>"+iq.Inner+"</iq>"), &q); err != nil {
		t.Fatalf("roster %s: %v", iq.Inner, err)
	}
	return q.Items
}

// roster asks for the roster and returns its items.
func (c *rawClient) roster(id string) []rosterItem {
	c.t.Helper()
	c.send("<iq type='get' id='" + id + "'><query xmlns='jabber:iq:roster'/></iq>")
	el := c.next()
	if el.XMLName.Local != "iq" || el.attr("id") != id || el.attr("type") != "result" {
		c.t.Fatalf("got <%s id=%q type=%q>%s, want the roster", el.XMLName.Local, el.attr("id"), el.attr("type"), el.Inner)
	}
	return rosterItems(c.t, el)
}

// expectRosterPush reads a roster push of the 'finesse' user with subscription sub.
func (c *rawClient) expectRosterPush(sub string) {
	c.t.Helper()
	el := c.next()
	want := []rosterItem{{JID: finesseBare, Subscription: sub}}
	if el.XMLName.Local != "iq" || el.attr("type") != "set" || el.attr("to") != c.jid || fmt.Sprint(rosterItems(c.t, el)) != fmt.Sprint(want) {
		c.t.Fatalf("got <%s %v>%s, want a roster push of %v", el.XMLName.Local, el.Attrs, el.Inner, want)
	}
}

// expectFinessePresence reads the 'finesse' user's presence.
func (c *rawClient) expectFinessePresence(available bool) {
	c.t.Helper()
	el := c.next()
	if el.XMLName.Local != "presence" || (el.attr("type") == "") != available || !strings.HasPrefix(el.attr("from"), finesseBare) {
		c.t.Fatalf("got <%s %v>, want the presence of %s, available %t", el.XMLName.Local, el.Attrs, finesseBare, available)
	}
}

// Out of the rosters, the 'finesse' user is missing from the roster result
// and its presence is never sent, whatever it does; taking it out and
// putting it back reach live sessions as roster pushes, then its presence
// (unavailable as it leaves, current as it comes back), and only those that
// asked for the roster or sent initial presence.
func TestFinesseInRoster(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.bound(t, xmppprobe.DirectTLS, "raw")
	if r, want := c.roster("roster-1"), []rosterItem{{JID: finesseBare, Subscription: "both"}}; fmt.Sprint(r) != fmt.Sprint(want) {
		t.Fatalf("roster %v, want %v", r, want)
	}
	c.send("<presence/>")
	c.expectFinessePresence(true)
	quiet := e.bound(t, xmppprobe.StartTLS, "quiet")

	e.srv.SetFinesse(true, false)
	c.expectRosterPush("remove")
	c.expectFinessePresence(false)
	quiet.ping("nothing-yet")

	quiet.send("<presence/>")
	quiet.ping("no-presence-out-of-roster")
	if r := quiet.roster("roster-2"); len(r) != 0 {
		t.Fatalf("roster %v, want it empty", r)
	}
	e.srv.SetFinesseAvailable(false)
	e.srv.SetFinesseAvailable(true)
	e.srv.SetFinesse(true, false)
	c.ping("no-push-out-of-roster")
	quiet.ping("no-push-out-of-roster")

	e.srv.SetFinesseAvailable(false)
	e.srv.SetFinesse(false, true)
	for _, s := range []*rawClient{c, quiet} {
		s.expectRosterPush("both")
		s.expectFinessePresence(false)
	}
}
