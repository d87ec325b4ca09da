package simulator

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Node names and addresses: the first 26 as they always were, then unique
// ones up to MaxNodes, every address in 127/8 and none ending in .0 or .255.
func TestNodeNamesAndAddresses(t *testing.T) {
	ips, err := nodeIPs("", MaxNodes)
	if err != nil {
		t.Fatal(err)
	}
	names, addrs := map[string]int{}, map[string]int{}
	for i, ip := range ips {
		name := nodeName(i)
		if i < 26 {
			if want := fmt.Sprintf("finesse-%c.example.test", 'a'+i); name != want {
				t.Errorf("node %d is %s, want %s as before", i, name, want)
			}
			if want := fmt.Sprintf("127.0.0.%d", 1+i); ip != want {
				t.Errorf("node %d on %s, want %s as before", i, ip, want)
			}
		}
		if j, dup := names[name]; dup {
			t.Errorf("nodes %d and %d are both %s", j, i, name)
		}
		if j, dup := addrs[ip]; dup {
			t.Errorf("nodes %d and %d both on %s", j, i, ip)
		}
		names[name], addrs[ip] = i, i
		parsed := net.ParseIP(ip).To4()
		if !parsed.IsLoopback() || parsed[3] == 0 || parsed[3] == 255 {
			t.Errorf("node %d on %s", i, ip)
		}
		if label := strings.TrimSuffix(strings.TrimPrefix(name, "finesse-"), ".example.test"); strings.Trim(label, "abcdefghijklmnopqrstuvwxyz") != "" || label == "" {
			t.Errorf("node %d is %s: want finesse-LETTERS.example.test", i, name)
		}
	}
	for i, want := range map[int]string{26: "finesse-aa.example.test", 27: "finesse-ab.example.test", 51: "finesse-az.example.test",
		52: "finesse-ba.example.test", 701: "finesse-zz.example.test", 702: "finesse-aaa.example.test"} {
		if got := nodeName(i); got != want {
			t.Errorf("node %d is %s, want %s", i, got, want)
		}
	}
	if ips[253] != "127.0.0.254" || ips[254] != "127.0.1.1" || ips[MaxNodes-1] != "127.0.3.238" {
		t.Errorf("nodes 253, 254 and %d on %s, %s and %s", MaxNodes-1, ips[253], ips[254], ips[MaxNodes-1])
	}
	if across, err := nodeIPs("127.0.0.250", 10); err != nil || strings.Join(across, ",") !=
		"127.0.0.250,127.0.0.251,127.0.0.252,127.0.0.253,127.0.0.254,127.0.1.1,127.0.1.2,127.0.1.3,127.0.1.4,127.0.1.5" {
		t.Errorf("10 nodes from 127.0.0.250: %v, %v", across, err)
	}
	for _, tc := range []struct {
		first string
		n     int
		want  string
	}{
		{"127.255.255.200", 100, "no room"},
		{"127.0.0.0", 1, "ends in 1 to 254"},
		{"127.0.0.255", 1, "ends in 1 to 254"},
		{"::1", 1, "IPv4"},
	} {
		if _, err := nodeIPs(tc.first, tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d nodes from %s: %v, want an error saying %q", tc.n, tc.first, err, tc.want)
		}
	}
	if _, err := Start(Config{Nodes: MaxNodes + 1}); err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("--nodes %d: use 1 to %d", MaxNodes+1, MaxNodes)) {
		t.Errorf("%d nodes: %v", MaxNodes+1, err)
	}
}

// 254 nodes start, on free ports, and the last one answers SystemInfo over
// HTTPS under its own name, with a certificate for it.
func TestManyNodes(t *testing.T) {
	start := time.Now()
	c, err := Start(Config{Nodes: 254, Users: map[string]string{"probe": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("254 nodes started in %v", time.Since(start))
	hosts, addrs := map[string]bool{}, map[string]bool{}
	for _, n := range c.Nodes {
		host, _, _ := net.SplitHostPort(n.HTTPSAddr())
		hosts[n.Host], addrs[host] = true, true
	}
	if len(hosts) != 254 || len(addrs) != 254 {
		t.Errorf("%d names and %d addresses for 254 nodes", len(hosts), len(addrs))
	}
	last := c.Nodes[253]
	if last.Host != "finesse-it.example.test" || !strings.HasPrefix(last.HTTPSAddr(), "127.0.0.254:") {
		t.Errorf("the last node is %s on %s", last.Host, last.HTTPSAddr())
	}
	info, err := fetch(t, c, last)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != "IN_SERVICE" || info.XMPPDomain != last.Host {
		t.Errorf("the last node's SystemInfo: %+v", info)
	}
	if got := peerCertificate(t, last.HTTPSAddr()); got.VerifyHostname(last.Host) != nil || got.VerifyHostname("127.0.0.254") != nil {
		t.Errorf("the last node's certificate names %v %v", got.DNSNames, got.IPAddresses)
	}
}
