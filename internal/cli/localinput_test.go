package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blockingReader is a stdin that never sends anything.
type blockingReader struct{ release chan struct{} }

func (b blockingReader) Read([]byte) (int, error) { <-b.release; return 0, os.ErrClosed }

// endlessReader is a stdin that sends one byte forever, never a newline.
type endlessReader struct{}

func (endlessReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// Local input is bounded in size, kind and time, and a password that cannot
// be one is refused with 64 before anything is sent (every wrong login counts
// toward Finesse's lockout).
func TestLocalInputIsBounded(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask may have cleared bits
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	bigCA := write("big.pem", make([]byte, 5<<20), 0o644)
	longPW := write("long.pw", []byte(strings.Repeat("x", 5000)+"\n"), 0o600)
	binaryPW := write("binary.pw", []byte("pass\x00word\n"), 0o600)
	openPW := write("open.pw", []byte("secret\n"), 0o640)
	release := make(chan struct{})
	defer close(release)

	creds := map[string]string{"FINESSE_USER": "1080001", "FINESSE_PASSWORD": "pw"}
	user := map[string]string{"FINESSE_USER": "1080001"}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		stdin any
		want  string
	}{
		{"CA from /dev/zero", []string{"--ca-file", "/dev/zero"}, creds, nil, "not a regular file (a device)"},
		{"CA from a FIFO nobody writes", []string{"--ca-file", fifo}, creds, nil, "not a regular file (a FIFO)"},
		{"CA bundle too large", []string{"--ca-file", bigCA}, creds, nil, "larger than 4 MiB"},
		{"password from a FIFO", []string{"--password-file", fifo}, user, nil, "not a regular file (a FIFO)"},
		{"password from /dev/zero", []string{"--password-file", "/dev/zero"}, user, nil, "not a regular file (a device)"},
		{"password line too long", []string{"--password-file", longPW}, user, nil, "longer than 1024 bytes"},
		{"binary password", []string{"--password-file", binaryPW}, user, nil, "control characters"},
		{"password file readable by others", []string{"--password-file", openPW}, user, nil, "chmod 600 " + openPW},
		{"stdin that never ends a line", []string{"--password-file", "-"}, user, endlessReader{}, "longer than 1024 bytes"},
		{"stdin that never sends", []string{"--password-file", "-", "-t", "300ms"}, user, blockingReader{release}, "no complete line within 300ms"},
		{"binary password in the environment", nil, map[string]string{"FINESSE_USER": "1080001", "FINESSE_PASSWORD": "a\x1b[2Jb"}, nil, "FINESSE_PASSWORD cannot be the probe password"},
		{"timeout that would overflow", []string{"-t", "2562047h47m16.6s"}, creds, nil, "at most 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tio := newTestIO(tt.env, "")
			switch in := tt.stdin.(type) {
			case blockingReader:
				tio.ios.In = in
			case endlessReader:
				tio.ios.In = in
			}
			args := append(append([]string{"check"}, tt.args...), "127.0.0.1:1")
			start := time.Now()
			code := Main(context.Background(), args, tio.ios, "")
			if code != 64 || !strings.Contains(tio.errOut.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 64 and %q", code, tio.errOut, tt.want)
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Fatalf("took %v", elapsed)
			}
			if strings.Contains(tio.out.String()+tio.errOut.String(), "secret") {
				t.Fatal("the password was echoed")
			}
		})
	}
}
