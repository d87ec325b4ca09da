package metrics

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/finessectl/finessectl/internal/check"
)

// onlyFile fails unless dir holds exactly the file named, nothing left over.
func onlyFile(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("directory holds %q, want only %q", names, name)
	}
}

func TestWriteTextfileReplacesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "finesse.prom")
	if err := os.WriteFile(path, []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(check.RequireAll, notInService("finesse-a.example.com"))
	if err := WriteTextfile(path, r); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, render(t, r)) {
		t.Errorf("textfile differs from WriteText:\n%s", got)
	}
	assertSamples(t, parse(t, got), concat(runSamples(check.VerdictUnavailable, 12), notInServiceSamples("finesse-a.example.com")))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// node_exporter often runs as another user than the cron job.
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	onlyFile(t, dir, "finesse.prom")
}

// A reader polling the file while runs replace it sees one run's exposition
// or the other's, whole, never a mix or a truncated one.
func TestWriteTextfileIsAtomicForReaders(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "finesse.prom")
	runs := []check.Result{
		run(check.RequireAll, healthy("finesse-a.example.com"), healthy("finesse-b.example.com")),
		run(check.RequireAll, notInService("finesse-a.example.com"), givenUp("finesse-b.example.com")),
	}
	if err := WriteTextfile(path, runs[0]); err != nil {
		t.Fatal(err)
	}
	texts := map[string]bool{string(render(t, runs[0])): true, string(render(t, runs[1])): true}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var reads int
	var bad []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(path)
			reads++
			if err != nil || !texts[string(b)] {
				bad = append(bad, string(b)+" "+errString(err))
			}
		}
	}()
	for i := range 200 {
		if err := WriteTextfile(path, runs[i%2]); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d reads saw a partial file or none, first: %q", len(bad), reads, bad[0])
	}
	onlyFile(t, dir, "finesse.prom")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestWriteTextfileRefusesAMissingDirectory(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "no-such-dir", "finesse.prom")
	err := WriteTextfile(path, run(check.RequireAll, healthy("finesse-a.example.com")))
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "directory "+filepath.Dir(path)+" does not exist") {
		t.Fatalf("error %v, want one saying the directory does not exist", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the directory was created: %v", err)
	}
}

func TestWriteTextfileErrors(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dirInTheWay := filepath.Join(base, "finesse.prom")
	if err := os.Mkdir(dirInTheWay, 0o755); err != nil {
		t.Fatal(err)
	}
	r := run(check.RequireAll, healthy("finesse-a.example.com"))

	err := WriteTextfile(filepath.Join(file, "finesse.prom"), r)
	if err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("under a file: error %v, want 'is not a directory'", err)
	}
	// The rename fails; the temporary file must not stay behind.
	if err := WriteTextfile(dirInTheWay, r); err == nil {
		t.Error("writing over a directory succeeded")
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("%d entries left in the directory, want the 2 made by the test", len(entries))
	}
}
