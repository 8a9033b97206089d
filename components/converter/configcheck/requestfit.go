package configcheck

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"

	"github.com/otlpcol/otlpcol/components/exporter/otlpretryexporter"
)

// The write-ahead log refuses a request larger than it can ever hold as
// permanent, and clients drop what is refused as permanent: the data would
// be lost though the receiver accepted it in size. The exporter's Validate
// requires persistent_queue::max_bytes of at least 32 MiB, above the
// receiver's defaults (4 MiB gRPC, 20 MiB HTTP), but it cannot see a
// receiver set higher.

// The receiver's limits when its keys are not set: grpc-go's default
// receive limit, and confighttp's default body limit (it bounds the
// decompressed body).
const (
	defaultGRPCBytes = 4 << 20
	defaultHTTPBytes = 20 << 20
)

var (
	otlpType      = component.MustNewType("otlp")
	otlpRetryType = component.MustNewType("otlp_retry")
)

// checkRequestFit refuses the configuration when an otlp receiver can
// accept a request larger than a log in its pipeline holds.
func checkRequestFit(conf *confmap.Conf) error {
	names, byName := pipelines(conf)
	var errs []error
	for _, name := range names {
		p := byName[name]
		for _, exp := range ids(p["exporters"], otlpRetryType) {
			largest, ok := logLimit(conf, exp)
			if !ok {
				continue
			}
			for _, recv := range ids(p["receivers"], otlpType) {
				for _, l := range receiverLimits(conf, recv) {
					if l.bytes > largest {
						errs = append(errs, misfit(name, exp, largest, recv, l))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// logLimit is the largest request the log of exporter id takes, read with
// the exporter's own defaults (ok false: no log, or unreadable).
func logLimit(conf *confmap.Conf, id string) (int64, bool) {
	cfg := otlpretryexporter.NewFactory().CreateDefaultConfig()
	if !read(conf, "exporters::"+id, cfg) {
		return 0, false
	}
	return otlpretryexporter.LargestLogRequest(cfg)
}

// limit is one protocol's request limit of a receiver, by its key.
type limit struct {
	key     string // receivers::<id>::protocols::...
	setting string // the key's value as written, or "not set"
	bytes   int64
}

// receiverLimits reads receiver id with otlpreceiver's own defaults: the
// limit of each protocol it serves.
func receiverLimits(conf *confmap.Conf, id string) []limit {
	cfg, ok := otlpreceiver.NewFactory().CreateDefaultConfig().(*otlpreceiver.Config)
	if !ok || !read(conf, "receivers::"+id, cfg) {
		return nil
	}
	var out []limit
	if cfg.Protocols.GRPC.HasValue() {
		l := limit{key: "receivers::" + id + "::protocols::grpc::max_recv_msg_size_mib", setting: "not set", bytes: defaultGRPCBytes}
		if mib := cfg.Protocols.GRPC.Get().MaxRecvMsgSizeMiB; mib > 0 {
			l.setting, l.bytes = fmt.Sprint(mib), int64(mib)<<20
		}
		out = append(out, l)
	}
	if cfg.Protocols.HTTP.HasValue() {
		l := limit{key: "receivers::" + id + "::protocols::http::max_request_body_size", setting: "not set", bytes: defaultHTTPBytes}
		if n := cfg.Protocols.HTTP.Get().ServerConfig.MaxRequestBodySize; n > 0 {
			l.setting, l.bytes = fmt.Sprint(n), n
		}
		out = append(out, l)
	}
	return out
}

func misfit(pipeline, exp string, largest int64, recv string, l limit) error {
	// Raising max_bytes helps up to the log's largest record; past it,
	// only the receiver's limit can move.
	fix := "lower " + l.key
	if need, ok := otlpretryexporter.LogBytesFor(l.bytes); ok {
		fix = fmt.Sprintf("raise max_bytes to at least %d or lower %s", need, l.key)
	}
	return fmt.Errorf("exporters::%s::persistent_queue::max_bytes: the log takes requests of at most %d bytes, but %s (%s) "+
		"accepts requests of up to %d bytes in pipeline %s: a larger request would be refused as permanent, which clients drop; %s",
		exp, largest, l.key, l.setting, l.bytes, pipeline, fix)
}
