package output

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/textsafe"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// Every sentence of every format is built here from the typed facts of a
// check.Result, so text and JSON say the same thing. Text that came from a
// server goes through clean (or quoteMax-capped cleanShort) on the way in.

// serverTextMax caps one value quoted from a server: enough for any real
// host name, JID or status, short enough to keep a report readable.
const serverTextMax = 200

// clean makes text that may come from a server one printable line, so that
// nothing a server says can move the cursor, recolour or reorder a terminal.
func clean(s string) string { return textsafe.Line(s, serverTextMax*5) }

func cleanShort(s string) string { return textsafe.Line(s, serverTextMax) }

func cleanAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = cleanShort(s)
	}
	return out
}

// checkMessage is the one-line account of a criterion on a server.
func checkMessage(s check.ServerResult, c check.CheckResult) string {
	if c.Status == check.Skipped {
		return skippedMessage(s, c.Criterion)
	}
	var err error
	if c.Status == check.Fail {
		err = s.Failure.Err
	}
	switch c.Criterion {
	case finesse.CriterionSystemInfo:
		return systemInfoMessage(s, err)
	case finesse.CriterionXMPP:
		return xmppMessage(s, err)
	case finesse.CriterionPresence:
		return presenceMessage(s, err)
	}
	return ""
}

func skippedMessage(s check.ServerResult, c finesse.Criterion) string {
	switch {
	case s.Failure != nil && s.Failure.Criterion == finesse.CriterionSystemInfo:
		return "not checked: the guide's criteria are checked in order, and systeminfo failed"
	case s.Failure != nil && s.Failure.Criterion == finesse.CriterionXMPP:
		return "not checked: the 'finesse' presence cannot be seen without an XMPP session"
	case s.ConnectOnly && c == finesse.CriterionPresence:
		return "not checked: --connect-only does not log in, so presence is unknown"
	}
	return "not checked: an internal error ended the check"
}

func systemInfoMessage(s check.ServerResult, err error) string {
	if err == nil {
		info := s.Info()
		msg := "status " + cleanShort(info.Status)
		if info.DeploymentType != "" {
			msg += ", " + cleanShort(info.DeploymentType)
		}
		if info.XMPPDomain != "" {
			msg += ", XMPP domain " + cleanShort(info.XMPPDomain)
		}
		return msg
	}
	var nis *systeminfo.NotInServiceError
	var dns *net.DNSError
	switch {
	case errors.As(err, &nis):
		return notInServiceMessage(nis)
	case errors.As(err, &dns):
		why := "no such host"
		if !dns.IsNotFound {
			why = cleanShort(dns.Err)
		}
		return fmt.Sprintf("DNS: %s does not resolve (%s); check the name, or use the node's IP address", cleanShort(dns.Name), why)
	}
	return clean(err.Error())
}

func notInServiceMessage(e *systeminfo.NotInServiceError) string {
	var parts []string
	if e.HTTPStatus != 0 && e.HTTPStatus != 200 {
		parts = append(parts, httpStatusLine(e.HTTPStatus))
	}
	switch {
	case e.Status != "" && e.Reason != "":
		parts = append(parts, fmt.Sprintf("status is %s (reason: %s)", cleanShort(e.Status), cleanShort(e.Reason)))
	case e.Status != "":
		parts = append(parts, "status is "+cleanShort(e.Status))
	case e.Reason != "":
		parts = append(parts, cleanShort(e.Reason))
	}
	if len(parts) == 0 {
		return "not in service"
	}
	return strings.Join(parts, ": ")
}

// httpStatusLine uses Go's reason phrase rather than the server's, which is
// arbitrary text on HTTP/1.
func httpStatusLine(code int) string {
	return strings.TrimSpace(fmt.Sprintf("HTTP %d %s", code, http.StatusText(code)))
}

func xmppMessage(s check.ServerResult, err error) string {
	x := s.XMPP
	where := fmt.Sprintf("%s (%s)", cleanShort(x.Addr), x.Mode.Label())
	if x.Transport == xmppprobe.WebSocket {
		where = clean(x.Endpoint()) + " (WebSocket)"
	}
	switch {
	case err != nil:
		return where + ": " + clean(err.Error())
	case s.ConnectOnly:
		return "stream negotiated with " + where + "; not logged in (--connect-only)"
	}
	return "logged in to " + where + " as " + cleanShort(x.JID)
}

func presenceMessage(s check.ServerResult, err error) string {
	p := s.Presence
	jid := cleanShort(p.JID)
	var np *xmppprobe.NoPresenceError
	switch {
	case errors.As(err, &np):
		return fmt.Sprintf("no presence from %s before the deadline (%s)", jid, rosterSentence(p.Presence.Roster))
	case err != nil && !p.Received:
		return clean(err.Error())
	case !p.Presence.Available:
		msg := jid + " is UNAVAILABLE"
		if p.Presence.Status != "" {
			msg += " (" + cleanShort(p.Presence.Status) + ")"
		}
		return msg
	}
	msg := jid + " is AVAILABLE"
	if p.Presence.Show != "" {
		msg += " (show " + cleanShort(p.Presence.Show) + ")"
	}
	return msg
}

// rosterSentence says how the awaited JID appears in the probe's roster,
// which is the usual reason for a presence that never comes.
func rosterSentence(r xmppprobe.RosterState) string {
	sub := cleanShort(r.Subscription)
	switch {
	case !r.Received:
		return "the roster was not received"
	case !r.Listed:
		return "it is not in the probe user's roster"
	case sub != "both" && sub != "to":
		return fmt.Sprintf("it is in the probe user's roster with subscription=%q, so its presence is not sent", sub)
	}
	return fmt.Sprintf("it is in the probe user's roster with subscription=%q", sub)
}

// failureLine is the failure in one line: the failing criterion's message,
// or the error itself when no criterion is to blame.
func failureLine(s check.ServerResult) string {
	f := s.Failure
	if f == nil {
		return ""
	}
	for _, c := range s.Checks {
		if c.Criterion == f.Criterion && c.Status == check.Fail {
			return string(c.Criterion) + ": " + checkMessage(s, c)
		}
	}
	return clean(f.Err.Error())
}

func warningMessage(w check.Warning, s check.ServerResult, started time.Time) string {
	info := s.Info()
	switch w.Code {
	case check.WarnMaintenance:
		msg := "finesseMMode is " + cleanShort(info.FinesseMMode) + ": the node is draining for maintenance and desktops move to the other node"
		if info.FinesseTimeInMMode != "" {
			msg += " (time in maintenance: " + cleanShort(info.FinesseTimeInMMode) + ")"
		}
		return msg
	case check.WarnCTIHeartbeat:
		msg := "lastCTIHeartbeatStatus is " + cleanShort(info.LastCTIHeartbeatStatus) +
			": the CTI link is missing heartbeats, and desktops failing over avoid a node whose last heartbeat failed"
		if info.LastSuccessCTIHeartbeatTime != "" {
			msg += " (last success " + cleanShort(info.LastSuccessCTIHeartbeatTime) + ")"
		}
		return msg
	case check.WarnHTTPSCertExpiring:
		return certExpiryMessage("HTTPS", s.SystemInfo.Certificate, started)
	case check.WarnXMPPCertExpiring:
		return certExpiryMessage("XMPP", s.XMPP.Certificate, started)
	}
	return string(w.Code)
}

func certExpiryMessage(port string, c *probe.Certificate, started time.Time) string {
	if certDaysLeft(c.NotAfter, started) < 0 {
		return fmt.Sprintf("the %s port's certificate (%s) expired on %s; the check passed only because --insecure skips verification, desktops will not connect",
			port, cleanShort(c.Subject), c.NotAfter.UTC().Format(time.DateOnly))
	}
	return fmt.Sprintf("the %s port's certificate (%s) expires on %s, in %s; renew the Tomcat certificate before desktops lose their connection",
		port, cleanShort(c.Subject), c.NotAfter.UTC().Format(time.DateOnly), daysLeft(c.NotAfter, started))
}

// certDaysLeft is how many whole days a certificate has left at t; negative
// once it has expired.
func certDaysLeft(notAfter, t time.Time) int {
	return int(math.Floor(notAfter.Sub(t).Hours() / 24))
}

func daysLeft(notAfter, t time.Time) string {
	switch n := certDaysLeft(notAfter, t); {
	case n == 0:
		return "less than a day"
	case n == 1:
		return "1 day"
	default:
		return fmt.Sprintf("%d days", n)
	}
}

func hintMessage(h check.Hint, info *systeminfo.Info) string {
	switch h {
	case check.HintAgentID:
		return "on UCCE the XMPP user is the agent's numeric ID, not the login name, and the probe user is not a number"
	case check.HintSSO:
		return "SystemInfo reports systemAuthMode " + cleanShort(info.SystemAuthMode) +
			": SSO users sign in to XMPP with a token, so the probe must be a non-SSO user"
	}
	return string(h)
}

// certificateLine describes a peer certificate in one line.
func certificateLine(c *probe.Certificate) string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf("%s, issued by %s, valid until %s", cleanShort(c.Subject), cleanShort(c.Issuer),
		c.NotAfter.UTC().Format(time.DateOnly))
}

// adviceLine is one labelled line of what to do about a failure.
type adviceLine struct{ label, text string }

// advice is what the text and JUnit reports say after a failure, in order:
// likely causes, the guide's scenario and recovery, what an operator
// checks, and where agents can go meanwhile.
func advice(s check.ServerResult) []adviceLine {
	var lines []adviceLine
	for _, h := range s.Failure.Hints {
		lines = append(lines, adviceLine{"hint:", hintMessage(h, s.Info())})
	}
	sc := s.Failure.Scenario()
	for _, l := range []adviceLine{
		{"scenario:", sc.Guide}, {"recovery:", sc.Recovery}, {"operator:", sc.Operator}, {"alternate server:", alternateText(s)},
	} {
		if l.text != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
