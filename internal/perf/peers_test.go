//go:build benchpeers && linux

package perf

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

var peerRuns = flag.Int("peers.runs", 10, "runs of each tool in TestPeers (the median is shown)")

const (
	plugins      = "/usr/lib/nagios/plugins"
	checkXMPPNG  = plugins + "/check_xmppng"
	checkTCP     = plugins + "/check_tcp"
	debianPython = "/usr/bin/python3" // has the plugin's modules, whatever python3 PATH finds
)

// peer is one command line measured by TestPeers.
type peer struct {
	name string
	cmd  []string
	want string // in its output
	// filled by TestPeers
	wall, cpu []time.Duration
	peakKiB   int64
}

// TestPeers holds finessectl beside what sites run today against the same
// simulated node at the same delay: curl for SystemInfo, check_xmppng for
// the XMPP connection (STARTTLS, no login) and check_tcp for the XMPP port,
// three services a Nagios host runs one after another. Each tool runs
// -peers.runs times, the tools taking turns in every round so that a
// slower minute of a shared machine falls on all of them, and the table
// shows medians. Run it with 'make bench-peers'.
func TestPeers(t *testing.T) {
	curl, err := exec.LookPath("curl")
	var missing []string
	if err != nil {
		missing = append(missing, "curl (Debian package curl)")
	}
	for _, m := range []struct{ path, pkg string }{
		{checkXMPPNG, "nagios-check-xmppng"},
		{debianPython, "python3, which nagios-check-xmppng depends on"},
		{checkTCP, "monitoring-plugins-basic"},
	} {
		if _, err := os.Stat(m.path); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", m.path, m.pkg))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing %s: run 'sudo sh scripts/install-bench-deps.sh' (make bench-peers runs it first)", strings.Join(missing, ", "))
	}
	if *peerRuns < 1 {
		t.Fatalf("-peers.runs %d: at least 1", *peerRuns)
	}

	bin := finessectl(t)
	s := startSim(t, 1, rtt)
	node := s.cl.Nodes[0]
	https := node.HTTPSAddr()
	host, httpsPort, err := net.SplitHostPort(https)
	if err != nil {
		t.Fatal(err)
	}
	_, starttls, _ := node.Ports()
	xmppPort := strconv.Itoa(starttls)
	full := &peer{name: "finessectl check (default: WebSocket on the HTTPS port)",
		cmd: append([]string{bin}, s.checkArgs()...), want: "fully available"}
	fullTCP := &peer{name: "finessectl check --xmpp-tls starttls",
		cmd: append([]string{bin}, s.checkArgs("--xmpp-tls", "starttls", "--xmpp-port", xmppPort)...), want: "fully available"}
	connectOnly := &peer{name: "finessectl check --connect-only --xmpp-tls starttls",
		cmd: append([]string{bin}, s.checkArgs("--connect-only", "--xmpp-tls", "starttls", "--xmpp-port", xmppPort)...), want: "reachable"}
	curlPeer := &peer{name: "curl SystemInfo",
		// -q first: no ~/.curlrc (HOME is empty anyway).
		cmd:  []string{curl, "-q", "-sS", "--fail", "--cacert", s.caFile, "https://" + net.JoinHostPort(host, httpsPort) + "/finesse/api/SystemInfo"},
		want: "IN_SERVICE"}
	xmppng := &peer{name: "check_xmppng --starttls (connect only)",
		cmd:  []string{debianPython, checkXMPPNG, "--c2s", "-H", host, "-p", xmppPort, "--servername", node.Host, "-r", s.caFile, "--starttls"},
		want: "XMPP OK"}
	tcp := &peer{name: "check_tcp (XMPP port)",
		cmd: []string{checkTCP, "-H", host, "-p", xmppPort}, want: "TCP OK"}
	// The three Nagios services run back to back in this order, so each
	// round's trio is the sum of their walls in that round.
	all := []*peer{full, fullTCP, connectOnly, curlPeer, xmppng, tcp}
	trio := []*peer{curlPeer, xmppng, tcp}

	env := childEnv(s.dir)
	ctx := context.Background()
	once := func(p *peer) sample {
		smp, err := execute(ctx, env, p.cmd[0], p.cmd[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		if smp.code != 0 || !strings.Contains(smp.output, p.want) {
			t.Fatalf("%s: exit %d, want 0 with %q in the output:\n%s\n%s", p.name, smp.code, p.want,
				strings.Join(p.cmd, " "), truncate(smp.output, 4000))
		}
		return smp
	}
	for _, p := range all { // warm the page cache and Python's bytecode
		once(p)
	}
	var trioWalls []time.Duration
	for range *peerRuns {
		var trioWall time.Duration
		for _, p := range all {
			smp := once(p)
			p.wall = append(p.wall, smp.wall)
			p.cpu = append(p.cpu, smp.cpu)
			p.peakKiB = max(p.peakKiB, smp.maxRSSKiB)
			for _, q := range trio {
				if p == q {
					trioWall += smp.wall
				}
			}
		}
		trioWalls = append(trioWalls, trioWall)
	}

	med := func(p *peer) time.Duration { return median(append([]time.Duration(nil), p.wall...)) }
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f", float64(a)/float64(b)) }
	trioMed := median(trioWalls)
	fullMed, fullTCPMed := med(full), med(fullTCP)

	fmt.Printf("\nOne simulated Finesse node on loopback, %v RTT (simulator Latency), %d runs of each tool taking turns; medians.\n", rtt, *peerRuns)
	fmt.Printf("Ratios are finessectl's wall time over the tool's: below 1, finessectl is faster.\n")
	fmt.Printf("TCP handshakes are not delayed: each tool is one RTT short per connection it opens (finessectl 2, curl, check_xmppng and check_tcp 1 each).\n\n")
	const row = "%-60s %9s %9s %9s %11s %13s\n"
	fmt.Printf(row, "tool", "wall", "CPU", "peak RSS", "full ÷ tool", "starttls ÷ tool")
	for _, p := range all {
		m := med(p)
		fmt.Printf(row, p.name, fmtDur(m), fmtDur(median(append([]time.Duration(nil), p.cpu...))),
			fmt.Sprintf("%.1f MiB", float64(p.peakKiB)/1024), ratio(fullMed, m), ratio(fullTCPMed, m))
	}
	fmt.Printf(row, "Nagios: curl + check_xmppng + check_tcp, one after another", fmtDur(trioMed), "", "", ratio(fullMed, trioMed), ratio(fullTCPMed, trioMed))
	fmt.Printf("\nfinessectl full (default) vs the Nagios trio: %sx; full over STARTTLS vs the trio: %sx\n", ratio(fullMed, trioMed), ratio(fullTCPMed, trioMed))
	fmt.Printf("finessectl --connect-only (STARTTLS) vs check_xmppng --starttls: %sx; vs curl + check_xmppng: %sx\n",
		ratio(med(connectOnly), med(xmppng)), ratio(med(connectOnly), med(curlPeer)+med(xmppng)))
	fmt.Printf("finessectl full (default) vs curl: %sx, vs check_xmppng: %sx, vs check_tcp: %sx\n\n",
		ratio(fullMed, med(curlPeer)), ratio(fullMed, med(xmppng)), ratio(fullMed, med(tcp)))
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", ms(d))
	default:
		return fmt.Sprintf("%.1f ms", ms(d))
	}
}
