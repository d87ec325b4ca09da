package simulator

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/notifserver"
)

// Node is one simulated Finesse server: HTTPS SystemInfo and the two
// Notification Service ports, all on one IP address as on a real node.
type Node struct {
	Host string // the node's FQDN, also its XMPP domain

	https, direct, starttls *port
	xmpp                    *notifserver.Server
	web                     *http.Server
	now                     func() time.Time

	mu        sync.Mutex
	behaviour Behaviour
	pair      []nodeAddr
}

type nodeConfig struct {
	host      string
	ip        string
	ports     [3]int // https, xmpp (STARTTLS), xmpp secure (direct TLS); 0 picks a free port
	tls       *tls.Config
	users     map[string]string
	latency   time.Duration
	now       func() time.Time
	behaviour Behaviour
	logf      func(format string, args ...any)
}

func startNode(cfg nodeConfig) (*Node, error) {
	n := &Node{Host: cfg.host, now: cfg.now, behaviour: cfg.behaviour}
	addr := func(p int) string { return net.JoinHostPort(cfg.ip, strconv.Itoa(p)) }
	var err error
	if n.https, err = newPort(addr(cfg.ports[0]), cfg.latency); err != nil {
		return nil, err
	}
	if n.starttls, err = newPort(addr(cfg.ports[1]), cfg.latency); err != nil {
		n.https.close()
		return nil, err
	}
	if n.direct, err = newPort(addr(cfg.ports[2]), cfg.latency); err != nil {
		n.https.close()
		n.starttls.close()
		return nil, err
	}
	n.xmpp = notifserver.New(notifserver.Config{Domain: cfg.host, TLS: cfg.tls, Users: cfg.users, Logf: cfg.logf})
	// Serve ends with nil when the node closes its queues, the only way its
	// listener can fail.
	go func() { _ = n.xmpp.Serve(n.direct.out, true) }()
	go func() { _ = n.xmpp.Serve(n.starttls.out, false) }()

	n.web = &http.Server{Handler: http.HandlerFunc(n.serveHTTP), ReadHeaderTimeout: 10 * time.Second, ErrorLog: discardLog}
	// Finesse answers each request on its own; keep-alive would let a
	// client ride out a tomcat-down switch on an old connection.
	n.web.SetKeepAlivesEnabled(false)
	go func() { _ = n.web.Serve(tls.NewListener(n.https.out, cfg.tls)) }()
	return n, n.apply(cfg.behaviour, true)
}

func (n *Node) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != finesse.SystemInfoPath {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `<ApiErrors><ApiError><ErrorType>Not Found</ErrorType><ErrorData></ErrorData><ErrorMessage>`+esc(r.URL.Path)+`</ErrorMessage></ApiError></ApiErrors>`)
		return
	}
	n.mu.Lock()
	b := n.behaviour
	n.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	if b.HTTPStatus == http.StatusServiceUnavailable {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, outOfServiceXML)
		return
	}
	_, _ = io.WriteString(w, n.systemInfo())
}

func (n *Node) systemInfo() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return systemInfoXML(n.addr(), n.pair, n.behaviour, n.now())
}

// addr describes this node as SystemInfo names it.
func (n *Node) addr() nodeAddr {
	return nodeAddr{host: n.Host, httpsPort: portOf(n.https.addr), xmppPort: portOf(n.starttls.addr), xmppSecurePort: portOf(n.direct.addr)}
}

// Ports are the node's HTTPS, XMPP (STARTTLS) and XMPP secure (direct TLS) ports.
func (n *Node) Ports() (https, xmpp, xmppSecure int) {
	a := n.addr()
	return a.httpsPort, a.xmppPort, a.xmppSecurePort
}

// Scenario returns the node's current scenario.
func (n *Node) Scenario() Scenario {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.behaviour.Scenario
}

// HTTPSAddr, DirectTLSAddr and StartTLSAddr are the node's listening addresses.
func (n *Node) HTTPSAddr() string     { return n.https.addr }
func (n *Node) DirectTLSAddr() string { return n.direct.addr }
func (n *Node) StartTLSAddr() string  { return n.starttls.addr }

// Sessions is the number of live Notification Service sessions, so that a
// test sees a client leave.
func (n *Node) Sessions() int { return n.xmpp.Sessions() }

// SetScenario switches the node, telling connected clients what a real node
// would tell them: a SystemInfo notification when the status changes, and the
// 'finesse' user's presence when it changes.
func (n *Node) SetScenario(s Scenario) error {
	b, err := Lookup(string(s))
	if err != nil {
		return err
	}
	return n.apply(b, false)
}

func (n *Node) apply(b Behaviour, initial bool) error {
	n.mu.Lock()
	prev := n.behaviour
	n.behaviour = b
	n.mu.Unlock()

	for _, p := range []*port{n.direct, n.starttls} {
		if err := p.set(b.XMPP); err != nil {
			return err
		}
	}
	if err := n.https.set(b.HTTPS); err != nil {
		return err
	}
	if b.XMPP == closed {
		n.xmpp.DropAll()
	}
	n.xmpp.SetSilent(b.XMPP == silent)
	n.xmpp.SetAuthReject(b.RejectAuth)
	if initial || prev.FinesseAvailable != b.FinesseAvailable {
		n.xmpp.SetFinesseAvailable(b.FinesseAvailable)
	}
	if !initial && prev.Status != b.Status {
		n.xmpp.PublishSystemInfo(n.systemInfo())
	}
	return nil
}

func (n *Node) close() {
	for _, p := range []*port{n.https, n.direct, n.starttls} {
		p.close()
	}
	_ = n.web.Close()
	_ = n.xmpp.Close()
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// discardLog silences net/http's log of failed TLS handshakes, which every
// check with a wrong CA produces on purpose.
var discardLog = log.New(io.Discard, "", 0)
