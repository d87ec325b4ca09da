package xmppprobe

import (
	"errors"
	"io"
	"sync"

	"github.com/finessectl/finessectl/internal/textsafe"
)

// limitReader fails once more than max bytes have been read, so a server
// streaming an endless element cannot make the probe buffer without bound.
// It also notes when the server ended the connection: the XML decoder turns
// that into a syntax error, and the stanza package into plain text.
type limitReader struct {
	r        io.Reader
	left     int64
	exceeded bool
	eof      bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.exceeded = true
		return 0, ErrTooMuchData
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if errors.Is(err, io.EOF) {
		l.eof = true
	}
	return n, err
}

// tracer writes the conversation for --trace. It is fed what the probe sends
// as already-redacted text, and what it receives as raw bytes, which are made
// printable first.
type tracer struct {
	mu sync.Mutex
	w  io.Writer
}

func (t *tracer) line(dir, s string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = io.WriteString(t.w, dir+" "+textsafe.Line(s, 0)+"\n")
}

// teeReader traces every chunk read from the server.
type teeReader struct {
	r io.Reader
	t *tracer
}

func (tr teeReader) Read(p []byte) (int, error) {
	n, err := tr.r.Read(p)
	if n > 0 {
		tr.t.line("S:", string(p[:n]))
	}
	return n, err
}
