package finesse

import (
	"regexp"
	"testing"
)

// The contract is stated here literally: scripts and monitoring configs in
// the field depend on these numbers, so changing one must fail a test.
func TestExitCodeContract(t *testing.T) {
	want := []struct {
		code      Code
		n         int
		criterion Criterion
	}{
		{OK, 0, ""},
		{SystemInfoUnreachable, 10, "systeminfo"},
		{SystemInfoTLS, 11, "systeminfo"},
		{NotInService, 12, "systeminfo"},
		{SystemInfoUnusable, 13, "systeminfo"},
		{XMPPConnectionFailed, 20, "xmpp"},
		{XMPPTLS, 21, "xmpp"},
		{XMPPAuthFailed, 22, "xmpp"},
		{FinesseUnavailable, 30, "presence"},
		{FinessePresenceMissing, 31, "presence"},
		{Usage, 64, ""},
		{Internal, 70, ""},
	}
	if len(Scenarios) != len(want) {
		t.Fatalf("%d scenarios for %d codes", len(Scenarios), len(want))
	}
	for i, w := range want {
		s := Scenarios[i]
		if int(w.code) != w.n || int(s.Code) != w.n || s.Criterion != w.criterion {
			t.Errorf("Scenarios[%d] = code %d at %q, want %d at %q", i, s.Code, s.Criterion, w.n, w.criterion)
		}
		if s.Meaning == "" {
			t.Errorf("code %d has no meaning", w.n)
		}
		if s.Criterion != "" && (s.Guide == "" || s.Recovery == "" || s.Operator == "") {
			t.Errorf("check failure %d lacks the guide's scenario, its recovery or the operator's action", w.n)
		}
		if ScenarioFor(w.code).Code != w.code {
			t.Errorf("ScenarioFor(%d) is wrong", w.n)
		}
	}
	if ScenarioFor(1).Meaning != "unknown exit code" {
		t.Error("code 1 must not be part of the contract")
	}
}

func TestVocabulary(t *testing.T) {
	if HTTPSPort != 8445 || XMPPPort != 5222 || XMPPSecurePort != 5223 || BOSHPort != 7443 {
		t.Error("Finesse's ports are 8445, 5222, 5223 and 7443")
	}
	if SystemInfoPath != "/finesse/api/SystemInfo" || StatusInService != "IN_SERVICE" || FinesseUser != "finesse" {
		t.Error("SystemInfo path, IN_SERVICE or the 'finesse' user changed")
	}
	if len(Criteria) != 3 || Criteria[0] != "systeminfo" || Criteria[1] != "xmpp" || Criteria[2] != "presence" {
		t.Errorf("the guide's criteria, in order, are systeminfo, xmpp, presence; got %v", Criteria)
	}
}

// Every code of the contract has a stable scenario slug; alert rules and
// scripts reading watch events match on these literally.
func TestScenarioSlugs(t *testing.T) {
	want := map[Code]string{
		0:  "available",
		10: "tomcat-or-network-down",
		11: "tls",
		12: "not-in-service",
		13: "not-finesse",
		20: "notification-service-down",
		21: "tls",
		22: "auth-failed",
		30: "finesse-unavailable",
		31: "finesse-presence-missing",
		64: "usage-error",
		70: "internal-error",
	}
	slug := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	for _, s := range Scenarios {
		if s.Slug != want[s.Code] || !slug.MatchString(s.Slug) {
			t.Errorf("code %d: slug %q, want %q", s.Code, s.Slug, want[s.Code])
		}
	}
	if len(Scenarios) != len(want) {
		t.Errorf("%d scenarios, %d expected", len(Scenarios), len(want))
	}
	if got := ScenarioFor(99).Slug; got != "unknown" {
		t.Errorf("slug of code 99 = %q, want unknown", got)
	}
}
