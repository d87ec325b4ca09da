package output

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
)

// JUnit XML as CI systems read it: one testsuite per server, one testcase
// per criterion, so that a CI smoke test before a go-live shows which
// criterion failed on which node. Each server's testcases say what happened
// to it: a criterion that failed is a <failure>, one the guide's order did
// not reach is <skipped>, and an internal error, which no criterion is to
// blame for, is an <error> ("an unanticipated problem") on a testcase of its
// own. Warnings never fail a testcase, not even critical ones: a server with
// a certificate about to expire passed, and exits 0. Under --require any a
// degraded pair exits 0 while the down node's failure stays in the report,
// so the node is not hidden; Jenkins calls such a build unstable.

// junitCaseNames name the testcase of each criterion. They never contain
// text from a server, so a test keeps its identity from run to run (GitLab
// and Jenkins track tests by name), and the number keeps the guide's order
// where a CI system sorts by name.
var junitCaseNames = map[finesse.Criterion]string{
	finesse.CriterionSystemInfo: "1 systeminfo IN_SERVICE",
	finesse.CriterionXMPP:       "2 xmpp connection",
	finesse.CriterionPresence:   "3 presence of 'finesse'",
}

// junitInternalCase names the testcase that carries an internal error.
const junitInternalCase = "internal error"

// junitCounts are the attributes a testsuites and a testsuite share;
// encoding/xml writes an embedded struct's attributes as the outer's.
type junitCounts struct {
	Tests     int    `xml:"tests,attr"`
	Failures  int    `xml:"failures,attr"`
	Errors    int    `xml:"errors,attr"`
	Skipped   int    `xml:"skipped,attr"`
	Time      string `xml:"time,attr"`
	Timestamp string `xml:"timestamp,attr"`
}

func (c *junitCounts) add(o junitCounts) {
	c.Tests += o.Tests
	c.Failures += o.Failures
	c.Errors += o.Errors
	c.Skipped += o.Skipped
}

type junitSuites struct {
	XMLName xml.Name `xml:"testsuites"`
	Name    string   `xml:"name,attr"`
	junitCounts
	Suites []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name string `xml:"name,attr"`
	junitCounts
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  junitText       `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitSkipped `xml:"skipped"`
}

type junitSkipped struct {
	// Message is empty when an internal error ended the check: the
	// internal-error testcase says why.
	Message string `xml:"message,attr,omitempty"`
}

// junitProblem is a <failure> or an <error>: message is the one-line
// account, type the exit code and its meaning, and the text repeats the
// account and adds what to do, because GitLab shows only the text.
type junitProblem struct {
	Message, Type, Text string
}

func (p junitProblem) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	start.Attr = append(start.Attr,
		xml.Attr{Name: xml.Name{Local: "message"}, Value: p.Message},
		xml.Attr{Name: xml.Name{Local: "type"}, Value: p.Type})
	return encodeLines(e, start, p.Text)
}

// junitText is element text of several lines.
type junitText string

func (t junitText) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return encodeLines(e, start, string(t))
}

// encodeLines writes an element holding text. Written as a token rather
// than through a chardata field, whose newlines encoding/xml turns into
// &#xA;, the text keeps its line breaks in the file. Both ways escape
// markup, and replace any character XML 1.0 forbids (which clean has
// already escaped in text from servers) with U+FFFD.
func encodeLines(e *xml.Encoder, start xml.StartElement, text string) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeToken(xml.CharData(text)); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

// JUnit writes the report as a JUnit XML document. Like the JSON report,
// it says nothing the exit code does not: a CI job still decides by the
// exit code (GitLab's test reports do not fail a job).
func JUnit(w io.Writer, r check.Result) error {
	doc := junitSuites{Name: "finessectl", junitCounts: junitCounts{Time: junitSeconds(r.Duration), Timestamp: junitTimestamp(r.Started)}}
	seen := map[string]int{}
	for _, s := range r.Servers {
		name := clean(s.Target.Name)
		// GitLab keeps only the first of tests with the same suite and
		// name, so a server given twice must not hide the second result.
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s (%d)", name, seen[name])
		}
		suite := junitSuiteOf(r, s, name)
		doc.add(suite.junitCounts)
		doc.Suites = append(doc.Suites, suite)
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	return err
}

func junitSuiteOf(r check.Result, s check.ServerResult, name string) junitSuite {
	suite := junitSuite{Name: name, junitCounts: junitCounts{Time: junitSeconds(s.Duration), Timestamp: junitTimestamp(r.Started)},
		Properties: junitProperties(r, s)}
	// Jenkins splits a classname at its last dot into package and class;
	// with the dots of the host name kept, finesse-a.example.com would be
	// class "com" in package "finessectl.finesse-a.example". With them
	// replaced, every server is a class of package finessectl, and GitLab,
	// which shows the classname as the suite, still shows the host name.
	classname := "finessectl." + strings.ReplaceAll(name, ".", "_")
	for _, c := range s.Checks {
		tc := junitCase{Classname: classname, Name: junitCaseNames[c.Criterion], Time: junitSeconds(c.Duration)}
		switch c.Status {
		case check.Fail:
			tc.Failure = &junitProblem{Message: checkMessage(s, c), Type: junitType(s.Failure), Text: junitDetails(s)}
			suite.Failures++
		case check.Skipped:
			tc.Skipped = &junitSkipped{Message: checkMessage(s, c)}
			suite.Skipped++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	if f := s.Failure; f != nil && f.Criterion == "" {
		// The time is the whole check's: the error ended it, in no
		// criterion in particular.
		suite.Cases = append(suite.Cases, junitCase{Classname: classname, Name: junitInternalCase,
			Time:  junitSeconds(s.Duration),
			Error: &junitProblem{Message: failureLine(s), Type: junitType(f), Text: junitDetails(s)}})
		suite.Errors++
	}
	suite.Tests = len(suite.Cases)
	var out []string
	for _, w := range s.Warnings {
		out = append(out, string(w.Severity)+": "+warningMessage(w, s, r.Started))
	}
	suite.SystemOut = junitText(strings.Join(out, "\n"))
	return suite
}

// junitProperties are the facts behind the server's verdict, for scripts
// that read the report; CI systems keep them but seldom show them.
func junitProperties(r check.Result, s check.ServerResult) []junitProperty {
	props := []junitProperty{
		{"exit_code", fmt.Sprint(int(s.ExitCode()))},
		{"available", fmt.Sprint(s.Available())},
	}
	if s.ConnectOnly {
		// Says why a server that failed nothing is not available.
		props = append(props, junitProperty{"connect_only", "true"})
	}
	props = append(props, junitProperty{"require", string(r.Require)}, junitProperty{"verdict", string(r.Verdict())})
	if s.PeerOf != "" {
		props = append(props, junitProperty{"peer_of", clean(s.PeerOf)})
	}
	if info := s.Info(); info != nil {
		if info.DeploymentType != "" {
			props = append(props, junitProperty{"deployment_type", cleanShort(info.DeploymentType)})
		}
		if info.XMPPDomain != "" {
			props = append(props, junitProperty{"xmpp_domain", cleanShort(info.XMPPDomain)})
		}
	}
	return props
}

// junitType is the exit code and what it means, for CI systems that group
// failures by type.
func junitType(f *check.Failure) string {
	return fmt.Sprintf("exit %d: %s", f.Code, f.Scenario().Meaning)
}

// junitDetails is the text of a failure or error: the failure line, then
// the same advice as the text report, in the same order.
func junitDetails(s check.ServerResult) string {
	lines := []string{failureLine(s)}
	for _, l := range advice(s) {
		lines = append(lines, l.label+" "+l.text)
	}
	return strings.Join(lines, "\n")
}

// junitSeconds is a duration the way JUnit reports times: decimal seconds,
// here to the millisecond.
func junitSeconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}

// junitTimestamp is ISO 8601 with the zone, in UTC so that reports from
// monitoring hosts in different zones compare.
func junitTimestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
