// Package golden compares test output with the golden files under the
// repository's testdata/golden, and rewrites them when asked to.
package golden

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is testdata/golden at the top of the repository, wherever the test runs.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "golden")
}

// Check fails t unless got equals the golden file name; with update it
// first writes got there ('go test ./... -update' after a reviewed change).
func Check(t testing.TB, name string, got []byte, update bool) {
	t.Helper()
	path := filepath.Join(Dir(), name)
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
