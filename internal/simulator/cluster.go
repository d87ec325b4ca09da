package simulator

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/pki"
)

// Finesse's own ports, the simulator's defaults.
const (
	DefaultHTTPSPort      = finesse.HTTPSPort
	DefaultXMPPPort       = finesse.XMPPPort
	DefaultXMPPSecurePort = finesse.XMPPSecurePort
	DefaultBOSHPort       = finesse.BOSHPort
	DefaultProbeUser      = "1080001" // an agent ID, as UCCE XMPP users are
	DefaultProbePassword  = "simulator-only-password"
	nodeNamePattern       = "finesse-%s.example.test"
	// certificateLifetime is the longest a public CA may issue (397 days), so
	// a simulated node's certificate is far from the expiry warning
	// thresholds, as a healthy node's is.
	certificateLifetime = 397 * 24 * time.Hour
	// The cert-expired scenario's certificate served a full term that ended
	// yesterday, as a forgotten renewal leaves it.
	expiredFor, expiredTerm = 24 * time.Hour, 399 * 24 * time.Hour
	// ipv6Loopback is where node 0 also listens, so that a client resolving
	// "localhost" to ::1 first reaches it.
	ipv6Loopback = "::1"
)

// MaxNodes is the most nodes Start runs. Each takes four listening sockets
// (node 0 eight, with [::1]) and a few goroutines; 1000 nodes fit in the
// loopback network with room to spare and in a file descriptor limit of 4096
// with room for connections.
const MaxNodes = 1000

// Finesse versions the simulator models. They differ in where desktops
// reach the Notification Service over HTTP: 12.5 on port 7443 only, 12.6
// also through the web proxy on the HTTPS port (/ws/).
const (
	Version126 = "12.6"
	Version125 = "12.5"
)

// Versions lists the Finesse versions Config.Version accepts, the default first.
var Versions = []string{Version126, Version125}

// Config describes a set of simulated nodes.
type Config struct {
	// IP of the first node; node i listens on IP+i, so every node has
	// Finesse's ports on an address of its own, as real nodes do.
	IP string
	// Ports are HTTPS, XMPP (STARTTLS), XMPP secure (direct TLS) and BOSH
	// (WebSocket and BOSH over HTTPS, 7443); 0 picks a free port for the
	// first node, which the others then reuse.
	HTTPSPort, XMPPPort, XMPPSecurePort, BOSHPort int
	// Version is the Finesse version modelled, one of Versions; "" is 12.6.
	Version  string
	Nodes    int
	Scenario Scenario
	Users    map[string]string // probe users: ID -> password
	// Latency is added to every round trip on every port of every node,
	// half each way, as netem would add it on a WAN link (see netdelay).
	Latency time.Duration
	// Certificate to serve on every node; when nil a CA is made and each
	// node is issued a certificate for its own name and address (node 0 also
	// for localhost and ::1). The cert-expired scenario needs that CA.
	Certificate *tls.Certificate
	Now         func() time.Time
	// Logf, when set, receives the Notification Services' connection events.
	Logf func(format string, args ...any)
}

// Cluster is a running set of nodes; nodes 0 and 1, 2 and 3 ... are pairs
// that name each other primary and secondary in SystemInfo.
type Cluster struct {
	Nodes []*Node
	CA    *pki.CA // nil when Config.Certificate was given
	// IPv6 tells whether node 0 also listens on [::1]; false when the
	// machine has no IPv6 loopback.
	IPv6 bool
}

// Start starts cfg.Nodes nodes.
func Start(cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 || cfg.Nodes > MaxNodes {
		return nil, fmt.Errorf("--nodes %d: use 1 to %d", cfg.Nodes, MaxNodes)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Scenario == "" {
		cfg.Scenario = Healthy
	}
	b, err := Lookup(string(cfg.Scenario))
	if err != nil {
		return nil, err
	}
	if cfg.Version == "" {
		cfg.Version = Version126
	}
	if !slices.Contains(Versions, cfg.Version) {
		return nil, fmt.Errorf("version %q: the simulator models Finesse %s", cfg.Version, strings.Join(Versions, " and "))
	}
	ips, err := nodeIPs(cfg.IP, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	hosts := make([]string, cfg.Nodes)
	for i := range hosts {
		hosts[i] = nodeName(i)
	}
	c := &Cluster{IPv6: hasIPv6Loopback(cfg.Logf)}
	certs, err := c.certificates(cfg, hosts, ips)
	if err != nil {
		return nil, err
	}

	ports := [numPorts]int{cfg.HTTPSPort, cfg.XMPPPort, cfg.XMPPSecurePort, cfg.BOSHPort}
	for i := range hosts {
		addrs := []string{ips[i]}
		if i == 0 && c.IPv6 {
			addrs = append(addrs, ipv6Loopback)
		}
		n, err := startNode(nodeConfig{host: hosts[i], ips: addrs, ports: ports, certs: certs[i], version: cfg.Version,
			users: cfg.Users, latency: cfg.Latency, now: cfg.Now, behaviour: b, logf: cfg.Logf})
		if err != nil {
			c.Close()
			if errors.Is(err, syscall.EMFILE) {
				err = fmt.Errorf("%w (each node listens on %d sockets: raise the open file limit, ulimit -n)", err, numPorts)
			}
			return nil, fmt.Errorf("node %s on %s: %w", hosts[i], ips[i], err)
		}
		c.Nodes = append(c.Nodes, n)
		ports = n.portNumbers()
	}
	for i, n := range c.Nodes {
		first := i &^ 1
		pair := []nodeAddr{c.Nodes[first].addr()}
		if first+1 < len(c.Nodes) {
			pair = append(pair, c.Nodes[first+1].addr())
		}
		n.mu.Lock()
		n.pair = pair
		n.mu.Unlock()
	}
	return c, nil
}

// nodeCerts are what a node presents: its own certificate, and the expired
// one of the cert-expired scenario, issued the first time a scenario needs
// it, since most runs never do and issuing it at start doubled the start-up
// time of many nodes; expired is nil when Config.Certificate was given, as
// the simulator then has no CA to issue it from.
type nodeCerts struct {
	valid   *tls.Certificate
	expired func() (*tls.Certificate, error)
}

// certificates issues each node certificates naming only that node, so that
// a checker sent to one node with another's name fails as it would in the
// field.
func (c *Cluster) certificates(cfg Config, hosts, ips []string) ([]nodeCerts, error) {
	certs := make([]nodeCerts, len(hosts))
	if cfg.Certificate != nil {
		for i := range certs {
			certs[i].valid = cfg.Certificate
		}
		return certs, nil
	}
	ca, err := pki.NewCA("finessectl simulator CA", certificateLifetime)
	if err != nil {
		return nil, err
	}
	for i := range hosts {
		names := []string{hosts[i], ips[i]}
		if i == 0 {
			names = append(names, "localhost", ipv6Loopback)
		}
		valid, err := ca.Issue(names, time.Now().Add(certificateLifetime))
		if err != nil {
			return nil, err
		}
		v := valid.TLSCertificate()
		certs[i] = nodeCerts{valid: &v, expired: sync.OnceValues(func() (*tls.Certificate, error) {
			now := time.Now()
			expired, err := ca.IssueValid(names, now.Add(-expiredFor-expiredTerm), now.Add(-expiredFor))
			if err != nil {
				return nil, err
			}
			e := expired.TLSCertificate()
			return &e, nil
		})}
	}
	c.CA = ca
	return certs, nil
}

// hasIPv6Loopback reports whether this machine can listen on [::1]; a
// container or host with IPv6 disabled cannot, and the simulator then runs on
// IPv4 alone rather than not at all.
func hasIPv6Loopback(logf func(format string, args ...any)) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(ipv6Loopback, "0"))
	if err != nil {
		if logf != nil {
			logf("no IPv6 loopback (%v): node 0 listens on IPv4 only", err)
		}
		return false
	}
	_ = ln.Close()
	return true
}

// nodeName names nodes 0 to 25 finesse-a.example.test to finesse-z, as
// they always were, and later ones like spreadsheet columns: finesse-aa,
// finesse-ab ... finesse-zz, finesse-aaa.
func nodeName(i int) string {
	var label []byte
	for i++; i > 0; i = (i - 1) / 26 {
		label = append([]byte{byte('a' + (i-1)%26)}, label...)
	}
	return fmt.Sprintf(nodeNamePattern, label)
}

// nodeIPs gives node 0 the address first and each further node the next
// address that ends in neither .0 nor .255 (127.0.0.254, then 127.0.1.1):
// those are all this machine, since the loopback network is a /8 on Linux,
// and skipping them keeps clear of what look like network and broadcast
// addresses. Every address stays in first's /8.
func nodeIPs(first string, n int) ([]string, error) {
	if first == "" {
		first = "127.0.0.1"
	}
	addr, err := netip.ParseAddr(first)
	addr = addr.Unmap()
	if err != nil || !addr.Is4() {
		return nil, fmt.Errorf("--listen %q: give an IPv4 address, such as 127.0.0.1", first)
	}
	if !endsWell(addr) {
		return nil, fmt.Errorf("--listen %s: give an address that ends in 1 to 254, such as 127.0.0.1", first)
	}
	network := addr.As4()[0]
	ips := make([]string, n)
	for i := range ips {
		for addr.IsValid() && !endsWell(addr) {
			addr = addr.Next() // past 255.255.255.255 it is invalid
		}
		if !addr.IsValid() || addr.As4()[0] != network {
			return nil, fmt.Errorf("--listen %s: no room for %d node addresses in %d.0.0.0/8", first, n, network)
		}
		ips[i] = addr.String()
		addr = addr.Next()
	}
	return ips, nil
}

// endsWell reports whether a ends in 1 to 254.
func endsWell(a netip.Addr) bool {
	last := a.As4()[3]
	return last != 0 && last != 255
}

// SetScenario switches node i, or every node when i is -1.
func (c *Cluster) SetScenario(i int, s Scenario) error {
	if i >= len(c.Nodes) || i < -1 {
		return fmt.Errorf("no node %d: the simulator runs nodes 0 to %d", i, len(c.Nodes)-1)
	}
	for j, n := range c.Nodes {
		if i == -1 || i == j {
			if err := n.SetScenario(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close stops every node and drops every connection.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		n.close()
	}
}
