package sqlstore

import (
	"database/sql"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore/internal/sqlimpl"
)

// Store is a linking.Store on a SQL database, as returned by sqlite.Open,
// sqlite.New, postgres.Open and postgres.New. It is safe for concurrent use.
type Store interface {
	linking.Store
	// TableStore: rate tables and the change feed (migration 0004).
	linking.TableStore
	// LabelStore: label purchases recorded before USPS is called
	// (migration 0003).
	linking.LabelStore

	// DB returns the database the Store writes to, e.g. to tune its pool.
	// On a Store from sqlite.Open it is the single-connection writer pool.
	DB() *sql.DB

	// Close closes the databases opened by sqlite.Open or postgres.Open. It
	// does nothing for a Store from sqlite.New or postgres.New, whose caller
	// keeps owning the *sql.DB.
	Close() error
}

// Option configures a Store.
type Option = sqlimpl.Option

// WithLockTimeout bounds how long a write or LockLink waits for a link's
// lock before failing with linking.ErrLockTimeout (default 10 s). On
// SQLite, waits on other processes are bounded by busy_timeout instead.
func WithLockTimeout(d time.Duration) Option { return sqlimpl.WithLockTimeout(d) }

// WithMaxLockHold bounds how long a LockLink callback may hold the lock
// (default 30 s): its ctx gets this deadline. On PostgreSQL the server also
// ends a session left idle in the transaction for longer than this.
func WithMaxLockHold(d time.Duration) Option { return sqlimpl.WithMaxLockHold(d) }
