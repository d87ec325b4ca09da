package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/output"
	"github.com/finessectl/finessectl/internal/watch"
)

// WatchOptions configure 'finessectl watch'.
type WatchOptions struct {
	IO *IOStreams

	Server, Alternate string
	PingInterval      time.Duration
	PollInterval      time.Duration
	Until             string
	MaxWait           time.Duration
	// Check holds the check flags that apply to a watch: trust,
	// credentials, ports, deadlines, output and colour.
	Check CheckOptions
}

const watchLong = `Follow one Finesse node live, as an agent desktop does, through the failure
scenarios and the recovery of the Finesse developer guide.

watch first reaches "fully available" through the three criteria of 'check'.
Then it stays connected as a desktop does: it sends priority-0 presence, pings
the Notification Service (XEP-0199) every --ping-interval, and reads the
SystemInfo notifications every Finesse user receives and the 'finesse' user's
presence. It reports each failure scenario of the guide when it happens:

  XMPP connection lost             no answer within --ping-interval plus
                                   --timeout, or the stream ended (exit 20)
  SystemInfo OUT_OF_SERVICE        a notification, or a poll (exit 12)
  'finesse' presence UNAVAILABLE   the Finesse web app or Tomcat (exit 30)

and follows the guide's recovery literally: with the connection down, poll
SystemInfo every --poll-interval until IN_SERVICE, then reconnect with a fresh
client, waiting longer between attempts (with jitter) up to the poll
interval; on OUT_OF_SERVICE, wait for IN_SERVICE; on an UNAVAILABLE 'finesse',
wait for AVAILABLE, then for IN_SERVICE. Meanwhile it checks the alternate
node (ALTERNATE, or the one SystemInfo names) and says whether agents could
fail over to it.

A rejected login is never retried (five failed sign-ins lock a Finesse
account): watch stops with exit 22.

Each event is a timestamped line (-o json: JSON Lines with time, server,
event, state, scenario, exit_code, via and detail). On exit comes an outage
summary: each outage's start, end, length and scenario, the total downtime
and the mean time to recovery (-o json: a last line with event "summary").

watch runs until Ctrl-C (SIGINT) or SIGTERM, then leaves cleanly (unavailable
presence, stream close) and exits 0. --until available exits 0 as soon as the
node is fully available: a go-live gate; with --max-wait D it exits with the
current scenario's code from the check contract when D passes first.
--until failure exits with the code of the first failure scenario.`

const watchExample = `  # Follow a node through a maintenance window; Ctrl-C prints the outage summary
  FINESSE_USER=1080001 finessectl watch --password-file /etc/finessectl/probe.pw \
      --ca-file tomcat-ca.pem finesse-a.example.com

  # Go-live gate: wait up to 15 minutes for the node to be fully available
  finessectl watch --until available --max-wait 15m finesse-a.example.com

  # Page on the first failure, with the events as JSON Lines
  finessectl watch --until failure -o json finesse-a.example.com finesse-b.example.com`

// watchIgnores are the check flags that mean nothing to a watch; given,
// they are refused rather than silently ignored.
var watchIgnores = []string{"concurrency", "require", "peers", "cert-warn", "cert-crit",
	"warning", "critical", "quiet", "textfile", "connect-only"}

// NewCmdWatch builds 'finessectl watch'.
func NewCmdWatch(ios *IOStreams, runF func(context.Context, *WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{IO: ios, Check: CheckOptions{IO: ios}}
	cmd := &cobra.Command{
		Use:     "watch [flags] SERVER [ALTERNATE]",
		Short:   "Follow a node live through the guide's failure scenarios and recovery",
		Long:    watchLong + "\n\nExit codes:\n\n" + exitCodeTable(false),
		Example: watchExample,
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range watchIgnores {
				if cmd.Flags().Changed(name) {
					return usageError("--%s does not apply to watch", name)
				}
			}
			opts.Server = args[0]
			if len(args) == 2 {
				opts.Alternate = args[1]
			}
			opts.Check.noteFlags(cmd.Flags())
			opts.Check.flags = cmd.Flags()
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runWatch(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.DurationVar(&opts.PingInterval, "ping-interval", watch.DefaultPingInterval, "ping the Notification Service this often; a stream silent for this plus --timeout is lost")
	f.DurationVar(&opts.PollInterval, "poll-interval", watch.DefaultPollInterval, "poll SystemInfo this often while the node is out, as desktops do")
	f.Var(newChoice(&opts.Until, "", "available (a go-live gate) or failure", string(watch.UntilAvailable), string(watch.UntilFailure)),
		"until", "exit by itself: 'available' as soon as the node is fully available, 'failure' at the first failure scenario")
	f.DurationVar(&opts.MaxWait, "max-wait", 0, "with --until available: give up after this long, with the current scenario's exit code")
	addCheckFlags(f, &opts.Check)
	for _, name := range watchIgnores {
		_ = f.MarkHidden(name)
	}
	// watch writes text or JSON Lines only, of the formats -o accepts.
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion(outputText, outputJSON))
	completeChoices(cmd)
	return cmd
}

func (o *WatchOptions) config() (watch.Config, error) {
	var cfg watch.Config
	if o.Check.Output != outputText && o.Check.Output != outputJSON {
		return cfg, usageError("--output %s: watch writes text or json", o.Check.Output)
	}
	if o.PingInterval <= 0 || o.PollInterval <= 0 {
		return cfg, usageError("--ping-interval and --poll-interval must be positive durations, such as 10s")
	}
	if o.MaxWait < 0 || (o.MaxWait > 0 && o.Until != string(watch.UntilAvailable)) {
		return cfg, usageError("--max-wait applies to --until available, as a positive duration such as 15m")
	}
	o.Check.Servers = []string{o.Server}
	copts, targets, err := o.Check.resolve()
	if err != nil {
		return cfg, err
	}
	cfg = watch.Config{Target: targets[0], Options: copts, PingInterval: o.PingInterval, PollInterval: o.PollInterval,
		Until: watch.Until(o.Until), MaxWait: o.MaxWait}
	if o.Alternate != "" {
		alt, err := check.ParseTarget(o.Alternate)
		if err != nil {
			return cfg, &exitError{Code: finesse.Usage, Err: err}
		}
		cfg.Alternate = &alt
	}
	return cfg, nil
}

func runWatch(ctx context.Context, opts *WatchOptions) error {
	cfg, err := opts.config()
	if err != nil {
		return err
	}
	if opts.Check.Insecure {
		fmt.Fprintln(opts.IO.ErrOut, insecureWarning)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	text := output.TextOptions{Color: opts.IO.colorEnabled(opts.Check.Color)}
	asJSON := opts.Check.Output == outputJSON
	// A reader that went away (a closed pipe) must not stop the watch, nor
	// the clean goodbye to the server: write errors end output, not the run.
	var writeErr error
	cfg.Emit = func(e watch.Event) {
		if writeErr != nil {
			return
		}
		if asJSON {
			writeErr = output.WatchEventJSON(opts.IO.Out, e)
		} else {
			writeErr = output.WatchEvent(opts.IO.Out, e, text)
		}
	}
	rep := watch.Run(ctx, cfg)
	if writeErr == nil {
		if asJSON {
			writeErr = output.WatchSummaryJSON(opts.IO.Out, rep)
		} else {
			writeErr = output.WatchSummary(opts.IO.Out, rep, text)
		}
	}
	if writeErr != nil {
		fmt.Fprintf(opts.IO.ErrOut, "finessectl: write events: %v\n", writeErr)
	}
	if rep.Code != finesse.OK {
		return &exitError{Code: rep.Code}
	}
	return nil
}
