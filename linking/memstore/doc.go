// Package memstore is an in-memory linking.Store for tests, examples and
// single-process hosts that can afford to lose every link on restart.
//
// It passes linking/storetest like the SQL stores. Values are deep-copied on
// the way in and out (byte slices included), so callers cannot change stored
// state through a pointer they hold. LockLink is a per-link lock that waits
// with the caller's ctx; UpdateLink and DeleteLink wait for it too, and
// ClaimDue skips locked links, as PostgreSQL does.
//
// It is also a linking.TableStore: rate tables, and a change feed of every
// link and table write (the newest 100,000 entries), which the Linkers
// sharing one memstore in a process read in RunSync.
package memstore
