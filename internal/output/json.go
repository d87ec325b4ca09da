package output

import (
	"encoding/json"
	"io"
	"math"
	"reflect"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/finesse"
	"github.com/finessectl/finessectl/internal/probe"
	"github.com/finessectl/finessectl/internal/systeminfo"
	"github.com/finessectl/finessectl/internal/xmppprobe"
)

// JSONFormatVersion changes only when a field is removed or changes meaning;
// new fields may appear without a bump.
const JSONFormatVersion = 1

type jsonReport struct {
	FormatVersion int          `json:"format_version"`
	ExitCode      int          `json:"exit_code"`
	Error         string       `json:"error"`
	Require       string       `json:"require"`
	Verdict       string       `json:"verdict"`
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
	Operator        string           `json:"operator"`
	Hints           []jsonNote       `json:"hints"`
	Warnings        []jsonWarning    `json:"warnings"`
	AlternateHost   string           `json:"alternate_host"`
	AvailablePeers  []string         `json:"available_peers"`
	ConnectOnly     bool             `json:"connect_only"`
	PeerOf          string           `json:"peer_of"`
	DurationSeconds float64          `json:"duration_seconds"`
	Checks          []jsonCheck      `json:"checks"`
	SystemInfo      *systeminfo.Info `json:"systeminfo"`
	HTTP            *jsonHTTP        `json:"http"`
	XMPP            *jsonXMPP        `json:"xmpp"`
	BOSH            *jsonBOSH        `json:"bosh,omitempty"` // only with --bosh-probe
	Presence        *jsonPresence    `json:"presence"`
}

// jsonNote is a hint: a stable code for machines, a sentence for people.
type jsonNote struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type jsonWarning struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
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

// jsonHTTP is what the SystemInfo request saw.
type jsonHTTP struct {
	URL         string           `json:"url"`
	FinalURL    string           `json:"final_url"`
	HTTPStatus  int              `json:"http_status"`
	Proto       string           `json:"proto"`
	Certificate *jsonCertificate `json:"certificate"`
}

// jsonXMPP is what the Notification Service session saw.
type jsonXMPP struct {
	Address     string           `json:"address"`
	Transport   string           `json:"transport"`     // tcp or websocket
	URL         string           `json:"url,omitempty"` // the WebSocket URL
	Why         string           `json:"why"`           // why this transport
	Skipped     []jsonSkipped    `json:"skipped"`       // transports auto found absent first
	TLSMode     string           `json:"tls_mode"`
	TLSVersion  string           `json:"tls_version"`
	Domain      string           `json:"domain"`
	JID         string           `json:"jid"`
	Certificate *jsonCertificate `json:"certificate"`
}

type jsonSkipped struct {
	Where string `json:"where"`
	Error string `json:"error"`
}

// jsonBOSH is the login-free BOSH probe's outcome.
type jsonBOSH struct {
	URL             string           `json:"url"`
	OK              bool             `json:"ok"`
	Error           string           `json:"error,omitempty"`
	Mechanisms      []string         `json:"mechanisms"`
	DurationSeconds float64          `json:"duration_seconds"`
	Certificate     *jsonCertificate `json:"certificate"`
}

type jsonPresence struct {
	JID       string     `json:"jid"`
	Received  bool       `json:"received"`
	Available bool       `json:"available"`
	Show      string     `json:"show"`
	Status    string     `json:"status"`
	Roster    jsonRoster `json:"roster"`
}

type jsonRoster struct {
	Received     bool   `json:"received"`
	Listed       bool   `json:"listed"`
	Subscription string `json:"subscription"`
}

type jsonCertificate struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	DNSNames  []string  `json:"dns_names"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// JSON writes the report as one indented JSON document. Every key is always
// present (empty strings, [] and null rather than missing keys), so that jq
// filters and CI scripts do not break on the healthy path.
func JSON(w io.Writer, r check.Result) error {
	rep := jsonReport{FormatVersion: JSONFormatVersion, ExitCode: int(r.ExitCode()),
		Require: string(r.Require), Verdict: string(r.Verdict()), Servers: []jsonServer{}}
	for _, s := range r.Servers {
		rep.Servers = append(rep.Servers, jsonServerOf(s, r.Started))
	}
	return encode(w, rep)
}

// JSONError writes the document of a run that checked nothing, such as a
// usage error, so that 'jq .exit_code' always has something to read.
func JSONError(w io.Writer, code finesse.Code, err error) error {
	return encode(w, jsonReport{FormatVersion: JSONFormatVersion, ExitCode: int(code),
		Error: clean(err.Error()), Servers: []jsonServer{}})
}

func encode(w io.Writer, rep jsonReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func jsonServerOf(s check.ServerResult, started time.Time) jsonServer {
	js := jsonServer{
		Server:          clean(s.Target.Name),
		Available:       s.Available(),
		ExitCode:        int(s.ExitCode()),
		Hints:           []jsonNote{},
		Warnings:        []jsonWarning{},
		AlternateHost:   cleanShort(s.AlternateHost()),
		AvailablePeers:  []string{},
		ConnectOnly:     s.ConnectOnly,
		PeerOf:          clean(s.PeerOf),
		DurationSeconds: seconds(s.Duration),
		SystemInfo:      cleanCopy(s.Info()),
	}
	if f := s.Failure; f != nil {
		sc := f.Scenario()
		js.FailedCriterion, js.Meaning, js.Scenario, js.Recovery, js.Operator =
			string(f.Criterion), sc.Meaning, sc.Guide, sc.Recovery, sc.Operator
		js.Error = failureLine(s)
		for _, h := range f.Hints {
			js.Hints = append(js.Hints, jsonNote{Code: string(h), Message: hintMessage(h, s.Info())})
		}
	}
	for _, w := range s.Warnings {
		js.Warnings = append(js.Warnings, jsonWarning{Code: string(w.Code), Severity: string(w.Severity),
			Message: warningMessage(w, s, started)})
	}
	for _, p := range s.AvailablePeers {
		js.AvailablePeers = append(js.AvailablePeers, clean(p))
	}
	for _, c := range s.Checks {
		jc := jsonCheck{Name: string(c.Criterion), Status: string(c.Status),
			DurationSeconds: seconds(c.Duration), Message: checkMessage(s, c), Phases: []jsonPhase{}}
		for _, p := range c.Phases {
			jc.Phases = append(jc.Phases, jsonPhase{Name: p.Phase, DurationSeconds: seconds(p.Duration)})
		}
		js.Checks = append(js.Checks, jc)
	}
	if h := s.SystemInfo; h != nil {
		js.HTTP = &jsonHTTP{URL: clean(h.URL), FinalURL: clean(h.FinalURL), HTTPStatus: h.HTTPStatus,
			Proto: cleanShort(h.Proto), Certificate: jsonCertificateOf(h.Certificate)}
	}
	if x := s.XMPP; x != nil {
		transport := x.Transport
		if transport == "" {
			transport = xmppprobe.TCP
		}
		js.XMPP = &jsonXMPP{Address: cleanShort(x.Addr), Transport: string(transport), URL: clean(x.URL), TLSMode: string(x.Mode),
			TLSVersion: x.TLSVersion, Domain: cleanShort(x.Domain), JID: cleanShort(x.JID),
			Certificate: jsonCertificateOf(x.Certificate), Skipped: []jsonSkipped{}}
		if rt := s.XMPPRoute; rt != nil {
			js.XMPP.Why = rt.Why
			for _, sk := range rt.Skipped {
				js.XMPP.Skipped = append(js.XMPP.Skipped, jsonSkipped{Where: clean(sk.Where), Error: clean(sk.Err.Error())})
			}
		}
	}
	if b := s.BOSH; b != nil {
		js.BOSH = &jsonBOSH{URL: clean(b.URL), OK: b.Err == nil, Mechanisms: cleanAll(b.Mechanisms),
			DurationSeconds: seconds(b.Duration), Certificate: jsonCertificateOf(b.Certificate)}
		if b.Err != nil {
			js.BOSH.Error = clean(b.Err.Error())
		}
	}
	if p := s.Presence; p != nil {
		r := p.Presence.Roster
		js.Presence = &jsonPresence{JID: cleanShort(p.JID), Received: p.Received, Available: p.Presence.Available,
			Show: cleanShort(p.Presence.Show), Status: cleanShort(p.Presence.Status),
			Roster: jsonRoster{Received: r.Received, Listed: r.Listed, Subscription: cleanShort(r.Subscription)}}
	}
	return js
}

func jsonCertificateOf(c *probe.Certificate) *jsonCertificate {
	if c == nil {
		return nil
	}
	names := make([]string, len(c.DNSNames))
	for i, n := range c.DNSNames {
		names[i] = cleanShort(n)
	}
	return &jsonCertificate{Subject: cleanShort(c.Subject), Issuer: cleanShort(c.Issuer), DNSNames: names,
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC()}
}

// cleanCopy returns a copy of *v with every string in it, however deeply
// nested in structs, pointers and slices, made safe with cleanShort. It
// walks the type rather than listing fields so that a field added to
// systeminfo.Info later cannot slip into the report raw.
func cleanCopy[T any](v *T) *T {
	if v == nil {
		return nil
	}
	out := new(T)
	cleanValue(reflect.ValueOf(out).Elem(), reflect.ValueOf(v).Elem())
	return out
}

func cleanValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.String:
		dst.SetString(cleanShort(src.String()))
	case reflect.Struct:
		for i := range src.NumField() {
			cleanValue(dst.Field(i), src.Field(i))
		}
	case reflect.Pointer:
		if !src.IsNil() {
			dst.Set(reflect.New(src.Type().Elem()))
			cleanValue(dst.Elem(), src.Elem())
		}
	case reflect.Slice:
		if !src.IsNil() {
			dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
			for i := range src.Len() {
				cleanValue(dst.Index(i), src.Index(i))
			}
		}
	default:
		dst.Set(src)
	}
}

// seconds rounds to the microsecond; finer digits are noise.
func seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1e6) / 1e6
}
