// Package finesse is Cisco Finesse's vocabulary as finessectl uses it: the
// ports and API path a node serves, the values SystemInfo reports, the
// guide's three availability criteria, and the exit-code contract that maps
// each failure to the guide's scenario and to what an operator checks.
//
// Code reads these names; tests state their expectations literally, so that
// an edit to this table that changes behaviour fails a test.
package finesse

// Ports of a Finesse node (Finesse Port Utilization guide, 12.5 and 12.6).
const (
	// HTTPSPort serves the REST API and, from 12.6, the desktop's XMPP over
	// WebSocket through the web proxy.
	HTTPSPort = 8445
	// XMPPPort is the Notification Service's plain port (STARTTLS at best),
	// disabled by default from 12.5(1).
	XMPPPort = 5222
	// XMPPSecurePort is the Notification Service with TLS from the first byte;
	// from 12.5(1) ES4 it answers only hosts on an allow-list.
	XMPPSecurePort = 5223
	// BOSHPort serves BOSH and WebSocket to 12.0–12.5 desktops.
	BOSHPort = 7443
)

// SystemInfoPath is where every Finesse version serves SystemInfo.
const SystemInfoPath = "/finesse/api/SystemInfo"

// Where desktops reach the Notification Service over HTTP: XMPP over
// WebSocket (RFC 7395, subprotocol "xmpp") on HTTPSPort from 12.6 and on
// BOSHPort in 12.0–12.5, and BOSH (XEP-0124/0206) on BOSHPort.
const (
	WebSocketPath        = "/ws/"
	WebSocketSubprotocol = "xmpp"
	BOSHPath             = "/http-bind/"
)

// SystemInfo status values. Only IN_SERVICE counts as available.
const (
	StatusInService      = "IN_SERVICE"
	StatusOutOfService   = "OUT_OF_SERVICE"
	StatusPartialService = "PARTIAL_SERVICE"
)

// Values of other SystemInfo fields that finessectl reads.
const (
	// MaintenanceInProgress is finesseMMode while a node drains for maintenance.
	MaintenanceInProgress = "IN_PROGRESS"
	// HeartbeatSuccess is lastCTIHeartbeatStatus when the CTI link is healthy.
	HeartbeatSuccess = "success"
	// AuthModes with which desktop users sign in with an SSO token instead of
	// an XMPP password.
	AuthModeSSO    = "SSO"
	AuthModeHybrid = "HYBRID"
)

// FinesseUser is the localpart of the XMPP user whose presence says that the
// Finesse web app is up: finesse@<xmppDomain>.
const FinesseUser = "finesse"

// Criterion is one of the guide's three availability criteria.
type Criterion string

const (
	CriterionSystemInfo Criterion = "systeminfo"
	CriterionXMPP       Criterion = "xmpp"
	CriterionPresence   Criterion = "presence"
)

// Criteria lists the criteria in the order the guide requires.
var Criteria = []Criterion{CriterionSystemInfo, CriterionXMPP, CriterionPresence}

// Code is finessectl's exit status. Each failing code names one of the
// failure scenarios of the guide, so that a cron job, a CI step or an
// operator can act on the number alone.
type Code int

// The exit-code contract. Codes 0-31 come from checks, 64 and 70 from the
// tool itself; 1 and 2 are never used, so a crash or a cobra default cannot
// pass for a verdict.
const (
	OK                     Code = 0
	SystemInfoUnreachable  Code = 10
	SystemInfoTLS          Code = 11
	NotInService           Code = 12
	SystemInfoUnusable     Code = 13
	XMPPConnectionFailed   Code = 20
	XMPPTLS                Code = 21
	XMPPAuthFailed         Code = 22
	FinesseUnavailable     Code = 30
	FinessePresenceMissing Code = 31
	Usage                  Code = 64
	Internal               Code = 70
)

// Scenario explains a code: what failed, the guide's failure scenario behind
// it, the client recovery the guide prescribes, and what an operator checks
// on the server.
type Scenario struct {
	Code      Code
	Criterion Criterion // the criterion whose failure gives this code; "" for tool codes
	// Slug names the scenario in metrics labels and watch events; it stays
	// the same when the wording changes, as alert rules match on it. 11 and
	// 21 share one; the criterion tells the ports apart.
	Slug     string
	Meaning  string
	Guide    string
	Recovery string
	Operator string
}

const (
	recoverXMPPDown = "Periodically check the SystemInfo object for IN_SERVICE; after the system is IN_SERVICE, " +
		"re-establish the XMPP connection. Meanwhile check the alternate Finesse server."
	recoverCert = "Trust the certificate Finesse presents (--ca-file with its CA, or the certificate itself), " +
		"check that it has not expired and that it names the host you dial (--tls-server-name overrides the name)."
	recoverPresence = "As long as the XMPP connection remains available, wait for an AVAILABLE presence of the " +
		"'finesse' user, then wait for SystemInfo to report IN_SERVICE. Meanwhile check the alternate Finesse server."

	operatorTomcat = "On the node, run 'utils service list' and check that Cisco Finesse Tomcat and " +
		"Cisco Web Proxy Service are STARTED (start one with 'utils service start <name>'); " +
		"from here, check DNS, routing and firewalls to port 8445."
	operatorCert = "Check the Tomcat certificate in Cisco Unified OS Administration (Security > Certificate " +
		"Management): its expiry, its names, and that the monitoring host trusts its issuer."
	operatorPresence = "On the node, run 'utils service list' and check that Cisco Finesse Tomcat is STARTED; " +
		"the Finesse web app signs the 'finesse' user in when it starts."
)

// Scenarios is the contract in order; help, README and JSON all read it.
var Scenarios = []Scenario{
	{Code: OK, Slug: "available", Meaning: "every server is fully available"},
	{Code: SystemInfoUnreachable, Slug: "tomcat-or-network-down", Criterion: CriterionSystemInfo,
		Meaning:  "SystemInfo unreachable: refused, timed out, DNS failure, reset",
		Guide:    "Cisco Finesse Tomcat or the web proxy is down, or the network to the server is lost",
		Recovery: recoverXMPPDown, Operator: operatorTomcat},
	{Code: SystemInfoTLS, Slug: "tls", Criterion: CriterionSystemInfo,
		Meaning: "TLS failure on the HTTPS port (untrusted, expired, wrong name, no common protocol version)",
		Guide:   "certificate problem", Recovery: recoverCert, Operator: operatorCert},
	{Code: NotInService, Slug: "not-in-service", Criterion: CriterionSystemInfo,
		Meaning: "SystemInfo status is not IN_SERVICE (includes HTTP 503 SERVER_OUT_OF_SERVICE)",
		Guide:   "the Finesse web app is down, or Finesse lost its connection to the CTI server",
		Recovery: "While the XMPP connection remains available, wait for SystemInfo to report IN_SERVICE; " +
			"check Finesse's CTI server connection. Meanwhile check the alternate Finesse server.",
		Operator: "Check the CTI link: SystemInfo's lastCTIHeartbeatStatus and ctiServers, the CTI server " +
			"(CG/PG on UCCE) and the network to it on ports 42027/43027; run 'utils service list' and check " +
			"that Cisco Finesse Tomcat is STARTED."},
	{Code: SystemInfoUnusable, Slug: "not-finesse", Criterion: CriterionSystemInfo,
		Meaning:  "SystemInfo answered, but not as this Finesse node (other HTTP status, not XML, no status, plain HTTP, bad framing, redirect elsewhere)",
		Guide:    "not a Finesse node, or a proxy error",
		Recovery: "Check the address and port (Finesse serves HTTPS on 8445) and any proxy or load balancer in between.",
		Operator: "Open https://<server>:8445/finesse/api/SystemInfo in a browser and compare with what a " +
			"Finesse node returns; check load balancers, reverse proxies and NAT in the path."},
	{Code: XMPPConnectionFailed, Slug: "notification-service-down", Criterion: CriterionXMPP,
		Meaning: "XMPP connection failed: refused, timed out, stream error",
		Guide: "the Cisco Finesse Notification Service is down (Unified CCX Notification Service on UCCX), " +
			"or the network to it is lost",
		Recovery: recoverXMPPDown,
		Operator: "On the node, run 'utils service list' and check that Cisco Finesse Notification Service " +
			"(Cisco Unified CCX Notification Service on UCCX) is STARTED; since 12.5(1) ES4, port 5223 " +
			"answers only hosts on the allow-list of 'utils finesse notification external_port_access'."},
	{Code: XMPPTLS, Slug: "tls", Criterion: CriterionXMPP,
		Meaning:  "TLS failure on the XMPP port (untrusted, expired, wrong name, no common protocol version)",
		Guide:    "certificate problem (the Notification Service shares the Finesse Tomcat certificate)",
		Recovery: recoverCert, Operator: operatorCert},
	{Code: XMPPAuthFailed, Slug: "auth-failed", Criterion: CriterionXMPP,
		Meaning: "XMPP authentication failed (never retried)",
		Guide:   "wrong probe credentials, or the authentication backend is down",
		Recovery: "Check the probe user's ID and password. finessectl never retries: five failed sign-ins lock a " +
			"Finesse account for 5 minutes.",
		Operator: "The XMPP user is the agent ID (numeric on UCCE), not the login name; with SSO or HYBRID " +
			"authentication the probe must be a non-SSO user. Check the account in the administration " +
			"console and the AWDB or UCCX connection that authenticates it."},
	{Code: FinesseUnavailable, Slug: "finesse-unavailable", Criterion: CriterionPresence,
		Meaning:  "'finesse' presence is UNAVAILABLE",
		Guide:    "Cisco Finesse Tomcat or the Finesse web app is down",
		Recovery: recoverPresence, Operator: operatorPresence},
	{Code: FinessePresenceMissing, Slug: "finesse-presence-missing", Criterion: CriterionPresence,
		Meaning:  "no presence of the 'finesse' user within --presence-timeout",
		Guide:    "Cisco Finesse Tomcat or the Finesse web app is down, or the probe user's roster lacks the 'finesse' user",
		Recovery: recoverPresence + " If it never comes, check that the 'finesse' user is in the probe user's roster.",
		Operator: operatorPresence + " A probe user that never signed in to a desktop may lack the roster entry."},
	{Code: Usage, Slug: "usage-error", Meaning: "usage or configuration error (bad flag, missing credentials, unreadable file)"},
	{Code: Internal, Slug: "internal-error", Meaning: "internal error"},
}

// ScenarioFor returns the explanation of c.
func ScenarioFor(c Code) Scenario {
	for _, s := range Scenarios {
		if s.Code == c {
			return s
		}
	}
	return Scenario{Code: c, Slug: "unknown", Meaning: "unknown exit code"}
}
