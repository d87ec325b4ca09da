package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/exporter"
	"github.com/finessectl/finessectl/internal/finesse"
)

// ServeOptions configure 'finessectl serve'.
type ServeOptions struct {
	IO *IOStreams

	Listen      string
	MinInterval time.Duration
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

The deadline of a check is the scrape timeout Prometheus announces
(X-Prometheus-Scrape-Timeout-Seconds) less 0.5 s, at most --timeout.

Finesse locks an account after five bad passwords, so scrapes cannot make
logins multiply: a target (or cluster) has at most one check in flight and
one per --min-interval; other scrapes get the last result. When a login
fails authentication (exit 22), no probe logs in with those credentials
again, on any target, until the config file or the password file changes or
the exporter restarts; the probes answer the failure meanwhile.

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
			opts.Check.presenceTimeoutSet = cmd.Flags().Changed("presence-timeout")
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
	f.StringVar(&opts.Check.ConfigFile, "config", "", "read defaults and clusters from this YAML `FILE` (default $XDG_CONFIG_HOME/finessectl/config.yaml, if it exists)")
	addCheckFlags(f, &opts.Check)
	// A scrape answers metrics, not a report: the report's flags mean
	// nothing here.
	for _, name := range reportFlags {
		_ = f.MarkHidden(name)
	}
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("xmpp-tls", fixedCompletion("direct", "starttls"))
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
	// A broken config file is found now rather than at the first scrape.
	if _, err := opts.Check.loadConfig(); err != nil {
		return err
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
		if _, err := check.ParseTarget(req.Target); err != nil {
			return p, fmt.Errorf("%w: target: %v", exporter.ErrBadRequest, err)
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
	configPath := ""
	if file != nil {
		configPath = file.Path
	}
	p.Generation = fileStamp(configPath) + "|" + fileStamp(run.PasswordFile)
	return p, nil
}

// fileStamp identifies a version of the file at path by its size and
// modification time, as make does; "" for no file.
func fileStamp(path string) string {
	if path == "" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil {
		return path + ": " + err.Error()
	}
	return fmt.Sprintf("%s %d %d", path, fi.Size(), fi.ModTime().UnixNano())
}
