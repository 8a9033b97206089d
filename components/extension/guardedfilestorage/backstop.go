package guardedfilestorage

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// backstopClient refuses, below half the reserve, the writes that only add
// data (upstream's persistent queue offers an item as one batch of two
// sets: its metadata and the item). Writes that go with a read or a delete
// (a dispatch recorded, a delivered item removed) always go through: they
// are what the reserve is for. The receivers refuse first (admission.go),
// so this catches only what was admitted just before the volume crossed
// the line; a refusal here is retryable to the client but leaves upstream's
// queue_size counting the refused item until its queue drains.
//
// Until every pipeline started (Ready), nothing is refused: that is when
// upstream's queue puts back the items it was dispatching when the
// collector stopped, after deleting them; a refusal there would lose them.
type backstopClient struct {
	storage.Client
	reserve  *reserve
	enforced *atomic.Bool
}

func (c *backstopClient) Set(ctx context.Context, key string, value []byte) error {
	if err := c.check(storage.SetOperation(key, value)); err != nil {
		return err
	}
	return c.Client.Set(ctx, key, value)
}

func (c *backstopClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if err := c.check(ops...); err != nil {
		return err
	}
	return c.Client.Batch(ctx, ops...)
}

func (c *backstopClient) check(ops ...*storage.Operation) error {
	if !c.enforced.Load() || !addsOnly(ops) {
		return nil
	}
	if ok, free := c.reserve.room(c.reserve.bytes / 2); !ok {
		c.reserve.blocked.Add(1)
		return c.reserve.errNoRoom(free)
	}
	return nil
}

// addsOnly is true for a batch of sets alone.
func addsOnly(ops []*storage.Operation) bool {
	sets := 0
	for _, op := range ops {
		if op.Type != storage.Set {
			return false
		}
		sets++
	}
	return sets > 0
}
