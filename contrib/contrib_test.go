package contrib_test

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// These tests read the CI definitions in contrib/ci the way GitLab and GitHub
// do (as YAML) and hold them to what a go-live gate needs: the job runs
// 'finessectl check -o junit --require all', writes the report to the file
// the artifact and report sections publish, even when the check fails, keeps
// the check's exit code as the job's, and takes the password from a secret.
// The Icinga 2 and Nagios files are validated by the real tools in
// integration_test.go; the checks here need no tool.

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loadYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if doc == nil {
		t.Fatalf("%s: empty document", path)
	}
	return doc
}

func mapAt(t *testing.T, m map[string]any, key, where string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%s: %q is %T, want a mapping", where, key, m[key])
	}
	return v
}

func stringAt(t *testing.T, m map[string]any, key, where string) string {
	t.Helper()
	v, ok := m[key].(string)
	if !ok {
		t.Fatalf("%s: %q is %T (%v), want a string", where, key, m[key], m[key])
	}
	return v
}

// shellWords splits one shell command line into words, honouring single and
// double quotes and backslashes, and returns redirection operators ('>',
// '>>', '2>', '|', '||', '&&', ';') as words of their own. It is just enough
// shell to read a CI script line, not a shell.
func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'':
			inWord = true
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				cur.WriteByte(line[i])
			}
		case c == '\\' && i+1 < len(line):
			inWord = true
			i++
			cur.WriteByte(line[i])
		case c == ' ' || c == '\t':
			flush()
		case c == '#' && !inWord:
			flush()
			return words
		case c == '>' || c == '|' || c == '&' || c == ';':
			op := string(c)
			if c == '>' && inWord && (cur.String() == "1" || cur.String() == "2") {
				op = cur.String() + op
				cur.Reset()
				inWord = false
			}
			flush()
			if i+1 < len(line) && (line[i+1] == c || (c == '>' && line[i+1] == '|')) {
				i++
				op += string(line[i])
			}
			words = append(words, op)
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	flush()
	return words
}

// scriptCommands turns a CI script (GitLab's list of lines, or a GitHub run
// block) into one line per command, continuation lines joined.
func scriptCommands(lines []string) []string {
	var out []string
	for _, block := range lines {
		joined := strings.ReplaceAll(block, "\\\n", " ")
		for _, l := range strings.Split(joined, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return out
}

var secretRef = regexp.MustCompile(`^\$\{\{\s*secrets\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}$`)

// checkInvocation finds the one 'finessectl check' command in a CI script and
// asserts it writes JUnit for a go-live gate to a file, keeping the exit code.
// It returns the report file.
func checkInvocation(t testing.TB, where string, script []string) string {
	t.Helper()
	cmds := scriptCommands(script)
	at := -1
	for i, c := range cmds {
		w := shellWords(c)
		if len(w) >= 2 && (w[0] == "finessectl" || strings.HasSuffix(w[0], "/finessectl")) && w[1] == "check" {
			if at >= 0 {
				t.Fatalf("%s: two 'finessectl check' commands: %q and %q", where, cmds[at], c)
			}
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("%s: no command starts with 'finessectl check' in %q", where, cmds)
	}
	line := cmds[at]
	words := shellWords(line)

	var args []string // up to the first operator
	rest := words[2:]
	for len(rest) > 0 && !isOperator(rest[0]) {
		args = append(args, rest[0])
		rest = rest[1:]
	}
	if got := flagValue(args, "-o", "--output"); got != "junit" {
		t.Errorf("%s: %q: output is %q, want -o junit", where, line, got)
	}
	if got := flagValue(args, "", "--require"); got != "all" {
		t.Errorf("%s: %q: --require is %q, want all for a go-live gate", where, line, got)
	}
	for _, a := range args {
		if a == "--password" || strings.HasPrefix(a, "--password=") || a == "-p" {
			t.Errorf("%s: %q: a password flag in the command line", where, line)
		}
		if a == "--password-file" || strings.HasPrefix(a, "--password-file=") {
			v := flagValue(args, "", "--password-file")
			if !strings.Contains(v, "$") && v != "-" {
				t.Errorf("%s: %q: --password-file %q is a literal path, want it from a secret", where, line, v)
			}
		}
	}

	// Only '> FILE' may follow: no pipe that would lose the exit code
	// without pipefail, no '|| true', no '; exit 0'.
	report := ""
	for i := 0; i < len(rest); i++ {
		switch op := rest[i]; op {
		case ">", "1>", ">|":
			if i+1 >= len(rest) || isOperator(rest[i+1]) {
				t.Fatalf("%s: %q: redirection without a file", where, line)
			}
			report = rest[i+1]
			i++
		case "|":
			if !pipefailBefore(cmds[:at+1]) {
				t.Errorf("%s: %q: a pipe without 'set -o pipefail' loses finessectl's exit code", where, line)
			}
			if i+2 < len(rest) && rest[i+1] == "tee" && !isOperator(rest[i+2]) {
				report = rest[i+2]
				i += 2
			} else {
				t.Errorf("%s: %q: the check's output is piped to something other than 'tee FILE'", where, line)
			}
		default:
			t.Errorf("%s: %q: %q after the check can hide its exit code", where, line, op)
		}
	}
	if report == "" {
		t.Fatalf("%s: %q does not redirect its standard output to a report file", where, line)
	}
	if strings.ContainsAny(report, "$*?") {
		t.Errorf("%s: report file %q is not a fixed name the artifact section can name", where, report)
	}
	for _, c := range cmds[at+1:] {
		if w := shellWords(c); len(w) > 0 && (w[0] == "true" || w[0] == ":" || (w[0] == "exit" && len(w) > 1 && w[1] == "0")) {
			t.Errorf("%s: %q after the check replaces its exit code", where, c)
		}
	}
	for _, c := range cmds[:at] {
		if w := shellWords(c); len(w) > 1 && w[0] == "set" && slices.Contains(w[1:], "+e") {
			t.Errorf("%s: %q before the check lets a failure pass", where, c)
		}
	}
	return report
}

func isOperator(w string) bool {
	switch w {
	case ">", ">>", "1>", "2>", "1>>", "2>>", ">|", "|", "||", "&", "&&", ";", ";;":
		return true
	}
	return false
}

func pipefailBefore(cmds []string) bool {
	for _, c := range cmds {
		w := shellWords(c)
		if len(w) >= 2 && w[0] == "set" {
			for i, a := range w[1:] {
				if a == "-o" && i+2 < len(w) && w[i+2] == "pipefail" {
					return true
				}
				if strings.HasPrefix(a, "-") && strings.HasSuffix(a, "o") && i+2 < len(w) && w[i+2] == "pipefail" {
					return true
				}
			}
		}
	}
	return false
}

// flagValue returns the value of a flag given as '-x V', '-xV', '--long V' or
// '--long=V', or "" when absent.
func flagValue(args []string, short, long string) string {
	for i, a := range args {
		switch {
		case (a == short && short != "") || a == long:
			if i+1 < len(args) {
				return args[i+1]
			}
			return ""
		case strings.HasPrefix(a, long+"="):
			return strings.TrimPrefix(a, long+"=")
		case short != "" && strings.HasPrefix(a, short) && !strings.HasPrefix(a, "--") && len(a) > len(short):
			return strings.TrimPrefix(a, short)
		}
	}
	return ""
}

func stringList(t *testing.T, v any, where string) []string {
	t.Helper()
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				t.Fatalf("%s: %v is %T, want a string", where, e, e)
			}
			out = append(out, s)
		}
		return out
	}
	t.Fatalf("%s: %v is %T, want a string or a list of strings", where, v, v)
	return nil
}

func TestGitLabCIJob(t *testing.T) {
	const path = "ci/gitlab-ci.yml"
	doc := loadYAML(t, path)

	var name string
	var job map[string]any
	for k, v := range doc {
		m, ok := v.(map[string]any)
		if !ok || strings.HasPrefix(k, ".") || m["script"] == nil {
			continue
		}
		if name != "" {
			t.Fatalf("%s: two jobs, %q and %q; want one smoke-test job", path, name, k)
		}
		name, job = k, m
	}
	if job == nil {
		t.Fatalf("%s: no job with a script", path)
	}
	where := path + ": job " + name

	report := checkInvocation(t, where, stringList(t, job["script"], where+": script"))

	artifacts := mapAt(t, job, "artifacts", where)
	if got := stringAt(t, artifacts, "when", where+": artifacts"); got != "always" {
		t.Errorf("%s: artifacts:when is %q, want always: a failed check is when the report matters", where, got)
	}
	reports := mapAt(t, artifacts, "reports", where+": artifacts")
	if got := stringList(t, reports["junit"], where+": artifacts:reports:junit"); !slices.Equal(got, []string{report}) {
		t.Errorf("%s: artifacts:reports:junit is %q, want the file the check writes, %q", where, got, report)
	}
	if paths, ok := artifacts["paths"]; ok && !slices.Contains(stringList(t, paths, where+": artifacts:paths"), report) {
		t.Errorf("%s: artifacts:paths %v lacks %q", where, paths, report)
	}
	if af, ok := job["allow_failure"]; ok && af != false {
		t.Errorf("%s: allow_failure %v turns a failed gate into a warning", where, af)
	}

	// The credentials come from the project's CI/CD variables (masked for
	// the password), which GitLab exports to the job: never from this file.
	for _, scope := range []struct {
		where string
		m     map[string]any
	}{{path, doc}, {where, job}} {
		vars, _ := scope.m["variables"].(map[string]any)
		for _, v := range []string{"FINESSE_PASSWORD", "FINESSE_USER"} {
			if val, ok := vars[v]; ok {
				t.Errorf("%s: variables sets %s to %v; it must come from a (masked) CI/CD variable", scope.where, v, val)
			}
		}
	}
	text := readFile(t, path)
	if !strings.Contains(text, "FINESSE_PASSWORD") {
		t.Errorf("%s: does not say where the password comes from (FINESSE_PASSWORD)", path)
	}
	if !strings.Contains(strings.ToLower(text), "masked") {
		t.Errorf("%s: does not ask for FINESSE_PASSWORD to be a masked variable", path)
	}
}

func TestGitHubActionsWorkflow(t *testing.T) {
	const path = "ci/github-actions.yml"
	doc := loadYAML(t, path)
	if doc["on"] == nil {
		t.Errorf("%s: no 'on' trigger", path)
	}
	jobs := mapAt(t, doc, "jobs", path)

	found := false
	for name, j := range jobs {
		job, ok := j.(map[string]any)
		if !ok {
			t.Fatalf("%s: job %s is %T", path, name, j)
		}
		steps, _ := job["steps"].([]any)
		checkAt := -1
		var checkStep map[string]any
		for i, s := range steps {
			step, _ := s.(map[string]any)
			if run, ok := step["run"].(string); ok && strings.Contains(run, "finessectl check") {
				checkAt, checkStep = i, step
			}
		}
		if checkStep == nil {
			continue
		}
		found = true
		where := path + ": job " + name

		if sh, ok := checkStep["shell"]; ok && sh != "bash" && !strings.Contains(checkStep["run"].(string), "pipefail") {
			t.Errorf("%s: the check step's shell %v neither is bash (-eo pipefail) nor sets pipefail", where, sh)
		}
		if ce, ok := checkStep["continue-on-error"]; ok && ce != false {
			t.Errorf("%s: continue-on-error %v turns a failed gate into a pass", where, ce)
		}
		report := checkInvocation(t, where, []string{checkStep["run"].(string)})

		// The password: a secret, handed to the step's environment.
		env, _ := checkStep["env"].(map[string]any)
		pw, _ := env["FINESSE_PASSWORD"].(string)
		if !secretRef.MatchString(pw) {
			t.Errorf("%s: the check step's FINESSE_PASSWORD is %q, want ${{ secrets.NAME }}", where, pw)
		}
		for _, scope := range []map[string]any{doc, job} {
			if e, ok := scope["env"].(map[string]any); ok {
				if v, ok := e["FINESSE_PASSWORD"].(string); ok && !secretRef.MatchString(v) {
					t.Errorf("%s: env FINESSE_PASSWORD is %q, want ${{ secrets.NAME }}", where, v)
				}
			}
		}
		if u, _ := env["FINESSE_USER"].(string); !strings.HasPrefix(strings.TrimSpace(u), "${{") {
			t.Errorf("%s: the check step's FINESSE_USER is %q, want it from a variable or secret", where, u)
		}

		// Then, even when the check failed, the report is published.
		uploaded := false
		for _, s := range steps[checkAt+1:] {
			step, _ := s.(map[string]any)
			uses, _ := step["uses"].(string)
			if uses == "" {
				continue
			}
			if !regexp.MustCompile(`^[\w.-]+/[\w.-]+@(v\d+(\.\d+)*|[0-9a-f]{40})$`).MatchString(uses) {
				t.Errorf("%s: %q is not pinned to a release tag or commit", where, uses)
			}
			cond, _ := step["if"].(string)
			if strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(cond), "${{"), "}}")) != "always()" {
				t.Errorf("%s: step %q runs if %q, want always(): a failed check is when the report matters", where, uses, cond)
			}
			with, _ := step["with"].(map[string]any)
			switch {
			case strings.HasPrefix(uses, "actions/upload-artifact@"):
				uploaded = true
				if p, _ := with["path"].(string); strings.TrimSpace(p) != report {
					t.Errorf("%s: %s uploads %q, want %q", where, uses, p, report)
				}
			case strings.HasPrefix(uses, "mikepenz/action-junit-report@"):
				if p, _ := with["report_paths"].(string); strings.TrimSpace(p) != report {
					t.Errorf("%s: %s reads %q, want %q", where, uses, p, report)
				}
			}
		}
		if !uploaded {
			t.Errorf("%s: no actions/upload-artifact step after the check", where)
		}
	}
	if !found {
		t.Fatalf("%s: no step runs 'finessectl check'", path)
	}
}

// The checks below need no tool; integration_test.go runs the files through
// icinga2 and nagios4.

func TestIcinga2CheckCommandText(t *testing.T) {
	const path = "icinga2/finessectl.conf"
	text := readFile(t, path)
	for _, want := range []string{
		`object CheckCommand "finessectl"`,
		`"check", "-o", "nagios"`,
		`value = "$finessectl_servers$"`,
		`skip_key = true`,
		`FINESSE_USER = "$finessectl_user$"`,
		`vars.finessectl_require = "any"`,
		`apply Service`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %s", path, want)
		}
	}
	for _, flag := range []string{"--require", "--warning", "--critical", "--timeout", "--password-file", "--ca-file",
		"--xmpp-tls", "--xmpp-port", "--cert-warn", "--cert-crit", "--peers", "--connect-only"} {
		if !strings.Contains(text, `"`+flag+`" = {`) {
			t.Errorf("%s: no argument %s", path, flag)
		}
	}
	for _, flag := range []string{"--peers", "--connect-only"} {
		i := strings.Index(text, `"`+flag+`" = {`)
		if i < 0 {
			continue
		}
		block := text[i:]
		block = block[:strings.Index(block, "}")]
		if !strings.Contains(block, "set_if") {
			t.Errorf("%s: %s is not a set_if switch", path, flag)
		}
	}
	if strings.Contains(text, "FINESSE_PASSWORD") || strings.Contains(text, `"--password"`) {
		t.Errorf("%s puts a password in the environment or the command line; use --password-file", path)
	}
}

func TestNagiosCommandText(t *testing.T) {
	const path = "nagios/finessectl.cfg"
	text := readFile(t, path)
	var cmdLine string
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "command_line" {
			cmdLine = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "command_line"))
		}
	}
	if cmdLine == "" {
		t.Fatalf("%s: no command_line", path)
	}
	args := shellWords(cmdLine)
	if len(args) < 4 || !strings.HasSuffix(args[0], "finessectl") || args[1] != "check" {
		t.Fatalf("%s: command_line %q does not run finessectl check", path, cmdLine)
	}
	if got := flagValue(args, "-o", "--output"); got != "nagios" {
		t.Errorf("%s: command_line output %q, want nagios", path, got)
	}
	if got := flagValue(args, "-u", "--user"); !regexp.MustCompile(`^\$ARG\d+\$$`).MatchString(got) {
		t.Errorf("%s: --user %q, want an $ARGn$ macro", path, got)
	}
	if got := flagValue(args, "", "--password-file"); !regexp.MustCompile(`^\$(USER|ARG)\d+\$$`).MatchString(got) {
		t.Errorf("%s: --password-file %q, want a $USERn$ or $ARGn$ macro", path, got)
	}
	if !strings.Contains(text, "check_command") || !strings.Contains(text, "!any!") {
		t.Errorf("%s: the example service does not check a pair with --require any", path)
	}
}

func TestShellWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`finessectl check -o junit a b > r.xml`, []string{"finessectl", "check", "-o", "junit", "a", "b", ">", "r.xml"}},
		{`finessectl check ${X:+--ca-file "$X"} $S >r.xml # note`, []string{"finessectl", "check", "${X:+--ca-file", "$X}", "$S", ">", "r.xml"}},
		{`f 'a b' "c \" d" 2>/dev/null | tee x || true`, []string{"f", "a b", `c " d`, "2>", "/dev/null", "|", "tee", "x", "||", "true"}},
		{`f >>log; g&&h`, []string{"f", ">>", "log", ";", "g", "&&", "h"}},
	} {
		if got := shellWords(c.in); !slices.Equal(got, c.want) {
			t.Errorf("shellWords(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// recorder stands in for a *testing.T to see whether a check fails.
type recorder struct {
	testing.TB
	failed bool
}

var errFatal = errors.New("Fatalf")

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic(errFatal) }

// The checks must catch what they are there for: a job that loses the exit
// code, publishes another file, or has a literal password.
func TestCheckInvocationCatchesMistakes(t *testing.T) {
	for _, c := range []struct {
		name   string
		script []string
	}{
		{"pipe without pipefail", []string{"finessectl check -o junit --require all a | tee r.xml"}},
		{"or true", []string{"finessectl check -o junit --require all a > r.xml || true"}},
		{"true after", []string{"finessectl check -o junit --require all a > r.xml; true"}},
		{"no redirect", []string{"finessectl check -o junit --require all a"}},
		{"text output", []string{"finessectl check --require all a > r.xml"}},
		{"require any", []string{"finessectl check -o junit --require any a > r.xml"}},
		{"pipe to grep", []string{"set -o pipefail", "finessectl check -o junit --require all a | grep x > r.xml"}},
		{"literal password file", []string{"finessectl check -o junit --require all --password-file /etc/pw a > r.xml"}},
		{"set +e", []string{"set +e", "finessectl check -o junit --require all a > r.xml"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			func() {
				defer func() {
					if p := recover(); p != nil && p != errFatal {
						panic(p)
					}
				}()
				checkInvocation(r, "test", c.script)
			}()
			if !r.failed {
				t.Errorf("checkInvocation(%q) passed", c.script)
			}
		})
	}
	// And passes the good forms.
	for _, script := range [][]string{
		{"finessectl check -o junit --require all a b > r.xml"},
		{"set -o pipefail", "finessectl check --output=junit --require=all a | tee r.xml"},
		{"set -eo pipefail", "/usr/local/bin/finessectl check -ojunit --require all a >r.xml"},
	} {
		if got := checkInvocation(t, "good", script); got != "r.xml" {
			t.Errorf("checkInvocation(%q) = %q, want r.xml", script, got)
		}
	}
}
