package xmppprobe

import (
	"errors"
	"fmt"

	"github.com/finessectl/finessectl/internal/textsafe"
)

// Phase names one step of the session, in the order a probe goes through
// them. Errors and timings carry it so a slow or failing run can be
// attributed to the network (connect, tls) or to the server (auth, presence).
// Timings hold it as a plain string, shared with the other probes.
type Phase string

const (
	PhaseConnect  Phase = "connect"
	PhaseTLS      Phase = "tls"
	PhaseUpgrade  Phase = "websocket" // the HTTP upgrade to WebSocket, after TLS
	PhaseStream   Phase = "stream"
	PhaseStartTLS Phase = "starttls"
	PhaseAuth     Phase = "auth"    // ends at SASL <success/>: a stuck authentication backend stalls here
	PhaseRestart  Phase = "restart" // the stream restart after <success/>: the Notification Service's own work
	PhaseBind     Phase = "bind"
	PhasePresence Phase = "presence"
	PhaseLive     Phase = "live" // Listen: the session stays connected after the checks
)

// PhaseError says in which phase the session failed. It wraps the cause
// unflattened, so callers can still match TLS verification errors, network
// errors and the typed errors below.
type PhaseError struct {
	Phase Phase
	Err   error
}

func (e *PhaseError) Error() string { return string(e.Phase) + ": " + e.Err.Error() }
func (e *PhaseError) Unwrap() error { return e.Err }

// ErrStreamClosed is returned when the server ends the stream with a bare
// </stream:stream>, as a Notification Service that is shutting down does.
var ErrStreamClosed = errors.New("server closed the XMPP stream")

// ErrTooMuchData is returned when the server sends more than Config.MaxBytes:
// a probe needs a few kilobytes, so anything near the cap is hostile or broken.
var ErrTooMuchData = errors.New("server sent more data than a probe needs")

// ErrPingTimeout is returned by Listen when nothing at all arrived, not even
// the answer to a ping, for ListenConfig's PingInterval+PingTimeout: the
// server or the network in between is gone without closing the connection.
var ErrPingTimeout = errors.New("the server answered nothing, not even a ping, within the ping interval and timeout")

// ErrNoStartTLS is returned in STARTTLS mode when the server does not offer
// <starttls/>; the probe never authenticates over plaintext.
var ErrNoStartTLS = errors.New("server does not offer STARTTLS; refusing to send credentials in clear text")

// StreamError is a <stream:error> sent by the server. Its fields are the
// server's text, not sanitized; Error sanitizes.
type StreamError struct {
	Condition string
	Text      string
}

func (e *StreamError) Error() string { return "stream error: " + conditionText(e.Condition, e.Text) }

// AuthError is a SASL failure, or a server that offers no mechanism the
// probe can use. It is never retried: Finesse locks an account after five
// failed sign-ins. Its fields are the server's text, not sanitized; Error
// sanitizes.
type AuthError struct {
	Condition string
	Text      string
}

func (e *AuthError) Error() string {
	return "authentication failed: " + conditionText(e.Condition, e.Text)
}

// NoPresenceError is returned when no presence of the awaited JID arrived
// before the deadline. Roster tells what the probe user's roster said about
// that JID, which is the usual reason for silence.
type NoPresenceError struct {
	JID    string
	Roster RosterState
}

func (e *NoPresenceError) Error() string {
	return fmt.Sprintf("no presence from %s before the deadline (%s)", sanitize(e.JID), e.Roster)
}

// RosterState describes how the awaited JID appears in the probe's roster.
type RosterState struct {
	Received     bool   // the roster result arrived
	Listed       bool   // the JID is an item of it
	Subscription string // the item's subscription attribute, not sanitized
}

func (r RosterState) String() string {
	switch {
	case !r.Received:
		return "the roster was not received"
	case !r.Listed:
		return "it is not in the probe user's roster"
	case r.Subscription != "both" && r.Subscription != "to":
		return fmt.Sprintf("it is in the probe user's roster with subscription=%q, so its presence is not sent", sanitize(r.Subscription))
	default:
		return fmt.Sprintf("it is in the probe user's roster with subscription=%q", sanitize(r.Subscription))
	}
}

// readError is a failed read of the server's XML. The decoder and the stanza
// package quote the server's namespaces verbatim (newlines, megabytes), so
// Error sanitizes, while the cause stays unwrappable.
type readError struct{ err error }

func (e *readError) Error() string { return sanitize(e.err.Error()) }
func (e *readError) Unwrap() error { return e.err }

func conditionText(condition, text string) string {
	condition = sanitize(condition)
	text = sanitize(text)
	switch {
	case condition == "" && text == "":
		return "no reason given"
	case text == "":
		return condition
	case condition == "":
		return text
	}
	return condition + " (" + text + ")"
}

// sanitize keeps server-supplied text printable and short, so a hostile server
// cannot write terminal escapes, bidi overrides or megabytes into an
// operator's console.
func sanitize(s string) string { return textsafe.Line(s, 200) }
