package main

import "google.golang.org/protobuf/encoding/protowire"

// eachSpan calls fn with the bytes of every span in an
// ExportTraceServiceRequest: resource_spans (1) -> scope_spans (2) -> spans (2).
func eachSpan(req []byte, fn func(span []byte) error) error {
	return eachField(req, 1, func(rs []byte) error {
		return eachField(rs, 2, func(ss []byte) error {
			return eachField(ss, 2, fn)
		})
	})
}

// eachDataPoint calls fn with every data point of an
// ExportMetricsServiceRequest: resource_metrics (1) -> scope_metrics (2) ->
// metrics (2) -> gauge (5), sum (7), histogram (9), exponential_histogram
// (10) or summary (11) -> data_points (1).
func eachDataPoint(req []byte, fn func(dp []byte) error) error {
	return eachField(req, 1, func(rm []byte) error {
		return eachField(rm, 2, func(sm []byte) error {
			return eachField(sm, 2, func(m []byte) error {
				for _, kind := range []protowire.Number{5, 7, 9, 10, 11} {
					if err := eachField(m, kind, func(data []byte) error { return eachField(data, 1, fn) }); err != nil {
						return err
					}
				}
				return nil
			})
		})
	})
}

// eachLogRecord calls fn with every record of an ExportLogsServiceRequest:
// resource_logs (1) -> scope_logs (2) -> log_records (2).
func eachLogRecord(req []byte, fn func(lr []byte) error) error {
	return eachField(req, 1, func(rl []byte) error {
		return eachField(rl, 2, func(sl []byte) error {
			return eachField(sl, 2, fn)
		})
	})
}

// spanSeq is the number of a span (see ids); ok is false for a span the
// load generator did not make. pdata writes a span's fields highest number
// first, so span_id (2) and trace_id (1) end it: they are taken from the
// tail, and only when the tail does not hold this round's IDs (another
// encoder) is the span walked field by field. The check against the trace
// ID (128 bits) makes a tail that only looks right by chance harmless.
func (s *sink) spanSeq(span []byte) (seq uint64, ok bool, err error) {
	if traceID, spanID, found := idsAtEnd(span); found {
		if seq, ok := s.ids.seq(traceID, spanID); ok {
			return seq, true, nil
		}
	}
	traceID, spanID, err := spanIdentity(span)
	if err != nil {
		return 0, false, err
	}
	seq, ok = s.ids.seq(traceID, spanID)
	return seq, ok, nil
}

// idsAtEnd reads span_id and trace_id where pdata puts them: the span's
// last 28 bytes are the tag 0x12 and length 8 of span_id, its 8 bytes, the
// tag 0x0a and length 16 of trace_id, and its 16 bytes.
func idsAtEnd(span []byte) (traceID, spanID []byte, ok bool) {
	n := len(span)
	if n < 28 || span[n-28] != 0x12 || span[n-27] != 8 || span[n-18] != 0x0a || span[n-17] != 16 {
		return nil, nil, false
	}
	return span[n-16:], span[n-26 : n-18], true
}

// spanIdentity returns a Span's trace_id (1) and span_id (2), walking its
// fields until it has both.
func spanIdentity(span []byte) (traceID, spanID []byte, err error) {
	for len(span) > 0 && (traceID == nil || spanID == nil) {
		field, typ, n := protowire.ConsumeTag(span)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		span = span[n:]
		if typ == protowire.BytesType && (field == 1 || field == 2) {
			v, n := protowire.ConsumeBytes(span)
			if n < 0 {
				return nil, nil, protowire.ParseError(n)
			}
			if field == 1 {
				traceID = v
			} else {
				spanID = v
			}
			span = span[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(field, typ, span)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		span = span[n:]
	}
	return traceID, spanID, nil
}

// eachField calls fn with the bytes of every length-delimited field num in msg.
func eachField(msg []byte, num protowire.Number, fn func([]byte) error) error {
	for len(msg) > 0 {
		field, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
		if field == num && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return protowire.ParseError(n)
			}
			if err := fn(v); err != nil {
				return err
			}
			msg = msg[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(field, typ, msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		msg = msg[n:]
	}
	return nil
}
