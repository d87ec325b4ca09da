package output

import (
	"encoding/json"
	"io"
	"math"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/systeminfo"
)

// JSONFormatVersion changes only when a field is removed or changes meaning;
// new fields may appear without a bump.
const JSONFormatVersion = 1

type jsonReport struct {
	FormatVersion int          `json:"format_version"`
	ExitCode      int          `json:"exit_code"`
	Servers       []jsonServer `json:"servers"`
}

type jsonServer struct {
	Server          string           `json:"server"`
	Available       bool             `json:"available"`
	ExitCode        int              `json:"exit_code"`
	FailedCriterion string           `json:"failed_criterion"`
	Error           string           `json:"error"`
	Meaning         string           `json:"meaning"`
	Scenario        string           `json:"scenario"`
	Recovery        string           `json:"recovery"`
	AlternateHost   string           `json:"alternate_host"`
	ConnectOnly     bool             `json:"connect_only"`
	DurationSeconds float64          `json:"duration_seconds"`
	Checks          []jsonCheck      `json:"checks"`
	SystemInfo      *systeminfo.Info `json:"systeminfo"`
}

type jsonCheck struct {
	Name            string      `json:"name"`
	Status          string      `json:"status"`
	DurationSeconds float64     `json:"duration_seconds"`
	Message         string      `json:"message"`
	Phases          []jsonPhase `json:"phases"`
}

type jsonPhase struct {
	Name            string  `json:"name"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// JSON writes the report as one indented JSON document. Every key is always
// present (empty strings and null rather than missing keys), so that jq
// filters and CI scripts do not break on the healthy path.
func JSON(w io.Writer, r check.Result) error {
	rep := jsonReport{FormatVersion: JSONFormatVersion, ExitCode: int(r.ExitCode()), Servers: []jsonServer{}}
	for _, s := range r.Servers {
		js := jsonServer{
			Server:          s.Target.Name,
			Available:       s.Available(),
			ExitCode:        int(s.ExitCode()),
			AlternateHost:   s.AlternateHost(),
			ConnectOnly:     s.ConnectOnly,
			DurationSeconds: seconds(s.Duration),
			SystemInfo:      s.SystemInfo,
		}
		if f := s.Failure; f != nil {
			sc := f.Scenario()
			js.FailedCriterion, js.Meaning, js.Scenario, js.Recovery = string(f.Criterion), sc.Meaning, sc.Guide, sc.Recovery
			js.Error = f.Error()
		}
		for _, c := range s.Checks {
			jc := jsonCheck{Name: string(c.Criterion), Status: string(c.Status),
				DurationSeconds: seconds(c.Duration), Message: c.Message, Phases: []jsonPhase{}}
			for _, p := range c.Phases {
				jc.Phases = append(jc.Phases, jsonPhase{Name: p.Name, DurationSeconds: seconds(p.Duration)})
			}
			js.Checks = append(js.Checks, jc)
		}
		rep.Servers = append(rep.Servers, js)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// seconds rounds to the microsecond; finer digits are noise.
func seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1e6) / 1e6
}
