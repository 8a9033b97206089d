// Package compress holds the otlp_retry exporter's pooled compressors:
// gzip at a chosen level (klauspost/compress, one writer pool per level) and
// zstd (one shared klauspost encoder). A Compressor is also a gRPC
// per-connection compressor (grpc.WithCompressor), which is how the gzip
// level is honoured over gRPC: the registered "gzip" codec has one global level.
package compress

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Names of the supported content codings.
const (
	Gzip = "gzip"
	Zstd = "zstd"
)

// Compressor compresses whole messages. It is safe for concurrent use.
type Compressor struct {
	name  string
	level int
	gz    *sync.Pool
	// OnCompressed, when set, is told the size of every message before and
	// after compression.
	OnCompressed func(in, out int)
}

var (
	gzipPools [10]sync.Pool // index: gzip level 1-9

	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdErr  error

	bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}
)

func zstdEncoder() (*zstd.Encoder, error) {
	zstdOnce.Do(func() {
		// EncodeAll is safe for concurrent use; a 512 KiB window suits OTLP
		// batches and bounds the receiver's memory.
		zstdEnc, zstdErr = zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithWindowSize(512*1024),
			zstd.WithEncoderLevel(zstd.SpeedDefault))
	})
	return zstdEnc, zstdErr
}

// New returns a compressor for name (gzip or zstd); level applies to gzip (1-9).
func New(name string, level int) (*Compressor, error) {
	switch name {
	case Gzip:
		if level < gzip.BestSpeed || level > gzip.BestCompression {
			return nil, fmt.Errorf("gzip level %d out of range 1-9", level)
		}
		return &Compressor{name: name, level: level, gz: &gzipPools[level]}, nil
	case Zstd:
		if _, err := zstdEncoder(); err != nil {
			return nil, err
		}
		return &Compressor{name: name}, nil
	default:
		return nil, fmt.Errorf("unsupported compression %q", name)
	}
}

// Type is the content coding (grpc.Compressor).
func (c *Compressor) Type() string { return c.name }

// Do compresses p into w (grpc.Compressor).
func (c *Compressor) Do(w io.Writer, p []byte) error {
	if c.name == Zstd {
		buf := bufPool.Get().(*[]byte)
		out := zstdEnc.EncodeAll(p, (*buf)[:0])
		_, err := w.Write(out)
		c.report(len(p), len(out))
		if cap(out) <= 4<<20 {
			*buf = out[:0]
			bufPool.Put(buf)
		}
		return err
	}
	cw := &countingWriter{w: w}
	gw, _ := c.gz.Get().(*gzip.Writer)
	if gw == nil {
		gw, _ = gzip.NewWriterLevel(cw, c.level)
	} else {
		gw.Reset(cw)
	}
	_, err := gw.Write(p)
	if cerr := gw.Close(); err == nil {
		err = cerr
	}
	gw.Reset(io.Discard) // drop the reference to w
	c.gz.Put(gw)
	c.report(len(p), cw.n)
	return err
}

// Append appends the compressed form of p to dst and returns it.
func (c *Compressor) Append(dst, p []byte) ([]byte, error) {
	if c.name == Zstd {
		out := zstdEnc.EncodeAll(p, dst)
		c.report(len(p), len(out)-len(dst))
		return out, nil
	}
	b := bytes.NewBuffer(dst)
	err := c.Do(b, p)
	return b.Bytes(), err
}

func (c *Compressor) report(in, out int) {
	if c.OnCompressed != nil {
		c.OnCompressed(in, out)
	}
}

type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}
