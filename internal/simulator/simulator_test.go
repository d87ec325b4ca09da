package simulator

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

func startTest(t *testing.T, nodes int) *Cluster {
	t.Helper()
	c, err := Start(Config{Nodes: nodes, Users: map[string]string{"probe": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func fetch(t *testing.T, c *Cluster, n *Node) (*systeminfo.Info, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	client := &systeminfo.Client{TLS: &tls.Config{RootCAs: c.CA.Pool()}}
	resp, err := client.Fetch(ctx, &url.URL{Scheme: "https", Host: n.HTTPSAddr()})
	return resp.Info, err
}

// A pair names each other in SystemInfo, each with its own XMPP domain, as
// finesse.js expects when it looks for the alternate host.
func TestPairSystemInfo(t *testing.T) {
	c := startTest(t, 2)
	for i, n := range c.Nodes {
		info, err := fetch(t, c, n)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if info.Status != "IN_SERVICE" || info.XMPPDomain != n.Host || info.XMPPPubSubDomain != "pubsub."+n.Host {
			t.Errorf("node %d: %+v", i, info)
		}
		if info.PrimaryNode == nil || info.SecondaryNode == nil ||
			info.PrimaryNode.Host != c.Nodes[0].Host || info.SecondaryNode.Host != c.Nodes[1].Host {
			t.Fatalf("node %d: pair = %+v / %+v", i, info.PrimaryNode, info.SecondaryNode)
		}
		_, xmppPort, secure := n.Ports()
		if info.PrimaryNode.XMPPSecurePort != strconv.Itoa(secure) || info.PrimaryNode.XMPPPort != strconv.Itoa(xmppPort) {
			t.Errorf("node %d: ports in SystemInfo %+v, want %d/%d", i, info.PrimaryNode, xmppPort, secure)
		}
	}
	if c.Nodes[0].HTTPSAddr() == c.Nodes[1].HTTPSAddr() {
		t.Fatal("two nodes share an address")
	}
}

func TestScenarioPorts(t *testing.T) {
	c := startTest(t, 1)
	n := c.Nodes[0]
	dial := func(addr string) error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := c.SetScenario(0, TomcatDown); err != nil {
		t.Fatal(err)
	}
	if err := dial(n.HTTPSAddr()); err == nil {
		t.Error("tomcat-down: HTTPS port still accepts")
	}
	if err := dial(n.DirectTLSAddr()); err != nil {
		t.Errorf("tomcat-down: XMPP port refuses: %v", err)
	}
	if err := c.SetScenario(-1, NotificationDown); err != nil {
		t.Fatal(err)
	}
	if dial(n.DirectTLSAddr()) == nil || dial(n.StartTLSAddr()) == nil {
		t.Error("notification-down: an XMPP port still accepts")
	}
	if _, err := fetch(t, c, n); err != nil {
		t.Errorf("notification-down: SystemInfo should still answer: %v", err)
	}
	if err := c.SetScenario(0, OutOfService); err != nil {
		t.Fatal(err)
	}
	_, err := fetch(t, c, n)
	var nis *systeminfo.NotInServiceError
	if !errors.As(err, &nis) || nis.HTTPStatus != 503 || nis.Reason != "SERVER_OUT_OF_SERVICE" {
		t.Fatalf("out-of-service: %v", err)
	}
	if err := c.SetScenario(5, Healthy); err == nil {
		t.Error("switching a node that does not exist succeeded")
	}
}

// A connected client sees the timeline's presence changes in the order scheduled.
func TestTimelineObservedByConnectedClient(t *testing.T) {
	c := startTest(t, 1)
	n := c.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := xmppprobe.New(xmppprobe.Config{Addr: n.DirectTLSAddr(), Domain: n.Host, TLS: &tls.Config{RootCAs: c.CA.Pool(), ServerName: "127.0.0.1"}})
	defer s.Close()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Login(ctx, "probe", "pw", "timeline"); err != nil {
		t.Fatal(err)
	}
	// The answer to the initial presence first, so that every later change
	// is a push, however slowly the server gets to the login.
	if p, err := s.AwaitPresence(ctx, "finesse@"+n.Host); err != nil || !p.Available {
		t.Fatalf("initial presence %+v, %v", p, err)
	}
	steps, err := ParseTimeline("webapp-down@20ms,healthy@60ms,finesse-disconnected@100ms,healthy@140ms")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = RunTimeline(ctx, steps, func(st Step) error { return c.SetScenario(st.Node, st.Scenario) }, time.After)
	}()
	seen := []string{"available"}
	for len(seen) < 5 {
		p, err := s.AwaitPresence(ctx, "finesse@"+n.Host)
		if err != nil {
			t.Fatalf("after %v: %v", seen, err)
		}
		seen = append(seen, map[bool]string{true: "available", false: "unavailable"}[p.Available])
	}
	if got := strings.Join(seen, ","); got != "available,unavailable,available,unavailable,available" {
		t.Fatalf("presence sequence %s", got)
	}
}

func TestControlAPI(t *testing.T) {
	c := startTest(t, 2)
	h, token := ControlHandler(c)
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(query string) (int, string) {
		resp, err := http.Post(srv.URL+"/scenario?token="+token+"&"+query, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("name=auth-reject&node=1"); code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	if c.Nodes[0].Scenario() != Healthy || c.Nodes[1].Scenario() != AuthReject {
		t.Fatalf("scenarios %s %s", c.Nodes[0].Scenario(), c.Nodes[1].Scenario())
	}
	for _, q := range []string{"name=sunny", "name=healthy&node=7", "name=healthy&node=x"} {
		if code, _ := post(q); code != http.StatusBadRequest {
			t.Errorf("POST %s: %d, want 400", q, code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := xmppprobe.New(xmppprobe.Config{Addr: c.Nodes[0].DirectTLSAddr(), Domain: c.Nodes[0].Host, TLS: &tls.Config{RootCAs: c.CA.Pool(), ServerName: "127.0.0.1"}})
	defer s.Close()
	if err := s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/scenario?token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Nodes []nodeStatus }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || len(st.Nodes) != 2 || st.Nodes[1].Scenario != "auth-reject" ||
		st.Nodes[0].XMPPSessions != 1 || st.Nodes[1].XMPPSessions != 0 {
		t.Fatalf("GET: %+v %v", st, err)
	}
}
