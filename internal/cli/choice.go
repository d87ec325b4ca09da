package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// choice is a string flag that takes one of a few values. It refuses any
// other where it is written, so that a bad value in the config file is
// reported at its line, as a bad duration is.
type choice struct {
	value   *string
	allowed []string
	// use says what the values mean, after "use": "all (...) or any (...)".
	use string
}

func newChoice(p *string, value, use string, allowed ...string) *choice {
	*p = value
	return &choice{value: p, allowed: allowed, use: use}
}

func (c *choice) Set(s string) error {
	if !slices.Contains(c.allowed, s) {
		return fmt.Errorf("%q: use %s", s, c.use)
	}
	*c.value = s
	return nil
}

// completeChoices completes every choice flag of cmd with its values,
// unless cmd completes the flag in a way of its own.
func completeChoices(cmd *cobra.Command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		c, ok := f.Value.(*choice)
		if _, own := cmd.GetFlagCompletionFunc(f.Name); ok && !own {
			_ = cmd.RegisterFlagCompletionFunc(f.Name, fixedCompletion(c.allowed...))
		}
	})
}

func (c *choice) String() string { return *c.value }
func (c *choice) Type() string   { return "string" }
