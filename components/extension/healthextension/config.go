package healthextension

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
)

// Config is the health extension's configuration.
type Config struct {
	// ServerConfig is the HTTP server (endpoint, TLS, auth, CORS, ...).
	// Default endpoint localhost:8080: the shipped Kubernetes configs set
	// 0.0.0.0:8080 themselves.
	ServerConfig confighttp.ServerConfig `mapstructure:",squash"`

	// DrainDelay is how long the extension holds the collector's shutdown
	// after /ready turned 503, so that Kubernetes removes the pod from its
	// Service endpoints before the receivers close. Default 5s.
	DrainDelay time.Duration `mapstructure:"drain_delay"`

	// ReadyWhenDegraded keeps /ready at 200 while components are degraded
	// (recoverable or permanent error). Default true.
	ReadyWhenDegraded bool `mapstructure:"ready_when_degraded"`

	// ExporterFailureThreshold turns /ready 503 once an exporter has been in
	// error continuously for longer than this. 0 (default) disables it.
	ExporterFailureThreshold time.Duration `mapstructure:"exporter_failure_threshold"`

	// ReadyWhenExporterFailing keeps /ready at 200 while an exporter fails
	// past exporter_failure_threshold; /status lists the failure under
	// exporter_failures instead. For a pod that is its clients' only
	// endpoint (an agent behind a node-local Service) and queues on disk:
	// turning unready would fail every client at once, while its queue has
	// room. Default false.
	ReadyWhenExporterFailing bool `mapstructure:"ready_when_exporter_failing"`

	// RecoveryDuration is how long a component must stay OK after an error
	// before it is shown as OK again; until then it is shown degraded.
	// Default 30s.
	RecoveryDuration time.Duration `mapstructure:"recovery_duration"`

	// MetricsEndpoint overrides where /metrics reads the collector's own
	// telemetry: "host:port" (path /metrics) or a full http(s) URL. Empty
	// (default) means: the first Prometheus pull reader in
	// service::telemetry::metrics::readers.
	MetricsEndpoint string `mapstructure:"metrics_endpoint"`

	// Access puts /status, /traces and /metrics behind an authenticator
	// extension, or turns them off; the probes stay open.
	Access AccessConfig `mapstructure:"access"`

	_ struct{}
}

var (
	_ confmap.Validator   = (*Config)(nil)
	_ confmap.Unmarshaler = (*Config)(nil)
)

// ownConfig holds the extension's own keys, decoded apart from the server's.
type ownConfig struct {
	DrainDelay               time.Duration `mapstructure:"drain_delay"`
	ReadyWhenDegraded        bool          `mapstructure:"ready_when_degraded"`
	ExporterFailureThreshold time.Duration `mapstructure:"exporter_failure_threshold"`
	ReadyWhenExporterFailing bool          `mapstructure:"ready_when_exporter_failing"`
	RecoveryDuration         time.Duration `mapstructure:"recovery_duration"`
	MetricsEndpoint          string        `mapstructure:"metrics_endpoint"`
	Access                   AccessConfig  `mapstructure:"access"`
}

// Unmarshal decodes the server settings and the extension's own keys, and
// rejects unknown keys: confighttp.ServerConfig's own Unmarshal ignores
// every key it does not know, so a misspelt "drain_dealy" would otherwise be
// dropped silently.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if conf == nil {
		return nil
	}
	if err := c.ServerConfig.Unmarshal(conf); err != nil {
		return err
	}
	own := ownConfig{
		DrainDelay:               c.DrainDelay,
		ReadyWhenDegraded:        c.ReadyWhenDegraded,
		ExporterFailureThreshold: c.ExporterFailureThreshold,
		ReadyWhenExporterFailing: c.ReadyWhenExporterFailing,
		RecoveryDuration:         c.RecoveryDuration,
		MetricsEndpoint:          c.MetricsEndpoint,
		Access:                   c.Access,
	}
	if err := conf.Unmarshal(&own, confmap.WithIgnoreUnused()); err != nil {
		return err
	}
	// The access section is decoded again without WithIgnoreUnused, so
	// that a misspelt key inside it is refused too.
	if conf.IsSet("access") {
		sub, err := conf.Sub("access")
		if err != nil {
			return err
		}
		own.Access = c.Access
		if err := sub.Unmarshal(&own.Access); err != nil {
			return fmt.Errorf("access: %w", err)
		}
	}
	c.DrainDelay = own.DrainDelay
	c.ReadyWhenDegraded = own.ReadyWhenDegraded
	c.ExporterFailureThreshold = own.ExporterFailureThreshold
	c.ReadyWhenExporterFailing = own.ReadyWhenExporterFailing
	c.RecoveryDuration = own.RecoveryDuration
	c.MetricsEndpoint = own.MetricsEndpoint
	c.Access = own.Access

	known := map[string]bool{}
	mapstructureKeys(reflect.TypeFor[confighttp.ServerConfig](), known)
	mapstructureKeys(reflect.TypeFor[ownConfig](), known)
	var unknown []string
	for key := range conf.ToStringMap() {
		if !known[key] {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("unknown keys: %s", strings.Join(unknown, ", "))
	}
	return nil
}

// mapstructureKeys adds the top-level keys that decode into struct type t,
// following squashed fields.
func mapstructureKeys(t reflect.Type, keys map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "squash") && f.Type.Kind() == reflect.Struct {
			mapstructureKeys(f.Type, keys)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = true
	}
}

// Validate checks the configuration; errors name the YAML key.
func (c *Config) Validate() error {
	var errs []error
	if c.ServerConfig.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: must not be empty"))
	}
	if c.DrainDelay < 0 {
		errs = append(errs, errors.New("drain_delay: must not be negative"))
	}
	if c.ExporterFailureThreshold < 0 {
		errs = append(errs, errors.New("exporter_failure_threshold: must not be negative"))
	}
	if c.ReadyWhenExporterFailing && c.ExporterFailureThreshold == 0 {
		errs = append(errs, errors.New("ready_when_exporter_failing: needs exporter_failure_threshold, which finds the failing exporters"))
	}
	if c.RecoveryDuration < 0 {
		errs = append(errs, errors.New("recovery_duration: must not be negative"))
	}
	if c.MetricsEndpoint != "" {
		if _, err := metricsURL(c.MetricsEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("metrics_endpoint: %w", err))
		}
	}
	errs = append(errs, c.Access.validate()...)
	return errors.Join(errs...)
}

// metricsURL turns the metrics_endpoint setting into a URL.
func metricsURL(endpoint string) (string, error) {
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return "", err
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
		}
		if u.Host == "" {
			return "", errors.New("URL has no host")
		}
		if u.Path == "" {
			u.Path = "/metrics"
		}
		return u.String(), nil
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return "", fmt.Errorf("want host:port or an http URL: %w", err)
	}
	if port == "" {
		return "", errors.New("port is empty")
	}
	return "http://" + net.JoinHostPort(dialHost(host), port) + "/metrics", nil
}

// dialHost maps a listen address to one a client can dial.
func dialHost(host string) string {
	switch host {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::", "[::]":
		return "::1"
	}
	return strings.Trim(host, "[]")
}
