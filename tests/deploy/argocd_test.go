package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Argo CD's Application, as far as deploy/argocd uses it; decoded with
// unknown fields refused (the argo-cd module is too large to import here).
type application struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Annotations map[string]string `json:"annotations"`
		Labels      map[string]string `json:"labels"`
		Finalizers  []string          `json:"finalizers"`
	} `json:"metadata"`
	Spec struct {
		Project string `json:"project"`
		Source  struct {
			RepoURL        string `json:"repoURL"`
			TargetRevision string `json:"targetRevision"`
			Path           string `json:"path"`
		} `json:"source"`
		Destination struct {
			Server    string `json:"server"`
			Namespace string `json:"namespace"`
		} `json:"destination"`
		SyncPolicy struct {
			Automated *struct {
				Prune    bool `json:"prune"`
				SelfHeal bool `json:"selfHeal"`
			} `json:"automated"`
			SyncOptions []string `json:"syncOptions"`
			Retry       *struct {
				Limit   int `json:"limit"`
				Backoff struct {
					Duration    string `json:"duration"`
					Factor      int    `json:"factor"`
					MaxDuration string `json:"maxDuration"`
				} `json:"backoff"`
			} `json:"retry"`
		} `json:"syncPolicy"`
		RevisionHistoryLimit *int `json:"revisionHistoryLimit"`
	} `json:"spec"`
}

// One Application per overlay (plus Istio), each pointing at a path that
// renders, into the namespace the overlay uses.
func TestArgoCDApplications(t *testing.T) {
	paths := map[string]bool{}
	for _, b := range render(t, "deploy/argocd") {
		var app application
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&app); err != nil {
			t.Fatalf("Application: %v\n%s", err, b)
		}
		if app.APIVersion != "argoproj.io/v1alpha1" || app.Kind != "Application" || app.Metadata.Namespace != "argocd" {
			t.Errorf("%s: %s %s in %s", app.Metadata.Name, app.APIVersion, app.Kind, app.Metadata.Namespace)
		}
		wantNS := namespace
		if app.Spec.Source.Path == "deploy/k8s/agent" {
			wantNS = agentNamespace
		}
		if app.Spec.Destination.Namespace != wantNS || app.Spec.Source.RepoURL == "" {
			t.Errorf("%s: destination %q, repo %q", app.Metadata.Name, app.Spec.Destination.Namespace, app.Spec.Source.RepoURL)
		}
		if _, err := os.Stat(filepath.Join(root(), app.Spec.Source.Path, "kustomization.yaml")); err != nil {
			t.Errorf("%s: path %s is no kustomization", app.Metadata.Name, app.Spec.Source.Path)
		}
		render(t, app.Spec.Source.Path)
		paths[app.Spec.Source.Path] = true
	}
	for _, p := range []string{"deploy/k8s/gateway", "deploy/k8s/agent"} {
		if !paths[p] {
			t.Errorf("no Application for overlay %s", p)
		}
	}
}
