package sendwatch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Sample is one exporter's exporterhelper counters at one scrape, summed
// over signals.
type Sample struct {
	// Sent is otelcol_exporter_sent_{spans,metric_points,log_records}.
	Sent float64
	// Failed is otelcol_exporter_send_failed_* plus enqueue_failed_*.
	Failed float64
	// Queued is otelcol_exporter_queue_size.
	Queued float64
}

const (
	prefix      = "otelcol_exporter_"
	exporterKey = "exporter"
	maxLine     = 1 << 20
)

// Parse reads the Prometheus text exposition of the collector's own
// telemetry and returns the exporterhelper series by exporter (the
// "exporter" label, the component ID). Names are accepted with or without
// the _total suffix, so both of the collector's exposition settings work.
// Lines it does not need are skipped unparsed.
func Parse(r io.Reader) (map[string]Sample, error) {
	out := map[string]Sample{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		name, rest := cutName(line)
		field := classify(strings.TrimSuffix(name[len(prefix):], "_total"))
		if field == nil {
			continue
		}
		labels, rest, err := parseLabels(rest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		id, ok := labels[exporterKey]
		if !ok {
			continue
		}
		v, err := parseValue(rest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s := out[id]
		*field(&s) += v
		out[id] = s
	}
	return out, sc.Err()
}

// classify returns the Sample field a series adds to, nil when unneeded.
func classify(base string) func(*Sample) *float64 {
	switch {
	case base == "queue_size":
		return func(s *Sample) *float64 { return &s.Queued }
	case base == "sent_spans", base == "sent_metric_points", base == "sent_log_records":
		return func(s *Sample) *float64 { return &s.Sent }
	case strings.HasPrefix(base, "send_failed_"), strings.HasPrefix(base, "enqueue_failed_"):
		return func(s *Sample) *float64 { return &s.Failed }
	}
	return nil
}

func cutName(line string) (string, string) {
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return line, ""
	}
	return line[:i], line[i:]
}

var errSyntax = errors.New("malformed sample")

// parseLabels reads {k="v",...} at the start of s (absent labels are an
// empty set) and returns what follows.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	if !strings.HasPrefix(s, "{") {
		return labels, s, nil
	}
	s = s[1:]
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return nil, "", errSyntax
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var b strings.Builder
		closed := false
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			if c == '"' {
				s = s[i+1:]
				closed = true
				break
			}
			b.WriteByte(c)
		}
		if !closed {
			return nil, "", errSyntax
		}
		labels[key] = b.String()
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		}
	}
}

// parseValue reads the value after the labels (a timestamp may follow).
func parseValue(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, errSyntax
	}
	return strconv.ParseFloat(f[0], 64)
}
