//go:build integration

package contrib_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// promtool, from Debian's prometheus package, accepts the shipped scrape
// configuration and rejects a broken copy of it.
func TestPromtoolChecksScrapeConfig(t *testing.T) {
	promtool := tool(t, "promtool")
	if out, code := run(t, promtool, "check", "config", contribFile(t, "prometheus/prometheus.yml")); code != 0 {
		t.Fatalf("promtool check config: exit %d\n%s", code, out)
	}
	broken := filepath.Join(t.TempDir(), "prometheus.yml")
	text := strings.Replace(readFile(t, "prometheus/prometheus.yml"), "scrape_timeout: 15s", "scrape_timeout: 15 seconds", 1)
	if err := os.WriteFile(broken, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := run(t, promtool, "check", "config", broken); code == 0 {
		t.Errorf("promtool accepts a broken scrape_timeout:\n%s", out)
	}
}
