package simulator

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
)

// Outcomes of an HTTP request that are not a status code.
const (
	refused = -1 // the port refuses connections
	noReply = -2 // the port accepts and never answers
)

type httpRequest int

const (
	plainGET   httpRequest = iota
	wsUpgrade              // an RFC 7395 WebSocket handshake, subprotocol xmpp
	boshCreate             // an XEP-0124 session creation request
)

// request sends req to https://addr/path and returns the status code, or
// refused or noReply. A WebSocket upgrade counts only when the server agrees
// to the xmpp subprotocol, and a BOSH 200 only when it carries a session ID.
func request(t *testing.T, c *Cluster, n *Node, addr, path string, req httpRequest) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	method, body := http.MethodGet, ""
	if req == boshCreate {
		method = http.MethodPost
		body = `<body content='text/xml; charset=utf-8' hold='1' rid='1573741820' to='` + n.Host +
			`' ver='1.6' wait='60' xml:lang='en' xmpp:version='1.0' xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'/>`
	}
	r, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch req {
	case wsUpgrade:
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		r.Header.Set("Sec-WebSocket-Protocol", finesse.WebSocketSubprotocol)
	case boshCreate:
		r.Header.Set("Content-Type", "text/xml; charset=utf-8")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CA.Pool(), ServerName: n.Host}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(r)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return refused
	case errors.Is(err, context.DeadlineExceeded):
		return noReply
	case err != nil:
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The body is the WebSocket itself, which stays open until the
		// client speaks: the handshake is all this test wants.
		if resp.Header.Get("Sec-WebSocket-Protocol") != finesse.WebSocketSubprotocol {
			t.Errorf("WebSocket upgrade without the xmpp subprotocol: %v", resp.Header)
		}
		return resp.StatusCode
	}
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if req == boshCreate && resp.StatusCode == http.StatusOK && !strings.Contains(string(got), "sid=") {
		t.Errorf("BOSH session creation answered without a session ID: %s", got)
	}
	return resp.StatusCode
}

// Where a desktop reaches the Notification Service over HTTPS, by Finesse
// version and scenario: 7443 is the Notification Service's own port, /ws/
// on the HTTPS port goes through 12.6's web proxy.
func TestWebSocketAndBOSHPorts(t *testing.T) {
	const ws, bosh = finesse.WebSocketPath, finesse.BOSHPath
	const onHTTPS, on7443 = false, true
	tests := []struct {
		version  string
		scenario Scenario
		on7443   bool
		path     string
		req      httpRequest
		want     int
	}{
		{Version126, Healthy, onHTTPS, ws, wsUpgrade, http.StatusSwitchingProtocols},
		{Version126, Healthy, on7443, ws, wsUpgrade, http.StatusSwitchingProtocols},
		{Version126, Healthy, on7443, "/ws", wsUpgrade, http.StatusSwitchingProtocols},
		{Version126, Healthy, on7443, bosh, boshCreate, http.StatusOK},
		{Version126, Healthy, on7443, "/http-bind", boshCreate, http.StatusOK},
		{Version126, Healthy, on7443, finesse.SystemInfoPath, plainGET, http.StatusNotFound},
		{Version126, Healthy, onHTTPS, bosh, boshCreate, http.StatusNotFound},
		{Version125, Healthy, onHTTPS, ws, wsUpgrade, http.StatusNotFound},
		{Version125, Healthy, onHTTPS, finesse.SystemInfoPath, plainGET, http.StatusOK},
		{Version125, Healthy, on7443, ws, wsUpgrade, http.StatusSwitchingProtocols},
		{Version125, Healthy, on7443, bosh, boshCreate, http.StatusOK},
		{Version126, NotificationDown, onHTTPS, ws, wsUpgrade, http.StatusBadGateway},
		{Version126, NotificationDown, onHTTPS, finesse.SystemInfoPath, plainGET, http.StatusOK},
		{Version126, NotificationDown, on7443, ws, wsUpgrade, refused},
		{Version125, NotificationDown, onHTTPS, ws, wsUpgrade, http.StatusNotFound},
		{Version126, TomcatDown, onHTTPS, ws, wsUpgrade, refused},
		{Version126, TomcatDown, on7443, ws, wsUpgrade, http.StatusSwitchingProtocols},
		{Version126, TomcatDown, on7443, bosh, boshCreate, http.StatusOK},
		{Version126, NetworkLoss, on7443, bosh, boshCreate, noReply},
		{Version126, NetworkLoss, onHTTPS, ws, wsUpgrade, noReply},
		{Version126, Healthy, on7443, bosh, boshCreate, http.StatusOK}, // back from network-loss
	}
	clusters := map[string]*Cluster{}
	for _, v := range Versions {
		c, err := Start(Config{Nodes: 1, Version: v, Users: map[string]string{"probe": "pw"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clusters[v] = c
	}
	for _, tt := range tests {
		port := "https"
		if tt.on7443 {
			port = "7443"
		}
		t.Run(tt.version+"/"+string(tt.scenario)+"/"+port+tt.path, func(t *testing.T) {
			c := clusters[tt.version]
			n := c.Nodes[0]
			if err := n.SetScenario(tt.scenario); err != nil {
				t.Fatal(err)
			}
			addr := n.HTTPSAddr()
			if tt.on7443 {
				addr = n.BOSHAddr()
			}
			if got := request(t, c, n, addr, tt.path, tt.req); got != tt.want {
				t.Errorf("%d, want %d", got, tt.want)
			}
		})
	}
}

// The BOSH port follows the node's ports: the first node's number, reused by
// the second on its own address, and named by BOSHAddr and BOSHPort alike.
func TestBOSHPortSharedByNodes(t *testing.T) {
	c := startTest(t, 2)
	a, b := c.Nodes[0], c.Nodes[1]
	if a.BOSHPort() == 0 || a.BOSHPort() != b.BOSHPort() || portOf(b.BOSHAddr()) != b.BOSHPort() {
		t.Fatalf("BOSH ports %d (%s) and %d (%s)", a.BOSHPort(), a.BOSHAddr(), b.BOSHPort(), b.BOSHAddr())
	}
	if host, _, _ := net.SplitHostPort(b.BOSHAddr()); host != "127.0.0.2" {
		t.Errorf("node 1's BOSH port on %s, want its own address", b.BOSHAddr())
	}
	if _, err := Start(Config{Nodes: 1, Version: "12.0"}); err == nil {
		t.Error("Finesse version 12.0 accepted")
	}
}
