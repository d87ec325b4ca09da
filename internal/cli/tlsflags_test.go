package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The flags that change what is verified and whose presence is awaited,
// each against a simulated node: a wrong value fails as its scenario, the
// right one passes.
func TestVerificationAndJIDFlags(t *testing.T) {
	cl, caFile := startSimulator(t, 1, "probe", "pw-flags")
	node := cl.Nodes[0]
	env := map[string]string{"FINESSE_USER": "probe", "FINESSE_PASSWORD": "pw-flags"}
	run := func(args ...string) (int, *testIO) {
		tio := newTestIO(env, "")
		base := []string{"check", "-t", "3s", "--presence-timeout", "1s"}
		return Main(context.Background(), append(append(base, args...), node.HTTPSAddr()), tio.ios, ""), &tio
	}
	for _, c := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		// The node's certificate names finesse-a.example.test and its address.
		{"right server name", []string{"--ca-file", caFile, "--tls-server-name", "finesse-a.example.test"}, 0, "fully available", ""},
		{"wrong server name", []string{"--ca-file", caFile, "--tls-server-name", "finesse-z.example.test"}, 11, "finesse-z.example.test", ""},
		{"untrusted CA", nil, 11, "NOT AVAILABLE (exit 11)", ""},
		{"untrusted CA, --insecure", []string{"--insecure"}, 0, "fully available", insecureWarning},
		{"untrusted CA, -k", []string{"-k"}, 0, "fully available", insecureWarning},
		{"the finesse JID", []string{"--ca-file", caFile, "--finesse-jid", "finesse@finesse-a.example.test"}, 0, "finesse@finesse-a.example.test is AVAILABLE", ""},
		{"another JID", []string{"--ca-file", caFile, "--finesse-jid", "nobody@finesse-a.example.test"}, 31, "no presence from nobody@finesse-a.example.test", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, tio := run(c.args...)
			if code != c.code || !strings.Contains(tio.out.String(), c.out) || !strings.Contains(tio.errOut.String(), c.err) {
				t.Errorf("exit %d, want %d with %q on stdout and %q on stderr\nstdout:\n%s\nstderr:\n%s",
					code, c.code, c.out, c.err, tio.out, tio.errOut)
			}
			if c.err == "" && strings.Contains(tio.errOut.String(), "--insecure") {
				t.Errorf("the --insecure warning without --insecure:\n%s", tio.errOut)
			}
		})
	}
}

// A password is never a flag: argv is visible to every user in ps. Every
// command's flags are looked at, so a new command cannot add one either.
func TestNoCommandTakesAPasswordFlag(t *testing.T) {
	var visit func(*cobra.Command)
	seen := 0
	visit = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			seen++
			name := strings.ToLower(f.Name)
			if (strings.Contains(name, "pass") || strings.Contains(name, "secret") || name == "pw") && name != "password-file" {
				t.Errorf("%s has a flag --%s: a password on the command line is visible in ps", c.CommandPath(), f.Name)
			}
		}
		c.Flags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(NewRootCmd(newTestIO(nil, "").ios, "test"))
	if seen < 20 {
		t.Errorf("looked at %d flags; the walk missed commands", seen)
	}
}
