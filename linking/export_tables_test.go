package linking

import "context"

// Hooks for the tests of tables.go, sync.go and cache.go: one step of
// RunSync at a time, so that tests decide when each instance reads the feed.

// Syncer is RunSync's feed follower.
type Syncer = syncer

// NewSyncer installs the stored tables and turns the cache on, as RunSync
// does at start.
func NewSyncer(ctx context.Context, l *Linker) (*Syncer, error) { return l.newSyncer(ctx) }

// Step reads and applies the change feed once.
func (s *syncer) Step(ctx context.Context) { s.step(ctx) }

// SyncTable runs one table sync of accountID, as RunSync's worker does.
func SyncTable(ctx context.Context, l *Linker, accountID string) error {
	return l.syncTable(ctx, accountID)
}

// Queued reports whether accountID waits in the table-sync queue.
func Queued(l *Linker, accountID string) bool {
	_, ok := l.tables.queued.Load(accountID)
	return ok
}
