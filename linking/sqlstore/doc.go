// Package sqlstore is a linking.Store on database/sql for SQLite (the
// embedded default, through modernc.org/sqlite, no cgo) and PostgreSQL (for
// fleets of backend instances, through pgx's database/sql driver).
//
// # Opening
//
// sqlstore imports no database driver, so a program links only the one it
// opens: the package linking/sqlstore/sqlite (sqlite.Open) imports
// modernc.org/sqlite, and linking/sqlstore/postgres (postgres.Open) imports
// pgx. Both open, configure and migrate a database and own it (Close closes
// it). sqlite.New and postgres.New wrap a *sql.DB the caller opened and keeps
// owning (Close leaves it open); for SQLite open it with sqlite.DSN. All four
// return a Store; this package holds the Store interface and the options.
//
// # Schema and migrations
//
// Tables are prefixed nsalink_ so they can live in a host's own database.
// Migrations are embedded SQL files, numbered, recorded in
// nsalink_schema_migrations and applied each in one transaction on open.
// Reopening is a no-op, and processes opening the same database at once are
// safe: PostgreSQL serialises them with a transaction-scoped advisory lock
// (per schema), SQLite with a BEGIN IMMEDIATE transaction. A database
// migrated by a newer nsalink is refused rather than misread.
//
// Times are stored as BIGINT Unix microseconds in UTC, so both dialects
// round-trip them exactly; byte fields are BLOB/BYTEA.
//
// # Rate tables and the change feed
//
// A Store is also a linking.TableStore: rate tables live in nsalink_tables
// (compare and swap on rev), and nsalink_changes is the change feed,
// filled by triggers on nsalink_links and nsalink_tables, so every write,
// including one made by an older nsalink or by hand, reaches the feed. A
// Linker's RunSync reads it to keep its cache and tables current. The feed
// keeps the newest 100,000 entries; a reader further behind gets
// linking.ErrChangesPruned and starts over. On PostgreSQL the triggers also
// NOTIFY nsalink_changes, and the Store of postgres.Open and postgres.New
// implements linking.ChangeNotifier with a LISTEN on one connection of its
// pool (taken on the first wait, held until Close), so other instances see a
// change milliseconds after it commits. Sequence numbers can become
// visible out of order there (a transaction that took a lower one commits
// later); readers wait for the hole (see linking.TableStore.Changes).
//
// # SQLite
//
// sqlite.Open opens two pools on the file, with the DSN of sqlite.DSN
// (busy_timeout 5000 ms, WAL, foreign keys, synchronous NORMAL, and
// _txlock=immediate so that every transaction is BEGIN IMMEDIATE):
//
//   - a writer pool of exactly one connection: writes in one process queue
//     in database/sql (bounded by WithLockTimeout) instead of failing with
//     SQLITE_BUSY, and a read-then-write transaction never hits
//     SQLITE_BUSY_SNAPSHOT, which busy_timeout cannot retry;
//   - a reader pool of several query_only connections: with WAL, reads run
//     alongside the writer and see every committed write.
//
// Other processes on the same file contend through SQLite's file locks,
// waiting up to busy_timeout (5 s) before ErrLockTimeout. A LockLink holds
// the writer, so on SQLite it serialises every write of the database, not
// only of its link: keep LockLink callbacks short.
//
// # PostgreSQL
//
// Every write runs in a transaction with a local lock_timeout
// (WithLockTimeout, default 10 s; exceeding it gives linking.ErrLockTimeout).
// LockLink takes SELECT … FOR UPDATE on the link's row and also sets
// idle_in_transaction_session_timeout, so a process that hangs while holding
// the lock loses its session instead of blocking the link forever. In one
// process, LockLink callers of the same link first queue on an in-process
// lock, so a link never ties up more than one connection per process.
// ClaimDue uses FOR UPDATE SKIP LOCKED. postgres.Open limits the pool to 16
// connections; resize the pool with DB().
package sqlstore
