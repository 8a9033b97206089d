package monitoring

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/otlpcol/otlpcol/tests/harness"
)

const namespace = "otlpcol"

// pod is one otlpcol "pod": a bin/otlpcol process on a shipped config whose
// state directories (harness.StateSets) outlive the process, as a claim
// outlives a StatefulSet pod, and whose ports Prometheus discovers as it
// would discover the pod's container ports.
type pod struct {
	t         *testing.T
	prom      *prometheus
	name      string
	component string // gateway or agent
	config    string
	dir       string
	sets      []string
	env       []string
	grpcPort  int
	c         *harness.Collector
}

func newPod(t *testing.T, p *prometheus, name, component, dir string, sets []string, env ...string) *pod {
	return &pod{t: t, prom: p, name: name, component: component, config: component + ".yaml",
		dir: dir, sets: sets, env: env}
}

// start runs the process (again) and publishes its targets.
func (p *pod) start(extra ...string) {
	p.t.Helper()
	cfg := harness.Config(p.config)
	sets := append(harness.StateSets(p.t, cfg, filepath.Join(p.dir, "state")), p.sets...)
	sets = append(sets, extra...)
	p.c = harness.Start(p.t, cfg, harness.Options{Set: sets, Env: p.env, GRPCPort: p.grpcPort})
	p.c.WaitReady(90 * time.Second)
	p.prom.setPod(namespace, p.name, p.component, map[string]int{
		"grpc-otlp": p.c.GRPCPort, "http-otlp": p.c.HTTPPort, "http-health": p.c.HealthPort})
}

// kill ends the process with SIGKILL; the pod (its targets) stays, as a
// crash-looping pod does.
func (p *pod) kill() { p.c.Kill() }

// stop ends the process with SIGTERM, then deletes the pod (its targets).
func (p *pod) stop() {
	p.t.Helper()
	p.c.Stop(90 * time.Second)
	p.remove()
}

// remove deletes the pod's targets (scale-in, or the pod object deleted).
func (p *pod) remove() { p.prom.setPod(namespace, p.name, p.component, nil) }
