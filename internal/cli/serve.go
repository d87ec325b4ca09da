package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/config"
	"github.com/finessectl/finessectl/internal/exporter"
	"github.com/finessectl/finessectl/internal/finesse"
)

// ServeOptions configure 'finessectl serve'.
type ServeOptions struct {
	IO *IOStreams

	Listen      string
	MinInterval time.Duration
	// AllowTargets are the --allow-target host patterns: the servers a
	// scrape may name besides those of the config file's clusters.
	AllowTargets []string
	// Check holds the check flags and --config: the settings of every
	// probe, under the config file's cluster settings when a scrape names
	// a cluster.
	Check CheckOptions
}

const serveLong = `Serve Finesse checks to Prometheus, in the style of blackbox_exporter: each
scrape of /probe runs one check and answers its metrics (those of
'check -o prometheus').

  /probe?target=HOST[:PORT]  check one server with the defaults: these flags
                             over the config file's defaults
  /probe?cluster=NAME        check the servers of a cluster of the config
                             file, with its settings, as 'check --cluster'
  /metrics                   the exporter's own metrics
  /                          the last 100 probes, with their reports
  /-/healthy                 200 OK

The scrape timeout Prometheus announces (X-Prometheus-Scrape-Timeout-Seconds)
less 0.5 s bounds the whole scrape: each server's check (at most --timeout),
every wave of a cluster and its --peers, and the wait for another scrape's
check of the same target.

Finesse locks an account after five bad passwords, so scrapes cannot make
logins multiply: a server, however spelled, or a cluster has at most one
check in flight and one per --min-interval, other scrapes get the last
result; and logins with one account take turns. When a login fails
authentication (exit 22), no probe logs in with those credentials again, on
any target, until the config file or a password file holding them is
written again or the exporter restarts; the probes answer the failure
meanwhile.

Credentials come from FINESSE_USER and FINESSE_PASSWORD, --user and
--password-file, or the config file, and are read at every probe; never from
the URL. Stop with Ctrl-C (SIGINT) or SIGTERM.`

const serveExample = `  # The exporter, next to Prometheus
  FINESSE_USER=1080001 finessectl serve --password-file /etc/finessectl/probe.pw \
      --ca-file tomcat-ca.pem --config /etc/finessectl/config.yaml

  # What Prometheus will see
  curl 'http://127.0.0.1:9720/probe?target=finesse-a.example.com'
  curl 'http://127.0.0.1:9720/probe?cluster=site1'`

// NewCmdServe builds 'finessectl serve'.
func NewCmdServe(ios *IOStreams, runF func(context.Context, *ServeOptions) error) *cobra.Command {
	opts := &ServeOptions{IO: ios, Check: CheckOptions{IO: ios}}
	cmd := &cobra.Command{
		Use:     "serve [flags]",
		Short:   "Serve checks to Prometheus, one per scrape of /probe?target=SERVER",
		Long:    serveLong,
		Example: serveExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Check.noteFlags(cmd.Flags())
			opts.Check.flags = cmd.Flags()
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runServe(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&opts.Listen, "listen", "127.0.0.1:9720", "`ADDRESS` to serve on; the page shows probe reports, so keep it on loopback or behind a firewall")
	f.DurationVar(&opts.MinInterval, "min-interval", 10*time.Second, "least time between two checks of one target or cluster; scrapes in between get the last result")
	f.StringArrayVar(&opts.AllowTargets, "allow-target", nil, "let scrapes check hosts matching this glob `PATTERN` too, besides the config file's clusters (repeatable; '*' allows any host)")
	f.StringVar(&opts.Check.ConfigFile, "config", "", "read defaults and clusters from this YAML `FILE` (default $XDG_CONFIG_HOME/finessectl/config.yaml, if it exists)")
	addCheckFlags(f, &opts.Check)
	// A scrape answers metrics, not a report: the report's flags mean
	// nothing here.
	for _, name := range reportFlags {
		_ = f.MarkHidden(name)
	}
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	completeChoices(cmd)
	return cmd
}

// shutdownTimeout is how long a stopping exporter waits for the answers it is
// writing; the checks behind them are cancelled first.
const shutdownTimeout = 2 * time.Second

func runServe(ctx context.Context, opts *ServeOptions) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if opts.MinInterval < 0 {
		return usageError("--min-interval %v: use 0 or a positive duration", opts.MinInterval)
	}
	if opts.Check.PasswordFile == "-" {
		return usageError("--password-file -: serve reads the password at every probe, so that a new one applies; name a file")
	}
	for _, p := range opts.AllowTargets {
		if _, err := path.Match(p, ""); err != nil {
			return usageError("--allow-target %q: not a valid pattern (use *, ? and [...] as in the shell)", p)
		}
	}
	// A broken config file is found now rather than at the first scrape.
	file, err := opts.Check.loadConfig()
	if err != nil {
		return err
	}
	if len(opts.AllowTargets) == 0 && (file == nil || len(file.Clusters) == 0) {
		fmt.Fprintln(opts.IO.ErrOut, "finessectl serve: warning: no config file clusters and no --allow-target: every /probe?target= scrape will be refused")
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return usageError("--listen %s: %v", opts.Listen, err)
	}
	if !loopback(ln.Addr()) {
		fmt.Fprintf(opts.IO.ErrOut, "finessectl serve: warning: listening on %s, beyond this machine: anyone who reaches it can read the probe reports and make checks\n", ln.Addr())
	}
	exp := exporter.New(exporter.Config{Resolve: opts.probe, MinInterval: opts.MinInterval, Logf: opts.logf})
	srv := &http.Server{Handler: exp.Handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(opts.IO.ErrOut, "finessectl serve: listening on http://%s/ (probe with /probe?target=HOST or /probe?cluster=NAME)\n", ln.Addr())

	select {
	case err := <-served:
		exp.Close()
		return &exitError{Code: finesse.Internal, Err: fmt.Errorf("serve: %w", err)}
	case <-ctx.Done():
	}
	fmt.Fprintln(opts.IO.ErrOut, "finessectl serve: stopping")
	exp.Close()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return &exitError{Code: finesse.Internal, Err: fmt.Errorf("shutdown: %w", err)}
	}
	return nil
}

// loopback reports whether addr is reachable from this machine only.
func loopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func (o *ServeOptions) logf(format string, args ...any) {
	fmt.Fprintf(o.IO.ErrOut, "%s finessectl serve: %s\n", time.Now().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

// probe makes the check a scrape asks for as 'check SERVER' or 'check
// --cluster NAME' would, reading the config file afresh: the serve command's
// flags over a cluster's settings over the file's defaults.
func (o *ServeOptions) probe(req exporter.Request) (exporter.Probe, error) {
	var p exporter.Probe
	base := o.Check // a copy per scrape: planning fills it in
	file, err := base.loadConfig()
	if err != nil {
		return p, err
	}
	run := &base
	switch {
	case req.Target != "":
		t, perr := check.ParseTarget(req.Target)
		if perr != nil {
			return p, fmt.Errorf("%w: target: %v", exporter.ErrBadRequest, perr)
		}
		if err = o.allowed(t, file); err != nil {
			return p, err
		}
		base.Servers = []string{req.Target}
		if file != nil {
			run, err = base.derive(file, nil)
		}
	case file == nil:
		return p, fmt.Errorf("%w: cluster %q: finessectl serve has no config file (--config FILE)", exporter.ErrBadRequest, req.Cluster)
	default:
		c, ok := file.Cluster(req.Cluster)
		if !ok {
			return p, fmt.Errorf("%w: cluster %q: no such cluster in %s (clusters: %s)",
				exporter.ErrBadRequest, req.Cluster, file.Path, strings.Join(file.Names(), ", "))
		}
		run, err = base.derive(file, c)
	}
	if err != nil {
		return p, err
	}
	if run.PasswordFile == "-" {
		return p, errors.New("password_file -: serve cannot read the password from stdin; name a file")
	}
	if p.Options, p.Targets, err = run.resolve(); err != nil {
		return p, err
	}
	// With --peers, the alternate node a server's SystemInfo names is
	// held to the same rule as a target: whoever controls an allowed
	// server's SystemInfo must not choose where the password goes.
	p.Options.PeerAllowed = func(t check.Target) error {
		err := o.allowed(t, file)
		if err != nil {
			o.logf("--peers: %s, the alternate node a SystemInfo names, not checked: %v", t.Name, err)
		}
		return err
	}
	configPath := ""
	if file != nil {
		configPath = file.Path
	}
	p.CredentialsChanged = lastModified(configPath, run.PasswordFile)
	return p, nil
}

// allowed says whether a scrape may check t: a server of a cluster of file,
// or a host matching an --allow-target pattern.
func (o *ServeOptions) allowed(t check.Target, file *config.File) error {
	host := strings.ToLower(t.Host)
	for _, pattern := range o.AllowTargets {
		if ok, _ := path.Match(strings.ToLower(pattern), host); ok {
			return nil
		}
	}
	if file != nil {
		for _, c := range file.Clusters {
			for _, s := range c.Servers {
				if ct, err := check.ParseTarget(s.Text); err == nil && strings.ToLower(ct.Host) == host && ct.HTTPSPort == t.HTTPSPort {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("%w: target %q is not a server of the config file's clusters and matches no --allow-target pattern; "+
		"a probe sends the probe user's password to the server it checks, so finessectl serve checks only servers it was told of",
		exporter.ErrForbidden, t.Host)
}

// lastModified is when the newest of the files at paths was written; a path
// that is "" or cannot be read counts for nothing (a check reading it fails
// anyway).
func lastModified(paths ...string) time.Time {
	var last time.Time
	for _, path := range paths {
		if path == "" {
			continue
		}
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	return last
}
