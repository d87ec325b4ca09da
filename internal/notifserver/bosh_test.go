package notifserver

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
)

const boshCreate = "<body content='text/xml; charset=utf-8' hold='1' rid='1573741820' to='" + testDomain +
	"' ver='1.6' wait='60' xml:lang='en' xmpp:version='1.0' xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>"

// boshReply is what the tests read of the server's <body/>.
type boshReply struct {
	XMLName     xml.Name `xml:"http://jabber.org/protocol/httpbind body"`
	SID         string   `xml:"sid,attr"`
	Type        string   `xml:"type,attr"`
	Condition   string   `xml:"condition,attr"`
	From        string   `xml:"from,attr"`
	Wait        string   `xml:"wait,attr"`
	Inactivity  string   `xml:"inactivity,attr"`
	XMPPVersion string   `xml:"urn:xmpp:xbosh version,attr"`
	Mechanisms  []string `xml:"features>mechanisms>mechanism"`
}

type boshClient struct {
	t    *testing.T
	url  string
	http *http.Client
}

func (e *testEnv) boshClient(t *testing.T) *boshClient {
	t.Helper()
	return &boshClient{t: t, url: "https://" + e.startHTTPS(t) + finesse.BOSHPath,
		http: &http.Client{Transport: &http.Transport{TLSClientConfig: e.client.Clone()}, Timeout: ioWait}}
}

// post sends body and returns the status and, for a 200, the reply.
func (c *boshClient) post(body string) (int, boshReply) {
	c.t.Helper()
	resp, err := c.http.Post(c.url, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		c.t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading the reply: %v", err)
	}
	var reply boshReply
	if resp.StatusCode == http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
			c.t.Errorf("Content-Type %q, want text/xml; charset=utf-8", ct)
		}
		if err := xml.Unmarshal(raw, &reply); err != nil {
			c.t.Fatalf("reply %q: %v", raw, err)
		}
	}
	return resp.StatusCode, reply
}

func (c *boshClient) create() string {
	c.t.Helper()
	status, reply := c.post(boshCreate)
	if status != http.StatusOK || reply.SID == "" || reply.Type != "" {
		c.t.Fatalf("session creation: %d %+v, want a sid", status, reply)
	}
	return reply.SID
}

func terminate(sid string) string {
	return "<body rid='1573741821' sid='" + sid + "' type='terminate' xmlns='http://jabber.org/protocol/httpbind'>" +
		"<presence type='unavailable' xmlns='jabber:client'/></body>"
}

func TestBOSHCreateAndTerminate(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.boshClient(t)
	status, reply := c.post(boshCreate)
	if status != http.StatusOK || reply.SID == "" || reply.From != testDomain || reply.Wait != "60" ||
		reply.Inactivity != "30" || reply.XMPPVersion != "1.0" {
		t.Fatalf("creation: %d %+v", status, reply)
	}
	if len(reply.Mechanisms) != 1 || reply.Mechanisms[0] != "PLAIN" {
		t.Errorf("mechanisms %v, want [PLAIN]", reply.Mechanisms)
	}
	if other := c.create(); other == reply.SID {
		t.Errorf("two sessions got the same sid %s", other)
	}
	if n := e.srv.bosh.count(); n != 2 {
		t.Errorf("%d BOSH sessions, want 2", n)
	}
	if n := e.srv.Sessions(); n != 0 {
		t.Errorf("Sessions() = %d, want 0: BOSH sessions are not connections", n)
	}

	sid := reply.SID
	status, reply = c.post(terminate(sid))
	if status != http.StatusOK || reply.Type != "terminate" || reply.Condition != "" {
		t.Fatalf("terminate: %d %+v, want type terminate without condition", status, reply)
	}
	if n := e.srv.bosh.count(); n != 1 {
		t.Errorf("%d BOSH sessions after terminate, want 1", n)
	}
}

func TestBOSHRequests(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.boshClient(t)
	live := c.create()
	gone := c.create()
	c.post(terminate(gone))

	tests := []struct {
		name, body        string
		status            int
		typ, condition    string
		sessionsRemaining int
	}{
		{"terminated sid", terminate(gone), http.StatusNotFound, "", "", 1},
		{"unknown sid", terminate("0123456789abcdef"), http.StatusNotFound, "", "", 1},
		{"wrong domain", strings.Replace(boshCreate, testDomain, "other.example", 1), http.StatusOK, "terminate", "host-unknown", 1},
		{"no rid", strings.Replace(boshCreate, "rid='1573741820'", "", 1), http.StatusBadRequest, "", "", 1},
		{"not XML", "<body", http.StatusBadRequest, "", "", 1},
		{"not a BOSH body", "<iq xmlns='jabber:client'/>", http.StatusBadRequest, "", "", 1},
		{"too big", "<body xmlns='http://jabber.org/protocol/httpbind'>" + strings.Repeat(" ", 64<<10) + "</body>",
			http.StatusRequestEntityTooLarge, "", "", 1},
		{"empty poll", "<body rid='2' sid='" + live + "' xmlns='http://jabber.org/protocol/httpbind'/>", http.StatusOK, "", "", 1},
		{"login attempt", "<body rid='3' sid='" + live + "' xmlns='http://jabber.org/protocol/httpbind'>" + authPayload(testUser, testPassword) +
			"</body>", http.StatusOK, "terminate", "undefined-condition", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			status, reply := c.post(tt.body)
			if status != tt.status || reply.Type != tt.typ || reply.Condition != tt.condition {
				t.Errorf("%d %+v, want %d type=%q condition=%q", status, reply, tt.status, tt.typ, tt.condition)
			}
			if n := e.srv.bosh.count(); n != tt.sessionsRemaining {
				t.Errorf("%d BOSH sessions left, want %d", n, tt.sessionsRemaining)
			}
		})
	}

	t.Run("GET", func(t *testing.T) {
		resp, err := c.http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("GET: %d, Allow %q; want 405, Allow POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

func TestBOSHSessionsAreBounded(t *testing.T) {
	e := newEnv(t, Config{})
	e.srv.bosh.max = 3
	e.srv.bosh.inactivity = 200 * time.Millisecond
	c := e.boshClient(t)
	for range 3 {
		c.create()
	}
	if status, _ := c.post(boshCreate); status != http.StatusServiceUnavailable {
		t.Fatalf("creation beyond the bound: %d, want 503", status)
	}
	// Idle sessions are forgotten, which makes room.
	time.Sleep(300 * time.Millisecond)
	sid := c.create()
	if n := e.srv.bosh.count(); n != 1 {
		t.Errorf("%d BOSH sessions after the others went idle, want 1", n)
	}

	e.srv.DropAll()
	if status, _ := c.post(terminate(sid)); status != http.StatusNotFound {
		t.Errorf("terminate after DropAll: %d, want 404", status)
	}
}

func TestBOSHSilent(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.boshClient(t)
	e.srv.SetSilent(true)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(boshCreate))
	if resp, err := c.http.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("request while silent: %v, want it to hang", err)
	}

	// A request held when the network comes back loses its connection.
	held := make(chan error, 1)
	go func() {
		resp, err := c.http.Post(c.url, "text/xml", strings.NewReader(boshCreate))
		if err == nil {
			resp.Body.Close()
		}
		held <- err
	}()
	time.Sleep(100 * time.Millisecond)
	e.srv.SetSilent(false)
	select {
	case err := <-held:
		if err == nil {
			t.Error("held request got an answer, want its connection dropped")
		}
	case <-time.After(ioWait):
		t.Fatal("held request still hanging after SetSilent(false)")
	}
	c.create()
}

func TestBOSHAfterClose(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.boshClient(t)
	sid := c.create()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if status, _ := c.post(terminate(sid)); status != http.StatusServiceUnavailable {
		t.Errorf("request after Close: %d, want 503", status)
	}
}
