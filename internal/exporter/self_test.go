package exporter

import (
	"strings"
	"testing"
)

func TestParseMaxFiles(t *testing.T) {
	const head = "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max processes             96364                96364                processes \n"
	for limits, want := range map[string]float64{
		head + "Max open files            1024                 524288               files     \n": 1024,
		head + "Max open files            unlimited            unlimited            files     \n": -1,
		head: -1,
		"":   -1,
	} {
		n, ok := parseMaxFiles(limits)
		if want < 0 && ok || want >= 0 && (!ok || n != want) {
			t.Errorf("parseMaxFiles(%q) = %v, %v; want %v", limits, n, ok, want)
		}
	}
}

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as prctl can set it.
	const line = "4242 (a) b (c) R 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 7 0 123456 1048576000 2560 18446744073709551615\n"
	st, ok := parseStat(line, 4096)
	if !ok {
		t.Fatal("not read")
	}
	if want := (procStat{cpuSeconds: 3, virtualBytes: 1048576000, residentBytes: 2560 * 4096}); st != want {
		t.Errorf("%+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "4242 (a) R 1 2", "no parenthesis 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24",
		strings.Replace(line, " 250 ", " x ", 1)} {
		if st, ok := parseStat(bad, 4096); ok {
			t.Errorf("parseStat(%q) = %+v, want not read", bad, st)
		}
	}
}
