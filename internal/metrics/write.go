package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/promtext"
)

// WriteText writes r in the Prometheus text exposition format, families in
// name order and samples in label order, so equal results give equal text.
func WriteText(w io.Writer, r check.Result) error {
	return promtext.Write(w, Families(r))
}

// WriteTextfile replaces the file at path with r's exposition, for
// node_exporter's textfile collector (name it *.prom in the collector's
// directory). The text goes to a temporary file in the same directory, which
// is synced and then renamed over path, so the collector reads either the
// previous run or this one, never half of one. The temporary file's name
// does not end in .prom, so the collector never reads it either.
//
// The directory is not synced after the rename: after a crash, the previous
// run's file is as good as this one's, and the next run replaces it.
func WriteTextfile(path string, r check.Result) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// Not created here: a mistyped directory would collect nothing,
		// silently.
		return fmt.Errorf("metrics textfile %s: directory %s does not exist: %w", path, dir, fs.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("metrics textfile %s: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("metrics textfile %s: %s is not a directory", path, dir)
	}
	// Rendered first, so that a failure leaves nothing behind to clean up.
	var buf bytes.Buffer
	if err := WriteText(&buf, r); err != nil {
		return fmt.Errorf("metrics textfile %s: %w", path, err)
	}
	if err := replaceFile(path, buf.Bytes()); err != nil {
		return fmt.Errorf("metrics textfile %s: %w", path, err)
	}
	return nil
}

// replaceFile writes data to a temporary file next to path and renames it
// over path; on any failure the temporary file is removed.
func replaceFile(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.Remove(tmp.Name()))
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return errors.Join(err, tmp.Close())
	}
	// CreateTemp makes the file 0600; the collector may run as another user.
	if err := tmp.Chmod(0o644); err != nil {
		return errors.Join(err, tmp.Close())
	}
	// Synced before the rename, so that the name never points at a file
	// whose content is not yet on disk.
	if err := tmp.Sync(); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
