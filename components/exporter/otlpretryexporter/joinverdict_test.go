package otlpretryexporter

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumererror"
)

// A split batch whose one half was dropped as invalid (permanent) and whose
// other half was kept for later at shutdown (retryable) must answer
// retryable: a permanent answer makes the log or a persistent queue
// acknowledge the whole batch and lose the kept half (issue 20 item 7).
func TestJoinVerdictsRetryableWins(t *testing.T) {
	dropped := consumererror.NewPermanent(errors.New("rejected as invalid"))
	kept := errors.New("shutting down: kept in the log")
	for _, order := range [][]error{{dropped, kept}, {kept, dropped}} {
		err := joinVerdicts(order...)
		if err == nil || consumererror.IsPermanent(err) {
			t.Fatalf("joinVerdicts(%v) = %v, permanent=%v; want retryable", order, err, consumererror.IsPermanent(err))
		}
		if !errors.Is(err, kept) {
			t.Fatalf("the retryable cause is lost: %v", err)
		}
	}
	if err := joinVerdicts(dropped, nil); !consumererror.IsPermanent(err) {
		t.Fatalf("all-permanent parts must stay permanent, got %v", err)
	}
	if err := joinVerdicts(nil, nil); err != nil {
		t.Fatalf("all delivered must be nil, got %v", err)
	}
}

// A log append that fails with ENOSPC (wrapped, as internal/wal returns it)
// is a full disk: refusal reason disk_full and the disk_full gauge, not
// wal_error (issue 20 item 3's last paragraph).
func TestWALDiskFullIsDiskFull(t *testing.T) {
	if !isDiskFull(fmt.Errorf("wal: rotate: %w", &os.PathError{Op: "write", Path: "seg", Err: syscall.ENOSPC})) {
		t.Fatal("a wrapped ENOSPC is not recognised as a full disk")
	}
	if isDiskFull(errors.New("wal: closed")) {
		t.Fatal("an unrelated log error read as a full disk")
	}
}
