package exporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finessectl/finessectl/internal/check"
)

func TestScrapeBudget(t *testing.T) {
	for header, want := range map[string]time.Duration{"": 0, "15": 14500 * time.Millisecond, "1": 500 * time.Millisecond, "2.5": 2 * time.Second} {
		h := http.Header{}
		if header != "" {
			h.Set("X-Prometheus-Scrape-Timeout-Seconds", header)
		}
		if got, err := scrapeBudget(h); err != nil || got != want {
			t.Errorf("scrape timeout %q: %v, %v; want %v", header, got, err, want)
		}
	}
	for _, header := range []string{"0.5", "0", "-1", "x", "NaN", "1e9"} {
		h := http.Header{"X-Prometheus-Scrape-Timeout-Seconds": {header}}
		if _, err := scrapeBudget(h); err == nil {
			t.Errorf("scrape timeout %q accepted", header)
		}
	}
}

// newTestServer serves an Exporter whose checks the test makes.
func newTestServer(t *testing.T, minInterval time.Duration, run func(check.Options) check.Result) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var checks atomic.Int32
	e := New(Config{MinInterval: minInterval,
		Resolve: func(r Request) (Probe, error) {
			tg, err := check.ParseTarget(r.Target)
			return Probe{Targets: []check.Target{tg}, Options: check.Options{Timeout: 10 * time.Second, User: "u", Password: "p"}}, err
		},
		Check: func(_ context.Context, ts []check.Target, o check.Options) check.Result {
			checks.Add(1)
			res := run(o)
			res.Servers[0].Target = ts[0]
			return res
		}})
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() { srv.Close(); e.Close() })
	return srv, &checks
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func passed(check.Options) check.Result {
	return check.Result{Servers: []check.ServerResult{{}}}
}

// Scrapes while a check is in flight wait for it; scrapes within
// MinInterval get its result; other targets are checked on their own.
func TestOneCheckPerTargetAndInterval(t *testing.T) {
	release := make(chan struct{})
	srv, checks := newTestServer(t, time.Hour, func(o check.Options) check.Result {
		<-release
		return passed(o)
	})
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if body := scrape(t, srv.URL+"/probe?target=a.example"); !strings.Contains(body, `finesse_probe_success{server="a.example"} 1`) {
				t.Errorf("scrape: %s", body)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	scrape(t, srv.URL+"/probe?target=a.example")
	scrape(t, srv.URL+"/probe?target=b.example")
	if n := checks.Load(); n != 2 {
		t.Errorf("%d checks, want one per target", n)
	}
	if body := scrape(t, srv.URL+"/metrics"); !strings.Contains(body, `finessectl_probes_total{result="cached"} 5`) {
		t.Errorf("/metrics:\n%s", body)
	}
}

// Every spelling of a server shares its slot, and each scrape's series name
// the server as that scrape wrote it.
func TestSpellingsOfOneServerShareACheck(t *testing.T) {
	srv, checks := newTestServer(t, time.Hour, passed)
	for _, target := range []string{"a.example", "A.EXAMPLE:8445", "https://a.example/", "https://A.example:8445"} {
		if body := scrape(t, srv.URL+"/probe?target="+url.QueryEscape(target)); !strings.Contains(body, `finesse_probe_success{server="`+target+`"} 1`) {
			t.Errorf("scrape of %s:\n%s", target, body)
		}
	}
	scrape(t, srv.URL+"/probe?target=a.example:8446")
	if n := checks.Load(); n != 2 {
		t.Errorf("%d checks, want one for the four spellings of a.example:8445 and one for port 8446", n)
	}
}

// Slots of targets no scrape can use any more are dropped, so scrapes of
// ever new targets do not grow the exporter.
func TestSlotsOfOldTargetsAreDropped(t *testing.T) {
	e := New(Config{MinInterval: time.Nanosecond,
		Resolve: func(r Request) (Probe, error) {
			tg, err := check.ParseTarget(r.Target)
			return Probe{Targets: []check.Target{tg}}, err
		},
		Check: func(context.Context, []check.Target, check.Options) check.Result { return passed(check.Options{}) }})
	defer e.Close()
	h := e.Handler()
	for i := range 1000 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/probe?target=n%d.example", i), nil))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.slots) > 2 {
		t.Errorf("%d slots kept after 1000 targets, each stale after 1ns", len(e.slots))
	}
}

func TestPageEscapesAndLinksLogs(t *testing.T) {
	srv, _ := newTestServer(t, 0, passed)
	scrape(t, srv.URL+"/probe?target="+"https%3A%2F%2Fa.example%2F%3Cimg%20src%3Dx%3E")
	page := scrape(t, srv.URL+"/")
	if strings.Contains(page, "<img") || !strings.Contains(page, "&lt;img src=x&gt;") || !strings.Contains(page, `href="/logs?id=1"`) {
		t.Errorf("page:\n%s", page)
	}
	if log := scrape(t, srv.URL+"/logs?id=1"); !strings.Contains(log, "<img src=x>") {
		t.Errorf("log:\n%s", log)
	}
}

// The page lists the last logSize probes, newest first, and /logs keeps
// theirs only: memory does not grow with the scrapes.
func TestPageKeepsTheLastProbes(t *testing.T) {
	srv, _ := newTestServer(t, 0, passed)
	for i := range logSize + 5 {
		scrape(t, srv.URL+"/probe?target=t"+strconv.Itoa(i)+".example")
	}
	page := scrape(t, srv.URL+"/")
	if n := strings.Count(page, `<a href="/logs?id=`); n != logSize {
		t.Errorf("page lists %d probes, want the last %d", n, logSize)
	}
	newest, oldest := strings.Index(page, ">t104.example<"), strings.Index(page, ">t5.example<")
	if newest < 0 || oldest < 0 || newest > oldest || strings.Contains(page, ">t4.example<") {
		t.Errorf("want t104 first and t5 last, t4 gone:\n%s", page)
	}
	resp, err := http.Get(srv.URL + "/logs?id=5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/logs of a probe beyond the last %d: %d, want 404", logSize, resp.StatusCode)
	}
	if log := scrape(t, srv.URL+"/logs?id=6"); log == "" {
		t.Error("/logs of the oldest probe kept is empty")
	}
}
