package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/output"
	"github.com/finessectl/finessectl/internal/simulator"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// DemoOptions configure 'finessectl demo'.
type DemoOptions struct {
	IO      *IOStreams
	Timeout time.Duration
	Color   string
}

// expectedCodes is what a correct checker concludes in each scenario; the
// demo fails if finessectl says anything else.
var expectedCodes = map[simulator.Scenario]finesse.Code{
	simulator.Healthy:               finesse.OK,
	simulator.OutOfService:          finesse.NotInService,
	simulator.WebappDown:            finesse.NotInService,
	simulator.TomcatDown:            finesse.SystemInfoUnreachable,
	simulator.NotificationDown:      finesse.XMPPConnectionFailed,
	simulator.NetworkLoss:           finesse.SystemInfoUnreachable,
	simulator.CertExpired:           finesse.SystemInfoTLS,
	simulator.NotificationCertStale: finesse.XMPPTLS,
	simulator.AuthReject:            finesse.XMPPAuthFailed,
	simulator.FinesseDisconnected:   finesse.FinesseUnavailable,
	simulator.FinesseNotInRoster:    finesse.FinessePresenceMissing,
	simulator.Maintenance:           finesse.OK,
	simulator.CTIHeartbeatLost:      finesse.OK,
}

// webProxyCodes are the scenarios that XMPP over WebSocket on the HTTPS
// port, through 12.6's web proxy, sees otherwise than the Notification
// Service's own ports do, and why.
var webProxyCodes = map[simulator.Scenario]struct {
	code finesse.Code
	why  string
}{
	simulator.NotificationCertStale: {finesse.OK, "the web proxy presents Tomcat's current certificate, so 12.6 desktops connect"},
}

// expectedCode is expectedCodes[s], over the web proxy when webProxy.
func expectedCode(s simulator.Scenario, webProxy bool) finesse.Code {
	if e, ok := webProxyCodes[s]; ok && webProxy {
		return e.code
	}
	return expectedCodes[s]
}

// NewCmdDemo builds 'finessectl demo'.
func NewCmdDemo(ios *IOStreams, runF func(context.Context, *DemoOptions) error) *cobra.Command {
	opts := &DemoOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Check a built-in simulated Finesse node through every failure scenario",
		Long: `Start a simulated Finesse node on 127.0.0.1 (see 'finessectl simulate'), check
it while healthy and show the full report, then switch it through every failure
scenario and check it again over each way to reach the Notification Service
(direct TLS, STARTTLS, WebSocket), printing each verdict and its exit code next
to the code a correct checker must give.

Needs no Finesse, no account and no network: everything runs in this process
on loopback ports chosen at random. Exits 0 when every verdict is as expected.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runDemo(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVarP(&opts.Timeout, "timeout", "t", time.Second, "deadline per check; the network-loss scenario always uses all of it")
	cmd.Flags().StringVar(&opts.Color, "color", "auto", "colour: auto, always or never")
	return cmd
}

func runDemo(ctx context.Context, opts *DemoOptions) error {
	if opts.Timeout <= 0 {
		return usageError("--timeout must be a positive duration")
	}
	start := time.Now()
	password := simulator.DefaultProbePassword
	cl, err := simulator.Start(simulator.Config{Nodes: 1, Users: map[string]string{simulator.DefaultProbeUser: password}})
	if err != nil {
		return &exitError{Code: finesse.Internal, Err: fmt.Errorf("start the simulator: %w", err)}
	}
	defer cl.Close()
	node := cl.Nodes[0]
	target, err := check.ParseTarget(node.HTTPSAddr())
	if err != nil {
		return &exitError{Code: finesse.Internal, Err: err}
	}
	w := opts.IO.Out
	colour := opts.IO.colorEnabled(opts.Color)
	fmt.Fprintf(w, "A simulated Finesse 12.6 node %s: HTTPS and XMPP over WebSocket %s, XMPP %s (direct TLS) and %s (STARTTLS), WebSocket and BOSH %s.\n\n",
		node.Host, node.HTTPSAddr(), node.DirectTLSAddr(), node.StartTLSAddr(), node.BOSHAddr())

	_, xmppPort, xmppSecurePort := node.Ports()
	base := check.Options{Timeout: opts.Timeout, PresenceTimeout: opts.Timeout, BOSHPort: node.BOSHPort(),
		TLS: &tls.Config{RootCAs: cl.CA.Pool()}, User: simulator.DefaultProbeUser, Password: password}
	ways := []check.Options{base, base, base, base}
	ways[0].XMPPTransport, ways[0].XMPPMode, ways[0].XMPPPort = check.TransportTCP, xmppprobe.DirectTLS, xmppSecurePort
	ways[1].XMPPTransport, ways[1].XMPPMode, ways[1].XMPPPort = check.TransportTCP, xmppprobe.StartTLS, xmppPort
	ways[2].XMPPTransport = check.TransportWebSocket
	ways[3].XMPPTransport, ways[3].XMPPPort = check.TransportWebSocket, node.BOSHPort()
	const webProxyWay = 2
	checkOnce := func(o check.Options) check.Result { return check.Run(ctx, []check.Target{target}, o) }

	// The first check is what 'finessectl check' does by default: auto,
	// which finds WebSocket on the HTTPS port, as 12.6 desktops do.
	fmt.Fprintf(w, "$ finessectl check --bosh-probe %s    # healthy\n", target.Name)
	healthy := base
	healthy.BOSHProbe = true
	if err := output.Text(w, checkOnce(healthy), output.TextOptions{Color: colour}); err != nil {
		return &exitError{Code: finesse.Internal, Err: err}
	}

	fmt.Fprintf(w, "\nEvery scenario, checked over direct TLS, STARTTLS, WebSocket through the web proxy on the\n"+
		"HTTPS port (12.6 desktops) and WebSocket on the Notification Service's own port (7443 on a real node):\n\n")
	fmt.Fprintf(w, "  %-23s %6s %7s %9s %9s %8s  %s\n", "scenario", "expect", "direct", "starttls", "ws:https", "ws:7443", "verdict")
	failures := 0
	var notes []string
	for _, b := range simulator.Behaviours {
		if err := node.SetScenario(b.Scenario); err != nil {
			return &exitError{Code: finesse.Internal, Err: err}
		}
		results := make([]check.Result, len(ways))
		ok := true
		for i, o := range ways {
			results[i] = checkOnce(o)
			ok = ok && results[i].ExitCode() == expectedCode(b.Scenario, i == webProxyWay)
		}
		mark := "✔"
		if !ok {
			mark = "✘"
			failures++
		}
		if e, differs := webProxyCodes[b.Scenario]; differs {
			notes = append(notes, fmt.Sprintf("%s gives %d on ws:https: %s.", b.Scenario, e.code, e.why))
		}
		fmt.Fprintf(w, "  %-23s %6d %7d %9d %9d %8d  %s %s\n", b.Scenario, expectedCodes[b.Scenario],
			results[0].ExitCode(), results[1].ExitCode(), results[2].ExitCode(), results[3].ExitCode(), mark, verdict(results[0]))
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range notes {
		fmt.Fprintf(w, "  %s\n", n)
	}
	fmt.Fprintln(w)
	if failures > 0 {
		return &exitError{Code: finesse.Internal, Err: fmt.Errorf("%d scenario(s) gave an unexpected exit code", failures)}
	}
	fmt.Fprintf(w, "All %d scenarios gave the expected exit code over every transport (%s).\n", len(simulator.Behaviours), output.Duration(time.Since(start)))
	fmt.Fprintln(w, "Try it against a node of your own: 'finessectl simulate', then the command it prints.")
	return nil
}

// verdict names the failing criterion and the guide's scenario behind it,
// or the warnings of a node that passed.
func verdict(r check.Result) string {
	s := r.Servers[0]
	if f := s.Failure; f != nil {
		return fmt.Sprintf("%s failed: %s", f.Criterion, f.Scenario().Guide)
	}
	if len(s.Warnings) > 0 {
		codes := make([]string, len(s.Warnings))
		for i, w := range s.Warnings {
			codes[i] = string(w.Code)
		}
		return "fully available, with warning " + strings.Join(codes, ", ")
	}
	return "fully available"
}
