package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/config"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/metrics"
	"github.com/finessectl/finessectl/internal/nagios"
	"github.com/finessectl/finessectl/internal/output"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// CheckOptions is everything 'finessectl check' needs, filled from flags and
// the environment.
type CheckOptions struct {
	IO *IOStreams

	Servers         []string
	User            string
	PasswordFile    string
	Timeout         time.Duration
	Concurrency     int
	PresenceTimeout time.Duration
	XMPPTransport   string
	XMPPTLS         string
	XMPPPort        int
	WSPath          string
	BOSHPort        int
	BOSHProbe       bool
	RequireBOSH     bool
	CAFile          string
	Insecure        bool
	TLSServerName   string
	FinesseJID      string
	ConnectOnly     bool
	Overlap         bool
	Output          string
	Color           string
	Verbose         bool
	Trace           bool
	Quiet           bool
	Textfile        string
	Require         string
	Peers           bool
	CertWarn        daysValue
	CertCrit        daysValue
	// Warning and Critical are -w and -c: thresholds in the Monitoring
	// Plugins range format on the run's duration in seconds, for -o nagios.
	// Empty is not given, so that a Nagios command definition can pass an
	// unset macro ($ARG1$) through.
	Warning  string
	Critical string
	// warn and crit are Warning and Critical parsed; nil when not given.
	warn, crit *nagios.Range
	// presenceTimeoutSet tells an explicit --presence-timeout, which must
	// fit in --timeout, from the default, which shrinks to fit.
	presenceTimeoutSet bool
	// transportSet tells an explicit --xmpp-transport; tcpPinned an explicit
	// --xmpp-tls or --xmpp-port, which without it mean XMPP over TCP, as
	// they did before the transport could be chosen.
	transportSet, tcpPinned bool

	// ConfigFile is --config; empty means the default file, if it exists.
	ConfigFile string
	// Clusters are the --cluster names, in the order given.
	Clusters []string
	// flags is the command line, whose flags override the config file.
	flags *pflag.FlagSet
	// passwords holds the passwords read, by file, shared by the runs of
	// several clusters: stdin ('-') can be read only once.
	passwords map[string]string
	// origin names the cluster a run checks, for its errors.
	origin string
}

const checkLong = `Check one or more Finesse servers against the three availability criteria of
the Finesse developer guide, in order, and stop at the first that fails:

  1. systeminfo  GET https://SERVER:8445/finesse/api/SystemInfo, without
                 credentials, must report status IN_SERVICE. An HTTP 503
                 SERVER_OUT_OF_SERVICE or any other status fails.
  2. xmpp        connect to the Finesse Notification Service on the same host
                 the way desktops do (see Transports), and log in with
                 SASL PLAIN as the probe user under a unique resource.
  3. presence    wait up to --presence-timeout for the presence of the
                 'finesse' user (finesse@<xmppDomain>): AVAILABLE passes,
                 UNAVAILABLE or silence fails.

SERVER is a host, host:port (the HTTPS port, default 8445) or
https://host:port. Up to --concurrency servers (default 256) are checked at
once, each under one deadline (--timeout) that covers all three criteria and
starts with its check; more servers wait their turn. finessectl exits within
the deadline plus a second for each wave: ceil(servers / concurrency) waves.

Transports (--xmpp-transport; every report says which was used and why):
  auto (default)  what desktops use, newest first: XMPP over WebSocket
                  (RFC 7395) at wss://SERVER:<HTTPS port>/ws/ (Finesse 12.6
                  and later, through the web proxy), then wss://SERVER:7443/ws/
                  (12.0 to 12.5; --bosh-port), then direct TLS on 5223
                  (--xmpp-port). It moves on only when a transport is
                  plainly absent (connection refused, HTTP 404), never
                  after a timeout, which may be the outage.
  websocket       WebSocket only, on --xmpp-port (default: the HTTPS port of
                  SERVER) at --ws-path (default /ws/).
  tcp             XMPP over TCP: --xmpp-tls direct (5223), starttls (5222) or
                  none (5222 in clear text, only with --connect-only:
                  finessectl never sends a password without TLS). Since
                  12.5(1) ES4, 5223 answers only allow-listed hosts and 5222
                  is off by default. --xmpp-tls or --xmpp-port without
                  --xmpp-transport mean tcp.

The Notification Service's connection (TCP, TLS, WebSocket upgrade) is opened
while SystemInfo is fetched, to save round trips over a WAN; nothing XMPP is
sent before SystemInfo passed, and a failed SystemInfo closes it unused.
<starttls/> goes with the first stream header and the bind request with the
stream restart (XEP-0305 pipelining). --overlap=false opens the connection
only after SystemInfo passed and waits for each answer before the next request.

--bosh-probe also creates and ends a BOSH session at
https://SERVER:7443/http-bind/ (--bosh-port) without logging in (12.5 desktops
can use BOSH); it is reported on a line of its own and fails the run (exit 20)
only with --require-bosh.

The probe user must be a dedicated account that never signs in to an agent
desktop: Finesse watches the presence of desktop users and forces a logout
60 seconds after it goes unavailable. finessectl never retries a failed
login, since five failed sign-ins lock a Finesse account for 5 minutes.

Credentials:
  FINESSE_USER       the probe user's ID (or --user)
  FINESSE_PASSWORD   its password (or --password-file); never a flag, as
                     command lines are visible to every user in ps
With --connect-only no credentials are needed: criterion 2 stops after TLS and
stream negotiation, and presence is reported as not checked.

TLS is verified unless -k/--insecure is given. --ca-file trusts a PEM bundle (instead of the system
roots) for both ports; the Notification Service presents the same certificate
as Finesse Tomcat, issued to the node you dial, so both ports are verified
against that host name (or --tls-server-name).

SystemInfo is fetched directly, never through a proxy: HTTPS_PROXY and
similar variables are ignored, since a proxy would answer for the node.

Output is a report per server (-o text), or a stable JSON document (-o json)
documented in the README; with -o json even a usage error is a JSON document.
A node that passes while draining for maintenance (finesseMMode IN_PROGRESS)
or whose last CTI heartbeat failed gets a warning; the exit code stays 0.
-q prints nothing when every server passed, and the full report when one did
not (a degraded pair too), so cron mails only failures. Colour follows --color; 'auto'
colours only a terminal, and never when NO_COLOR is set.

-o nagios makes finessectl a monitoring plugin for Nagios Core, Icinga 2 and
Naemon (Monitoring Plugins guidelines): one line "FINESSE STATE - summary"
with perfdata (criterion times, availability, certificate days left, run
duration), a line per server after it, and exit codes 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN instead of the codes below. A failed criterion is
CRITICAL (timeouts and refused connections too), a warning WARNING, a
certificate within --cert-crit CRITICAL; with --require any a pair with one
node down is WARNING. -w and -c take ranges such as 5 or 10:20 on the run's
duration in seconds. Usage and internal errors, --help and --version are
UNKNOWN (3), with the error on stdout, which is all Nagios reads.

-o junit writes a JUnit report for CI systems (GitLab, GitHub Actions,
Jenkins): a testsuite per server, a testcase per criterion, failures with the
scenario and what to check, criteria not reached as skipped. The exit code
stays the one below; redirect the report to a file and keep the exit code
(set -o pipefail when piping).

Exit codes (more in 'finessectl help exit-codes'); with several servers, the
code of the first server, in the order given, whose check failed (0 under
--require any when at least one passed):

`

const checkExample = `  # Check a Finesse pair, as a cron job or CI step would
  FINESSE_USER=1080001 finessectl check --password-file /etc/finessectl/probe.pw \
      --ca-file tomcat-ca.pem finesse-a.example.com finesse-b.example.com

  # Only what needs no account: SystemInfo, then XMPP up to the stream
  finessectl check --connect-only finesse-a.example.com

  # Machine-readable verdict
  finessectl check -o json finesse-a.example.com | jq '.servers[] | {server, exit_code, scenario}'

  # A go-live gate in CI, with a JUnit report the pipeline publishes
  finessectl check -o junit --require all finesse-a.example.com finesse-b.example.com > finesse-report.xml

  # As a Nagios or Icinga plugin: WARNING when a run takes over 5 s
  finessectl check -o nagios --require any -w 5 finesse-a.example.com finesse-b.example.com

  # From cron, for Prometheus' node_exporter: metrics to a file, mail only on failure
  finessectl check -q --textfile /var/lib/node_exporter/textfile/finesse.prom finesse-a.example.com finesse-b.example.com

  # Finesse 12.5: WebSocket on 7443, and BOSH, as its desktops connect
  finessectl check --xmpp-transport websocket --xmpp-port 7443 --bosh-probe finesse-a.example.com

  # Finesse with the insecure port 5222 enabled (STARTTLS)
  finessectl check --xmpp-tls starttls finesse-a.example.com`

// NewCmdCheck builds 'finessectl check'. runF replaces the run function in tests.
func NewCmdCheck(ios *IOStreams, runF func(context.Context, *CheckOptions) error) *cobra.Command {
	opts := &CheckOptions{IO: ios}
	cmd := &cobra.Command{
		Use:     "check [flags] SERVER...",
		Short:   "Check Finesse servers against the guide's three availability criteria",
		Long:    checkLong + exitCodeTable(false),
		Example: checkExample,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.Flags().Changed("cluster") {
				return usageError("give SERVER arguments or --cluster NAME, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Servers = args
			opts.noteFlags(cmd.Flags())
			opts.flags = cmd.Flags()
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCheck(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	addCheckFlags(f, opts)
	f.StringVar(&opts.ConfigFile, "config", "", "read defaults and clusters from this YAML `FILE` (default $XDG_CONFIG_HOME/finessectl/config.yaml, if it exists)")
	f.StringArrayVar(&opts.Clusters, "cluster", nil, "check the servers of cluster `NAME` of the config file, with its settings (repeatable)")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	completeChoices(cmd)
	return cmd
}

// addCheckFlags defines the flags that shape a check, on the command line
// and, again, for each run a config file describes.
func addCheckFlags(f *pflag.FlagSet, opts *CheckOptions) {
	f.DurationVarP(&opts.Timeout, "timeout", "t", check.DefaultTimeout, "deadline per server, covering all three criteria")
	f.IntVar(&opts.Concurrency, "concurrency", check.DefaultConcurrency, "how many servers to check at once; more servers run in waves of this size")
	f.DurationVar(&opts.PresenceTimeout, "presence-timeout", check.DefaultPresenceTimeout, "how long to wait for the 'finesse' presence")
	f.StringVarP(&opts.User, "user", "u", "", "probe user ID (default $FINESSE_USER)")
	f.StringVar(&opts.PasswordFile, "password-file", "", "read the probe password from the first line of `FILE` ('-' for stdin; default $FINESSE_PASSWORD)")
	f.BoolVar(&opts.ConnectOnly, "connect-only", false, "do not log in: check SystemInfo and XMPP up to the stream, skip presence")
	f.Var(newChoice(&opts.XMPPTransport, string(check.TransportAuto), "auto, tcp or websocket", transportNames()...),
		"xmpp-transport", "how to reach the Notification Service: 'auto' (WebSocket on the HTTPS port, then on 7443, then direct TLS on 5223), 'tcp' or 'websocket'")
	f.Var(newChoice(&opts.XMPPTLS, string(xmppprobe.DirectTLS), "direct (port 5223), starttls (port 5222) or none (port 5222, only with --connect-only)",
		string(xmppprobe.DirectTLS), string(xmppprobe.StartTLS), string(xmppprobe.NoTLS)),
		"xmpp-tls", "XMPP over TCP: 'direct' (TLS from the first byte), 'starttls', or 'none' (with --connect-only); implies --xmpp-transport tcp")
	f.IntVar(&opts.XMPPPort, "xmpp-port", 0, "XMPP port: over TCP default 5223 for direct, 5222 for starttls and none; over WebSocket the SERVER's HTTPS port; with auto, its last resort (5223); implies --xmpp-transport tcp unless it is given")
	f.IntVar(&opts.BOSHPort, "bosh-port", finesse.BOSHPort, "port of the Notification Service's HTTP endpoints: the WebSocket auto tries second, and BOSH")
	f.StringVar(&opts.WSPath, "ws-path", finesse.WebSocketPath, "HTTP path of the WebSocket endpoint")
	f.BoolVar(&opts.BOSHProbe, "bosh-probe", false, "also check BOSH on port 7443 without logging in (for 12.5 desktops); reported on its own line")
	f.BoolVar(&opts.RequireBOSH, "require-bosh", false, "fail the XMPP criterion (exit 20) when the BOSH probe fails; implies --bosh-probe")
	f.BoolVar(&opts.Overlap, "overlap", true, "dial the Notification Service while SystemInfo is fetched, and pipeline XMPP requests; --overlap=false waits for each answer")
	f.StringVar(&opts.FinesseJID, "finesse-jid", "", "JID whose presence is awaited (default finesse@<xmppDomain>)")
	f.StringVar(&opts.CAFile, "ca-file", "", "trust the certificates in this PEM `FILE` instead of the system roots")
	f.BoolVarP(&opts.Insecure, "insecure", "k", false, "do not verify TLS certificates (the password is then exposed to a man in the middle)")
	f.StringVar(&opts.TLSServerName, "tls-server-name", "", "verify certificates against this name instead of the dialed host")
	f.Var(newChoice(&opts.Require, string(check.RequireAll), "all (every server must pass) or any (one is enough)", string(check.RequireAll), string(check.RequireAny)),
		"require", "'all' servers must pass, or 'any' one (a pair with one node up is degraded, exit 0)")
	f.BoolVar(&opts.Peers, "peers", false, "also check the alternate node each server's SystemInfo names")
	opts.CertWarn, opts.CertCrit = daysValue(check.DefaultCertWarn), daysValue(check.DefaultCertCrit)
	f.Var(&opts.CertWarn, "cert-warn", "warn when a port's certificate expires within this time (30d, 720h)")
	f.Var(&opts.CertCrit, "cert-crit", "critical warning when a port's certificate expires within this time")
	f.VarP(newChoice(&opts.Output, "text", strings.Join(outputFormats, ", "), outputFormats...), "output", "o", "report format: "+strings.Join(outputFormats, ", "))
	f.StringVarP(&opts.Warning, "warning", "w", "", "with -o nagios: WARNING when the run's duration in seconds is outside this `RANGE` (10, 10:, ~:10, 10:20, @10:20)")
	f.StringVarP(&opts.Critical, "critical", "c", "", "with -o nagios: CRITICAL when the run's duration in seconds is outside this `RANGE`")
	f.Var(newChoice(&opts.Color, "auto", "auto, always or never", "auto", "always", "never"), "color", "colour the text report: auto, always or never")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing when every server passed; the full report otherwise")
	f.StringVar(&opts.Textfile, "textfile", "", "also write the Prometheus metrics to `PATH`, atomically, for node_exporter's textfile collector")
	f.BoolVarP(&opts.Verbose, "verbose", "v", false, "show the timing of each phase (dns, connect, tls ...) and the certificates seen")
	f.BoolVar(&opts.Trace, "trace", false, "write the XMPP conversation to stderr, with credentials redacted")
	// Marked as file names for shell completion, and so that a config file
	// can name them relative to itself.
	_ = cobra.MarkFlagFilename(f, "ca-file", "pem", "crt")
	_ = cobra.MarkFlagFilename(f, "password-file")
	_ = cobra.MarkFlagFilename(f, "textfile", "prom")
}

func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// outputFormats are the values of -o, in the order help lists them.
var outputFormats = []string{outputText, outputJSON, outputNagios, outputJUnit, outputPrometheus}

const (
	outputText   = "text"
	outputJSON   = "json"
	outputNagios = "nagios"
	outputJUnit  = "junit"
	// outputPrometheus is the exposition format, for node_exporter's
	// textfile collector or a push; --textfile writes the same atomically.
	outputPrometheus = "prometheus"
)

// insecureWarning is printed whenever -k turns verification off.
const insecureWarning = "finessectl: warning: --insecure: certificates are not verified; a man in the middle could read the probe password"

func runCheck(ctx context.Context, all *CheckOptions) error {
	runs, err := all.plan()
	if err != nil {
		return err
	}
	type resolved struct {
		copts   check.Options
		targets []check.Target
	}
	checks := make([]resolved, len(runs))
	insecure := false
	for i, r := range runs {
		if checks[i].copts, checks[i].targets, err = r.resolve(); err != nil {
			if r.origin != "" {
				err = &exitError{Code: exitCode(err), Err: fmt.Errorf("%s: %w", r.origin, err)}
			}
			return err
		}
		insecure = insecure || r.Insecure
	}
	// The report's own settings (format, colour, -q, -w/-c) cannot differ
	// between runs: plan keeps them out of clusters.
	opts := runs[0]
	if insecure && !opts.Quiet {
		fmt.Fprintln(opts.IO.ErrOut, insecureWarning)
	}
	// One run per cluster, each under its own settings, in one report. The
	// exit code is the first failing cluster's, judged under that cluster's
	// --require: a pair that is down is an outage even when another
	// cluster's pair is up.
	results, names := make([]check.Result, len(checks)), make([]string, len(checks))
	for i, c := range checks {
		results[i], names[i] = check.Run(ctx, c.targets, c.copts), runs[i].origin
	}
	res := check.Join(names, results)
	code := res.ExitCode()
	// The textfile is written whatever is printed, -q included: a cron job
	// feeding node_exporter wants the metrics and no mail. A failure to write
	// it must not hide a failed server: the report still follows, and the
	// exit code is the check's (a degraded pair under --require any
	// included). When every server passed, the failure is the run's
	// outcome, and the only thing reported: a passing report followed by an
	// error would be two JSON documents, or a Nagios OK line over an UNKNOWN
	// state.
	var textfileErr error
	if opts.Textfile != "" {
		textfileErr = metrics.WriteTextfile(opts.Textfile, res)
	}
	allPassed := res.Verdict() == check.VerdictAvailable
	if textfileErr != nil && allPassed {
		return usageError("--textfile: %v", textfileErr)
	}
	// Quiet is silent only when every server passed: a degraded pair that
	// exits 0 under --require any is still news for whoever reads cron mail.
	if opts.Quiet && allPassed {
		return nil
	}

	switch opts.Output {
	case outputNagios:
		// The plugin's state, not the scenario code, is the exit code; it
		// comes from the same evaluation as the line Nagios shows.
		var state nagios.State
		if state, err = output.Nagios(opts.IO.Out, res, opts.warn, opts.crit); err == nil {
			code = finesse.Code(state)
		}
	case outputJSON:
		err = output.JSON(opts.IO.Out, res)
	case outputJUnit:
		err = output.JUnit(opts.IO.Out, res)
	case outputPrometheus:
		err = metrics.WriteText(opts.IO.Out, res)
	default:
		err = output.Text(opts.IO.Out, res, output.TextOptions{Color: opts.IO.colorEnabled(opts.Color), Verbose: opts.Verbose})
	}
	if err != nil {
		return &exitError{Code: finesse.Internal, Err: fmt.Errorf("write report: %w", err)}
	}
	if textfileErr != nil {
		fmt.Fprintf(opts.IO.ErrOut, "finessectl: --textfile: %v\n", textfileErr)
	}
	if code != finesse.OK {
		return &exitError{Code: code}
	}
	return nil
}

// resolve validates the flags and turns them into check.Options; every
// mistake is a usage error that says how to fix it.
func (o *CheckOptions) resolve() (check.Options, []check.Target, error) {
	var c check.Options
	if err := o.resolveThresholds(); err != nil {
		return c, nil, err
	}
	mode := xmppprobe.TLSMode(o.XMPPTLS)
	transport, err := o.transport()
	if err != nil {
		return c, nil, err
	}
	if o.Timeout > maxTimeout {
		return c, nil, usageError("--timeout %v: a check may take at most %v", o.Timeout, maxTimeout)
	}
	if o.Timeout <= 0 || o.PresenceTimeout <= 0 {
		return c, nil, usageError("--timeout and --presence-timeout must be positive durations, such as 10s or 500ms")
	}
	presenceTimeout := o.PresenceTimeout
	if !o.presenceTimeoutSet {
		presenceTimeout = min(presenceTimeout, o.Timeout)
	}
	if presenceTimeout > o.Timeout {
		return c, nil, usageError("--presence-timeout %v is longer than --timeout %v, which covers all three criteria: raise --timeout or lower --presence-timeout", o.PresenceTimeout, o.Timeout)
	}
	if o.Concurrency < 1 {
		return c, nil, usageError("--concurrency %d: use 1 or more", o.Concurrency)
	}
	require := check.Require(o.Require)
	if o.CertWarn <= 0 || o.CertCrit <= 0 || o.CertCrit > o.CertWarn {
		return c, nil, usageError("--cert-warn %s and --cert-crit %s: use positive durations, --cert-crit no longer than --cert-warn (such as 30d and 7d)", &o.CertWarn, &o.CertCrit)
	}
	if o.XMPPPort < 0 || o.XMPPPort > 65535 {
		return c, nil, usageError("--xmpp-port %d: use a port from 1 to 65535", o.XMPPPort)
	}
	targets := make([]check.Target, 0, len(o.Servers))
	for _, s := range o.Servers {
		t, err := check.ParseTarget(s)
		if err != nil {
			return c, nil, &exitError{Code: finesse.Usage, Err: err}
		}
		targets = append(targets, t)
	}
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return c, nil, err
	}
	c = check.Options{
		XMPPTransport:   transport,
		WebSocketPath:   o.WSPath,
		BOSHProbe:       o.BOSHProbe || o.RequireBOSH,
		BOSHPort:        o.BOSHPort,
		RequireBOSH:     o.RequireBOSH,
		Timeout:         o.Timeout,
		Concurrency:     o.Concurrency,
		PresenceTimeout: presenceTimeout,
		XMPPMode:        mode,
		XMPPPort:        o.XMPPPort,
		TLS:             tlsCfg,
		TLSServerName:   o.TLSServerName,
		FinesseJID:      o.FinesseJID,
		ConnectOnly:     o.ConnectOnly,
		Sequential:      !o.Overlap,
		Require:         require,
		Peers:           o.Peers,
		CertWarn:        time.Duration(o.CertWarn),
		CertCrit:        time.Duration(o.CertCrit),
	}
	if o.Trace {
		c.Trace = o.IO.ErrOut
	}
	if !o.ConnectOnly {
		if c.User, c.Password, err = o.credentials(); err != nil {
			return c, nil, err
		}
	}
	return c, targets, nil
}

// noteFlags records which flags fs was given, where a default and an
// explicit value mean different things.
func (o *CheckOptions) noteFlags(fs *pflag.FlagSet) {
	o.presenceTimeoutSet = fs.Changed("presence-timeout")
	o.transportSet = fs.Changed("xmpp-transport")
	o.tcpPinned = fs.Changed("xmpp-tls") || fs.Changed("xmpp-port")
}

// transport settles --xmpp-transport against the TCP-only flags, and refuses
// combinations that cannot mean what the user wants.
func (o *CheckOptions) transport() (check.Transport, error) {
	t := check.Transport(o.XMPPTransport)
	if !o.transportSet && o.tcpPinned {
		t = check.TransportTCP
	}
	switch {
	case o.BOSHPort < 0 || o.BOSHPort > 65535:
		return t, usageError("--bosh-port %d: use a port from 1 to 65535", o.BOSHPort)
	case t != check.TransportTCP && o.XMPPTLS != string(xmppprobe.DirectTLS):
		return t, usageError("--xmpp-tls %s applies to XMPP over TCP, not to --xmpp-transport %s (WebSocket is always over TLS)", o.XMPPTLS, t)
	case o.XMPPTLS == string(xmppprobe.NoTLS) && !o.ConnectOnly:
		return t, usageError("--xmpp-tls none needs --connect-only: finessectl never sends a password without TLS")
	case !strings.HasPrefix(o.WSPath, "/"):
		return t, usageError("--ws-path %q: give an absolute path, such as %s", o.WSPath, finesse.WebSocketPath)
	}
	return t, nil
}

func transportNames() []string {
	names := make([]string, len(check.Transports))
	for i, t := range check.Transports {
		names[i] = string(t)
	}
	return names
}

// resolveThresholds parses -w and -c, which only the plugin mode reads, and
// refuses -q there: a plugin must always print its line.
func (o *CheckOptions) resolveThresholds() error {
	if o.Output != outputNagios {
		if o.Warning != "" || o.Critical != "" {
			return usageError("-w/--warning and -c/--critical apply to -o nagios only")
		}
		return nil
	}
	if o.Quiet {
		return usageError("-q/--quiet does not apply to -o nagios: a monitoring plugin must always print its status line")
	}
	for _, t := range []struct {
		flag, text string
		dst        **nagios.Range
	}{{"--warning", o.Warning, &o.warn}, {"--critical", o.Critical, &o.crit}} {
		if t.text == "" {
			continue
		}
		r, err := nagios.ParseRange(t.text)
		if err != nil {
			return usageError("%s: %v", t.flag, err)
		}
		*t.dst = &r
	}
	return nil
}

func (o *CheckOptions) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: o.Insecure} //nolint:gosec // only on explicit --insecure, with a warning
	if o.CAFile == "" {
		return cfg, nil
	}
	pem, err := readRegularFile(o.CAFile, maxCABytes)
	if err != nil {
		return nil, usageError("--ca-file %s: %v", o.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usageError("--ca-file %s: no PEM certificate found in it", o.CAFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

const credentialsHelp = `no probe credentials. Give the probe user's ID with FINESSE_USER or --user,
and its password with FINESSE_PASSWORD or --password-file FILE (never as a flag:
command lines are visible in ps). Use a dedicated account that never signs in
to an agent desktop. To check without logging in, add --connect-only.`

func (o *CheckOptions) credentials() (user, password string, err error) {
	user = o.User
	if user == "" {
		user = o.IO.Getenv("FINESSE_USER")
	}
	if p, ok := o.passwords[o.PasswordFile]; ok {
		password = p
	} else if o.PasswordFile != "" {
		if password, err = o.readPassword(); err != nil {
			return "", "", err
		}
		if o.passwords != nil {
			o.passwords[o.PasswordFile] = password
		}
	} else {
		password = o.IO.Getenv("FINESSE_PASSWORD")
		if problem := passwordProblem([]byte(password)); password != "" && problem != "" {
			return "", "", usageError("FINESSE_PASSWORD cannot be the probe password: %s", problem)
		}
	}
	switch {
	case user != "" && password == "":
		return "", "", usageError("the probe user %q is set, but no password: set FINESSE_PASSWORD or give --password-file FILE "+
			"(never a flag: command lines are visible in ps). To check without logging in, add --connect-only.", user)
	case user == "" || password == "":
		return "", "", usageError(credentialsHelp)
	}
	return user, password, nil
}

// readPassword reads the first line of --password-file, so that files written
// by editors or 'echo' (with their trailing newline) work as expected. Like
// ssh with a private key, it refuses a file others may read.
func (o *CheckOptions) readPassword() (string, error) {
	var line []byte
	if o.PasswordFile == "-" {
		var err error
		if line, err = readFirstLineWithin(o.IO.In, maxPasswordBytes, o.Timeout); err != nil {
			return "", usageError("--password-file -: %v", err)
		}
	} else {
		f, fi, err := openRegular(o.PasswordFile)
		if err != nil {
			return "", usageError("--password-file %s: %v", o.PasswordFile, err)
		}
		defer f.Close()
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return "", usageError("--password-file %s: it is accessible to other users (mode %04o); run: chmod 600 %s",
				o.PasswordFile, perm, o.PasswordFile)
		}
		if line, err = firstLine(bufio.NewReader(f), maxPasswordBytes); err != nil {
			return "", usageError("--password-file %s: %v", o.PasswordFile, err)
		}
	}
	if problem := passwordProblem(line); problem != "" {
		return "", usageError("--password-file %s: the first line cannot be a password: %s", o.PasswordFile, problem)
	}
	return string(line), nil
}

// maxConfigBytes bounds the config file: thousands of clusters fit in it.
const maxConfigBytes = 1 << 20

const noServers = "check needs at least one SERVER (host, host:port or https://host:port)"

// notInFile are the check flags a config file cannot set: --trace is for a
// person debugging one run at a terminal, not a setting to keep.
var notInFile = []string{"trace"}

// reportFlags shape the one report a run writes, so they may be set under
// defaults but not per cluster.
var reportFlags = []string{"output", "color", "quiet", "verbose", "warning", "critical", "textfile"}

// plan reads the config file, if there is one, and returns the runs to
// make: one for the SERVER arguments, or one per cluster, each with its
// settings. Flags given on the command line override a cluster's settings,
// which override the file's defaults, which override the flags' defaults.
func (o *CheckOptions) plan() ([]*CheckOptions, error) {
	file, err := o.loadConfig()
	switch {
	case err != nil:
		return nil, err
	case file == nil && len(o.Clusters) > 0:
		return nil, usageError("--cluster %s: no config file; give --config FILE", o.Clusters[0])
	case file == nil && len(o.Servers) == 0:
		return nil, usageError(noServers)
	case file == nil:
		return []*CheckOptions{o}, nil
	case len(o.Servers) > 0:
		run, err := o.derive(file, nil)
		return []*CheckOptions{run}, err
	}
	clusters := file.Clusters
	if len(o.Clusters) > 0 {
		clusters = nil
		for i, name := range o.Clusters {
			c, ok := file.Cluster(name)
			if !ok {
				return nil, usageError("--cluster %s: no such cluster in %s (clusters: %s)", name, file.Path, strings.Join(file.Names(), ", "))
			}
			if slices.Contains(o.Clusters[:i], name) {
				return nil, usageError("--cluster %s: given twice", name)
			}
			clusters = append(clusters, *c)
		}
	}
	if len(clusters) == 0 {
		return nil, usageError("%s, or clusters in %s", noServers, file.Path)
	}
	o.passwords = map[string]string{}
	runs := make([]*CheckOptions, len(clusters))
	for i := range clusters {
		if runs[i], err = o.derive(file, &clusters[i]); err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// loadConfig reads --config, or else the default file when it exists; nil
// when there is none.
func (o *CheckOptions) loadConfig() (*config.File, error) {
	path, name := o.ConfigFile, "--config "+o.ConfigFile
	if path == "" {
		if path = config.DefaultPath(o.IO.Getenv); path == "" {
			return nil, nil
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		name = "config file " + path
	}
	// Bounded and regular only, like --ca-file; but it may be readable by
	// others, since it holds no password.
	data, err := readRegularFile(path, maxConfigBytes)
	if err != nil {
		return nil, usageError("%s: %v", name, err)
	}
	flags := pflag.NewFlagSet("check", pflag.ContinueOnError)
	addCheckFlags(flags, &CheckOptions{})
	file, err := config.Parse(path, data, config.Flags(flags, notInFile...))
	if err != nil {
		return nil, &exitError{Code: finesse.Usage, Err: err}
	}
	return file, nil
}

// derive makes the options of one run on flags of its own: the file's
// defaults, then cluster c's settings and servers (o's servers when c is
// nil), then every flag given on the command line.
func (o *CheckOptions) derive(file *config.File, c *config.Cluster) (*CheckOptions, error) {
	run := &CheckOptions{IO: o.IO, Servers: o.Servers, passwords: o.passwords}
	flags := pflag.NewFlagSet("check", pflag.ContinueOnError)
	addCheckFlags(flags, run)
	if err := file.Apply(flags, file.Defaults); err != nil {
		return nil, &exitError{Code: finesse.Usage, Err: err}
	}
	if c != nil {
		for _, s := range c.Settings {
			if slices.Contains(reportFlags, s.Flag) {
				return nil, &exitError{Code: finesse.Usage, Err: &config.Error{Path: file.Path, Line: s.Line,
					Msg: fmt.Sprintf("%s in cluster %q: it shapes the whole report, so it belongs under defaults", s.Key, c.Name)}}
			}
		}
		if err := file.Apply(flags, c.Settings); err != nil {
			return nil, &exitError{Code: finesse.Usage, Err: err}
		}
		run.Servers = nil
		for _, s := range c.Servers {
			if _, err := check.ParseTarget(s.Text); err != nil {
				return nil, &exitError{Code: finesse.Usage, Err: &config.Error{Path: file.Path, Line: s.Line, Msg: err.Error()}}
			}
			run.Servers = append(run.Servers, s.Text)
		}
		run.origin = fmt.Sprintf("cluster %q of %s", c.Name, file.Path)
	}
	if err := checkFiles(file, flags, o.flags, file.Defaults, settingsOf(c)); err != nil {
		return nil, &exitError{Code: finesse.Usage, Err: err}
	}
	var err error
	o.flags.Visit(func(fl *pflag.Flag) {
		if err == nil && flags.Lookup(fl.Name) != nil {
			err = flags.Set(fl.Name, fl.Value.String())
		}
	})
	if err != nil {
		return nil, usageError("%v", err)
	}
	run.noteFlags(flags)
	return run, nil
}

func settingsOf(c *config.Cluster) []config.Setting {
	if c == nil {
		return nil
	}
	return c.Settings
}

// checkFiles reports a file the config file names that does not exist at
// the line naming it; the file is read only later, when the line is no longer
// known. A file the command line names instead is judged as the flag's.
func checkFiles(file *config.File, flags, cmdline *pflag.FlagSet, layers ...[]config.Setting) error {
	last := map[string]config.Setting{}
	for _, settings := range layers {
		for _, s := range settings {
			last[s.Flag] = s
		}
	}
	for _, name := range []string{"ca-file", "password-file"} {
		s, ok := last[name]
		if !ok || cmdline.Changed(name) {
			continue
		}
		path := flags.Lookup(name).Value.String()
		if path == "-" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return &config.Error{Path: file.Path, Line: s.Line, Msg: fmt.Sprintf("%s: %v", s.Key, err)}
		}
	}
	return nil
}
