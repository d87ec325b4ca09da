package xmppprobe

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"gosrc.io/xmpp/stanza"

	"github.com/finessectl/finessectl/internal/textsafe"
	"github.com/finessectl/finessectl/internal/xmltext"
)

// Notification is a pubsub notification Finesse pushed. Node, Source and
// Event are the server's text, not sanitized.
type Notification struct {
	Node   string // the pubsub node, e.g. /finesse/api/SystemInfo
	Source string // the Update's <source>
	Event  string // the Update's <event> as sent (PUT, put, POST, DELETE)
	// Data is the XML inside the Update's <data>, e.g. <SystemInfo>…</SystemInfo>;
	// nil when absent or when the Update could not be decoded.
	Data []byte
	// Raw is the unescaped Update, or what the event carried instead of one,
	// sanitized and cut to rawMax characters: for logging notifications that
	// are not understood.
	Raw string
}

// LiveEvent is one thing a live session saw; exactly one field is set.
type LiveEvent struct {
	Presence     *Presence     // a presence of ListenConfig.WatchJID (Available false for type='unavailable')
	Notification *Notification // a pubsub event message (any node)
}

// ListenConfig says what Listen reports and how it keeps the stream alive.
type ListenConfig struct {
	WatchJID string // bare JID whose presences are reported (e.g. finesse@domain)
	// PingInterval is how often a XEP-0199 ping goes to the server; 10 s when
	// zero, the desktop's interval.
	PingInterval time.Duration
	// PingTimeout: the stream is dead when nothing at all arrives for
	// PingInterval+PingTimeout. A write that takes longer fails too.
	// PingInterval when zero.
	PingTimeout time.Duration
}

const (
	defaultPingInterval = 10 * time.Second
	// rawMax caps Notification.Raw: enough to recognize a document, short
	// enough for one log line.
	rawMax = 300
)

// Listen reads the stream of a logged-in session, as an agent desktop stays
// connected, until ctx ends (it returns ctx.Err()) or the connection is lost:
// it returns a *PhaseError of PhaseLive around ErrStreamClosed, a
// *StreamError (system-shutdown, conflict ...), an error wrapping io.EOF,
// ErrPingTimeout, ErrTooMuchData, or a read or write error (one wrapping
// net.ErrClosed when Close was called meanwhile).
//
// handle is called from Listen's goroutine, in stream order, with presences
// of cfg.WatchJID and every pubsub notification; other stanzas are read
// past. Pings and roster pushes from the server are answered as
// AwaitPresence does. Listen pings the server every cfg.PingInterval, from a
// goroutine that has ended when Listen returns.
//
// MaxBytes applies to each stanza rather than to the session, which may last
// for weeks. Once Listen has returned, the session can only be closed.
func (s *Session) Listen(ctx context.Context, cfg ListenConfig, handle func(LiveEvent)) error {
	switch {
	case !s.streamOpen():
		return errNoStream
	case s.facts.JID == "":
		return errNotLoggedIn
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = defaultPingInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = cfg.PingInterval
	}
	// lctx ends with ctx, when the reader returns, or when a ping cannot be
	// written (its cause); either way watch cuts the socket.
	lctx, cancel := context.WithCancelCause(ctx)
	release := s.watch(lctx)
	pinging := make(chan struct{})
	go func() {
		defer close(pinging)
		if err := s.ping(lctx, cfg); err != nil {
			cancel(err)
		}
	}()

	err := s.readLive(lctx, cfg, handle)
	var re *readError
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case lctx.Err() != nil:
		err = &PhaseError{Phase: PhaseLive, Err: context.Cause(lctx)}
	case errors.As(err, &re) && timedOut(err):
		err = &PhaseError{Phase: PhaseLive, Err: ErrPingTimeout}
	default:
		err = &PhaseError{Phase: PhaseLive, Err: err}
	}
	cancel(nil)
	<-pinging
	release()
	return err
}

func (s *Session) readLive(ctx context.Context, cfg ListenConfig, handle func(LiveEvent)) error {
	want := bareJID(cfg.WatchJID)
	for {
		_ = s.raw.SetReadDeadline(time.Now().Add(cfg.PingInterval + cfg.PingTimeout))
		// A cut made just before the push above would be undone by it.
		if err := ctx.Err(); err != nil {
			return err
		}
		// What is already buffered belongs to the stanzas to come, so it
		// counts against their allowance.
		s.limit.left = s.cfg.MaxBytes - int64(s.reader.Buffered())
		events, err := s.nextLive(ctx, want, cfg.PingTimeout)
		if err != nil {
			return err
		}
		for _, e := range events {
			handle(e)
		}
	}
}

// nextLive reads one top-level element and returns what Listen reports of
// it, answering the server's requests. It decodes the element itself rather
// than through stanza.NextPacket, whose pubsub event keeps one child of an
// item and loses the raw XML a notification's <data> is wanted as.
func (s *Session) nextLive(ctx context.Context, want string, writeTimeout time.Duration) ([]LiveEvent, error) {
	se, err := s.nextStart()
	if err != nil {
		return nil, err
	}
	switch se.Name {
	case xml.Name{Space: stanza.NSClient, Local: "message"}:
		notes, err := decodeMessage(s.dec, &se)
		if err != nil {
			return nil, s.readErr(err)
		}
		events := make([]LiveEvent, len(notes))
		for i := range notes {
			events[i].Notification = &notes[i]
		}
		return events, nil
	case xml.Name{Space: stanza.NSClient, Local: "presence"}:
		var p stanza.Presence
		if err := s.dec.DecodeElement(&p, &se); err != nil {
			return nil, s.readErr(err)
		}
		if pres, ok := s.presenceOf(p, want); ok {
			return []LiveEvent{{Presence: &pres}}, nil
		}
	case xml.Name{Space: stanza.NSClient, Local: "iq"}:
		var iq stanza.IQ
		if err := s.dec.DecodeElement(&iq, &se); err != nil {
			return nil, s.readErr(err)
		}
		if reply := s.onIQ(&iq); reply != "" {
			return nil, s.sendLive(ctx, writeTimeout, reply)
		}
	case xml.Name{Space: stanza.NSStream, Local: "error"}:
		return nil, s.streamError(se)
	default:
		return nil, s.readErr(s.dec.Skip())
	}
	return nil, nil
}

// ping sends a XEP-0199 ping every cfg.PingInterval until ctx ends, and
// returns the error of a ping that could not be written.
func (s *Session) ping(ctx context.Context, cfg ListenConfig) error {
	t := time.NewTicker(cfg.PingInterval)
	defer t.Stop()
	to := xmltext.Escape(s.cfg.Domain)
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := s.sendLive(ctx, cfg.PingTimeout, "<iq type='get' id='ping-"+strconv.Itoa(n)+"' to='"+to+"'><ping xmlns='urn:xmpp:ping'/></iq>")
		if err != nil {
			return fmt.Errorf("sending a ping: %w", err)
		}
	}
}

// sendLive writes data within timeout, unless ctx has ended or the session
// is closed. Whoever cuts the socket (the end of ctx, Close) says so first,
// and the check comes after the deadline is pushed forward, so that no cut
// is undone by the push.
func (s *Session) sendLive(ctx context.Context, timeout time.Duration, data string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.raw.SetWriteDeadline(time.Now().Add(timeout))
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return net.ErrClosed
	}
	return s.sendLocked(data)
}

// eventMessage is what Listen decodes of a <message>: its pubsub events.
type eventMessage struct {
	Events []pubsubEvent `xml:"http://jabber.org/protocol/pubsub#event event"`
}

type pubsubEvent struct {
	Inner    []byte `xml:",innerxml"` // for Raw, when no Update is found
	Children []struct {
		XMLName xml.Name // items, or purge, delete ... which carry no Update
		Node    string   `xml:"node,attr"`
		Items   []struct {
			Payloads []struct {
				XMLName xml.Name
				Text    string `xml:",chardata"` // the escaped form, unescaped
				Inner   []byte `xml:",innerxml"` // the form with child elements
			} `xml:",any"`
		} `xml:"item"`
	} `xml:",any"`
}

// decodeMessage reads the rest of the <message> that se starts and returns
// one Notification for each item of its pubsub events, and one for any other
// child of an event. A message that is no pubsub event yields none. Only a
// message that is not well-formed XML is an error: the stream cannot go on.
func decodeMessage(d *xml.Decoder, se *xml.StartElement) ([]Notification, error) {
	// The stream's decoder gives tokens, not bytes, and an innerxml field
	// needs bytes: the message is encoded again and decoded from those.
	doc, err := xmltext.Reencode(d, *se)
	if err != nil {
		return nil, err
	}
	var m eventMessage
	if err := xml.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	var notes []Notification
	for _, ev := range m.Events {
		other := textsafe.Line(string(ev.Inner), rawMax)
		for _, c := range ev.Children {
			if c.XMLName.Local != "items" || len(c.Items) == 0 {
				notes = append(notes, Notification{Node: c.Node, Raw: other})
				continue
			}
			for _, it := range c.Items {
				n := Notification{Node: c.Node, Raw: other}
				for _, p := range it.Payloads {
					// Finesse 12.5 uses urn:xmpp:push:0, the 11.0 sample
					// http://jabber.org/protocol/pubsub: the name decides.
					if p.XMLName.Local == "notification" {
						n = notification(c.Node, p.Text, p.Inner)
						break
					}
				}
				notes = append(notes, n)
			}
		}
	}
	return notes, nil
}

// notification decodes the Update of a <notification>: XML-escaped text, as
// Finesse sends it, or child elements.
func notification(node, text string, inner []byte) Notification {
	doc := bytes.TrimSpace([]byte(text))
	if len(doc) == 0 {
		doc = bytes.TrimSpace(inner)
	}
	n := Notification{Node: node, Raw: textsafe.Line(string(doc), rawMax)}
	if u, err := parseUpdate(doc); err == nil {
		n.Source, n.Event, n.Data = u.source, u.event, u.data
	}
	return n
}

type update struct {
	source, event string
	data          []byte
}

// parseUpdate parses an <Update>. Its children may come in any order and
// their names in any case. One given twice makes the Update unusable, as a
// second <data> could hide an OUT_OF_SERVICE behind an IN_SERVICE.
func parseUpdate(doc []byte) (update, error) {
	// Decoded from bytes for its innerxml, so held to the stream's depth
	// limit first: the document is text of the stanza, which the stream's
	// limit did not see nested.
	if err := xmltext.CheckDepth(doc); err != nil {
		return update{}, err
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	root, err := nextElement(d)
	if err != nil {
		return update{}, err
	}
	if !strings.EqualFold(root.Name.Local, "Update") {
		return update{}, errors.New("not an <Update>")
	}
	var fields struct {
		Children []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
			Inner   []byte `xml:",innerxml"`
		} `xml:",any"`
	}
	if err := d.DecodeElement(&fields, &root); err != nil {
		return update{}, err
	}
	// A second Update would contradict the first.
	if _, err := nextElement(d); err != io.EOF {
		return update{}, errors.New("more than the <Update> in the notification")
	}
	var u update
	seen := map[string]bool{}
	for _, c := range fields.Children {
		name := strings.ToLower(c.XMLName.Local)
		var err error
		switch name {
		case "source":
			u.source, err = strings.TrimSpace(c.Text), once(seen, name)
		case "event":
			u.event, err = strings.TrimSpace(c.Text), once(seen, name)
		case "data":
			u.data, err = bytes.TrimSpace(c.Inner), once(seen, name)
		}
		if err != nil {
			return update{}, err
		}
	}
	if len(u.data) == 0 {
		u.data = nil
	}
	return u, nil
}

func once(seen map[string]bool, name string) error {
	if seen[name] {
		return errors.New("<" + name + "> given twice")
	}
	seen[name] = true
	return nil
}

// nextElement returns the next element at the decoder's depth, allowing
// only whitespace and markup that is neither element nor text before it. It
// returns io.EOF at the end of the document.
func nextElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, errors.New("text outside the <Update>")
			}
		}
	}
}

// timedOut tells a read that hit its deadline by asking the error, not by
// looking for os.ErrDeadlineExceeded: gorilla/websocket hands such an error
// on as one of its own, which says Timeout but no longer wraps it.
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
