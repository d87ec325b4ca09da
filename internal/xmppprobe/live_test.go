package xmppprobe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/simulator"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmltext"
)

// liveWait bounds every wait for something that should happen promptly.
const liveWait = 5 * time.Second

// simNode is a simulated Finesse node and the TLS configuration that trusts it.
type simNode struct {
	*simulator.Node
	trust *tls.Config
}

func startSimulator(t *testing.T) simNode {
	t.Helper()
	c, err := simulator.Start(simulator.Config{Nodes: 1, Users: map[string]string{"probe": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return simNode{Node: c.Nodes[0], trust: &tls.Config{RootCAs: c.CA.Pool(), ServerName: "127.0.0.1"}}
}

// simSession logs in to n, as check does, and waits for the 'finesse' user
// to be available; the session is closed when the test ends.
func simSession(t *testing.T, n simNode, cfg Config) *Session {
	t.Helper()
	cfg.Addr, cfg.Domain, cfg.TLS = n.DirectTLSAddr(), n.Host, n.trust
	if cfg.Transport == WebSocket {
		cfg.Addr = n.HTTPSAddr()
	}
	ctx := ctxTimeout(t, liveWait)
	s, err := connect(t, ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Login(ctx, "probe", "pw", NewResource()); err != nil {
		t.Fatal(err)
	}
	if p, err := s.AwaitPresence(ctx, "finesse@"+n.Host); err != nil || !p.Available {
		t.Fatalf("presence before Listen = %+v, %v", p, err)
	}
	return s
}

// listening is a Listen running in its own goroutine.
type listening struct {
	events chan LiveEvent
	cancel context.CancelFunc
	done   chan struct{} // closed when Listen has returned err
	err    error
}

func listen(t *testing.T, s *Session, cfg ListenConfig) *listening {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listening{events: make(chan LiveEvent, 16), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.err = s.Listen(ctx, cfg, func(e LiveEvent) {
			select {
			case l.events <- e:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-l.done })
	return l
}

// next returns the next event, failing the test if Listen returns first.
func (l *listening) next(t *testing.T) LiveEvent {
	t.Helper()
	select {
	case e := <-l.events:
		return e
	case <-l.done:
		select { // handle ran before Listen returned
		case e := <-l.events:
			return e
		default:
		}
		t.Fatalf("Listen returned %v while an event was awaited", l.err)
	case <-time.After(liveWait):
		t.Fatalf("no event within %v", liveWait)
	}
	return LiveEvent{}
}

// wait returns what Listen returned, failing the test unless it returns
// within d.
func (l *listening) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-l.done:
		return l.err
	case <-time.After(d):
		t.Fatalf("Listen still running after %v", d)
	}
	return nil
}

func isLive(err error) bool {
	var pe *PhaseError
	return errors.As(err, &pe) && pe.Phase == PhaseLive
}

// What a node tells its clients as its state changes reaches a live session
// in order: the 'finesse' user's presence, and SystemInfo notifications
// whose document systeminfo.Parse reads.
func TestListenFollowsTheNode(t *testing.T) {
	n := startSimulator(t)
	s := simSession(t, n, Config{})
	l := listen(t, s, ListenConfig{WatchJID: "Finesse@" + n.Host})

	for _, step := range []struct {
		scenario simulator.Scenario
		want     string // available, unavailable, or the status notified
	}{
		{simulator.FinesseDisconnected, "unavailable"},
		{simulator.Healthy, "available"},
		{simulator.OutOfService, finesse.StatusOutOfService},
		{simulator.Healthy, finesse.StatusInService},
	} {
		if err := n.SetScenario(step.scenario); err != nil {
			t.Fatal(err)
		}
		e := l.next(t)
		if step.want == "available" || step.want == "unavailable" {
			if e.Presence == nil || e.Notification != nil || e.Presence.Available != (step.want == "available") {
				t.Fatalf("after %s: event %+v, want only an %s presence", step.scenario, e, step.want)
			}
			continue
		}
		note := e.Notification
		if note == nil || e.Presence != nil {
			t.Fatalf("after %s: event %+v, want only a notification", step.scenario, e)
		}
		if note.Node != finesse.SystemInfoPath || note.Source != finesse.SystemInfoPath || note.Event != "PUT" {
			t.Errorf("after %s: notification %+v", step.scenario, note)
		}
		info, err := systeminfo.Parse(note.Data)
		if err != nil || info.Status != step.want || info.XMPPDomain != n.Host {
			t.Fatalf("after %s: Parse(Data) = %+v, %v; want status %s", step.scenario, info, err, step.want)
		}
		if !strings.HasPrefix(note.Raw, "<Update>") {
			t.Errorf("Raw = %q, want the unescaped Update", note.Raw)
		}
	}
}

func TestListenEndsWhenTheServiceStops(t *testing.T) {
	n := startSimulator(t)
	s := simSession(t, n, Config{})
	l := listen(t, s, ListenConfig{WatchJID: "finesse@" + n.Host})
	if err := n.SetScenario(simulator.NotificationDown); err != nil {
		t.Fatal(err)
	}
	err := l.wait(t, liveWait)
	var se *StreamError
	if !isLive(err) || !errors.As(err, &se) || se.Condition != "system-shutdown" {
		t.Fatalf("Listen = %v, want a live-phase system-shutdown stream error", err)
	}
}

// A network that swallows everything is noticed by the pings going
// unanswered, not before the silence has lasted PingInterval+PingTimeout.
func TestListenPingTimeout(t *testing.T) {
	for _, transport := range []Transport{TCP, WebSocket} {
		t.Run(string(transport), func(t *testing.T) { testListenPingTimeout(t, transport) })
	}
}

// Over WebSocket too: gorilla hands on a read timeout as an error of its
// own, which no longer wraps os.ErrDeadlineExceeded.
func testListenPingTimeout(t *testing.T, transport Transport) {
	n := startSimulator(t)
	s := simSession(t, n, Config{Transport: transport})
	if err := n.SetScenario(simulator.NetworkLoss); err != nil {
		t.Fatal(err)
	}
	cfg := ListenConfig{WatchJID: "finesse@" + n.Host, PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}
	start := time.Now()
	l := listen(t, s, cfg)
	err := l.wait(t, liveWait)
	if !isLive(err) || !errors.Is(err, ErrPingTimeout) {
		t.Fatalf("Listen = %v, want a live-phase ErrPingTimeout", err)
	}
	if took := time.Since(start); took < cfg.PingInterval+cfg.PingTimeout {
		t.Fatalf("ErrPingTimeout after %v, before the silence allowed", took)
	}
}

// Cancelling ctx ends Listen at once, whatever the ping interval and read
// deadline, with its pinger, and leaves the session able to say goodbye.
func TestListenCancelLeavesNothingRunning(t *testing.T) {
	n := startSimulator(t)
	before := runtime.NumGoroutine()
	for i := 0; i < 10; i++ {
		trace := &syncBuffer{}
		s := simSession(t, n, Config{Trace: trace})
		l := listen(t, s, ListenConfig{WatchJID: "finesse@" + n.Host, PingInterval: 5 * time.Millisecond, PingTimeout: time.Hour})
		// Two pings out and one answered: the pinger and the reader are both at work.
		if !eventually(func() bool {
			return strings.Contains(trace.String(), "id='ping-2'") && strings.Contains(trace.String(), "S: <iq type='result' id='ping-1'")
		}) {
			t.Fatalf("no ping answered:\n%s", trace.String())
		}
		l.cancel()
		if err := l.wait(t, liveWait); !errors.Is(err, context.Canceled) {
			t.Fatalf("Listen after cancel = %v, want context.Canceled", err)
		}
		if stacks := goroutines(); strings.Contains(stacks, "(*Session).ping(") {
			t.Fatalf("the pinger outlived Listen:\n%s", stacks)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if !eventually(func() bool { return n.Sessions() == 0 }) {
		t.Fatalf("%d sessions still open on the server", n.Sessions())
	}
	// The server's goroutines end as it notices each goodbye.
	if !eventually(func() bool { return runtime.NumGoroutine() <= before+2 }) {
		t.Fatalf("goroutines grew from %d to %d over 10 Listen cycles:\n%s", before, runtime.NumGoroutine(), goroutines())
	}
}

func TestCloseWhileListening(t *testing.T) {
	n := startSimulator(t)
	trace := &syncBuffer{}
	s := simSession(t, n, Config{Trace: trace})
	l := listen(t, s, ListenConfig{WatchJID: "finesse@" + n.Host, PingInterval: time.Millisecond, PingTimeout: time.Hour})
	if !eventually(func() bool { return strings.Contains(trace.String(), "id='ping-1'") }) {
		t.Fatal("Listen sent no ping")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.wait(t, liveWait); !isLive(err) {
		t.Fatalf("Listen after Close = %v, want a live-phase error", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.Listen(context.Background(), ListenConfig{}, func(LiveEvent) {}); !errors.Is(err, errNoStream) {
		t.Errorf("Listen after Close = %v", err)
	}
	if !eventually(func() bool { return n.Sessions() == 0 }) {
		t.Fatalf("%d sessions still open on the server", n.Sessions())
	}
}

// A logged-in session says it is unavailable before it ends the stream,
// whether Close comes after Listen or while it runs, pinging.
func TestCloseSaysGoodbye(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	for _, during := range []bool{false, true} {
		t.Run(map[bool]string{false: "after Listen", true: "during Listen"}[during], func(t *testing.T) {
			bye := make(chan bool, 1)
			f := startFake(t, c.server, finesseNode(func(p *peer) {
				bye <- p.expect("<presence type='unavailable'/></stream:stream>")
			}))
			trace := &syncBuffer{}
			s, err := dialLogin(t, f, c, DirectTLS, trace)
			if err != nil {
				t.Fatal(err)
			}
			l := listen(t, s, ListenConfig{WatchJID: "finesse@" + domain, PingInterval: time.Millisecond, PingTimeout: time.Hour})
			if !eventually(func() bool { return strings.Contains(trace.String(), "id='ping-1'") }) {
				t.Fatal("Listen sent no ping")
			}
			if !during {
				l.cancel()
				if err := l.wait(t, liveWait); !errors.Is(err, context.Canceled) {
					t.Fatalf("Listen after cancel = %v", err)
				}
			}
			_ = s.Close()
			if !<-bye {
				t.Fatal("the server did not see the unavailable presence, then the end of the stream")
			}
			if err := l.wait(t, liveWait); during && !isLive(err) {
				t.Fatalf("Listen after Close = %v, want a live-phase error", err)
			}
		})
	}
}

// MaxBytes caps each stanza of a live session, not the session: weeks of
// pings must not end it, one stanza over the cap must.
func TestListenCapsEachStanza(t *testing.T) {
	const maxBytes = 8 << 10
	t.Run("pings", func(t *testing.T) {
		n := startSimulator(t)
		trace := &syncBuffer{}
		s := simSession(t, n, Config{MaxBytes: maxBytes, Trace: trace})
		l := listen(t, s, ListenConfig{WatchJID: "finesse@" + n.Host, PingInterval: time.Millisecond, PingTimeout: time.Hour})
		if !eventually(func() bool { return trace.fromServer() > 4*maxBytes }) {
			l.cancel()
			t.Fatalf("read only %d bytes from the server; Listen = %v", trace.fromServer(), l.wait(t, liveWait))
		}
		l.cancel()
		if err := l.wait(t, liveWait); !errors.Is(err, context.Canceled) {
			t.Fatalf("Listen = %v after %d bytes, want it running until cancelled", err, trace.fromServer())
		}
	})
	t.Run("one huge stanza", func(t *testing.T) {
		c := newCerts(t, "127.0.0.1")
		small := "<message from='pubsub.finesse.test'><event xmlns='http://jabber.org/protocol/pubsub#event'>" +
			"<items node='/finesse/api/User/1'><item><entry xmlns='urn:x'>" + strings.Repeat("x", 1000) + "</entry></item></items></event></message>"
		const smalls = 4 * maxBytes / 1000
		f := startFake(t, c.server, finesseNode(func(p *peer) {
			p.send(strings.Repeat(small, smalls))
			p.send("<message><body>" + strings.Repeat("A", 2*maxBytes) + "</body></message>")
		}))
		ctx := ctxTimeout(t, liveWait)
		s, err := connect(t, ctx, Config{Addr: f.addr, Domain: domain, TLS: c.client, MaxBytes: maxBytes})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Login(ctx, "probe", "pw", "r"); err != nil {
			t.Fatal(err)
		}
		l := listen(t, s, ListenConfig{WatchJID: "finesse@" + domain})
		for i := 0; i < smalls; i++ {
			if e := l.next(t); e.Notification == nil || e.Notification.Node != "/finesse/api/User/1" {
				t.Fatalf("event %d = %+v", i, e)
			}
		}
		if err := l.wait(t, liveWait); !isLive(err) || !errors.Is(err, ErrTooMuchData) {
			t.Fatalf("Listen = %v, want a live-phase ErrTooMuchData", err)
		}
	})
}

// What a Finesse node may push, in one stream: the session reports
// presences and notifications in order, answers the server's requests, and
// reads past what it does not understand.
func TestListenStream(t *testing.T) {
	const envelope = "<message from='pubsub.finesse.test' id='m'><event xmlns='http://jabber.org/protocol/pubsub#event'>" +
		"<items node='/finesse/api/SystemInfo'><item id='i'>%s</item></items></event></message>"
	item := func(payload string) string { return strings.Replace(envelope, "%s", payload, 1) }
	c := newCerts(t, "127.0.0.1")
	answered := make(chan bool, 1)
	f := startFake(t, c.server, finesseNode(func(p *peer) {
		p.send(rosterBoth + "<presence from='finesse@finesse.test/finesse'/>" +
			"<presence from='someone@finesse.test/x' type='unavailable'/>" +
			"<message from='x'><body>hello</body></message>" +
			item("<notification xmlns='urn:xmpp:push:0'>&lt;Update&gt;&lt;source&gt;/finesse/api/SystemInfo&lt;/source&gt;"+
				"&lt;data&gt;&lt;SystemInfo&gt;&lt;status&gt;OUT_OF_SERVICE&lt;/status&gt;&lt;/SystemInfo&gt;&lt;/data&gt;"+
				"&lt;event&gt;put&lt;/event&gt;&lt;/Update&gt;</notification>") +
			"<iq type='get' id='srv-ping' from='finesse.test'><ping xmlns='urn:xmpp:ping'/></iq>")
		if !p.expect("id='srv-ping'") {
			answered <- false
			return
		}
		p.send("<iq type='set' id='push-1'><query xmlns='jabber:iq:roster'><item jid='finesse@finesse.test' subscription='both'/></query></iq>")
		answered <- p.expect("id='push-1'")
		p.send(item("<notification xmlns='urn:xmpp:push:0'>&lt;Update&gt;&lt;data&gt;</notification>") +
			item("<entry xmlns='http://www.w3.org/2005/Atom'>not Finesse</entry>") +
			item("<notification xmlns='http://jabber.org/protocol/pubsub'><Update><event>PUT</event><data>"+
				"<SystemInfo><status>IN_SERVICE</status></SystemInfo></data></Update></notification>") +
			"<presence from='finesse@finesse.test' type='unavailable'><status>bye</status></presence>")
	}))
	s, err := dialLogin(t, f, c, DirectTLS, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Straight after Login: the first presence is Listen's to report.
	l := listen(t, s, ListenConfig{WatchJID: "finesse@finesse.test"})

	if e := l.next(t); e.Presence == nil || !e.Presence.Available || !e.Presence.Roster.Listed {
		t.Fatalf("first event = %+v, want the available presence with the roster", e)
	}
	if !<-answered {
		t.Fatal("the server's ping or roster push went unanswered")
	}
	want := []Notification{
		{Node: finesse.SystemInfoPath, Source: finesse.SystemInfoPath, Event: "put", Data: []byte("<SystemInfo><status>OUT_OF_SERVICE</status></SystemInfo>")},
		{Node: finesse.SystemInfoPath, Raw: "<Update><data>"},
		// As the probe encodes it again: double quotes, namespaces where they change.
		{Node: finesse.SystemInfoPath, Raw: `<items node="/finesse/api/SystemInfo"><item id="i"><entry xmlns="http://www.w3.org/2005/Atom">not Finesse</entry></item></items>`},
		{Node: finesse.SystemInfoPath, Event: "PUT", Data: []byte("<SystemInfo><status>IN_SERVICE</status></SystemInfo>")},
	}
	for i, w := range want {
		e := l.next(t)
		if e.Notification == nil {
			t.Fatalf("event %d = %+v, want a notification", i, e)
		}
		got := *e.Notification
		if w.Raw == "" {
			got.Raw = "" // checked by TestDecodeMessage
		}
		if !notificationsEqual(got, w) {
			t.Errorf("notification %d = %+v (%q), want %+v (%q)", i, got, got.Data, w, w.Data)
		}
	}
	if e := l.next(t); e.Presence == nil || e.Presence.Available || e.Presence.Status != "bye" {
		t.Fatalf("last event = %+v, want the unavailable presence", e)
	}
}

func TestDecodeMessage(t *testing.T) {
	const (
		head = "<message><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='/n'><item>"
		tail = "</item></items></event></message>"
		info = "<SystemInfo><status>IN_SERVICE</status></SystemInfo>"
	)
	escaped := xmltext.Escape
	tests := []struct {
		name string
		in   string
		want []Notification
	}{
		{"escaped, urn:xmpp:push:0, with whitespace",
			head + "<notification xmlns='urn:xmpp:push:0'>\n" + escaped("<Update>\n <data>\n  "+info+"\n </data>\n <event>PUT</event>\n <requestId></requestId>\n <source>/s</source>\n</Update>") + "\n</notification>" + tail,
			[]Notification{{Node: "/n", Source: "/s", Event: "PUT", Data: []byte(info)}}},
		{"CDATA, children in any case and order",
			head + "<notification xmlns='http://jabber.org/protocol/pubsub'><![CDATA[<?xml version='1.0'?><update><SOURCE>/s</SOURCE><Event>delete</Event><Data>" + info + "</Data></update>]]></notification>" + tail,
			[]Notification{{Node: "/n", Source: "/s", Event: "delete", Data: []byte(info)}}},
		{"child elements",
			head + "<notification xmlns='urn:xmpp:push:0'><Update><source>/s</source><data>" + info + "</data></Update></notification>" + tail,
			[]Notification{{Node: "/n", Source: "/s", Data: []byte(info)}}},
		{"no data",
			head + "<notification>" + escaped("<Update><event>DELETE</event><data> </data></Update>") + "</notification>" + tail,
			[]Notification{{Node: "/n", Event: "DELETE"}}},
		{"two data contradict each other",
			head + "<notification>" + escaped("<Update><data>"+info+"</data><data><SystemInfo/></data></Update>") + "</notification>" + tail,
			[]Notification{{Node: "/n"}}},
		{"two Updates contradict each other",
			head + "<notification>" + escaped("<Update><data>"+info+"</data></Update><Update/>") + "</notification>" + tail,
			[]Notification{{Node: "/n"}}},
		{"not an Update",
			head + "<notification>" + escaped("<Dialog/>") + "</notification>" + tail,
			[]Notification{{Node: "/n"}}},
		{"two items",
			"<message><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='/n'>" +
				"<item><notification>" + escaped("<Update><event>PUT</event></Update>") + "</notification></item>" +
				"<item><notification>" + escaped("<Update><event>POST</event></Update>") + "</notification></item></items></event></message>",
			[]Notification{{Node: "/n", Event: "PUT"}, {Node: "/n", Event: "POST"}}},
		{"purge", "<message><event xmlns='http://jabber.org/protocol/pubsub#event'><purge node='/p'/></event></message>",
			[]Notification{{Node: "/p"}}},
		{"not a pubsub event", "<message><body>" + escaped("<Update/>") + "</body><event xmlns='urn:other'><items node='/n'/></event></message>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeFirst([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d notifications %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i].Raw == "" || strings.ContainsRune(got[i].Raw, '\n') {
					t.Errorf("Raw = %q, want the sanitized document", got[i].Raw)
				}
				got[i].Raw = ""
				if !notificationsEqual(got[i], tt.want[i]) {
					t.Errorf("notification %d = %+v (%q), want %+v (%q)", i, got[i], got[i].Data, tt.want[i], tt.want[i].Data)
				}
			}
		})
	}

	long, err := decodeFirst([]byte(head + "<notification>" + strings.Repeat("\u202e&lt;x&gt;\n", 500) + "</notification>" + tail))
	if err != nil || len(long) != 1 {
		t.Fatalf("long notification = %+v, %v", long, err)
	}
	if raw := long[0].Raw; len([]rune(raw)) > rawMax || strings.ContainsAny(raw, "\u202e\n") {
		t.Errorf("Raw not cut or not sanitized: %q", raw)
	}
	if _, err := decodeFirst([]byte(head + "<notification>" + tail)); err == nil {
		t.Error("a message that is not well-formed decoded")
	}
}

func notificationsEqual(a, b Notification) bool {
	return a.Node == b.Node && a.Source == b.Source && a.Event == b.Event && a.Raw == b.Raw &&
		bytes.Equal(a.Data, b.Data) && (a.Data == nil) == (b.Data == nil)
}

func TestListenNeedsALogin(t *testing.T) {
	c := newCerts(t, "127.0.0.1")
	f := startFake(t, c.server, func(p *peer) {
		if p.expect("<stream:stream") {
			p.send(header + saslFeats)
			p.expect("never sent")
		}
	})
	s := New(Config{Addr: f.addr, Domain: domain, TLS: c.client})
	defer s.Close()
	handle := func(LiveEvent) { t.Error("an event from a session that is not logged in") }
	if err := s.Listen(ctxTimeout(t, time.Second), ListenConfig{}, handle); !errors.Is(err, errNoStream) {
		t.Errorf("Listen before Connect = %v", err)
	}
	if err := s.Connect(ctxTimeout(t, liveWait)); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(ctxTimeout(t, time.Second), ListenConfig{}, handle); !errors.Is(err, errNotLoggedIn) {
		t.Errorf("Listen before Login = %v", err)
	}
}

// decodeFirst decodes data's first element as Listen decodes a <message>.
func decodeFirst(data []byte) ([]Notification, error) {
	d := streamDecoder(bytes.NewReader(data), false)
	se, err := nextElement(d)
	if err != nil {
		return nil, err
	}
	return decodeMessage(d, &se)
}

// syncBuffer is a trace that the test reads while the session writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fromServer counts the bytes the trace shows the server sent.
func (b *syncBuffer) fromServer() int {
	n := 0
	for line := range strings.Lines(b.String()) {
		if text, ok := strings.CutPrefix(line, "S: "); ok {
			n += len(text)
		}
	}
	return n
}

// eventually polls cond until it holds or liveWait passes.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(liveWait)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func goroutines() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// An <Update> arrives as text of its stanza, so the stream's depth limit
// never saw it nested: parseUpdate holds it to the same limit before the
// byte decode its data needs.
func TestParseUpdateDepth(t *testing.T) {
	doc := func(depth int) []byte {
		return []byte("<Update><event>PUT</event><data>" + strings.Repeat("<a>", depth) + strings.Repeat("</a>", depth) + "</data></Update>")
	}
	if u, err := parseUpdate(doc(xmltext.MaxDepth - 2)); err != nil || u.event != "PUT" {
		t.Errorf("%d levels: %+v, %v", xmltext.MaxDepth, u, err)
	}
	if u, err := parseUpdate(doc(xmltext.MaxDepth)); !errors.Is(err, xmltext.ErrTooDeep) {
		t.Errorf("%d levels: %+v, %v; want ErrTooDeep", xmltext.MaxDepth+2, u, err)
	}
}
