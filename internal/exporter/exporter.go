// Package exporter serves Finesse checks to Prometheus the way
// blackbox_exporter serves its probes: a scrape of /probe?target=HOST (or
// ?cluster=NAME) runs one check and answers its metrics, and /metrics
// answers the exporter's own.
//
// Every scrape can log in to Finesse, and Finesse locks an account after five
// bad passwords, so scrapes are not trusted to come at a sane rate: a target
// has at most one check in flight and one per MinInterval, other scrapes get
// the last result; an account has one login in flight at a time, whatever
// the target; and credentials that failed authentication are not tried
// again until the files they came from change.
package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/finessectl/finessectl/internal/check"
	"github.com/finessectl/finessectl/internal/metrics"
	"github.com/finessectl/finessectl/internal/promtext"
)

// ScrapeTimeoutMargin is taken off the scrape timeout Prometheus announces,
// as blackbox_exporter's --timeout-offset is, so that the answer is written
// before Prometheus gives up on it.
const ScrapeTimeoutMargin = 500 * time.Millisecond

// Request is what a scrape asks for: one target, or one cluster of the config
// file.
type Request struct {
	Target  string
	Cluster string
}

// Probe is a check ready to run, as the command's settings make it for a
// Request.
type Probe struct {
	Targets []check.Target
	Options check.Options
	// CredentialsChanged is when the files the credentials came from (the
	// config file, the password file) last changed: a remembered
	// authentication failure holds for the probes whose files have not
	// changed since.
	CredentialsChanged time.Time
}

// ErrBadRequest marks an error of Config.Resolve that is the scrape's fault
// (an unknown cluster, a target that is not one), answered 400; ErrForbidden
// a target the exporter may not check, answered 403; any other error is the
// exporter's, answered 500.
var (
	ErrBadRequest = errors.New("bad request")
	ErrForbidden  = errors.New("forbidden")
)

// Config configures an Exporter.
type Config struct {
	// Resolve makes the check a scrape asks for; called for every scrape,
	// so that edits of the config file apply without a restart.
	Resolve func(Request) (Probe, error)
	// MinInterval is the least time between two checks of one target or
	// cluster; scrapes in between get the last result.
	MinInterval time.Duration
	// Logf logs what an operator should know: suppressed logins.
	Logf func(format string, args ...any)
	// Check runs a probe; check.Run when nil. Tests replace it to count
	// and pace checks.
	Check func(context.Context, []check.Target, check.Options) check.Result
}

// Values of the result label of finessectl_probes_total.
const (
	resultSuccess        = "success"
	resultFailure        = "failure"
	resultCached         = "cached"
	resultAuthSuppressed = "auth-suppressed"
)

// Exporter is the HTTP side of 'finessectl serve'.
type Exporter struct {
	cfg    Config
	ctx    context.Context // checks run under it, not under one scrape's request
	cancel context.CancelFunc

	probes   *counter
	failures *counter

	mu     sync.Mutex
	slots  map[string]*slot
	logins accounts
	log    probeLog
}

// New makes an Exporter; Close cancels the checks it is running.
func New(cfg Config) *Exporter {
	if cfg.Check == nil {
		cfg.Check = check.Run
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Exporter{cfg: cfg, ctx: ctx, cancel: cancel,
		// Every result is exported from the start, so that a rate over one
		// never starts from nothing.
		probes: newCounter("finessectl_probes_total",
			"Scrapes of /probe answered, by how: success or failure (a check ran and passed or not), "+
				"cached (the last result, within --min-interval or while a check was in flight), "+
				"auth-suppressed (credentials that failed authentication were not tried again).",
			"result", resultSuccess, resultFailure, resultCached, resultAuthSuppressed),
		failures: newCounter("finessectl_probe_failures_total",
			"Servers that failed a check this exporter ran, by the scenario of finesse_probe_failed_check_info.",
			"scenario"),
		slots:  map[string]*slot{},
		logins: accounts{byID: map[string]*account{}},
	}
}

// Close cancels the checks in flight, so that a shutdown need not wait for
// their deadlines.
func (e *Exporter) Close() { e.cancel() }

// Handler serves /probe, /metrics, /logs, /-/healthy and the page at /.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /probe", e.serveProbe)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		writeMetrics(w, append(processFamilies(), e.probes.family(), e.failures.family()))
	})
	mux.HandleFunc("GET /logs", e.serveLog)
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "OK")
	})
	mux.HandleFunc("GET /{$}", e.servePage)
	return mux
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
}

func (e *Exporter) serveProbe(w http.ResponseWriter, r *http.Request) {
	req, err := parseRequest(r)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	budget, err := scrapeBudget(r.Header)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	p, err := e.cfg.Resolve(req)
	switch {
	case errors.Is(err, ErrBadRequest):
		badRequest(w, "%v", err)
		return
	case errors.Is(err, ErrForbidden):
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ctx := r.Context()
	if budget > 0 {
		// The budget bounds the whole scrape: the wait for another
		// scrape's check, every server of a cluster and its peers.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
		if budget < p.Options.Timeout {
			p.Options.Timeout = budget
			// The presence wait is part of the deadline, so it shrinks with it.
			p.Options.PresenceTimeout = min(p.Options.PresenceTimeout, budget)
		}
	}
	res, how, err := e.result(ctx, req, p)
	switch {
	case errors.Is(err, errStillRunning):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	case err != nil:
		return // the scraper left while waiting for another scrape's check
	}
	e.probes.inc(how)
	if req.Target != "" {
		res = namedAs(res, req.Target)
	}
	writeMetrics(w, metrics.Families(res))
}

// writeMetrics answers fams. promtext fails only on a bug (two samples with
// one set of labels), answered 500 with the reason, as a scraper would
// refuse the exposition anyway.
func writeMetrics(w http.ResponseWriter, fams []promtext.Family) {
	var buf bytes.Buffer
	if err := promtext.Write(&buf, fams); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", promtext.ContentType)
	_, _ = w.Write(buf.Bytes())
}

// namedAs is r, a check of one server that a scrape may share with scrapes
// spelling the server otherwise, with the server named as this scrape wrote
// it: the series answer the target asked for.
func namedAs(r check.Result, name string) check.Result {
	if len(r.Servers) == 0 {
		return r
	}
	old := r.Servers[0].Target.Name
	r.Servers = slices.Clone(r.Servers)
	for i := range r.Servers {
		if i == 0 {
			r.Servers[i].Target.Name = name
		}
		if r.Servers[i].PeerOf == old {
			r.Servers[i].PeerOf = name
		}
	}
	return r
}

// parseRequest reads the query. Credentials in it are refused: a URL ends up
// in Prometheus' configuration, its target list and access logs.
func parseRequest(r *http.Request) (Request, error) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "target", "cluster":
			if len(q[k]) > 1 {
				return Request{}, fmt.Errorf("%s given %d times: give one", k, len(q[k]))
			}
		case "user", "password":
			return Request{}, fmt.Errorf("%s in the URL is refused: give credentials to finessectl serve "+
				"(FINESSE_USER, FINESSE_PASSWORD, --password-file or the config file's password_file)", k)
		default:
			return Request{}, fmt.Errorf("unknown parameter %q: use target=HOST[:PORT] or cluster=NAME", k)
		}
	}
	req := Request{Target: q.Get("target"), Cluster: q.Get("cluster")}
	switch {
	case req.Target == "" && req.Cluster == "":
		return req, errors.New("missing target=HOST[:PORT] or cluster=NAME")
	case req.Target != "" && req.Cluster != "":
		return req, errors.New("give target or cluster, not both")
	}
	return req, nil
}

// scrapeBudget is the time a check may take within the scrape timeout
// Prometheus announces, less ScrapeTimeoutMargin; 0 when none is announced.
func scrapeBudget(h http.Header) (time.Duration, error) {
	v := h.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if v == "" {
		return 0, nil
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || !(s > 0 && s <= 3600) { // written so that NaN fails too
		return 0, fmt.Errorf("X-Prometheus-Scrape-Timeout-Seconds %q: want a positive number of seconds", v)
	}
	budget := time.Duration(s*float64(time.Second)) - ScrapeTimeoutMargin
	if budget <= 0 {
		return 0, fmt.Errorf("scrape timeout %ss leaves no time for a check after the %v margin: raise scrape_timeout", v, ScrapeTimeoutMargin)
	}
	return budget, nil
}
