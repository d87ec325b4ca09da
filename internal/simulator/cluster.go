package simulator

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/pki"
)

// Finesse's own ports, the simulator's defaults.
const (
	DefaultHTTPSPort      = finesse.HTTPSPort
	DefaultXMPPPort       = finesse.XMPPPort
	DefaultXMPPSecurePort = finesse.XMPPSecurePort
	DefaultProbeUser      = "1080001" // an agent ID, as UCCE XMPP users are
	DefaultProbePassword  = "simulator-only-password"
	nodeNamePattern       = "finesse-%c.example.test"
	maxNodes              = 26
	// certificateLifetime is the longest a public CA may issue (397 days), so
	// a simulated node's certificate is far from the expiry warning
	// thresholds, as a healthy node's is.
	certificateLifetime = 397 * 24 * time.Hour
)

// Config describes a set of simulated nodes.
type Config struct {
	// IP of the first node; node i listens on IP+i, so every node has
	// Finesse's ports on an address of its own, as real nodes do.
	IP string
	// Ports are HTTPS, XMPP (STARTTLS) and XMPP secure (direct TLS); 0 picks
	// a free port for the first node, which the others then reuse.
	HTTPSPort, XMPPPort, XMPPSecurePort int
	Nodes                               int
	Scenario                            Scenario
	Users                               map[string]string // probe users: ID -> password
	Latency                             time.Duration
	// Certificate to serve; when nil a CA is made and a certificate issued
	// for every node name and address.
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
}

// Start starts cfg.Nodes nodes.
func Start(cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 || cfg.Nodes > maxNodes {
		return nil, fmt.Errorf("--nodes %d: use 1 to %d", cfg.Nodes, maxNodes)
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
	ips, err := nodeIPs(cfg.IP, cfg.Nodes)
	if err != nil {
		return nil, err
	}
	hosts := make([]string, cfg.Nodes)
	for i := range hosts {
		hosts[i] = fmt.Sprintf(nodeNamePattern, 'a'+i)
	}
	c := &Cluster{}
	tlsCfg, err := c.serverTLS(cfg, hosts, ips)
	if err != nil {
		return nil, err
	}

	ports := [3]int{cfg.HTTPSPort, cfg.XMPPPort, cfg.XMPPSecurePort}
	for i := range hosts {
		n, err := startNode(nodeConfig{host: hosts[i], ip: ips[i], ports: ports, tls: tlsCfg,
			users: cfg.Users, latency: cfg.Latency, now: cfg.Now, behaviour: b, logf: cfg.Logf})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("node %s on %s: %w", hosts[i], ips[i], err)
		}
		c.Nodes = append(c.Nodes, n)
		ports = [3]int{portOf(n.HTTPSAddr()), portOf(n.StartTLSAddr()), portOf(n.DirectTLSAddr())}
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

func (c *Cluster) serverTLS(cfg Config, hosts, ips []string) (*tls.Config, error) {
	if cfg.Certificate != nil {
		return &tls.Config{Certificates: []tls.Certificate{*cfg.Certificate}}, nil
	}
	ca, err := pki.NewCA("finessectl simulator CA", certificateLifetime)
	if err != nil {
		return nil, err
	}
	names := append(append([]string{"localhost"}, hosts...), ips...)
	leaf, err := ca.Issue(names, time.Now().Add(certificateLifetime))
	if err != nil {
		return nil, err
	}
	c.CA = ca
	return &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}}, nil
}

// nodeIPs gives node i the address first+i: the loopback network is a /8 on
// Linux, so 127.0.0.1, 127.0.0.2 ... are all this machine.
func nodeIPs(first string, n int) ([]string, error) {
	if first == "" {
		first = "127.0.0.1"
	}
	ip := net.ParseIP(first).To4()
	if ip == nil {
		return nil, fmt.Errorf("--listen %q: give an IPv4 address, such as 127.0.0.1", first)
	}
	if int(ip[3])+n-1 > 254 {
		return nil, fmt.Errorf("--listen %s: no room for %d consecutive node addresses", first, n)
	}
	ips := make([]string, n)
	for i := range ips {
		next := net.IPv4(ip[0], ip[1], ip[2], ip[3]+byte(i))
		ips[i] = next.String()
	}
	return ips, nil
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
