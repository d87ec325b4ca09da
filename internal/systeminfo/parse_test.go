package systeminfo

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const fixtureDir = "../../testdata/systeminfo"

// parseDoc (Parse) and parseAPIErrorsDoc are the parsers as Fetch reports
// them: a failure wraps ErrUnusable and its text is sanitized.
var parseDoc = Parse

func parseAPIErrorsDoc(data []byte) ([]APIError, error) {
	errs, err := parseAPIErrors(data)
	if err != nil {
		return nil, unusable(err)
	}
	return errs, nil
}

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// The full expected value of every SystemInfo fixture that parses.
var parsedFixtures = map[string]*Info{
	"sysinfo-12.5-schema.xml": {
		Status:                      "IN_SERVICE",
		DeploymentType:              "UCCE",
		XMPPDomain:                  "finesse-a.example.com",
		XMPPPubSubDomain:            "pubsub.finesse-a.example.com",
		LastCTIHeartbeatStatus:      "success",
		LastSuccessCTIHeartbeatTime: "1714564798123",
		CTIVersion:                  "23",
		CTIHeartbeatInterval:        "5",
		CurrentTimestamp:            "2024-05-01T12:00:00.123Z",
		SystemAuthMode:              "NON_SSO",
		TimezoneOffset:              "-300",
		PeripheralID:                "5000",
		URI:                         "/finesse/api/SystemInfo",
		PrimaryNode:                 &Node{Host: "finesse-a.example.com"},
		SecondaryNode:               &Node{Host: "finesse-b.example.com"},
	},
	"sysinfo-12.6-schema.xml": {
		Status:                      "IN_SERVICE",
		DeploymentType:              "UCCE",
		XMPPDomain:                  "finesse-a.example.test",
		XMPPPubSubDomain:            "pubsub.finesse-a.example.test",
		LastCTIHeartbeatStatus:      "success",
		LastSuccessCTIHeartbeatTime: "1741944411270",
		CTIVersion:                  "24",
		CTIHeartbeatInterval:        "5",
		CurrentTimestamp:            "2025-03-14T09:26:53.589Z",
		SystemAuthMode:              "NON_SSO",
		TimezoneOffset:              "60",
		PeripheralID:                "5000",
		URI:                         "/finesse/api/SystemInfo",
		CTITimeInMMode:              "-1",
		FinesseTimeInMMode:          "-1",
		PrimaryNode:                 &Node{Host: "finesse-a.example.test", HTTPSPort: "8445", XMPPPort: "5222", XMPPSecurePort: "5223"},
		SecondaryNode:               &Node{Host: "finesse-b.example.test", HTTPSPort: "8445", XMPPPort: "5222", XMPPSecurePort: "5223"},
		CTIServers: []CTIServer{
			{Host: "cg1a.example.test", ConnectedDuration: "86400123", Active: "true"},
			{Host: "cg1b.example.test", ConnectedDuration: "0", Active: "false"},
		},
	},
	"sysinfo-15.0-maintenance.xml": {
		Status:                      "IN_SERVICE",
		DeploymentType:              "UCCE",
		XMPPDomain:                  "finesse-a.example.test",
		XMPPPubSubDomain:            "pubsub.finesse-a.example.test",
		LastCTIHeartbeatStatus:      "success",
		LastSuccessCTIHeartbeatTime: "1748743203000",
		CTIVersion:                  "24",
		CTIHeartbeatInterval:        "5",
		CurrentTimestamp:            "2025-06-01T02:00:05.000Z",
		CTIMMode:                    "IN_PROGRESS",
		CTITimeInMMode:              "120",
		FinesseMMode:                "INITIATING",
		FinesseTimeInMMode:          "5",
		PrimaryNode:                 &Node{Host: "finesse-a.example.test", HTTPSPort: "8445", XMPPPort: "5222", XMPPSecurePort: "5223"},
		CTIServers:                  []CTIServer{{Host: "cg1a.example.test", ConnectedDuration: "3600000", Active: "true"}},
	},
	"sysinfo-minimal.xml": {
		Status:           "IN_SERVICE",
		XMPPDomain:       "xmppserver.example.com",
		XMPPPubSubDomain: "pubsub.xmppserver.example.com",
	},
	"sysinfo-12.5-observed.xml": {
		Status:                      "IN_SERVICE",
		DeploymentType:              "UCCE",
		XMPPDomain:                  "fin125comb.example.com",
		XMPPPubSubDomain:            "pubsub.fin125comb.example.com",
		LastCTIHeartbeatStatus:      "success",
		LastSuccessCTIHeartbeatTime: "1651736045266",
		CTIVersion:                  "23",
		CTIHeartbeatInterval:        "2",
		CurrentTimestamp:            "2022-05-05T07:34:07.188Z",
		SystemAuthMode:              "NON_SSO",
		TimezoneOffset:              "330",
		PeripheralID:                "5000",
		URI:                         "/finesse/api/SystemInfo",
		PrimaryNode:                 &Node{Host: "fin125comb.example.com"},
	},
	"sysinfo-out-of-service.xml": {
		Status:                      "OUT_OF_SERVICE",
		StatusReason:                "CTI connection lost",
		DeploymentType:              "UCCE",
		XMPPDomain:                  "finesse-a.example.com",
		XMPPPubSubDomain:            "pubsub.finesse-a.example.com",
		LastCTIHeartbeatStatus:      "failure",
		LastSuccessCTIHeartbeatTime: "1714564975110",
		CTIVersion:                  "23",
		CTIHeartbeatInterval:        "5",
		CurrentTimestamp:            "2024-05-01T12:03:10.004Z",
		SystemAuthMode:              "NON_SSO",
		TimezoneOffset:              "-300",
		PeripheralID:                "5000",
		URI:                         "/finesse/api/SystemInfo",
		PrimaryNode:                 &Node{Host: "finesse-a.example.com"},
		SecondaryNode:               &Node{Host: "finesse-b.example.com"},
	},
	"sysinfo-partial-service.xml": {
		Status:                 "PARTIAL_SERVICE",
		StatusReason:           "Notification Service unavailable",
		DeploymentType:         "UCCX",
		XMPPDomain:             "uccx-a.example.test",
		XMPPPubSubDomain:       "pubsub.uccx-a.example.test",
		LastCTIHeartbeatStatus: "success",
		PrimaryNode:            &Node{Host: "uccx-a.example.test"},
		SecondaryNode:          &Node{Host: "uccx-b.example.test"},
	},
	"sysinfo-unknown-elements.xml": {
		Status:           "IN_SERVICE",
		CurrentTimestamp: "2030-01-01T00:00:00.000Z",
		XMPPDomain:       "finesse-a.example.test",
		PrimaryNode:      &Node{Host: "finesse-a.example.test", HTTPSPort: "8445"},
		CTIServers:       []CTIServer{{Host: "cg1a.example.test", Active: "true"}},
	},
	"sysinfo-pubsub-lowercase-root.xml": {
		Status:           "OUT_OF_SERVICE",
		XMPPDomain:       "finesse-a.example.test",
		XMPPPubSubDomain: "pubsub.finesse-a.example.test",
	},
	"sysinfo-latin1.xml": {
		Status:       "OUT_OF_SERVICE",
		StatusReason: "Mise à jour du système",
		XMPPDomain:   "finesse-a.example.test",
	},
}

// Fixtures that are not SystemInfo, and a word the error must contain.
var unparsedFixtures = map[string]string{
	"apierrors-503-server-out-of-service.xml": "root element is <ApiErrors>, not <SystemInfo>",
	"apierrors-generic.xml":                   "root element is <ApiErrors>",
	"apierrors-pubsub-lowercase.xml":          "root element is <apiErrors>",
	"garbage-html-error-page.html":            "root element is <html>",
	"garbage-json.json":                       `not XML: starts "{"status":`,
	"garbage-empty.xml":                       "empty document",
	"garbage-truncated.xml":                   "truncated XML",
	"garbage-wrong-root.xml":                  "root element is <User>, not <SystemInfo>",
	"garbage-billion-laughs.xml":              "invalid character entity &lol9;",
}

func TestParseFixtures(t *testing.T) {
	for name, want := range parsedFixtures {
		t.Run(name, func(t *testing.T) {
			got, err := parseDoc(fixture(t, name))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				gj, _ := json.MarshalIndent(got, "", " ")
				wj, _ := json.MarshalIndent(want, "", " ")
				t.Errorf("Parse mismatch\ngot:  %s\nwant: %s", gj, wj)
			}
		})
	}
	for name, msg := range unparsedFixtures {
		t.Run(name, func(t *testing.T) {
			got, err := parseDoc(fixture(t, name))
			if !errors.Is(err, ErrUnusable) {
				t.Fatalf("Parse error = %v, want ErrUnusable", err)
			}
			if got != nil {
				t.Errorf("Parse returned %+v with an error", got)
			}
			if !strings.Contains(err.Error(), msg) {
				t.Errorf("error %q does not contain %q", err, msg)
			}
		})
	}
}

// Every file in the fixture directory must be covered by a table above, so a
// new fixture cannot go untested.
func TestEveryFixtureIsChecked(t *testing.T) {
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "README.md" {
			continue
		}
		n++
		_, parsed := parsedFixtures[name]
		_, unparsed := unparsedFixtures[name]
		if !parsed && !unparsed {
			t.Errorf("fixture %s has no expectation", name)
		}
	}
	if n != len(parsedFixtures)+len(unparsedFixtures) {
		t.Errorf("%d fixture files, %d expectations", n, len(parsedFixtures)+len(unparsedFixtures))
	}
}

func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Info  // checked when wantErr is ""
		wantErr string // substring of an ErrUnusable error
	}{
		{name: "no status is not an error", in: `<SystemInfo><xmppDomain>a.example.test</xmppDomain></SystemInfo>`,
			want: &Info{XMPPDomain: "a.example.test"}},
		{name: "self-closing root", in: `<SystemInfo/>`, want: &Info{}},
		{name: "empty node is present, empty ctiServers absent", in: `<SystemInfo><primaryNode/><ctiServers></ctiServers></SystemInfo>`,
			want: &Info{PrimaryNode: &Node{}}},
		{name: "whitespace trimmed", in: "<SystemInfo><status>\n\t IN_SERVICE \r\n</status></SystemInfo>", want: &Info{Status: "IN_SERVICE"}},
		{name: "character references", in: `<SystemInfo><statusReason>a &amp; b &#233;</statusReason></SystemInfo>`, want: &Info{StatusReason: "a & b é"}},
		{name: "UTF-8 byte order mark", in: "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?><SystemInfo><status>IN_SERVICE</status></SystemInfo>", want: &Info{Status: "IN_SERVICE"}},
		{name: "lower-case encoding label", in: `<?xml version="1.0" encoding="utf-8"?><SystemInfo><status>IN_SERVICE</status></SystemInfo>`, want: &Info{Status: "IN_SERVICE"}},
		{name: "namespaced root", in: `<f:SystemInfo xmlns:f="urn:x"><f:status>IN_SERVICE</f:status></f:SystemInfo>`, want: &Info{Status: "IN_SERVICE"}},
		{name: "trailing whitespace and comment", in: "<SystemInfo/>\n<!-- end -->\n", want: &Info{}},

		{name: "unsupported encoding", in: `<?xml version="1.0" encoding="UTF-16"?><SystemInfo/>`, wantErr: "encoding not supported"},
		{name: "EBCDIC", in: `<?xml version="1.0" encoding="IBM037"?><SystemInfo/>`, wantErr: `opening charset "IBM037"`},
		{name: "text before root", in: `<!-- x -->hello<SystemInfo/>`, wantErr: "text before the root element"},
		{name: "plain text", in: "Service Unavailable", wantErr: `not XML: starts "Service Unavailable"`},
		{name: "only a declaration", in: `<?xml version="1.0"?>`, wantErr: "no root element"},
		{name: "whitespace only", in: " \n\t ", wantErr: "empty document"},
		{name: "second element after root", in: `<SystemInfo><status>IN_SERVICE</status></SystemInfo><SystemInfo/>`, wantErr: "element <SystemInfo> after the root element"},
		{name: "text after root", in: `<SystemInfo/>trailing`, wantErr: "text after the root element"},
		{name: "truncated inside node", in: `<SystemInfo><status>IN_SERVICE</status><primaryNode><host>a`, wantErr: "truncated XML"},
		{name: "mismatched tags", in: `<SystemInfo><status>IN_SERVICE</statu></SystemInfo>`, wantErr: "malformed XML"},
		{name: "mismatched tags name their line", in: "<SystemInfo>\n<status>IN_SERVICE\n</statu></SystemInfo>", wantErr: "line 3: element <status> closed by </statu>"},
		// The limit, not the 1 MiB body cap, stops it: the decoder would
		// otherwise keep a stack entry for each of 300,000 open elements.
		{name: "elements nested without end", in: "<SystemInfo><x>" + strings.Repeat("<a>", 300_000), wantErr: "nested more than 64 deep"},
		{name: "64 levels are read", in: "<SystemInfo><x>" + strings.Repeat("<a>", 62) + strings.Repeat("</a>", 62) + "</x><status>IN_SERVICE</status></SystemInfo>",
			want: &Info{Status: "IN_SERVICE"}},
		{name: "raw escape character", in: "<SystemInfo><status>OUT\x1b[31m</status></SystemInfo>", wantErr: "illegal character code U+001B"},
		{name: "XML 1.1", in: `<?xml version="1.1"?><SystemInfo/>`, wantErr: "unsupported version"},
		{name: "ApiErrors", in: `<ApiErrors/>`, wantErr: "root element is <ApiErrors>"},
		{name: "XHTML", in: `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body/></html>`, wantErr: "root element is <html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDoc([]byte(tt.in))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want ErrUnusable containing %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("Parse returned %+v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A document that says two things must not be read as either: the parser
// would otherwise pick one (the last <status>, the text around markup).
func TestParseRejectsConflicts(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // empty: the document parses as IN_SERVICE
	}{
		{"status twice", `<SystemInfo><status>OUT_OF_SERVICE</status><statusReason>r</statusReason><status>IN_SERVICE</status></SystemInfo>`,
			"element <status> appears twice"},
		{"status twice, same value", `<SystemInfo><status>IN_SERVICE</status><status>IN_SERVICE</status></SystemInfo>`,
			"element <status> appears twice"},
		{"status twice, case differs", `<SystemInfo><Status>OUT_OF_SERVICE</Status><status>IN_SERVICE</status></SystemInfo>`,
			"element <status> appears twice"},
		{"status twice, one namespaced", `<SystemInfo xmlns:x="urn:x"><x:status>OUT_OF_SERVICE</x:status><status>IN_SERVICE</status></SystemInfo>`,
			"element <status> appears twice"},
		{"empty status twice", `<SystemInfo><status/><status>IN_SERVICE</status></SystemInfo>`,
			"element <status> appears twice"},
		{"xmppDomain twice", `<SystemInfo><status>IN_SERVICE</status><xmppDomain>a</xmppDomain><XMPPDOMAIN>b</XMPPDOMAIN></SystemInfo>`,
			"element <xmppdomain> appears twice"},
		{"markup inside status", `<SystemInfo><status>IN_<b>OUT_OF</b>SERVICE</status></SystemInfo>`,
			"markup inside <status>"},
		{"empty element inside status", `<SystemInfo><status>IN_SERVICE<br/></status></SystemInfo>`,
			"markup inside <status>"},
		{"markup inside statusReason", `<SystemInfo><status>IN_SERVICE</status><statusReason><i>x</i></statusReason></SystemInfo>`,
			"markup inside <statusreason>"},
		{"primaryNode twice", `<SystemInfo><status>IN_SERVICE</status><primaryNode><host>a</host></primaryNode><primaryNode><host>b</host></primaryNode></SystemInfo>`,
			"element <primarynode> appears twice"},
		{"secondaryNode twice, case differs", `<SystemInfo><secondaryNode/><SecondaryNode/></SystemInfo>`,
			"element <secondarynode> appears twice"},
		{"host twice in a node", `<SystemInfo><primaryNode><host>a</host><HOST>b</HOST></primaryNode></SystemInfo>`,
			"element <host> appears twice"},
		{"markup inside a node's host", `<SystemInfo><primaryNode><host><host>a</host></host></primaryNode></SystemInfo>`,
			"markup inside <host>"},
		{"active twice in a ctiServer", `<SystemInfo><ctiServers><ctiServer><active>false</active><active>true</active></ctiServer></ctiServers></SystemInfo>`,
			"element <active> appears twice"},
		{"markup inside a ctiServer's host", `<SystemInfo><ctiServers><ctiServer><host>a<x/></host></ctiServer></ctiServers></SystemInfo>`,
			"markup inside <host>"},

		{"same field in different parents", `<SystemInfo><status>IN_SERVICE</status><primaryNode><host>a</host></primaryNode><secondaryNode><host>b</host></secondaryNode>` +
			`<ctiServers><ctiServer><host>c</host></ctiServer><ctiServer><host>d</host></ctiServer></ctiServers></SystemInfo>`, ""},
		{"status inside an unknown element", `<SystemInfo><status>IN_SERVICE</status><future><status>OUT_OF_SERVICE</status><status/></future></SystemInfo>`, ""},
		{"unknown element twice", `<SystemInfo><status>IN_SERVICE</status><future>a</future><future><b>c</b></future></SystemInfo>`, ""},
		{"comment and CDATA inside status", `<SystemInfo><status>IN_<!-- note --><![CDATA[SERVICE]]></status></SystemInfo>`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := parseDoc([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil || info.Status != "IN_SERVICE" {
					t.Fatalf("Parse = %+v, %v; want status IN_SERVICE", info, err)
				}
				return
			}
			if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want ErrUnusable containing %q", err, tt.wantErr)
			}
			if info != nil {
				t.Errorf("Parse returned %+v with an error", info)
			}
		})
	}
}

// The same rules hold in Finesse's error body.
func TestParseAPIErrorsRejectsConflicts(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{`<ApiErrors><ApiError><ErrorMessage>A</ErrorMessage><errorMessage>B</errorMessage></ApiError></ApiErrors>`, "element <errormessage> appears twice"},
		{`<ApiErrors><ApiError><ErrorType>T<b>U</b></ErrorType></ApiError></ApiErrors>`, "markup inside <errortype>"},
	}
	for _, tt := range tests {
		errs, err := parseAPIErrorsDoc([]byte(tt.in))
		if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tt.wantErr) || errs != nil {
			t.Errorf("parseAPIErrors(%s) = %+v, %v; want ErrUnusable containing %q", tt.in, errs, err, tt.wantErr)
		}
	}
	// Two ApiError records are a list, not a conflict.
	errs, err := parseAPIErrorsDoc([]byte(`<ApiErrors><ApiError><ErrorMessage>A</ErrorMessage></ApiError><ApiError><ErrorMessage>B</ErrorMessage></ApiError></ApiErrors>`))
	if err != nil || len(errs) != 2 {
		t.Errorf("two ApiError records = %+v, %v", errs, err)
	}
}

func TestParseErrorIsSanitized(t *testing.T) {
	// Element names may hold any letter; a long one must not make a long error.
	long := strings.Repeat("x", 5000)
	_, err := parseDoc([]byte("<" + long + "/>"))
	if !errors.Is(err, ErrUnusable) {
		t.Fatalf("err = %v", err)
	}
	if n := len(err.Error()); n > 300 {
		t.Errorf("error is %d bytes long: %.80q...", n, err)
	}
	_, err = parseDoc([]byte("\x1b]0;owned\x07 plain text\nsecond line"))
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\x07\n") {
		t.Errorf("error not sanitized: %q", err)
	}
}

// TestParseAPIErrors covers the fixtures and hand-written shapes.
func TestParseAPIErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    []APIError
		wantErr string
	}{
		{name: "apierrors-503-server-out-of-service.xml", in: fixture(t, "apierrors-503-server-out-of-service.xml"), want: []APIError{{Type: "Service Unavailable", Message: "SERVER_OUT_OF_SERVICE"}}},
		{name: "apierrors-generic.xml", in: fixture(t, "apierrors-generic.xml"), want: []APIError{{Type: "type", Message: "message", Data: "data"}}},
		{name: "apierrors-pubsub-lowercase.xml", in: fixture(t, "apierrors-pubsub-lowercase.xml"), want: []APIError{{Type: "Invalid State", Message: "CF_INVALID_OBJECT_STATE", Data: "22"}}},
		{name: "sysinfo-12.6-schema.xml", in: fixture(t, "sysinfo-12.6-schema.xml"), wantErr: "root element is <SystemInfo>, not <ApiErrors>"},
		{name: "garbage-html-error-page.html", in: fixture(t, "garbage-html-error-page.html"), wantErr: "root element is <html>"},
		{name: "garbage-json.json", in: fixture(t, "garbage-json.json"), wantErr: "not XML"},
		{name: "garbage-empty.xml", in: fixture(t, "garbage-empty.xml"), wantErr: "empty document"},
		{name: "garbage-billion-laughs.xml", in: fixture(t, "garbage-billion-laughs.xml"), wantErr: "root element is <SystemInfo>"},
		{name: "two errors, mixed case, unknown child", in: []byte(`<APIERRORS><ApiError><ErrorType>A</ErrorType><Extra>x</Extra></ApiError><apierror><errormessage> M </errormessage></apierror></APIERRORS>`),
			want: []APIError{{Type: "A"}, {Message: "M"}}},
		{name: "unknown siblings skipped", in: []byte(`<ApiErrors><Note>hi</Note><ApiError><ErrorData>d</ErrorData></ApiError></ApiErrors>`),
			want: []APIError{{Data: "d"}}},
		{name: "no ApiError", in: []byte(`<ApiErrors/>`), want: nil},
		{name: "truncated", in: []byte(`<ApiErrors><ApiError><ErrorType>A`), wantErr: "truncated XML"},
		{name: "wrong root", in: []byte(`<ApiError><ErrorType>A</ErrorType></ApiError>`), wantErr: "root element is <ApiError>, not <ApiErrors>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAPIErrorsDoc(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrUnusable) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want ErrUnusable containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The JSON form is part of finessectl's stable output.
func TestInfoJSON(t *testing.T) {
	info, err := parseDoc(fixture(t, "sysinfo-15.0-maintenance.xml"))
	if err != nil {
		t.Fatal(err)
	}
	info.StatusReason, info.SystemAuthMode, info.TimezoneOffset = "r", "NON_SSO", "60"
	info.PeripheralID, info.License, info.URI = "5000", "l", "/finesse/api/SystemInfo"
	info.SecondaryNode = &Node{Host: "b.example.test"}
	got, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":"IN_SERVICE","status_reason":"r","deployment_type":"UCCE",` +
		`"xmpp_domain":"finesse-a.example.test","xmpp_pubsub_domain":"pubsub.finesse-a.example.test",` +
		`"last_cti_heartbeat_status":"success","last_success_cti_heartbeat_time":"1748743203000",` +
		`"cti_version":"24","cti_heartbeat_interval":"5","current_timestamp":"2025-06-01T02:00:05.000Z",` +
		`"system_auth_mode":"NON_SSO","timezone_offset":"60","peripheral_id":"5000","license":"l",` +
		`"uri":"/finesse/api/SystemInfo","cti_mmode":"IN_PROGRESS","cti_time_in_mmode":"120",` +
		`"finesse_mmode":"INITIATING","finesse_time_in_mmode":"5",` +
		`"primary_node":{"host":"finesse-a.example.test","https_port":"8445","xmpp_port":"5222","xmpp_secure_port":"5223"},` +
		`"secondary_node":{"host":"b.example.test"},` +
		`"cti_servers":[{"host":"cg1a.example.test","connected_duration":"3600000","active":"true"}]}`
	if string(got) != want {
		t.Errorf("JSON\ngot:  %s\nwant: %s", got, want)
	}
	empty, _ := json.Marshal(&Info{})
	if string(empty) != "{}" {
		t.Errorf("empty Info marshals to %s, want {}", empty)
	}
}

func TestInService(t *testing.T) {
	tests := []struct {
		info *Info
		want bool
	}{
		{&Info{Status: "IN_SERVICE"}, true},
		{&Info{Status: "OUT_OF_SERVICE"}, false},
		{&Info{Status: "PARTIAL_SERVICE"}, false},
		{&Info{Status: "in_service"}, false},
		{&Info{Status: " IN_SERVICE"}, false},
		{&Info{}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := tt.info.InService(); got != tt.want {
			t.Errorf("%+v.InService() = %v, want %v", tt.info, got, tt.want)
		}
	}
}

func TestNotInServiceErrorText(t *testing.T) {
	tests := []struct {
		err  NotInServiceError
		want string
	}{
		{NotInServiceError{HTTPStatus: 200, Status: "OUT_OF_SERVICE", Reason: "CTI connection lost"}, "status is OUT_OF_SERVICE (reason: CTI connection lost)"},
		{NotInServiceError{HTTPStatus: 200, Status: "PARTIAL_SERVICE"}, "status is PARTIAL_SERVICE"},
		{NotInServiceError{HTTPStatus: 503, Reason: "SERVER_OUT_OF_SERVICE"}, "HTTP 503 Service Unavailable: SERVER_OUT_OF_SERVICE"},
		{NotInServiceError{HTTPStatus: 503, Status: "OUT_OF_SERVICE", Reason: "x"}, "HTTP 503 Service Unavailable: status is OUT_OF_SERVICE (reason: x)"},
		{NotInServiceError{HTTPStatus: 503}, "HTTP 503 Service Unavailable"},
		{NotInServiceError{Status: "OUT_OF_SERVICE"}, "status is OUT_OF_SERVICE"},
		{NotInServiceError{}, "not in service"},
		{NotInServiceError{HTTPStatus: 200, Status: "OUT\x1b[2J_OF_SERVICE", Reason: "a\nb\u202e"}, `status is OUT_OF_SERVICE (reason: a b\u202e)`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
