package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds on what finessectl reads from local files and stdin: a CA bundle of
// a few hundred certificates fits easily, and no real password is longer.
const (
	maxCABytes       = 4 << 20
	maxPasswordBytes = 1024
	// maxTimeout bounds --timeout: a health check that may take longer than
	// this is a mistake, and far larger values overflow deadline arithmetic.
	maxTimeout = time.Hour
)

var errNotRegular = errors.New("not a regular file")

// openRegular opens a local file for reading and refuses devices, FIFOs
// and sockets, which can block forever or never end (/dev/zero). It opens
// without blocking and checks with fstat, so nothing can swap in a FIFO
// between the check and the read.
func openRegular(name string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w (%s)", errNotRegular, fileKind(fi.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, fi, err
	}
	return f, fi, nil
}

// readRegularFile reads a regular file of at most limit bytes.
func readRegularFile(name string, limit int64) ([]byte, error) {
	f, _, err := openRegular(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %s", byteSize(limit))
	}
	return data, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

func byteSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readFirstLineWithin reads the first line of r, at most limit bytes of it,
// and gives up after wait: a stdin that never sends a newline or EOF must
// not hang a cron job. On a timeout the reading goroutine is left blocked;
// the process is about to exit with a usage error anyway.
func readFirstLineWithin(r io.Reader, limit int, wait time.Duration) ([]byte, error) {
	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := firstLine(r, limit)
		done <- result{line, err}
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case res := <-done:
		return res.line, res.err
	case <-timer.C:
		return nil, fmt.Errorf("no complete line within %v", wait)
	}
}

// firstLine returns the first line of r without its line ending, reading
// byte by byte past nothing it does not need; a line longer than limit is
// an error, not a truncated password.
func firstLine(r io.Reader, limit int) ([]byte, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			if len(line) == limit {
				return nil, fmt.Errorf("the first line is longer than %d bytes", limit)
			}
			line = append(line, b[0])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// passwordProblem says why p cannot be a password, or "". Every login with a
// wrong password counts toward Finesse's five-strike lockout, so binary data
// or a truncated line is refused before anything is sent.
func passwordProblem(p []byte) string {
	switch {
	case len(p) == 0:
		return "it is empty"
	case len(p) > maxPasswordBytes:
		return fmt.Sprintf("it is longer than %d bytes", maxPasswordBytes)
	case !utf8.Valid(p):
		return "it is not valid UTF-8 text"
	}
	for _, r := range string(p) {
		if unicode.IsControl(r) {
			return "it contains control characters (NUL, escape ...), so it is binary data, not a password"
		}
	}
	return ""
}
