package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/output"
)

// Main runs finessectl with args and returns the process exit code. It is
// the only place that turns errors and panics into exit codes: neither Go's
// panic status 2 nor cobra's 1 can leak out.
func Main(ctx context.Context, args []string, ios *IOStreams, version string) int {
	return execute(ctx, NewRootCmd(ios, resolveVersion(version)), args, ios)
}

func execute(ctx context.Context, root *cobra.Command, args []string, ios *IOStreams) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(ios.ErrOut, "finessectl: internal error: %v\nThis is a bug; please report it with the command line you ran.\n", r)
			code = int(finesse.Internal)
		}
	}()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
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
		if wantsJSON(root, args) {
			_ = output.JSONError(ios.Out, c, err)
		}
	}
	return int(c)
}

// wantsJSON reports whether args ask 'check' for JSON. It reads the raw
// arguments because a usage error can stop flag parsing before -o is seen.
func wantsJSON(root *cobra.Command, args []string) bool {
	if c, _, err := root.Find(args); err != nil || c.Name() != "check" {
		return false
	}
	json := false // the last -o wins, as in flag parsing
	for i, a := range args {
		value, ok := "", true
		switch {
		case a == "--":
			return json
		case (a == "-o" || a == "--output") && i+1 < len(args):
			value = args[i+1]
		case strings.HasPrefix(a, "--output="):
			value = strings.TrimPrefix(a, "--output=")
		case strings.HasPrefix(a, "-o") && !strings.HasPrefix(a, "--"):
			value = strings.TrimPrefix(strings.TrimPrefix(a, "-o"), "=")
		default:
			ok = false
		}
		if ok {
			json = value == "json"
		}
	}
	return json
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
	root.AddCommand(NewCmdCheck(ios, nil))
	root.AddCommand(NewCmdSimulate(ios, nil))
	root.AddCommand(NewCmdDemo(ios, nil))
	root.AddCommand(newExitCodesTopic())
	return root
}

func newExitCodesTopic() *cobra.Command {
	var b strings.Builder
	b.WriteString("finessectl's exit code names the first failure it met. With several servers,\n")
	b.WriteString("it is the code of the first server, in the order given, that is not fully\navailable.\n\n")
	b.WriteString(exitCodeTable(true))
	b.WriteString("\nCodes 1 and 2 are never used: a crash is reported as 70, a usage error as 64.")
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
