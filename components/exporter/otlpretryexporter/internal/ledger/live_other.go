//go:build !unix

package ledger

func mapLive(string) (*liveCounters, error) { return nil, ErrLiveUnsupported }
