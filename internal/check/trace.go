package check

import (
	"io"
	"sync"

	"github.com/finessectl/finessectl/internal/textsafe"
)

// traceSink shares one trace writer among concurrent server checks. Each
// Write is one line of the XMPP conversation (the probe writes whole lines),
// so holding the lock for a Write keeps lines whole, and the prefix tells
// which server said what.
type traceSink struct {
	mu sync.Mutex
	w  io.Writer
}

// forServer returns the writer for one server's trace; nil when not tracing.
func (s *traceSink) forServer(name string) io.Writer {
	if s == nil || s.w == nil {
		return nil
	}
	return &serverTrace{sink: s, prefix: []byte("[" + textsafe.Line(name, 100) + "] ")}
}

type serverTrace struct {
	sink   *traceSink
	prefix []byte
}

func (t *serverTrace) Write(p []byte) (int, error) {
	t.sink.mu.Lock()
	defer t.sink.mu.Unlock()
	line := make([]byte, 0, len(t.prefix)+len(p))
	line = append(append(line, t.prefix...), p...)
	if _, err := t.sink.w.Write(line); err != nil {
		return 0, err
	}
	return len(p), nil
}
