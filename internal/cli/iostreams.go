// Package cli wires finessectl's cobra commands. Each command has an options
// struct filled from flags and the environment, and a run function that
// tests can replace; nothing below this package prints or exits.
package cli

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams are the command's standard streams and environment, injected so
// that tests run commands against buffers and a fake environment.
type IOStreams struct {
	In            io.Reader
	Out           io.Writer
	ErrOut        io.Writer
	OutIsTerminal bool
	Getenv        func(string) string
}

// System returns the process's real streams and environment.
func System() *IOStreams {
	fd := os.Stdout.Fd()
	return &IOStreams{
		In:            os.Stdin,
		Out:           os.Stdout,
		ErrOut:        os.Stderr,
		OutIsTerminal: isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd),
		Getenv:        os.Getenv,
	}
}

// colorEnabled applies --color and the NO_COLOR convention (no-color.org): an
// explicit flag wins, otherwise colour only on a terminal that is not "dumb".
func (s *IOStreams) colorEnabled(mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	return s.OutIsTerminal && s.Getenv("NO_COLOR") == "" && s.Getenv("TERM") != "dumb"
}
