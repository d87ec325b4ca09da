// Package promtext writes the Prometheus text exposition format, version
// 0.0.4: what every Prometheus server scrapes and node_exporter's textfile
// collector reads.
//
// finessectl writes it itself rather than through the Prometheus client
// library because that library initialises its default registry, the Go and
// process collectors and protobuf descriptors in every process that links
// it: about half of the start-up of every finessectl command, a check from
// cron included, for the two that export metrics. The output is the
// library's, byte for byte (families in name order, samples in label order,
// the same number format); tests parse it with the library's own parser.
package promtext

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the media type of the format, for an HTTP answer.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Type is a family's metric type. Only the types finessectl exports exist.
type Type string

// The metric types.
const (
	Gauge   Type = "gauge"
	Counter Type = "counter"
)

// Family is one metric name with its help, type and samples.
type Family struct {
	Name    string
	Help    string
	Type    Type
	Samples []Sample
}

// Sample is one value of a family. Labels are in any order; they are
// written sorted by name.
type Sample struct {
	Labels []Label
	Value  float64
}

// Label is one label of a sample.
type Label struct{ Name, Value string }

// Add appends a sample to f, the labels named by names (in that order) with
// values (in the same order).
func (f *Family) Add(value float64, names []string, values ...string) {
	labels := make([]Label, len(names))
	for i, n := range names {
		labels[i] = Label{n, values[i]}
	}
	f.Samples = append(f.Samples, Sample{Labels: labels, Value: value})
}

// Write writes fams to w: families in name order, each one's samples in the
// order of their label values (compared in label name order), a family
// without samples left out. A label value that is not UTF-8 has its bad
// bytes written as U+FFFD, as a scraper would refuse it. Two samples of a
// family with the same labels are an error, and nothing is written: a
// scraper would refuse the whole exposition.
func Write(w io.Writer, fams []Family) error {
	var buf bytes.Buffer
	sorted := slices.Clone(fams)
	slices.SortFunc(sorted, func(a, b Family) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range sorted {
		if len(f.Samples) == 0 {
			continue
		}
		samples := make([]Sample, len(f.Samples))
		for i, s := range f.Samples {
			labels := slices.Clone(s.Labels)
			slices.SortFunc(labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
			samples[i] = Sample{Labels: labels, Value: s.Value}
		}
		slices.SortStableFunc(samples, compareLabels)
		for i := 1; i < len(samples); i++ {
			if compareLabels(samples[i-1], samples[i]) == 0 {
				return fmt.Errorf("metric %s: two samples with the labels %v", f.Name, samples[i].Labels)
			}
		}

		fmt.Fprintf(&buf, "# HELP %s %s\n# TYPE %s %s\n", f.Name, helpEscaper.Replace(f.Help), f.Name, f.Type)
		for _, s := range samples {
			buf.WriteString(f.Name)
			sep := byte('{')
			for _, l := range s.Labels {
				buf.WriteByte(sep)
				sep = ','
				buf.WriteString(l.Name)
				buf.WriteString(`="`)
				buf.WriteString(valueEscaper.Replace(strings.ToValidUTF8(l.Value, "\uFFFD")))
				buf.WriteByte('"')
			}
			if len(s.Labels) > 0 {
				buf.WriteByte('}')
			}
			buf.WriteByte(' ')
			buf.WriteString(formatValue(s.Value))
			buf.WriteByte('\n')
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func compareLabels(a, b Sample) int {
	return slices.CompareFunc(a.Labels, b.Labels, func(x, y Label) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), strings.Compare(x.Value, y.Value))
	})
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// formatValue writes v as the format spells it: the shortest decimal that
// reads back as v, and +Inf, -Inf and NaN by those names.
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
