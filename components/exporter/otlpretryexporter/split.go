package otlpretryexporter

import (
	"context"

	"google.golang.org/protobuf/encoding/protowire"
)

// splitSender is the stage above the attempt. It splits a batch in two
// for either of two answers, and each half goes through the chain again
// from placement (top), with its own retry budget and its own place on
// disk:
//   - too large: the data is fine, the batch too big for the backend; the
//     batch is settled when both halves are (joinVerdicts). A single item
//     the backend still refuses is quarantined.
//   - refused as invalid (quarantine), with more than one item: one bad
//     request must not cost the good ones cut into the same batch. The
//     halves are marked part; a part the backend refuses as a whole comes
//     back unplaced, and it is quarantined here only if its sibling was
//     not refused as a whole; otherwise the batch itself is refused as a
//     whole, up to whoever holds it. So the quarantine holds the largest
//     pieces the backend refuses on their own (one request, one resource,
//     one span), and the rest is delivered. Isolating costs two attempts per
//     level of the split (about log2 of the items) plus two per item of a
//     piece refused as a whole, once per batch.
//
// A replayed half that fails (other than refused) stops the replay: the
// file stays until every piece is settled, so the next replay sends the
// whole file again (duplicates, never loss).
type splitSender struct {
	next sender
	top  sender
	// quarantine places a part the backend refused on its own
	// (placement.quarantine).
	quarantine func(ctx context.Context, r *request, v verdict, cause error) error
}

func (s *splitSender) Send(ctx context.Context, r *request) error {
	err := s.next.Send(ctx, r)
	act, v := actionOf(err)
	switch act {
	case actSplit:
		return s.tooLarge(ctx, r, v, err)
	case actQuarantine:
		return s.isolate(ctx, r, err)
	}
	return err
}

func (s *splitSender) tooLarge(ctx context.Context, r *request, v verdict, err error) error {
	a, b, ok := r.split()
	if !ok {
		// A single item the backend will never take.
		return decide(actQuarantine, v, cause(err))
	}
	if r.replayed {
		if err := s.top.Send(ctx, a); err != nil {
			return settled(err)
		}
		return settled(s.top.Send(ctx, b))
	}
	return settled(joinVerdicts(s.top.Send(ctx, a), s.top.Send(ctx, b)))
}

// isolate splits r, refused as invalid (err), to find what the backend
// refuses on its own.
func (s *splitSender) isolate(ctx context.Context, r *request, err error) error {
	if r.items <= 1 {
		return err
	}
	a, b, ok := r.split()
	if !ok {
		return err
	}
	a.part, b.part = true, true
	ea := s.top.Send(ctx, a)
	if r.replayed && ea != nil && !refused(ea) {
		return settled(ea)
	}
	eb := s.top.Send(ctx, b)
	if r.replayed && eb != nil && !refused(eb) {
		// The file stays and is isolated again next time: a is not
		// quarantined now, so the quarantine holds it once.
		return settled(eb)
	}
	switch ra, rb := refused(ea), refused(eb); {
	case ra && rb:
		// Every item of r is refused: r is one piece for the quarantine.
		return err
	case ra:
		ea = s.place(ctx, a, ea)
	case rb:
		eb = s.place(ctx, b, eb)
	}
	return settled(joinVerdicts(ea, eb))
}

// place quarantines a part refused on its own.
func (s *splitSender) place(ctx context.Context, r *request, err error) error {
	_, v := actionOf(err)
	return s.quarantine(ctx, r, v, cause(err))
}

// refused says whether err is a part refused as a whole, still unplaced.
func refused(err error) bool {
	act, _ := actionOf(err)
	return act == actQuarantine
}

// A backend whose receiver takes smaller messages than a batch (gRPC's
// default limit is 4 MiB, a batch of 1000 spans with large attributes is
// more) refuses the batch as too large. The data is fine; the batch is not:
// it is split in two and each half sent on its own, again and again, down
// to a single span, metric or log record, which only then is refused for
// good (quarantined).
//
// The three Export*ServiceRequest messages have the same shape at the
// levels split here, so the split works on the wire format for all of them:
//
//	level 0  Export*ServiceRequest  1: repeated Resource{Spans,Metrics,Logs}
//	level 1  Resource*              1: resource, 2: repeated Scope*, 3: schema_url
//	level 2  Scope*                 1: scope, 2: repeated Span/Metric/LogRecord, 3: schema_url
//
// At the first level with two or more entries, the entries are halved and
// each half keeps a copy of the other fields of its parents (its resource
// and scope).

// childField is the repeated field split at each level.
var childField = [3]protowire.Number{1, 2, 2}

// splitBody halves a marshalled Export*ServiceRequest. ok is false when it
// holds a single span, metric or log record, or is not well-formed.
func splitBody(body []byte) (a, b []byte, ok bool) {
	return splitLevel(body, 0)
}

func splitLevel(msg []byte, level int) (a, b []byte, ok bool) {
	var header, children [][]byte // whole fields, tag included
	var payloads [][]byte         // the children's message bytes
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return nil, nil, false
		}
		field := msg[:n+m]
		if num == childField[level] && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(msg[n:])
			children = append(children, field)
			payloads = append(payloads, v)
		} else {
			header = append(header, field)
		}
		msg = msg[n+m:]
	}
	switch {
	case len(children) >= 2:
		half := len(children) / 2
		return join(header, children[:half]), join(header, children[half:]), true
	case len(children) == 1 && level < len(childField)-1:
		ca, cb, ok := splitLevel(payloads[0], level+1)
		if !ok {
			return nil, nil, false
		}
		return join(header, [][]byte{wrap(childField[level], ca)}), join(header, [][]byte{wrap(childField[level], cb)}), true
	}
	return nil, nil, false
}

// join concatenates the header fields and then the child fields.
func join(header, children [][]byte) []byte {
	n := 0
	for _, f := range header {
		n += len(f)
	}
	for _, f := range children {
		n += len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range header {
		out = append(out, f...)
	}
	for _, f := range children {
		out = append(out, f...)
	}
	return out
}

// wrap encodes msg as field num of type bytes.
func wrap(num protowire.Number, msg []byte) []byte {
	out := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(out, msg)
}

// split halves r for a backend that refused it as too large.
func (r *request) split() (a, b *request, ok bool) {
	body, err := r.marshal()
	if err != nil {
		return nil, nil, false
	}
	ab, bb, ok := splitBody(body)
	if !ok {
		return nil, nil, false
	}
	if a, err = requestFromBody(r.signal, ab); err != nil {
		return nil, nil, false
	}
	if b, err = requestFromBody(r.signal, bb); err != nil {
		return nil, nil, false
	}
	// Send the halves' bytes as they are: the decoded form only counted
	// their items.
	a.raw, b.raw = true, true
	a.replayed, b.replayed = r.replayed, r.replayed
	return a, b, true
}
