package main

import (
	"encoding/binary"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// ids is how the load generator names spans so that the sink can tell each
// one apart without remembering what was sent: span number seq of a round
// (trace key * spansPerTrace + position in the trace) gets the span ID
// mix(seq ^ seed), a bijection that looks random (random span IDs compress
// like real ones; sequential ones would flatter compression), and the sink
// inverts it to find seq again. The trace ID follows from seq too, so a span
// whose trace ID does not match its span ID is recognised as not ours.
type ids struct {
	seed  uint64
	cycle uint64 // > 0: trace keys wrap around, so that the registry holds cycle traces
}

// traceID maps a trace key to a random-looking, unique trace ID.
func (d ids) traceID(key uint64) pcommon.TraceID {
	if d.cycle > 0 {
		key %= d.cycle
	}
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], splitmix64(d.seed^key))
	binary.BigEndian.PutUint64(id[8:], splitmix64(key+0x9e3779b97f4a7c15))
	return id
}

// spanID is the span ID of span number seq.
func (d ids) spanID(seq uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], splitmix64(seq^d.seed))
	return id
}

// seq recovers the span number from a span ID and its trace ID; ok is false
// when the pair was not made by spanID and traceID with this seed.
func (d ids) seq(traceID, spanID []byte) (seq uint64, ok bool) {
	if len(spanID) != 8 || len(traceID) != 16 {
		return 0, false
	}
	seq = unsplitmix64(binary.BigEndian.Uint64(spanID)) ^ d.seed
	want := d.traceID(seq / spansPerTrace)
	return seq, string(want[:]) == string(traceID)
}

const (
	splitmixGamma = 0x9e3779b97f4a7c15
	splitmixMul1  = 0xbf58476d1ce4e5b9
	splitmixMul2  = 0x94d049bb133111eb
)

// splitmix64 is SplitMix64's output function: a bijection on uint64.
func splitmix64(x uint64) uint64 {
	x += splitmixGamma
	x = (x ^ (x >> 30)) * splitmixMul1
	x = (x ^ (x >> 27)) * splitmixMul2
	return x ^ (x >> 31)
}

var (
	splitmixInv1 = mulInverse(splitmixMul1)
	splitmixInv2 = mulInverse(splitmixMul2)
)

// unsplitmix64 inverts splitmix64.
func unsplitmix64(x uint64) uint64 {
	x = unxorshift(x, 31)
	x *= splitmixInv2
	x = unxorshift(x, 27)
	x *= splitmixInv1
	x = unxorshift(x, 30)
	return x - splitmixGamma
}

// unxorshift inverts y = x ^ (x >> s): each pass recovers s more high bits.
func unxorshift(y uint64, s uint) uint64 {
	x := y
	for n := s; n < 64; n += s {
		x = y ^ (x >> s)
	}
	return x
}

// mulInverse is the inverse of odd a modulo 2^64 (Newton's iteration: each
// step doubles the correct low bits, from 3 for a*a = 1 mod 8).
func mulInverse(a uint64) uint64 {
	inv := a
	for range 5 {
		inv *= 2 - a*inv
	}
	return inv
}
