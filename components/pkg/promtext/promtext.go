// Package promtext reads the Prometheus text exposition (what the
// collector's own /metrics serves) with the Prometheus project's parser,
// github.com/prometheus/common/expfmt, so that otlpcol has one reader of
// that format: the health extension's exporter watch and the test harness
// both use it.
package promtext

import (
	"fmt"
	"io"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Samples parses r and returns every sample, histograms and summaries
// flattened as Prometheus stores them: name_bucket{le="..."} (with a
// le="+Inf" bucket always present), name_sum, name_count, and
// name{quantile="..."}. A sample's name is its model.MetricNameLabel. Names
// and label names are accepted as UTF-8 (quoted names too), the most
// lenient setting; malformed input is an error.
func Samples(r io.Reader) (model.Vector, error) {
	fams, err := families(r)
	if err != nil {
		return nil, err
	}
	all := make(model.Vector, 0, len(fams))
	for _, f := range fams {
		// ExtractSamples fails only on a family type the text parser
		// never produces.
		s, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, f)
		if err != nil {
			return nil, err
		}
		all = append(all, s...)
	}
	return all, nil
}

// families runs expfmt's text parser. That parser can panic on malformed
// input (v0.71.0: "# TYPE A \n{}" dereferences a nil metric in
// startLabelName; found by FuzzParse), and the health extension parses
// every poll: a panic there would take the collector down, so it becomes
// an error.
func families(r io.Reader) (fams map[string]*dto.MetricFamily, err error) {
	defer func() {
		if v := recover(); v != nil {
			fams, err = nil, fmt.Errorf("malformed exposition (the text parser panicked: %v)", v)
		}
	}()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// Sum adds the values of the samples named name whose labels include every
// pair in labels; found is false when none matches.
func Sum(samples model.Vector, name string, labels map[string]string) (sum float64, found bool) {
	for _, s := range samples {
		if string(s.Metric[model.MetricNameLabel]) != name || !hasLabels(s.Metric, labels) {
			continue
		}
		sum += float64(s.Value)
		found = true
	}
	return sum, found
}

func hasLabels(m model.Metric, labels map[string]string) bool {
	for k, v := range labels {
		if got, ok := m[model.LabelName(k)]; !ok || string(got) != v {
			return false
		}
	}
	return true
}

// Types returns the type of every metric family in r by family name:
// "counter", "gauge", "histogram", "summary" or "untyped".
func Types(r io.Reader) (map[string]string, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(fams))
	for name, f := range fams {
		out[name] = strings.ToLower(f.GetType().String())
	}
	return out, nil
}
