package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/simulator"
)

// SimulateOptions configure 'finessectl simulate'.
type SimulateOptions struct {
	IO *IOStreams

	Listen         string
	HTTPSPort      int
	XMPPPort       int
	XMPPSecurePort int
	BOSHPort       int
	Version        string
	Nodes          int
	Scenario       string
	Timeline       string
	Latency        time.Duration
	User           string
	CertFile       string
	KeyFile        string
	WriteCA        string
	Control        string
	Verbose        bool
}

const simulateLong = `Run simulated Cisco Finesse nodes on this machine, to try finessectl or to test
a monitoring setup against outages that are not happening. Each node serves, on
an address of its own (127.0.0.1, 127.0.0.2 ...; node 0 also on [::1] when the
machine has IPv6 loopback, with the same port numbers):

  HTTPS      /finesse/api/SystemInfo (12.6 schema; 503 SERVER_OUT_OF_SERVICE
             when out of service) on --https-port (8445), and from 12.6 the web
             proxy's XMPP over WebSocket at /ws/
  XMPP       a Notification Service with SASL PLAIN, resource binding, roster,
             the 'finesse' user's presence, XEP-0199 ping and pubsub
             SystemInfo notifications in Finesse's envelope, on
             --xmpp-secure-port (direct TLS) and --xmpp-port (STARTTLS)
  BOSH       the Notification Service's own HTTPS port, --bosh-port (7443):
             XMPP over WebSocket at /ws/ and BOSH at /http-bind/

--finesse-version picks what the nodes model: 12.6 (the default) serves
WebSocket on both the HTTPS port and 7443; 12.5 only on 7443, its HTTPS port
answering /ws/ with 404 as a 12.5 node's Tomcat does.

Scenarios (--scenario at start, a --timeline, or the control API):
` + "%s" + `
Two nodes (--nodes 2) form a primary/secondary pair that name each other in
SystemInfo, as do nodes 2 and 3, and so on. Up to %d nodes run: after
finesse-z.example.test (node 25) come finesse-aa, finesse-ab ..., and
addresses ending in .0 or .255 are skipped: from 127.0.0.1, node 254 is
on 127.0.1.1.
A CA is made at start and each node issued a certificate for its own name
and address only (node 0 also for localhost and ::1), plus the
expired one of cert-expired; --write-ca saves the CA for clients (otherwise
it is written to a temporary file, removed at exit). The probe user is
--user, with the password from FINESSE_PASSWORD, or a fixed simulator-only
password.

Control API (loopback only): GET /scenario lists the nodes, their scenario
and connected XMPP sessions; POST
/scenario?name=NAME[&node=N] switches all nodes or node N. Every request needs
the token made for this run, as in the control API URL printed at start
(?token=TOKEN), or as 'Authorization: Bearer TOKEN'; requests with an Origin
header, as web pages in a browser send, are refused.

The exact 'finessectl check' command for the nodes is printed at start. Stop
with Ctrl-C (SIGINT) or SIGTERM.`

const simulateExample = `  # One node on Finesse's own ports, then check it from another terminal
  finessectl simulate --write-ca /tmp/sim-ca.pem

  # A 12.5 node whose certificate has expired
  finessectl simulate --finesse-version 12.5 --scenario cert-expired

  # A pair whose primary loses Tomcat after 5 s and recovers after 20 s
  finessectl simulate --nodes 2 --timeline '0:tomcat-down@5s,0:healthy@20s'

  # Switch scenario at runtime, with the control API URL printed at start
  curl -X POST 'http://127.0.0.1:PORT/scenario?token=TOKEN&name=notification-down'`

// NewCmdSimulate builds 'finessectl simulate'.
func NewCmdSimulate(ios *IOStreams, runF func(context.Context, *SimulateOptions) error) *cobra.Command {
	opts := &SimulateOptions{IO: ios}
	var list strings.Builder
	for _, b := range simulator.Behaviours {
		fmt.Fprintf(&list, "  %-21s %s\n", b.Scenario, b.Description)
	}
	cmd := &cobra.Command{
		Use:     "simulate [flags]",
		Short:   "Run simulated Finesse nodes with every failure scenario on demand",
		Long:    fmt.Sprintf(simulateLong, list.String(), simulator.MaxNodes),
		Example: simulateExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSimulate(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&opts.Listen, "listen", "127.0.0.1", "IPv4 address of the first node; the others take the addresses after it, skipping those ending in .0 and .255")
	f.IntVar(&opts.HTTPSPort, "https-port", simulator.DefaultHTTPSPort, "HTTPS port of every node (0 picks a free one)")
	f.IntVar(&opts.XMPPSecurePort, "xmpp-secure-port", simulator.DefaultXMPPSecurePort, "direct TLS XMPP port (0 picks a free one)")
	f.IntVar(&opts.XMPPPort, "xmpp-port", simulator.DefaultXMPPPort, "STARTTLS XMPP port (0 picks a free one)")
	f.IntVar(&opts.BOSHPort, "bosh-port", simulator.DefaultBOSHPort, "HTTPS port of WebSocket (/ws/) and BOSH (/http-bind/) (0 picks a free one)")
	f.Var(newChoice(&opts.Version, simulator.Version126, strings.Join(simulator.Versions, " or "), simulator.Versions...),
		"finesse-version", "Finesse version to model: 12.6 (WebSocket on the HTTPS port and 7443) or 12.5 (7443 only)")
	f.IntVar(&opts.Nodes, "nodes", 1, fmt.Sprintf("number of nodes, 1 to %d; nodes 0 and 1, 2 and 3 ... form primary/secondary pairs", simulator.MaxNodes))
	f.StringVar(&opts.Scenario, "scenario", string(simulator.Healthy), "scenario at start")
	f.StringVar(&opts.Timeline, "timeline", "", "scripted scenario changes: [NODE:]SCENARIO@OFFSET,...")
	f.DurationVar(&opts.Latency, "latency", 0, "add `D` to every round trip, half each way, like netem (every port, TLS handshakes included)")
	f.StringVar(&opts.User, "user", simulator.DefaultProbeUser, "probe user the XMPP service accepts")
	f.StringVar(&opts.CertFile, "cert", "", "serve this PEM certificate instead of generating one (with --key)")
	f.StringVar(&opts.KeyFile, "key", "", "PEM private key for --cert")
	f.StringVar(&opts.WriteCA, "write-ca", "", "write the generated CA certificate to `FILE` for clients to trust")
	f.StringVar(&opts.Control, "control", "127.0.0.1:0", "address of the control API (loopback)")
	f.BoolVarP(&opts.Verbose, "verbose", "v", false, "log XMPP connections, logins and bindings to stderr")
	_ = cmd.RegisterFlagCompletionFunc("scenario", fixedCompletion(simulator.Names()...))
	completeChoices(cmd)
	return cmd
}

func runSimulate(ctx context.Context, opts *SimulateOptions) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, steps, err := opts.resolve()
	if err != nil {
		return err
	}
	cl, err := simulator.Start(cfg)
	if err != nil {
		return &exitError{Code: finesse.Usage, Err: fmt.Errorf("start the simulator: %w", err)}
	}
	defer cl.Close()

	caFile, cleanup, err := opts.writeCA(cl)
	if err != nil {
		return err
	}
	defer cleanup()

	control, err := net.Listen("tcp", opts.Control)
	if err != nil {
		return &exitError{Code: finesse.Usage, Err: fmt.Errorf("--control %s: %w", opts.Control, err)}
	}
	handler, token := simulator.ControlHandler(cl)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(control) }()
	defer srv.Close()

	opts.printBanner(cl, caFile, "http://"+control.Addr().String()+"/scenario?token="+token, cfg)
	if len(steps) > 0 {
		go func() {
			err := simulator.RunTimeline(ctx, steps, func(st simulator.Step) error {
				fmt.Fprintf(opts.IO.ErrOut, "%s timeline: %s -> %s\n", time.Now().Format("15:04:05"), nodeLabel(st.Node), st.Scenario)
				return cl.SetScenario(st.Node, st.Scenario)
			}, time.After)
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(opts.IO.ErrOut, "finessectl: %v\n", err)
			}
		}()
	}
	<-ctx.Done()
	fmt.Fprintln(opts.IO.ErrOut, "finessectl simulate: stopping")
	return nil
}

func nodeLabel(i int) string {
	if i < 0 {
		return "all nodes"
	}
	return fmt.Sprintf("node %d", i)
}

func (o *SimulateOptions) resolve() (simulator.Config, []simulator.Step, error) {
	cfg := simulator.Config{IP: o.Listen, HTTPSPort: o.HTTPSPort, XMPPPort: o.XMPPPort, XMPPSecurePort: o.XMPPSecurePort,
		BOSHPort: o.BOSHPort, Version: o.Version, Nodes: o.Nodes, Scenario: simulator.Scenario(o.Scenario), Latency: o.Latency}
	scenario, err := simulator.Lookup(o.Scenario)
	if err != nil {
		return cfg, nil, usageError("--scenario: %v", err)
	}
	if o.Latency < 0 {
		return cfg, nil, usageError("--latency %v: give a round trip of 0 or more, such as 50ms", o.Latency)
	}
	ip := net.ParseIP(o.Listen)
	if ip == nil || !ip.IsLoopback() {
		return cfg, nil, usageError("--listen %q: the simulator listens on loopback addresses only (127.0.0.1 to 127.255.255.254)", o.Listen)
	}
	// The control API switches nodes into outages; it must not be reachable
	// from the network, token or not.
	if host, _, err := net.SplitHostPort(o.Control); err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		return cfg, nil, usageError("--control %q: the control API listens on a loopback address only, such as 127.0.0.1:0", o.Control)
	}
	var steps []simulator.Step
	if o.Timeline != "" {
		if steps, err = simulator.ParseTimeline(o.Timeline); err != nil {
			return cfg, nil, usageError("--timeline: %v", err)
		}
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return cfg, nil, usageError("--cert and --key go together")
	}
	if o.CertFile != "" && scenario.ServesExpiredCertificate() {
		return cfg, nil, usageError("--scenario %s needs the simulator's own CA to issue the expired certificate; leave out --cert and --key", scenario.Scenario)
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return cfg, nil, usageError("--cert/--key: %v", err)
		}
		cfg.Certificate = &cert
	}
	if o.User == "" {
		return cfg, nil, usageError("--user must not be empty")
	}
	password := o.IO.Getenv("FINESSE_PASSWORD")
	if password == "" {
		password = simulator.DefaultProbePassword
	}
	cfg.Users = map[string]string{o.User: password}
	if o.Verbose {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(o.IO.ErrOut, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
		}
	}
	return cfg, steps, nil
}

// writeCA saves the generated CA where clients can read it.
func (o *SimulateOptions) writeCA(cl *simulator.Cluster) (path string, cleanup func(), err error) {
	cleanup = func() {}
	if cl.CA == nil {
		return "", cleanup, nil
	}
	path = o.WriteCA
	if path == "" {
		dir, err := os.MkdirTemp("", "finessectl-simulate-")
		if err != nil {
			return "", cleanup, &exitError{Code: finesse.Internal, Err: err}
		}
		path = filepath.Join(dir, "ca.pem")
		cleanup = func() { os.RemoveAll(dir) }
	}
	if err := cl.CA.WriteCertFile(path); err != nil {
		cleanup()
		return "", func() {}, usageError("--write-ca: %v", err)
	}
	return path, cleanup, nil
}

func (o *SimulateOptions) printBanner(cl *simulator.Cluster, caFile, controlURL string, cfg simulator.Config) {
	w := o.IO.Out
	fmt.Fprintf(w, "finessectl simulate: %d Finesse %s node(s), scenario %s\n", len(cl.Nodes), cl.Nodes[0].Version(), cfg.Scenario)
	var servers []string
	for i, n := range cl.Nodes {
		fmt.Fprintf(w, "  node %d  %-24s HTTPS %s  XMPP %s (direct TLS), %s (STARTTLS)  WebSocket/BOSH %s\n",
			i, n.Host, n.HTTPSAddr(), n.DirectTLSAddr(), n.StartTLSAddr(), n.BOSHAddr())
		servers = append(servers, n.HTTPSAddr())
	}
	webSocket := "wss://HOST:" + strconv.Itoa(cl.Nodes[0].BOSHPort()) + finesse.WebSocketPath
	if cl.Nodes[0].Version() != simulator.Version125 {
		https, _, _ := cl.Nodes[0].Ports()
		webSocket = "wss://HOST:" + strconv.Itoa(https) + finesse.WebSocketPath + " and " + webSocket
	}
	fmt.Fprintf(w, "  WebSocket:      %s; BOSH https://HOST:%d%s\n", webSocket, cl.Nodes[0].BOSHPort(), finesse.BOSHPath)
	if cl.IPv6 {
		fmt.Fprintf(w, "  IPv6:           node 0 also on [::1], same ports\n")
	} else {
		fmt.Fprintf(w, "  IPv6:           none (this machine has no IPv6 loopback)\n")
	}
	if caFile != "" {
		fmt.Fprintf(w, "  CA certificate: %s\n", caFile)
	}
	fmt.Fprintf(w, "  control API:    %s  (POST &name=SCENARIO[&node=N])\n\n", controlURL)

	_, xmppPort, xmppSecurePort := cl.Nodes[0].Ports()
	pw := "FINESSE_PASSWORD=" + simulator.DefaultProbePassword
	if o.IO.Getenv("FINESSE_PASSWORD") != "" {
		pw = "FINESSE_PASSWORD=\"$FINESSE_PASSWORD\""
	}
	args := []string{"FINESSE_USER=" + o.User, pw, "finessectl check"}
	if caFile != "" {
		args = append(args, "--ca-file "+caFile)
	}
	if xmppSecurePort != simulator.DefaultXMPPSecurePort {
		args = append(args, fmt.Sprintf("--xmpp-port %d", xmppSecurePort))
	}
	fmt.Fprintf(w, "Check it with:\n  %s %s\n", strings.Join(args, " "), strings.Join(servers, " "))
	fmt.Fprintf(w, "or over STARTTLS with: --xmpp-tls starttls --xmpp-port %d\n", xmppPort)
	fmt.Fprintln(w, "Stop with Ctrl-C.")
}
