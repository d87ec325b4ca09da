package xmppprobe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/finessectl/finessectl/internal/xmltext"
)

// FuzzAwaitPresence feeds a server's bytes, after an opened stream, to a
// session waiting for presence. The session runs over net.Pipe rather than a
// TLS socket so that a fuzz iteration costs microseconds, not a handshake;
// everything above the socket is the probe's own code. With hangUp the server
// closes the connection after its bytes, otherwise it falls silent until the
// wait ends.
func FuzzAwaitPresence(f *testing.F) {
	for _, s := range []string{
		rosterBoth + "<presence from='someone@finesse.test/x'/><presence from='Finesse@finesse.test/desktop'/>",
		rosterBoth + "<presence type='unavailable' from='finesse@finesse.test'/>",
		"<presence from='finesse@finesse.test/x'><show>away</show><status>\u202eback soon</status></presence>",
		"<iq type='get' id='ping-9' from='finesse.test'><ping xmlns='urn:xmpp:ping'/></iq>",
		"<iq type='set' id='push-1'><query xmlns='jabber:iq:roster'><item jid='finesse@finesse.test' subscription='none'/></query></iq>",
		"<iq type='get' id='v&apos;1' from='a&lt;b'><query xmlns='jabber:iq:version'/></iq>",
		"<iq type='result' id='roster-1'><query xmlns='jabber:iq:roster'/></iq>",
		"<message from='pubsub.finesse.test'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='/finesse/api/SystemInfo'>" +
			"<item><notification xmlns='http://jabber.org/protocol/pubsub'>&lt;Update&gt;&lt;/Update&gt;</notification></item></items></event></message>",
		"</stream:stream>",
		"<message from='x'><body>cut",
		"<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>\u009b31mno</text></stream:error>",
		"<x xmlns='urn:&#10;x'/>",
		"<presence from='finesse@finesse.test' type='error'/><!-- c --><?pi x?>",
		"",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, hangUp bool) {
		client, server := net.Pipe()
		defer client.Close()
		go func() { _, _ = io.Copy(io.Discard, server) }()
		go func() {
			_, _ = server.Write([]byte(header + bindFeats))
			_, _ = server.Write(data)
			if hangUp {
				server.Close()
			}
		}()
		defer server.Close()

		const wait = 200 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		conn := &quietConn{Conn: client, left: len(header + bindFeats + string(data))}
		if !hangUp {
			conn.quiet = cancel
		}
		var trace bytes.Buffer
		s := New(Config{Addr: "pipe", Domain: domain, Trace: &trace, MaxBytes: int64(len(header+bindFeats)) + 8<<10})
		s.raw, s.conn, s.stream = conn, conn, conn
		s.attach()
		_ = client.SetDeadline(time.Now().Add(time.Second))
		if err := s.openStream(); err != nil {
			t.Fatalf("opening the stream: %v", err)
		}

		start := time.Now()
		_, err := s.AwaitPresence(ctx, "finesse@finesse.test")
		if took := time.Since(start); took > wait+time.Second {
			t.Errorf("AwaitPresence took %v", took)
		}
		if err != nil {
			var pe *PhaseError
			if !errors.As(err, &pe) || pe.Phase != PhasePresence {
				t.Errorf("error %#v is not a presence-phase *PhaseError", err)
			}
			if msg := err.Error(); strings.ContainsFunc(msg, unicode.IsControl) || len(msg) > 4<<10 {
				t.Errorf("error text not sanitized or too long: %q", msg)
			}
		}
		for line := range strings.Lines(trace.String()) {
			if strings.ContainsFunc(strings.TrimSuffix(line, "\n"), unicode.IsControl) {
				t.Errorf("trace line not sanitized: %q", line)
			}
		}
	})
}

// quietConn ends the wait as soon as the probe asks for more than the server
// sent: waiting out the deadline on every silent input would make each fuzz
// iteration, and above all each minimization step, cost the whole deadline.
// Ending the context takes the same path in AwaitPresence as the deadline.
type quietConn struct {
	net.Conn
	left  int // bytes the server sent that the probe has not read yet
	quiet func()
}

func (c *quietConn) Read(p []byte) (int, error) {
	if c.left <= 0 && c.quiet != nil {
		c.quiet()
		c.quiet = nil
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

// FuzzNotification feeds a <message> to the decoder Listen uses for it. Any
// input may be refused as not well-formed, but none may panic, and what is
// reported must be safe to log: Raw sanitized and short, Data nil or a
// trimmed, non-empty fragment.
func FuzzNotification(f *testing.F) {
	const (
		head = "<message from='pubsub.finesse.test' to='probe@finesse.test'><event xmlns='http://jabber.org/protocol/pubsub#event'>" +
			"<items node='/finesse/api/SystemInfo'><item id='1'>"
		tail = "</item></items></event></message>"
		info = "<SystemInfo><status>OUT_OF_SERVICE</status><statusReason>CTI</statusReason></SystemInfo>"
	)
	for _, s := range []string{
		head + "<notification xmlns='urn:xmpp:push:0'>\n" + xmltext.Escape("<Update>\n<data>"+info+"</data>\n<event>PUT</event>\n<requestId></requestId>\n<source>/finesse/api/SystemInfo</source>\n</Update>") + "\n</notification>" + tail,
		head + "<notification xmlns='http://jabber.org/protocol/pubsub'>" + xmltext.Escape("<Update><source>/s</source><event>put</event><data>"+info+"</data></Update>") + "</notification>" + tail,
		head + "<notification xmlns='urn:xmpp:push:0'><Update><event>POST</event><data>" + info + "</data></Update></notification>" + tail,
		head + "<notification><![CDATA[<Update><data>" + info + "</data></Update>]]></notification>" + tail,
		head + "<notification>&lt;Update&gt;&lt;data&gt;</notification>" + tail,
		head + "<notification>" + xmltext.Escape("<Update><data>"+info+"</data><data/></Update>") + "</notification>" + tail,
		head + "<notification>" + xmltext.Escape("<Update/><Update/>") + "</notification>" + tail,
		head + "<entry xmlns='http://www.w3.org/2005/Atom'>\u202enot Finesse</entry>" + tail,
		"<message><event xmlns='http://jabber.org/protocol/pubsub#event'><purge node='/p'/><items node='/n'/></event></message>",
		"<message><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='/n'><item/><item><a/><notification/></item></items></event></message>",
		"<message from='x'><body>hello</body></message>",
		"<message><event xmlns='http://jabber.org/protocol/pubsub#event'><items><item><notification>",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		notes, err := decodeFirst(data)
		if err != nil {
			return
		}
		for _, n := range notes {
			if strings.ContainsFunc(n.Raw, unicode.IsControl) || utf8.RuneCountInString(n.Raw) > rawMax {
				t.Errorf("Raw not sanitized or too long: %q", n.Raw)
			}
			if n.Data != nil && (len(n.Data) == 0 || len(bytes.TrimSpace(n.Data)) != len(n.Data)) {
				t.Errorf("Data %q is empty or untrimmed", n.Data)
			}
		}
	})
}
