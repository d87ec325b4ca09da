package check

// Code is finessectl's exit status. Each failing code names one of the
// failure scenarios of the Finesse developer guide, so that a cron job, a CI
// step or an operator can act on the number alone.
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

// Scenario explains a code: what failed, which failure scenario of the guide
// that points to, and the recovery step the guide gives for it.
type Scenario struct {
	Code     Code
	Meaning  string
	Guide    string
	Recovery string
}

const (
	recoverXMPPDown = "Periodically check the SystemInfo object for IN_SERVICE; after the system is IN_SERVICE, " +
		"re-establish the XMPP connection. Meanwhile check the alternate Finesse server."
	recoverCert = "Trust the certificate Finesse presents (--ca-file with its CA, or the certificate itself), " +
		"check that it has not expired and that it names the host you dial (--tls-server-name overrides the name)."
	recoverPresence = "As long as the XMPP connection remains available, wait for an AVAILABLE presence of the " +
		"'finesse' user, then wait for SystemInfo to report IN_SERVICE. Meanwhile check the alternate Finesse server."
)

// Scenarios is the contract in order; help, README and JSON all read it.
var Scenarios = []Scenario{
	{OK, "every server is fully available", "", ""},
	{SystemInfoUnreachable, "SystemInfo unreachable: refused, timed out, DNS failure, reset",
		"Cisco Finesse Tomcat or the web proxy is down, or the network to the server is lost",
		recoverXMPPDown},
	{SystemInfoTLS, "TLS failure on the HTTPS port (untrusted, expired, wrong name)",
		"certificate problem", recoverCert},
	{NotInService, "SystemInfo status is not IN_SERVICE (includes HTTP 503 SERVER_OUT_OF_SERVICE)",
		"the Finesse web app is down, or Finesse lost its connection to the CTI server",
		"While the XMPP connection remains available, wait for SystemInfo to report IN_SERVICE; " +
			"check Finesse's CTI server connection. Meanwhile check the alternate Finesse server."},
	{SystemInfoUnusable, "SystemInfo answered but is unusable (other HTTP status, not XML, no status)",
		"not a Finesse node, or a proxy error",
		"Check the address and port (Finesse serves HTTPS on 8445) and any proxy or load balancer in between."},
	{XMPPConnectionFailed, "XMPP connection failed: refused, timed out, stream error",
		"the Cisco Finesse Notification Service is down (Unified CCX Notification Service on UCCX), " +
			"or the network to it is lost",
		recoverXMPPDown},
	{XMPPTLS, "TLS failure on the XMPP port",
		"certificate problem (the Notification Service shares the Finesse Tomcat certificate)", recoverCert},
	{XMPPAuthFailed, "XMPP authentication failed (never retried)",
		"wrong probe credentials, or the authentication backend is down",
		"Check the probe user's ID and password. finessectl never retries: five failed sign-ins lock a Finesse " +
			"account for 5 minutes."},
	{FinesseUnavailable, "'finesse' presence is UNAVAILABLE",
		"Cisco Finesse Tomcat or the Finesse web app is down", recoverPresence},
	{FinessePresenceMissing, "no presence of the 'finesse' user within --presence-timeout",
		"Cisco Finesse Tomcat or the Finesse web app is down, or the probe user's roster lacks the 'finesse' user",
		recoverPresence + " If it never comes, check that the 'finesse' user is in the probe user's roster."},
	{Usage, "usage or configuration error (bad flag, missing credentials, unreadable file)", "", ""},
	{Internal, "internal error", "", ""},
}

// ScenarioFor returns the explanation of c.
func ScenarioFor(c Code) Scenario {
	for _, s := range Scenarios {
		if s.Code == c {
			return s
		}
	}
	return Scenario{Code: c, Meaning: "unknown exit code"}
}
