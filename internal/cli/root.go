package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/nagios"
	"github.com/finessectl/finessectl/internal/output"
)

// Main runs finessectl with args and returns the process exit code. It is
// the only place that turns errors and panics into exit codes: neither Go's
// panic status 2 nor cobra's 1 can leak out.
func Main(ctx context.Context, args []string, ios *IOStreams, version string) int {
	return execute(ctx, NewRootCmd(ios, resolveVersion(version)), args, ios)
}

func execute(ctx context.Context, root *cobra.Command, args []string, ios *IOStreams) (code int) {
	format := requestedOutput(root, args)
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("internal error: %v", r)
			if format == outputNagios {
				_ = output.NagiosError(ios.Out, err)
				code = int(nagios.Unknown)
				return
			}
			fmt.Fprintf(ios.ErrOut, "finessectl: %v\nThis is a bug; please report it with the command line you ran.\n", err)
			code = int(finesse.Internal)
		}
	}()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if format == outputNagios {
		return nagiosExit(cmd, err, ios)
	}
	if err == nil {
		return int(finesse.OK)
	}
	c := exitCode(err)
	var ee *exitError
	if silent := errors.As(err, &ee) && ee.Err == nil; !silent {
		fmt.Fprintf(ios.ErrOut, "finessectl: %v\n", err)
		if c == finesse.Usage {
			fmt.Fprintf(ios.ErrOut, "Run '%s --help' for usage.\n", commandPath(root, args))
		}
		// A script reading '-o json' must get a document even when no
		// check ran, so that 'jq .exit_code' never reads empty input.
		if format == outputJSON {
			_ = output.JSONError(ios.Out, c, err)
		}
	}
	return int(c)
}

// nagiosExit ends a run under -o nagios, where only 0-3 may leave the
// process and stdout is all Nagios reads (and all Icinga 2 shows unmixed):
// the report already carries the plugin's state; any error is UNKNOWN with
// its text on stdout; and --help and --version, which judged nothing, are
// UNKNOWN too, as the guidelines ask.
func nagiosExit(cmd *cobra.Command, err error, ios *IOStreams) int {
	var ee *exitError
	switch {
	case err == nil && (flagSet(cmd, "help") || flagSet(cmd, "version")):
		return int(nagios.Unknown)
	case err == nil:
		return int(nagios.OK)
	case errors.As(err, &ee) && ee.Err == nil:
		return int(ee.Code) // the state output.Nagios wrote
	}
	_ = output.NagiosError(ios.Out, err)
	return int(nagios.Unknown)
}

func flagSet(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && f.Changed
}

// requestedOutput is the report format args ask 'check' for: json, nagios
// or text. It reads the raw arguments, as pflag will, because a usage error
// can stop flag parsing before -o is seen, and that error must still be
// written in the format asked for.
func requestedOutput(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c.Name() != "check" {
		return pluginAskedElsewhere(args)
	}
	format := outputText // the last -o wins, as in flag parsing
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		f, ok := flagArg(c, a)
		if !ok {
			continue
		}
		if !f.inline {
			if i+1 == len(args) {
				break
			}
			i++
			f.value = args[i]
		}
		if f.name == "output" {
			format = outputText
			if f.value == outputJSON || f.value == outputNagios {
				format = f.value
			}
		}
	}
	return format
}

// pluginAskedElsewhere is nagios when args that are not a check command
// line ask for -o nagios anyway: a monitoring plugin's command line gone
// wrong, such as 'finessectl --version -o nagios', must still exit UNKNOWN
// with a line on stdout; so must 'watch -o nagios', which watch refuses.
// Only check's -o is parsed in full.
func pluginAskedElsewhere(args []string) string {
	for i, a := range args {
		switch {
		case a == "-onagios", a == "-o=nagios", a == "--output=nagios",
			(a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == outputNagios:
			return outputNagios
		case a == "--":
			return outputText
		}
	}
	return outputText
}

// valueFlag is a flag argument that takes a value: its long name, and the
// value when the argument carries it (--output=json, -ojson, -qojson).
type valueFlag struct {
	name, value string
	inline      bool
}

// flagArg reads arg as pflag does: a long flag, or a group of shorthands
// in which bool flags run up to the first that takes a value, whose value
// is the rest of the group or else the next argument. ok is false for
// positional arguments, unknown flags and bool flags.
func flagArg(c *cobra.Command, arg string) (f valueFlag, ok bool) {
	flags := c.Flags()
	if long, found := strings.CutPrefix(arg, "--"); found {
		name, value, inline := strings.Cut(long, "=")
		fl := flags.Lookup(name)
		if fl == nil || fl.NoOptDefVal != "" {
			return f, false
		}
		return valueFlag{name: fl.Name, value: value, inline: inline}, true
	}
	if !strings.HasPrefix(arg, "-") {
		return f, false
	}
	for j := 1; j < len(arg); j++ {
		fl := flags.ShorthandLookup(arg[j : j+1])
		switch {
		case fl == nil:
			return f, false
		case fl.NoOptDefVal == "":
			rest := arg[j+1:]
			return valueFlag{name: fl.Name, value: strings.TrimPrefix(rest, "="), inline: rest != ""}, true
		}
	}
	return f, false
}

// NewRootCmd builds the command tree.
func NewRootCmd(ios *IOStreams, version string) *cobra.Command {
	root := &cobra.Command{
		Use:   "finessectl",
		Short: "Health checks for Cisco Finesse servers",
		Long: `finessectl checks whether Cisco Finesse servers are fully available to agent
desktops, using the three criteria of Cisco's Finesse developer guide, in order:

  1. the SystemInfo REST object reports status IN_SERVICE;
  2. an XMPP connection to the Finesse Notification Service succeeds;
  3. the presence of the 'finesse' XMPP user is AVAILABLE.

Its exit code names the failure scenario (see 'finessectl help exit-codes'),
so cron jobs, monitoring systems and CI pipelines can act on it directly.`,
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetIn(ios.In)
	root.SetVersionTemplate("finessectl {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{Code: finesse.Usage, Err: err}
	})
	checkCmd := NewCmdCheck(ios, nil)
	// check takes --version too, so that a plugin command line given it
	// answers (UNKNOWN, under -o nagios) instead of failing on the flag.
	checkCmd.Version = version
	root.AddCommand(checkCmd)
	root.AddCommand(NewCmdSimulate(ios, nil))
	root.AddCommand(NewCmdServe(ios, nil))
	root.AddCommand(NewCmdWatch(ios, nil))
	root.AddCommand(NewCmdDemo(ios, nil))
	root.AddCommand(newExitCodesTopic())
	return root
}

func newExitCodesTopic() *cobra.Command {
	var b strings.Builder
	b.WriteString("finessectl's exit code names the first failure it met. With several servers,\n")
	b.WriteString("it is the code of the first server, in the order given, whose check failed;\n")
	b.WriteString("with --require any it is 0 when at least one server passed.\n\n")
	b.WriteString(exitCodeTable(true))
	b.WriteString("\nCodes 1 and 2 are never used: a crash is reported as 70, a usage error as 64.\n")
	b.WriteString("Except with 'check -o nagios', the monitoring-plugin mode, which exits 0 OK,\n")
	b.WriteString("1 WARNING, 2 CRITICAL or 3 UNKNOWN instead (see 'finessectl check --help').")
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "What each exit code means, and the failure scenario behind it",
		Long:  b.String(),
	}
}

// exitCodeTable lists the contract, with the guide's scenarios when asked.
func exitCodeTable(scenarios bool) string {
	var b strings.Builder
	b.WriteString("  code  meaning\n")
	for _, s := range finesse.Scenarios {
		fmt.Fprintf(&b, "  %4d  %s\n", s.Code, s.Meaning)
		if scenarios && s.Guide != "" {
			fmt.Fprintf(&b, "        scenario: %s\n", s.Guide)
			fmt.Fprintf(&b, "        operator: %s\n", s.Operator)
		}
	}
	return b.String()
}

// resolveVersion prefers the version stamped at link time, then the module
// version Go recorded, so 'go install ...@v1.2.3' reports v1.2.3.
func resolveVersion(stamped string) string {
	if stamped != "" {
		return stamped
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func commandPath(root *cobra.Command, args []string) string {
	if c, _, err := root.Find(args); err == nil && c != nil {
		return c.CommandPath()
	}
	return root.Name()
}
