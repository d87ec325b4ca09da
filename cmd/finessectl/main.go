// Command finessectl checks Cisco Finesse servers; see 'finessectl --help'.
package main

import (
	"context"
	"os"

	"github.com/finessectl/finessectl/internal/cli"
)

// version is stamped at link time by the Makefile.
var version string

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.System(), version))
}
