package simulator

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/notifserver"
	"github.com/finessectl/finessectl/internal/xmltext"
)

// Node is one simulated Finesse server: HTTPS SystemInfo, the two
// Notification Service ports and its HTTPS port for WebSocket and BOSH, all
// on one IP address as on a real node (node 0 also on [::1]).
type Node struct {
	Host string // the node's FQDN, also its XMPP domain

	https, direct, starttls, bosh *port
	xmpp                          *notifserver.Server
	web, boshWeb                  *http.Server
	certs                         nodeCerts
	version                       string
	now                           func() time.Time

	mu        sync.Mutex
	behaviour Behaviour
	pair      []nodeAddr
}

// Indexes of a node's ports in nodeConfig.ports and portNumbers.
const (
	portHTTPS = iota
	portXMPP
	portXMPPSecure
	portBOSH
	numPorts
)

type nodeConfig struct {
	host      string
	ips       []string      // the node's own address first, then any other it also listens on
	ports     [numPorts]int // 0 picks a free port
	certs     nodeCerts
	version   string
	users     map[string]string
	latency   time.Duration // round trip
	now       func() time.Time
	behaviour Behaviour
	logf      func(format string, args ...any)
}

// finesseCurves are the key exchanges a node's TLS agrees to. Finesse's
// servers run on the Java of Cisco's platform, which (we infer; not
// observed) negotiates no post-quantum hybrid, and Go's default
// X25519MLKEM768 would make a simulated handshake dearer than a real one:
// about a fifth of the CPU of a check against a simulated node.
var finesseCurves = []tls.CurveID{tls.X25519, tls.CurveP256}

func startNode(cfg nodeConfig) (*Node, error) {
	n := &Node{Host: cfg.host, now: cfg.now, behaviour: cfg.behaviour, certs: cfg.certs, version: cfg.version}
	var ports []*port
	for _, num := range cfg.ports {
		addrs := make([]string, len(cfg.ips))
		for i, ip := range cfg.ips {
			addrs[i] = net.JoinHostPort(ip, strconv.Itoa(num))
		}
		p, err := newPort(addrs, cfg.latency/2)
		if err != nil {
			for _, open := range ports {
				open.close()
			}
			return nil, err
		}
		ports = append(ports, p)
	}
	n.https, n.starttls, n.direct, n.bosh = ports[portHTTPS], ports[portXMPP], ports[portXMPPSecure], ports[portBOSH]
	// Every TLS port asks for the certificate at each handshake, so that a
	// switch to or from cert-expired takes effect at the next connection.
	// Tomcat serves the HTTPS port (and 12.6's web proxy /ws/ on it), the
	// Notification Service its own ports: they share a certificate, but
	// each loads it when it starts.
	tomcat := &tls.Config{GetCertificate: n.certificate(false), CurvePreferences: finesseCurves}
	notification := &tls.Config{GetCertificate: n.certificate(true), CurvePreferences: finesseCurves}
	n.xmpp = notifserver.New(notifserver.Config{Domain: cfg.host, TLS: notification, Users: cfg.users, Logf: cfg.logf})
	// Serve ends with nil when the node closes its queues, the only way its
	// listener can fail.
	go func() { _ = n.xmpp.Serve(n.direct.out, true) }()
	go func() { _ = n.xmpp.Serve(n.starttls.out, false) }()
	ws := n.xmpp.WebSocketHandler()
	n.web = serveHTTPS(n.https, tomcat, n.webHandler(ws))
	n.boshWeb = serveHTTPS(n.bosh, notification, boshPortHandler(ws, n.xmpp.BOSHHandler()))
	if err := n.apply(cfg.behaviour, true); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

// serveHTTPS serves h over TLS on p. net/http closes every connection it
// owns through tls.Conn, which sends close_notify first: a client sees the
// response end, not a truncation.
func serveHTTPS(p *port, cfg *tls.Config, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: discardLog}
	// Finesse answers each request on its own; keep-alive would let a
	// client ride out a tomcat-down switch on an old connection.
	srv.SetKeepAlivesEnabled(false)
	go func() { _ = srv.Serve(tls.NewListener(p.out, cfg)) }()
	return srv
}

// certificate picks what Tomcat's port, or with notification the
// Notification Service's ports, present in the current scenario.
func (n *Node) certificate(notification bool) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		b := n.current()
		if b.ExpiredCertificate || notification && b.NotificationCertificateStale {
			return n.certs.expired()
		}
		return n.certs.valid, nil
	}
}

func (n *Node) current() Behaviour {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.behaviour
}

// webHandler is the HTTPS port: Finesse's REST API (SystemInfo) and, from
// 12.6, the web proxy's way to the Notification Service at /ws/.
func (n *Node) webHandler(ws http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == finesse.SystemInfoPath:
			n.serveSystemInfo(w)
		case under(r.URL.Path, finesse.WebSocketPath) && n.version != Version125:
			if status := n.current().WebProxyStatus; status != 0 {
				proxyError(w, status)
				return
			}
			ws.ServeHTTP(w, r)
		default:
			// A 12.5 node's Tomcat answers /ws/ like any unknown path.
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `<ApiErrors><ApiError><ErrorType>Not Found</ErrorType><ErrorData></ErrorData><ErrorMessage>`+xmltext.Escape(r.URL.Path)+`</ErrorMessage></ApiError></ApiErrors>`)
		}
	})
}

// boshPortHandler is port 7443, served by the Notification Service itself.
func boshPortHandler(ws, bosh http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case under(r.URL.Path, finesse.WebSocketPath):
			ws.ServeHTTP(w, r)
		case under(r.URL.Path, finesse.BOSHPath):
			bosh.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// under reports whether path is dir ("/ws/") or below it, or dir without its
// slash, which clients also use ("https://host:7443/http-bind").
func under(path, dir string) bool {
	return strings.HasPrefix(path, dir) || path == strings.TrimSuffix(dir, "/")
}

// proxyError is the web proxy's own error page, in the form nginx (which
// Cisco's web proxy runs) gives it.
func proxyError(w http.ResponseWriter, status int) {
	text := strconv.Itoa(status) + " " + http.StatusText(status)
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "<html>\r\n<head><title>"+text+"</title></head>\r\n<body>\r\n<center><h1>"+text+"</h1></center>\r\n</body>\r\n</html>\r\n")
}

func (n *Node) serveSystemInfo(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/xml")
	if n.current().HTTPStatus == http.StatusServiceUnavailable {
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
	return nodeAddr{host: n.Host, httpsPort: portOf(n.https.addr()), xmppPort: portOf(n.starttls.addr()), xmppSecurePort: portOf(n.direct.addr())}
}

func (n *Node) portNumbers() [numPorts]int {
	var nums [numPorts]int
	for i, p := range []*port{n.https, n.starttls, n.direct, n.bosh} {
		nums[i] = portOf(p.addr())
	}
	return nums
}

// Ports are the node's HTTPS, XMPP (STARTTLS) and XMPP secure (direct TLS) ports.
func (n *Node) Ports() (https, xmpp, xmppSecure int) {
	a := n.addr()
	return a.httpsPort, a.xmppPort, a.xmppSecurePort
}

// BOSHPort is the node's port for WebSocket and BOSH over HTTPS (Finesse's 7443).
func (n *Node) BOSHPort() int { return portOf(n.bosh.addr()) }

// Version is the Finesse version the node models, one of Versions.
func (n *Node) Version() string { return n.version }

// ListensOnIPv6 reports whether the node also serves its ports on [::1].
func (n *Node) ListensOnIPv6() bool { return len(n.https.addrs) > 1 }

// Scenario returns the node's current scenario.
func (n *Node) Scenario() Scenario { return n.current().Scenario }

// HTTPSAddr, DirectTLSAddr, StartTLSAddr and BOSHAddr are the node's
// listening addresses on its own IP.
func (n *Node) HTTPSAddr() string     { return n.https.addr() }
func (n *Node) DirectTLSAddr() string { return n.direct.addr() }
func (n *Node) StartTLSAddr() string  { return n.starttls.addr() }
func (n *Node) BOSHAddr() string      { return n.bosh.addr() }

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
	if b.ServesExpiredCertificate() {
		if n.certs.expired == nil {
			return fmt.Errorf("scenario %s: the node serves a given certificate, and the simulator has no CA to issue an expired one", b.Scenario)
		}
		// Issued now, so that no handshake meets a failure to issue it.
		if _, err := n.certs.expired(); err != nil {
			return fmt.Errorf("scenario %s: %w", b.Scenario, err)
		}
	}
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
	if err := n.bosh.set(b.BOSH); err != nil {
		return err
	}
	if b.XMPP == closed {
		n.xmpp.DropAll()
	}
	n.xmpp.SetSilent(b.XMPP == silent)
	n.xmpp.SetAuthReject(b.RejectAuth)
	n.xmpp.SetFinesse(b.FinesseAvailable, !b.RosterLacksFinesse)
	if !initial && prev.Status != b.Status {
		n.xmpp.PublishSystemInfo(n.systemInfo())
	}
	return nil
}

func (n *Node) close() {
	for _, p := range []*port{n.https, n.direct, n.starttls, n.bosh} {
		p.close()
	}
	_ = n.web.Close()
	_ = n.boshWeb.Close()
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
