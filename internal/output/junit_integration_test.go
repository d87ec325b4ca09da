//go:build integration

package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// debianPython is the interpreter Debian's python3-junitparser installs
// into. A python3 earlier on PATH (pyenv, a virtualenv) does not see it.
const debianPython = "/usr/bin/python3"

// junitparserScript reads each file with junitparser, a JUnit reader
// nobody here wrote, and prints what it understood as JSON: the counts the
// report declares, and each testcase's results as junitparser classifies
// them. It does not call update_statistics, which would overwrite the
// declared counts with its own.
const junitparserScript = `
import json, sys
from junitparser import JUnitXml

def results(case):
    return [{"kind": type(r).__name__.lower(), "message": r.message, "type": r.type} for r in case.result]

out = {}
for path in sys.argv[1:]:
    xml = JUnitXml.fromfile(path)
    suites = []
    for suite in xml:
        suites.append({
            "name": suite.name, "tests": suite.tests, "failures": suite.failures,
            "errors": suite.errors, "skipped": suite.skipped,
            "properties": {p.name: p.value for p in suite.properties()},
            "cases": [{"name": c.name, "classname": c.classname, "results": results(c)} for c in suite],
        })
    out[path] = {"name": xml.name, "tests": xml.tests, "failures": xml.failures,
                 "errors": xml.errors, "skipped": xml.skipped, "suites": suites}
json.dump(out, sys.stdout)
`

type jpCounts struct {
	Tests, Failures, Errors, Skipped *int
}

func (c jpCounts) String() string {
	show := func(p *int) string {
		if p == nil {
			return "missing"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("tests=%s failures=%s errors=%s skipped=%s", show(c.Tests), show(c.Failures), show(c.Errors), show(c.Skipped))
}

func counts(tests, failures, errors, skipped int) string {
	return jpCounts{&tests, &failures, &errors, &skipped}.String()
}

type jpReport struct {
	Name string
	jpCounts
	Suites []struct {
		Name string
		jpCounts
		Properties map[string]string
		Cases      []struct {
			Name, Classname string
			Results         []struct{ Kind, Message, Type string }
		}
	}
}

// The golden JUnit reports as two readers that share no code with
// finessectl see them: junitparser must find the servers, exit codes,
// failed criteria and skipped criteria of the Go results, and xmllint must
// find well-formed XML.
func TestJUnitGoldensWithJunitparser(t *testing.T) {
	if out, err := exec.Command(debianPython, "-c", "import junitparser").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import junitparser (apt-get install python3-junitparser): %v\n%s", debianPython, err, out)
	}
	var names, paths []string
	for name := range results {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		paths = append(paths, filepath.Join("..", "..", "testdata", "golden", name+".junit.xml"))
	}
	cmd := exec.Command(debianPython, append([]string{"-c", junitparserScript}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("junitparser: %v\n%s", err, stderr.Bytes())
	}
	var reports map[string]jpReport
	if err := json.Unmarshal(out, &reports); err != nil {
		t.Fatalf("junitparser's output: %v\n%s", err, out)
	}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			rep, ok := reports[paths[i]]
			if !ok {
				t.Fatalf("junitparser did not report %s", paths[i])
			}
			want := junitWant(results[name])
			var total [4]int
			if len(rep.Suites) != len(want) {
				t.Fatalf("junitparser found %d suites, the result has %d servers", len(rep.Suites), len(want))
			}
			for j, s := range rep.Suites {
				w := want[j]
				if s.Name != w.Name {
					t.Errorf("suite %d is %q, want %q", j, s.Name, w.Name)
				}
				if got := s.Properties["exit_code"]; got != fmt.Sprint(w.ExitCode) {
					t.Errorf("%s: exit_code %q, want %d", s.Name, got, w.ExitCode)
				}
				wantCounts := counts(len(w.Cases), w.count("failure"), w.count("error"), w.count("skipped"))
				if got := s.jpCounts.String(); got != wantCounts {
					t.Errorf("%s declares %s, want %s", s.Name, got, wantCounts)
				}
				var got, wantCases []string
				for _, c := range s.Cases {
					var kinds []string
					for _, r := range c.Results {
						kinds = append(kinds, r.Kind)
						if (r.Kind == "failure" || r.Kind == "error") && !strings.HasPrefix(r.Type, fmt.Sprintf("exit %d: ", w.ExitCode)) {
							t.Errorf("%s: %s: %s type %q does not name exit %d", s.Name, c.Name, r.Kind, r.Type, w.ExitCode)
						}
					}
					if len(kinds) == 0 {
						kinds = []string{"passed"}
					}
					got = append(got, c.Name+": "+strings.Join(kinds, "+"))
				}
				for _, c := range w.Cases {
					wantCases = append(wantCases, c.Name+": "+c.State)
				}
				if strings.Join(got, "\n") != strings.Join(wantCases, "\n") {
					t.Errorf("%s: junitparser sees\n%s\nwant\n%s", s.Name, strings.Join(got, "\n"), strings.Join(wantCases, "\n"))
				}
				total[0] += len(w.Cases)
				total[1] += w.count("failure")
				total[2] += w.count("error")
				total[3] += w.count("skipped")
			}
			if got, wantTotal := rep.jpCounts.String(), counts(total[0], total[1], total[2], total[3]); got != wantTotal || rep.Name != "finessectl" {
				t.Errorf("testsuites %q declares %s, want %s", rep.Name, got, wantTotal)
			}
		})
	}
}

func TestJUnitGoldensWithXmllint(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("%v (apt-get install libxml2-utils)", err)
	}
	for name := range results {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", "golden", name+".junit.xml")
			if _, err := os.Stat(path); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(xmllint, "--noout", path).CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("xmllint --noout %s: %v\n%s", path, err, out)
			}
		})
	}
}
