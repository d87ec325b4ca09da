package promtext

import (
	"bytes"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// hostile is a label value with everything the format must escape or
// replace: quote, backslash, line break, and a byte that is not UTF-8.
const hostile = "a\"b\\c\nd\xffe"

func families() []Family {
	up := Family{Name: "up_total", Help: "Help with a \\ and a\nline break.", Type: Counter}
	up.Add(3, []string{"result"}, "success")
	up.Add(0, []string{"result"}, "cached")
	temps := Family{Name: "a_gauge", Help: "Values of every kind.", Type: Gauge}
	for i, v := range []float64{math.Copysign(0, -1), 1, -2.5, 0.021, 1.7e9, 1e-9, math.Inf(1), math.Inf(-1), math.NaN()} {
		// z, y, x ... so that the input is out of order.
		temps.Add(v, []string{"server", "check"}, "s", string(rune('z'-i)))
	}
	temps.Add(1, []string{"server", "check"}, hostile, "c")
	empty := Family{Name: "b_empty", Help: "No samples.", Type: Gauge}
	plain := Family{Name: "c_plain", Help: "No labels.", Type: Gauge, Samples: []Sample{{Value: 42}}}
	return []Family{up, empty, temps, plain}
}

// The library's own parser reads what Write wrote, and its own writer,
// given what it read, writes the same bytes: escaping, number format and
// layout are the library's, not only something we agree with ourselves.
func TestClientLibraryReadsAndWritesTheSame(t *testing.T) {
	var ours bytes.Buffer
	if err := Write(&ours, families()); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := parser.TextToMetricFamilies(bytes.NewReader(ours.Bytes()))
	if err != nil {
		t.Fatalf("the client library's parser refuses our exposition: %v\n%s", err, ours.String())
	}
	names := make([]string, 0, len(parsed))
	for n := range parsed {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"a_gauge", "c_plain", "up_total"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("families %v, want %v (b_empty has no samples)", names, want)
	}
	var theirs bytes.Buffer
	for _, n := range names {
		if _, err := expfmt.MetricFamilyToText(&theirs, parsed[n]); err != nil {
			t.Fatal(err)
		}
	}
	if ours.String() != theirs.String() {
		t.Errorf("ours:\n%s\nthe library's, from what it parsed:\n%s", ours.String(), theirs.String())
	}
	for _, m := range parsed["a_gauge"].GetMetric() {
		if v := m.GetLabel()[1].GetValue(); v != "s" && v != "a\"b\\c\nd\uFFFDe" {
			t.Errorf("server label read back as %q", v)
		}
	}
}

// Families come in name order and samples in the order of their label
// values, whatever order they were added in, so that equal input gives
// equal text.
func TestOrder(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, families()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(b.String(), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			got = append(got, strings.Fields(line)[0])
		}
	}
	want := []string{
		`a_gauge{check="c",server="a\"b\\c\nd` + "\uFFFD" + `e"}`,
		`a_gauge{check="r",server="s"}`, `a_gauge{check="s",server="s"}`, `a_gauge{check="t",server="s"}`,
		`a_gauge{check="u",server="s"}`, `a_gauge{check="v",server="s"}`, `a_gauge{check="w",server="s"}`,
		`a_gauge{check="x",server="s"}`, `a_gauge{check="y",server="s"}`, `a_gauge{check="z",server="s"}`,
		`c_plain`,
		`up_total{result="cached"}`, `up_total{result="success"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("samples in order\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// What a scraper would refuse the whole exposition for, Write refuses
// first, and writes nothing.
func TestRefusedExpositions(t *testing.T) {
	family := func(name string, add func(f *Family)) Family {
		f := Family{Name: name, Help: "h", Type: Gauge}
		add(&f)
		return f
	}
	for _, c := range []struct {
		name string
		fams []Family
		want string
	}{
		{"duplicate labels", []Family{family("dup", func(f *Family) {
			f.Add(1, []string{"a", "b"}, "1", "2")
			f.Add(2, []string{"b", "a"}, "2", "1") // the same labels, in another order
		})}, "metric dup: two samples with the labels"},
		{"labels equal once made UTF-8", []Family{family("utf8", func(f *Family) {
			f.Add(1, []string{"server"}, "x\xff")
			f.Add(2, []string{"server"}, "x\xfe")
		})}, "metric utf8: two samples"},
		{"two families of one name", []Family{
			family("twice", func(f *Family) { f.Add(1, nil) }),
			family("twice", func(f *Family) { f.Add(2, []string{"a"}, "1") }),
		}, "metric twice: two families"},
		{"different label names", []Family{family("mixed", func(f *Family) {
			f.Add(1, []string{"a"}, "1")
			f.Add(2, []string{"b"}, "1")
		})}, "metric mixed: samples with different label names"},
		{"fewer values than names", []Family{family("short", func(f *Family) {
			f.Add(1, []string{"a", "b"}, "1")
		})}, "metric short: label values and label names differ"},
		{"more values than names", []Family{family("long", func(f *Family) {
			f.Add(1, []string{"a"}, "1", "2")
		})}, "metric long: label values and label names differ"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Write(&b, c.fams)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Write: %v, want an error with %q", err, c.want)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %q", b.String())
			}
		})
	}
}

// BenchmarkWrite is the exposition of one scrape of a pair: about 60
// samples.
func BenchmarkWrite(b *testing.B) {
	var fams []Family
	for _, name := range []string{"m_a", "m_b", "m_c", "m_d", "m_e", "m_f"} {
		f := Family{Name: name, Help: "A metric of a pair of servers.", Type: Gauge}
		for _, server := range []string{"finesse-a.example.com", "finesse-b.example.com"} {
			for _, phase := range []string{"dns", "connect", "tls", "request", "body"} {
				f.Add(0.012, []string{"server", "phase"}, server, phase)
			}
		}
		fams = append(fams, f)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := Write(&buf, fams); err != nil {
			b.Fatal(err)
		}
	}
}
