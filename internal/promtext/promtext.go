// Package promtext writes the Prometheus text exposition format, version
// 0.0.4: what every Prometheus server scrapes and node_exporter's textfile
// collector reads.
//
// finessectl writes it itself rather than through the Prometheus client
// library because that library initialises its default registry, the Go and
// process collectors and protobuf descriptors in every process that links
// it: about half of the start-up of every finessectl command, a check from
// cron included, for the two that export metrics. The output is the
// library's, byte for byte: families in name order and samples in label
// order as its registry gathers them (TestOrder, the golden files of
// internal/metrics), and the library's parser reads it and its writer writes
// the same text back (escaping, number format and layout).
package promtext

import (
	"bytes"
	"cmp"
	"errors"
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

	// mismatch is set by Add when values and names differ in number: an
	// error for Write to return rather than a panic in the middle of a
	// scrape.
	mismatch bool
}

// Label is one label of a sample.
type Label struct{ Name, Value string }

// Add appends a sample to f, the labels named by names (in that order) with
// values (in the same order).
func (f *Family) Add(value float64, names []string, values ...string) {
	labels := make([]Label, min(len(names), len(values)))
	for i := range labels {
		labels[i] = Label{names[i], values[i]}
	}
	f.Samples = append(f.Samples, Sample{Labels: labels, Value: value, mismatch: len(names) != len(values)})
}

// Write writes fams to w: families in name order, each one's samples in the
// order of their label values (compared in label name order), a family
// without samples left out. A label value that is not UTF-8 has its bad
// bytes written as U+FFFD, as a scraper would refuse it. Anything a scraper
// would refuse the whole exposition for is an error, and nothing is
// written: two families of one name, two samples of a family with the same
// labels (after that replacement), samples of a family with different label
// names.
func Write(w io.Writer, fams []Family) error {
	sorted := slices.Clone(fams)
	slices.SortFunc(sorted, func(a, b Family) int { return strings.Compare(a.Name, b.Name) })
	var buf bytes.Buffer
	for i, f := range sorted {
		if i > 0 && f.Name == sorted[i-1].Name {
			return fmt.Errorf("metric %s: two families of that name", f.Name)
		}
		samples, err := normalize(f)
		if err != nil {
			return fmt.Errorf("metric %s: %w", f.Name, err)
		}
		if len(samples) == 0 {
			continue
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
				buf.WriteString(valueEscaper.Replace(l.Value))
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

// normalize is f's samples as they are written: labels sorted by name and
// made UTF-8, samples sorted by label values; an error for what a scraper
// would refuse.
func normalize(f Family) ([]Sample, error) {
	samples := make([]Sample, len(f.Samples))
	for i, s := range f.Samples {
		if s.mismatch {
			return nil, errors.New("label values and label names differ in number")
		}
		labels := make([]Label, len(s.Labels))
		for j, l := range s.Labels {
			labels[j] = Label{l.Name, strings.ToValidUTF8(l.Value, "\uFFFD")}
		}
		slices.SortFunc(labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
		samples[i] = Sample{Labels: labels, Value: s.Value}
		if !slices.EqualFunc(labels, samples[0].Labels, func(a, b Label) bool { return a.Name == b.Name }) {
			return nil, fmt.Errorf("samples with different label names: %v and %v", samples[0].Labels, labels)
		}
	}
	slices.SortStableFunc(samples, compareLabels)
	for i := 1; i < len(samples); i++ {
		if compareLabels(samples[i-1], samples[i]) == 0 {
			return nil, fmt.Errorf("two samples with the labels %v", samples[i].Labels)
		}
	}
	return samples, nil
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
	case v == 0:
		return "0" // also -0, as the client library writes it
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
