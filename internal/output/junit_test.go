package output

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
)

func TestGoldenJUnit(t *testing.T) {
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			golden(t, name+".junit.xml", renderJUnit(t, r))
		})
	}
}

func renderJUnit(t *testing.T, r check.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := JUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The testcase names are a contract with CI systems, which track a test by
// its name: written out here, so that renaming one fails a test.
var wantCaseNames = map[finesse.Criterion]string{
	finesse.CriterionSystemInfo: "1 systeminfo IN_SERVICE",
	finesse.CriterionXMPP:       "2 xmpp connection",
	finesse.CriterionPresence:   "3 presence of 'finesse'",
}

// junitSuiteWant is what the report must say about one server, derived
// from the Go result alone rather than from the renderer's code.
type junitSuiteWant struct {
	Name     string
	ExitCode int
	Cases    []junitCaseWant
}

// junitCaseWant is one testcase: its name and its state, one of passed,
// failure, error and skipped.
type junitCaseWant struct{ Name, State string }

func (s junitSuiteWant) count(state string) int {
	n := 0
	for _, c := range s.Cases {
		if c.State == state {
			n++
		}
	}
	return n
}

func junitWant(r check.Result) []junitSuiteWant {
	var suites []junitSuiteWant
	for _, s := range r.Servers {
		w := junitSuiteWant{Name: s.Target.Name, ExitCode: int(s.ExitCode())}
		for _, c := range s.Checks {
			state := map[check.Status]string{check.Pass: "passed", check.Fail: "failure", check.Skipped: "skipped"}[c.Status]
			w.Cases = append(w.Cases, junitCaseWant{wantCaseNames[c.Criterion], state})
		}
		if s.Failure != nil && s.Failure.Criterion == "" {
			w.Cases = append(w.Cases, junitCaseWant{"internal error", "error"})
		}
		suites = append(suites, w)
	}
	return suites
}

// The parsed shape is declared here, apart from the renderer's, so that a
// wrong element or attribute name in junit.go shows up as a missing value.
type parsedSuites struct {
	XMLName   xml.Name      `xml:"testsuites"`
	Name      string        `xml:"name,attr"`
	Tests     int           `xml:"tests,attr"`
	Failures  int           `xml:"failures,attr"`
	Errors    int           `xml:"errors,attr"`
	Skipped   int           `xml:"skipped,attr"`
	Time      string        `xml:"time,attr"`
	Timestamp string        `xml:"timestamp,attr"`
	Suites    []parsedSuite `xml:"testsuite"`
}

type parsedSuite struct {
	Name       string           `xml:"name,attr"`
	Tests      int              `xml:"tests,attr"`
	Failures   int              `xml:"failures,attr"`
	Errors     int              `xml:"errors,attr"`
	Skipped    int              `xml:"skipped,attr"`
	Time       string           `xml:"time,attr"`
	Timestamp  string           `xml:"timestamp,attr"`
	Properties []parsedProperty `xml:"properties>property"`
	Cases      []parsedCase     `xml:"testcase"`
	SystemOut  []string         `xml:"system-out"`
}

type parsedProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type parsedCase struct {
	Classname string          `xml:"classname,attr"`
	Name      string          `xml:"name,attr"`
	Time      string          `xml:"time,attr"`
	Failures  []parsedProblem `xml:"failure"`
	Errors    []parsedProblem `xml:"error"`
	Skipped   []parsedProblem `xml:"skipped"`
}

type parsedProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// state is the testcase's state, or "" when it holds more than one result.
func (c parsedCase) state() string {
	switch n := len(c.Failures) + len(c.Errors) + len(c.Skipped); {
	case n == 0:
		return "passed"
	case n > 1:
		return ""
	case len(c.Failures) == 1:
		return "failure"
	case len(c.Errors) == 1:
		return "error"
	}
	return "skipped"
}

func (s parsedSuite) property(name string) string {
	for _, p := range s.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func parseJUnit(t *testing.T, doc []byte) parsedSuites {
	t.Helper()
	var p parsedSuites
	if err := xml.Unmarshal(doc, &p); err != nil {
		t.Fatalf("the report does not parse: %v\n%s", err, doc)
	}
	return p
}

// Every count in the report agrees with its testcases, and the testcases
// with the Go result: the exit code, the criterion that failed, what was
// skipped, and an internal error as the one <error>.
func TestJUnitAgreesWithResult(t *testing.T) {
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			doc := parseJUnit(t, renderJUnit(t, r))
			want := junitWant(r)
			if len(doc.Suites) != len(want) {
				t.Fatalf("%d testsuites for %d servers", len(doc.Suites), len(want))
			}
			var total [4]int
			for i, s := range doc.Suites {
				w, sr := want[i], r.Servers[i]
				counted := map[string]int{}
				names := map[string]bool{}
				for j, c := range s.Cases {
					counted[c.state()]++
					if j < len(w.Cases) && (c.Name != w.Cases[j].Name || c.state() != w.Cases[j].State) {
						t.Errorf("%s: testcase %d is %q %s, want %q %s", s.Name, j, c.Name, c.state(), w.Cases[j].Name, w.Cases[j].State)
					}
					if names[c.Name] {
						t.Errorf("%s: testcase name %q is not unique; GitLab would drop the second", s.Name, c.Name)
					}
					names[c.Name] = true
					if c.Classname != "finessectl."+strings.ReplaceAll(s.Name, ".", "_") {
						t.Errorf("%s: classname %q", s.Name, c.Classname)
					}
					for _, p := range append(c.Failures, c.Errors...) {
						if code := fmt.Sprintf("exit %d: ", w.ExitCode); !strings.HasPrefix(p.Type, code) {
							t.Errorf("%s: %s type %q does not start with %q", s.Name, c.Name, p.Type, code)
						}
						if p.Message == "" || !strings.HasPrefix(p.Text, failureLine(sr)) {
							t.Errorf("%s: %s message %q, text %q: want the failure line first", s.Name, c.Name, p.Message, p.Text)
						}
					}
				}
				if len(s.Cases) != len(w.Cases) || s.Name != w.Name {
					t.Errorf("suite %q has %d testcases, want %q with %d", s.Name, len(s.Cases), w.Name, len(w.Cases))
				}
				got := [4]int{s.Tests, s.Failures, s.Errors, s.Skipped}
				fromCases := [4]int{len(s.Cases), counted["failure"], counted["error"], counted["skipped"]}
				fromResult := [4]int{len(w.Cases), w.count("failure"), w.count("error"), w.count("skipped")}
				if got != fromCases || got != fromResult || counted[""] != 0 {
					t.Errorf("%s: tests, failures, errors, skipped = %v; its testcases hold %v (%d with several results); the result says %v",
						s.Name, got, fromCases, counted[""], fromResult)
				}
				for k := range total {
					total[k] += got[k]
				}
				if p := s.property("exit_code"); p != fmt.Sprint(w.ExitCode) {
					t.Errorf("%s: exit_code property %q, want %d", s.Name, p, w.ExitCode)
				}
				if p := s.property("available"); p != fmt.Sprint(sr.Available()) {
					t.Errorf("%s: available property %q", s.Name, p)
				}
				if s.Timestamp != "2026-11-30T12:00:00Z" || s.Time == "" {
					t.Errorf("%s: timestamp %q, time %q", s.Name, s.Timestamp, s.Time)
				}
				checkJUnitWarnings(t, s, sr)
			}
			if got := [4]int{doc.Tests, doc.Failures, doc.Errors, doc.Skipped}; got != total || doc.Name != "finessectl" {
				t.Errorf("testsuites %q says %v, its suites add up to %v", doc.Name, got, total)
			}
		})
	}
}

// Warnings go to the suite's output, one line each, and never fail a
// testcase: the failures are exactly the failed criteria, checked above.
func checkJUnitWarnings(t *testing.T, s parsedSuite, sr check.ServerResult) {
	t.Helper()
	if len(sr.Warnings) == 0 {
		if len(s.SystemOut) != 0 {
			t.Errorf("%s: system-out without warnings: %q", s.Name, s.SystemOut)
		}
		return
	}
	if len(s.SystemOut) != 1 {
		t.Fatalf("%s: %d system-out elements for %d warnings", s.Name, len(s.SystemOut), len(sr.Warnings))
	}
	lines := strings.Split(s.SystemOut[0], "\n")
	if len(lines) != len(sr.Warnings) {
		t.Fatalf("%s: system-out has %d lines for %d warnings: %q", s.Name, len(lines), len(sr.Warnings), s.SystemOut[0])
	}
	for i, w := range sr.Warnings {
		if !strings.HasPrefix(lines[i], string(w.Severity)+": ") {
			t.Errorf("%s: warning line %q does not start with %q", s.Name, lines[i], w.Severity)
		}
	}
}

// XML 1.0 forbids most C0 characters even as character references, and a
// bidi override or a forged line would mislead whoever reads the report in
// a CI page. Nothing of the kind may reach the report from a server: no raw
// byte, and no decoded attribute or text except the report's own newlines.
func TestJUnitHasNoControlCharacters(t *testing.T) {
	if _, ok := results["hostile-server-text"]; !ok {
		t.Fatal("the hostile-server-text case is gone")
	}
	for name, r := range results {
		t.Run(name, func(t *testing.T) {
			doc := renderJUnit(t, r)
			for i, c := range doc {
				if c < 0x20 && c != '\n' {
					t.Fatalf("raw byte %#x at offset %d", c, i)
				}
			}
			dec := xml.NewDecoder(bytes.NewReader(doc))
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("encoding/xml rejects the report: %v\n%s", err, doc)
				}
				switch tok := tok.(type) {
				case xml.StartElement:
					for _, a := range tok.Attr {
						checkPrintable(t, tok.Name.Local+"@"+a.Name.Local, a.Value, false)
					}
				case xml.CharData:
					checkPrintable(t, "text", string(tok), true)
				}
			}
		})
	}
}

func checkPrintable(t *testing.T, where, s string, newlines bool) {
	t.Helper()
	for _, c := range s {
		if c == '\n' && newlines {
			continue
		}
		if unicode.Is(unicode.Cc, c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029' || c == '\ufffd' {
			t.Errorf("%s holds %U: %q", where, c, s)
		}
	}
}

// A server given twice gets two suites that GitLab keeps apart.
func TestJUnitRepeatedServer(t *testing.T) {
	r := check.Result{Require: check.RequireAll, Started: started,
		Servers: []check.ServerResult{healthy("finesse-a.example.com"), healthy("finesse-a.example.com")}}
	doc := parseJUnit(t, renderJUnit(t, r))
	var got []string
	for _, s := range doc.Suites {
		got = append(got, s.Name+" "+s.Cases[0].Classname)
	}
	want := []string{"finesse-a.example.com finessectl.finesse-a_example_com",
		"finesse-a.example.com (2) finessectl.finesse-a_example_com (2)"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("suites %q, want %q", got, want)
	}
}

func TestJUnitCaseNamesCoverCriteria(t *testing.T) {
	for _, c := range finesse.Criteria {
		if junitCaseNames[c] != wantCaseNames[c] || wantCaseNames[c] == "" {
			t.Errorf("criterion %s: testcase name %q, want %q", c, junitCaseNames[c], wantCaseNames[c])
		}
	}
}
