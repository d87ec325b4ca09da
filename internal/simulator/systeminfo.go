package simulator

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/xmltext"
)

// nodeAddr is what SystemInfo says about a node of the pair.
type nodeAddr struct {
	host                                string
	httpsPort, xmppPort, xmppSecurePort int
}

// systemInfoXML renders the 12.6 schema with the values a real UCCE node
// reports, for the node self of its pair (primary first).
func systemInfoXML(self nodeAddr, pair []nodeAddr, b Behaviour, now time.Time) string {
	heartbeat := finesse.HeartbeatSuccess
	if b.Status != finesse.StatusInService || b.HeartbeatFailed {
		heartbeat = "failure"
	}
	authMode, mmodeTime := "NON_SSO", "-1"
	if b.AuthMode != "" {
		authMode = b.AuthMode
	}
	if b.FinesseMMode != "" {
		mmodeTime = "120000"
	}
	var x strings.Builder
	w := func(name, value string) {
		fmt.Fprintf(&x, "  <%s>%s</%s>\n", name, xmltext.Escape(value), name)
	}
	x.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n<SystemInfo>\n")
	w("currentTimestamp", now.UTC().Format("2006-01-02T15:04:05.000Z"))
	w("deploymentType", "UCCE")
	w("lastCTIHeartbeatStatus", heartbeat)
	w("lastSuccessCTIHeartbeatTime", strconv.FormatInt(now.Add(-2*time.Second).UnixMilli(), 10))
	w("ctiVersion", "23")
	w("ctiHeartbeatInterval", "5")
	w("ctiMMode", "")
	w("ctiTimeInMMode", "-1")
	w("finesseMMode", b.FinesseMMode)
	w("finesseTimeInMMode", mmodeTime)
	w("license", "")
	w("peripheralId", "5000")
	for i, role := range []string{"primaryNode", "secondaryNode"} {
		if i >= len(pair) {
			break
		}
		n := pair[i]
		fmt.Fprintf(&x, "  <%s>\n    <host>%s</host>\n    <httpsPort>%d</httpsPort>\n    <xmppPort>%d</xmppPort>\n    <xmppSecurePort>%d</xmppSecurePort>\n  </%s>\n",
			role, xmltext.Escape(n.host), n.httpsPort, n.xmppPort, n.xmppSecurePort, role)
	}
	w("status", b.Status)
	w("statusReason", b.StatusReason)
	w("systemAuthMode", authMode)
	w("timezoneOffset", "0")
	w("uri", finesse.SystemInfoPath)
	w("xmppDomain", self.host)
	w("xmppPubSubDomain", "pubsub."+self.host)
	x.WriteString("  <ctiServers>\n")
	for i, side := range []string{"cti-a", "cti-b"} {
		active := i == 0 && b.Status == finesse.StatusInService
		fmt.Fprintf(&x, "    <ctiServer>\n      <host>%s.example.test</host>\n      <connectedDuration>%d</connectedDuration>\n      <active>%t</active>\n    </ctiServer>\n",
			side, map[bool]int{true: 86400000, false: 0}[active], active)
	}
	x.WriteString("  </ctiServers>\n</SystemInfo>\n")
	return x.String()
}

// outOfServiceXML is Finesse's answer to any request while out of service.
const outOfServiceXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ApiErrors>
  <ApiError>
    <ErrorType>Service Unavailable</ErrorType>
    <ErrorData></ErrorData>
    <ErrorMessage>SERVER_OUT_OF_SERVICE</ErrorMessage>
  </ApiError>
</ApiErrors>
`
