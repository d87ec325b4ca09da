// Package resulttest builds the hand-made facts that tests of renderers and
// metrics feed them: a Finesse pair's SystemInfo, its certificate, and
// what healthy HTTPS and XMPP probes report, with fixed values so that
// golden files stay stable.
package resulttest

import (
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// Ms is n milliseconds.
func Ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// PairInfo is the SystemInfo of finesse-a, the primary of a UCCE pair.
func PairInfo() *systeminfo.Info {
	return &systeminfo.Info{
		Status: "IN_SERVICE", DeploymentType: "UCCE", XMPPDomain: "finesse-a.example.com",
		XMPPPubSubDomain: "pubsub.finesse-a.example.com", LastCTIHeartbeatStatus: "success",
		SystemAuthMode: "NON_SSO", FinesseMMode: "NOT_IN_PROGRESS",
		PrimaryNode:   &systeminfo.Node{Host: "finesse-a.example.com"},
		SecondaryNode: &systeminfo.Node{Host: "finesse-b.example.com"},
	}
}

// Target parses a server argument that the test knows to be valid.
func Target(name string) check.Target {
	t, err := check.ParseTarget(name)
	if err != nil {
		panic(err)
	}
	return t
}

// Certificate is the Tomcat certificate both ports of finesse-a present.
var Certificate = &probe.Certificate{
	Subject: "CN=finesse-a.example.com", Issuer: "CN=Example Corp Issuing CA",
	DNSNames:  []string{"finesse-a.example.com"},
	NotBefore: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 15, 0, 0, 0, 0, time.UTC),
}

// Timings turns phase, milliseconds, phase, milliseconds ... into timings.
func Timings(pairs ...any) []probe.Timing {
	var ts []probe.Timing
	for i := 0; i < len(pairs); i += 2 {
		ts = append(ts, probe.Timing{Phase: pairs[i].(string), Duration: Ms(pairs[i+1].(int))})
	}
	return ts
}

// The phases of a healthy check of each protocol.
var (
	HTTPSPhases = Timings("dns", 1, "connect", 2, "tls", 12, "request", 5, "body", 1)
	XMPPPhases  = Timings("connect", 2, "tls", 18, "stream", 4, "auth", 9, "restart", 6, "bind", 9)
)

// HTTPSOK is what a SystemInfo request that read info saw.
func HTTPSOK(info *systeminfo.Info) *systeminfo.Response {
	return &systeminfo.Response{URL: "https://finesse-a.example.com:8445/finesse/api/SystemInfo", HTTPStatus: 200,
		Proto: "HTTP/1.1", Info: info, Certificate: Certificate, Timings: HTTPSPhases}
}

// XMPPOK is what a healthy login over direct TLS saw.
func XMPPOK() *xmppprobe.Facts {
	return &xmppprobe.Facts{Addr: "finesse-a.example.com:5223", Mode: xmppprobe.DirectTLS, Domain: "finesse-a.example.com",
		Certificate: Certificate, TLSVersion: "TLS 1.3", JID: "1080001@finesse-a.example.com/finessectl-0a1b2c3d", Timings: XMPPPhases}
}
