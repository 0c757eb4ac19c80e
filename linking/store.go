package linking

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store. Implementations wrap them; test with
// errors.Is.
var (
	// ErrNotFound: no link (or auth request) with that key.
	ErrNotFound = errors.New("linking: not found")
	// ErrAlreadyExists: CreateLink or PutAuthRequest on an existing key.
	ErrAlreadyExists = errors.New("linking: already exists")
	// ErrConflict: the link's Version moved since it was read (someone else
	// updated it). Re-read, re-apply the change, and retry.
	ErrConflict = errors.New("linking: version conflict")
	// ErrAuthRequestUsed: the auth request was already consumed (a replay).
	ErrAuthRequestUsed = errors.New("linking: authorization request already used")
	// ErrAuthRequestExpired: the auth request expired before it was consumed.
	// Consuming it still marks it used.
	ErrAuthRequestExpired = errors.New("linking: authorization request expired")
	// ErrInvalidRecord: a link, event or auth request a Store cannot take
	// (see linking/storekit), or an argument out of range. The message names
	// the field, never its value.
	ErrInvalidRecord = errors.New("linking: invalid record")
	// ErrLockTimeout: LockLink (or a write waiting behind it) could not get
	// the per-link lock within the store's bound. Transient: retry later.
	ErrLockTimeout = errors.New("linking: lock wait timed out")
	// ErrTxDone: a LinkTx was used after its LockLink callback returned.
	ErrTxDone = errors.New("linking: LinkTx used after LockLink returned")
)

// Store persists links, their audit trail and pending authorization requests.
// Implementations: linking/memstore (tests, single process) and
// linking/sqlstore (SQLite, PostgreSQL). linking/storetest.Run is the
// conformance suite every implementation must pass, and linking/storekit
// holds the checks and preparation they share.
//
// All methods are safe for concurrent use, by many goroutines and — for
// stores on a shared database — by many processes. A Store never modifies
// the values passed in, and returns copies: what was stored comes back as a
// result, and mutating a result never changes stored state.
//
// Writes to one link are serialised with the per-link lock of LockLink:
// UpdateLink and DeleteLink on a locked link wait for the lock (bounded; see
// ErrLockTimeout), and ClaimDue skips or waits for locked links. So inside a
// LockLink callback, LinkTx.Update with the Version read from LinkTx.Get
// cannot fail with ErrConflict.
type Store interface {
	// CreateLink inserts l with Version 1 and returns the stored link: its
	// CreatedAt and UpdatedAt are the current time where l's are zero, and
	// its times are normalised (UTC, microseconds). ErrAlreadyExists if the
	// account already has a link.
	CreateLink(ctx context.Context, l *Link) (*Link, error)

	// GetLink returns the link of accountID, or ErrNotFound.
	GetLink(ctx context.Context, accountID string) (*Link, error)

	// UpdateLink stores l if the stored Version still equals l.Version
	// (compare and swap), writing every field except AccountID, CreatedAt
	// and Version; the caller sets UpdatedAt. On success it returns the
	// stored link, with Version l.Version+1, the stored CreatedAt and
	// normalised times. ErrConflict if the version moved (nothing is
	// written), ErrNotFound if the link does not exist.
	//
	// If ev is non-nil it is appended to the audit trail in the same
	// transaction: both happen or neither does. The stored event has
	// AccountID l.AccountID (ev.AccountID must be empty or equal), the next
	// Seq, and At l.UpdatedAt when ev.At is zero; Events returns it.
	UpdateLink(ctx context.Context, l *Link, ev *Event) (*Link, error)

	// DeleteLink removes the link of accountID with its auth requests and
	// its audit trail (erasure). Deleting a missing link is not an error.
	// To unlink while keeping the trail, move the link to StateUnlinked
	// with UpdateLink instead.
	DeleteLink(ctx context.Context, accountID string) error

	// Events returns the audit trail of accountID, oldest first (by Seq).
	// An account without events (or without a link) gives an empty slice.
	Events(ctx context.Context, accountID string) ([]Event, error)

	// PutAuthRequest stores a pending authorization request (CreatedAt the
	// current time when zero). The link of a.AccountID must exist
	// (ErrNotFound otherwise); ErrAlreadyExists if a.StateHash is taken.
	// Deleting the link deletes its requests.
	PutAuthRequest(ctx context.Context, a *AuthRequest) error

	// ConsumeAuthRequest atomically marks the request with stateHash as used
	// at now and returns it (with UsedAt set). Exactly one of any number of
	// concurrent consumers gets it; the others get ErrAuthRequestUsed. A
	// request with ExpiresAt <= now gives ErrAuthRequestExpired and is marked
	// used all the same, so it cannot be retried. ErrNotFound if unknown.
	// now must not be zero.
	//
	// Consume first, then compare session, account and environment: a
	// mismatch then burns the state, which is the safe outcome.
	ConsumeAuthRequest(ctx context.Context, stateHash []byte, now time.Time) (*AuthRequest, error)

	// DeleteExpiredAuthRequests removes requests with ExpiresAt before
	// `before`, used or not, and returns how many it removed.
	DeleteExpiredAuthRequests(ctx context.Context, before time.Time) (int, error)

	// LockLink runs fn while holding the exclusive lock of one link, shared
	// by every process using the same database:
	//
	//   - PostgreSQL: a transaction holding SELECT … FOR UPDATE on the row;
	//   - SQLite: a BEGIN IMMEDIATE transaction (this locks the whole
	//     database for writing, not one link: every other write waits);
	//   - memory: a per-link mutex.
	//
	// fn receives a LinkTx to re-read (Get) and update (Update) the link
	// inside the lock. If fn returns nil the updates are committed and
	// LockLink returns the commit's error; if fn returns an error (or
	// panics) they are rolled back and LockLink returns fn's error. Only a
	// nil return from LockLink means the updates are durable; after a
	// rollback, the links Update returned were never stored.
	//
	// ErrNotFound if the link does not exist (fn is not called). Waiting for
	// the lock honours ctx and a store-specific bound (ErrLockTimeout).
	//
	// The lock is held for all of fn, which may make one network call (a
	// token refresh): fn must be short and bounded by ctx or its own timeout
	// (seconds, not minutes), because it holds a database connection and
	// blocks every other writer of the link (SQLite: of the database).
	// Inside fn use only tx and the Store's read methods: the Store's write
	// methods wait for the lock fn holds and would deadlock until timeout.
	// The refresh pattern is: lock, Get, adopt the token if a peer already
	// rotated it, otherwise refresh, Update, return nil, and only then use
	// the new token.
	LockLink(ctx context.Context, accountID string, fn func(ctx context.Context, tx LinkTx) error) error

	// ClaimDue is for reconcilers running on every instance. It returns up
	// to limit due links, earliest first: links in StateApprovalPending
	// whose NextCheckAt <= now (a zero NextCheckAt is due at once), and
	// links in any other state whose NextCheckAt is set and <= now (a
	// problem the customer fixes at USPS, such as ACH verification, is
	// re-checked; an active link's token is kept alive and its health
	// re-checked; an unlink's revocation is retried; a zero NextCheckAt
	// means nothing to do). In the same transaction it moves their
	// NextCheckAt to now+lease, sets UpdatedAt to now and bumps Version, so
	// concurrent claimers never get the same link until the lease ends. The
	// returned links carry the new Version. limit <= 0 returns nothing;
	// lease must be positive.
	ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*Link, error)

	// ListAccountIDs pages through every link's account id in ascending
	// order (the store's collation): up to limit ids greater than after
	// ("" starts at the beginning). Pass the last id of a page as the next
	// after; an empty page is the end. For fleet-wide jobs such as
	// RewrapAll. limit <= 0 returns nothing.
	ListAccountIDs(ctx context.Context, after string, limit int) ([]string, error)
}

// LinkTx reads and writes one locked link inside Store.LockLink. It is bound
// to the ctx and the lock of that call, is not safe for concurrent use, and
// fails with ErrTxDone once fn has returned.
type LinkTx interface {
	// Get returns the link as stored inside the lock, including this
	// transaction's own updates.
	Get() (*Link, error)
	// Update is Store.UpdateLink inside the lock and the transaction: a
	// compare and swap on l.Version, with ev appended atomically when
	// non-nil, returning the link as stored. l.AccountID must be the locked
	// account. Nothing is durable until LockLink returns nil.
	Update(l *Link, ev *Event) (*Link, error)
}
