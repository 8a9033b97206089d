package deploy

import (
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	sigsyaml "sigs.k8s.io/yaml"
)

// volumeHeadroom is the share of the claim the state budgets may take: the
// rest is file system overhead, corrupt/ files kept for inspection and the
// margin below OtlpcolStateVolumeNearlyFull (85%), so that the log-full
// refusal (OtlpcolWriteAheadLogFilling) comes before the volume-full one
// (OtlpcolDiskFull).
const volumeHeadroom = 0.85

// The gateway's claim holds every byte its config may keep on disk: each
// signal's write-ahead log (persistent_queue::max_bytes, one log per
// pipeline that exports to otlp_retry), the dead letter and the quarantine
// (shared by the signals), within volumeHeadroom.
func TestGatewayClaimHoldsStateBudgets(t *testing.T) {
	var cfg struct {
		Exporters map[string]struct {
			PersistentQueue struct {
				Directory string `json:"directory"`
				MaxBytes  int64  `json:"max_bytes"`
			} `json:"persistent_queue"`
			DeadLetter struct {
				Directory string `json:"directory"`
				MaxBytes  int64  `json:"max_bytes"`
			} `json:"dead_letter"`
			Quarantine struct {
				MaxBytes int64 `json:"max_bytes"`
			} `json:"quarantine"`
		} `json:"exporters"`
		Service struct {
			Pipelines map[string]struct {
				Exporters []string `json:"exporters"`
			} `json:"pipelines"`
		} `json:"service"`
	}
	b, err := os.ReadFile(filepath.Join(root(), "configs/gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	ex, ok := cfg.Exporters["otlp_retry"]
	if !ok || ex.PersistentQueue.Directory == "" || ex.DeadLetter.Directory == "" {
		t.Fatal("configs/gateway.yaml: no otlp_retry with persistent_queue and dead_letter directories")
	}
	signals := 0
	for _, p := range cfg.Service.Pipelines {
		for _, e := range p.Exporters {
			if e == "otlp_retry" {
				signals++
			}
		}
	}
	budget := int64(signals)*ex.PersistentQueue.MaxBytes + ex.DeadLetter.MaxBytes + ex.Quarantine.MaxBytes

	gw := loadOverlay(t, "gateway")
	ss := find[*appsv1.StatefulSet](t, gw.objs, "StatefulSet", "otlpcol-gateway")
	var claim *resource.Quantity
	for _, c := range ss.Spec.VolumeClaimTemplates {
		if c.Name == "data" {
			q := c.Spec.Resources.Requests.Storage()
			claim = q
		}
	}
	if claim == nil || claim.IsZero() {
		t.Fatal("the gateway StatefulSet has no data claim with a storage request")
	}
	t.Logf("state budgets: %d signals x %d B log + %d B dead letter + %d B quarantine = %.2f GiB; claim %s (%.0f%% of it)",
		signals, ex.PersistentQueue.MaxBytes, ex.DeadLetter.MaxBytes, ex.Quarantine.MaxBytes,
		float64(budget)/(1<<30), claim.String(), 100*float64(budget)/float64(claim.Value()))
	if float64(budget) > volumeHeadroom*float64(claim.Value()) {
		t.Errorf("the gateway claim (%s) is too small for its state budgets (%.2f GiB): they may take at most %.0f%% of it; grow the claim or cut max_bytes",
			claim.String(), float64(budget)/(1<<30), 100*volumeHeadroom)
	}
}
