package output

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	rt "github.com/finessectl/finessectl/internal/resulttest"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// The README's example of a check of a pair is what Text writes for it,
// without -v or colour, so that it cannot go stale: finesse-a fully
// available over the default transport, finesse-b logged in but without
// the 'finesse' user's presence, though its roster lists it.
func TestREADMEExampleIsTextOutput(t *testing.T) {
	overWebSocket := func(host, resource string) (*xmppprobe.Facts, *check.Route) {
		return &xmppprobe.Facts{Addr: host + ":8445", Transport: xmppprobe.WebSocket, URL: "wss://" + host + ":8445/ws/",
				Mode: xmppprobe.DirectTLS, Domain: host, Certificate: rt.Certificate, TLSVersion: "TLS 1.3",
				JID: "1080001@" + host + "/finessectl-" + resource},
			&check.Route{Why: "auto: WebSocket on the HTTPS port, as desktops of Finesse 12.6 and later connect"}
	}
	a := healthy("finesse-a.example.com")
	a.XMPP, a.XMPPRoute = overWebSocket("finesse-a.example.com", "0a1b2c3d")

	bInfo := rt.PairInfo()
	bInfo.XMPPDomain = "finesse-b.example.com"
	roster := xmppprobe.RosterState{Received: true, Listed: true, Subscription: "both"}
	b := check.ServerResult{Target: rt.Target("finesse-b.example.com"), SystemInfo: rt.HTTPSOK(bInfo),
		Presence: &check.PresenceResult{JID: "finesse@finesse-b.example.com", Presence: xmppprobe.Presence{Roster: roster}},
		Checks:   checks(failThird, 20, 50, 3000), Duration: rt.Ms(3070), AvailablePeers: []string{"finesse-a.example.com"},
		Failure: &check.Failure{Criterion: finesse.CriterionPresence, Code: finesse.FinessePresenceMissing,
			Err: &xmppprobe.PhaseError{Phase: xmppprobe.PhasePresence, Err: &xmppprobe.NoPresenceError{JID: "finesse@finesse-b.example.com", Roster: roster}}}}
	b.XMPP, b.XMPPRoute = overWebSocket("finesse-b.example.com", "5e6f7a8b")

	r := check.Result{Servers: []check.ServerResult{a, b}, Require: check.RequireAll, Started: started, Duration: b.Duration}
	var out bytes.Buffer
	if err := Text(&out, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```\n"+out.String()+"```\n") {
		t.Errorf("README.md lacks the example of a check as Text writes it; put this in its place:\n%s", out.String())
	}
}
