package linking

import (
	"context"
	"errors"
	"time"
)

// ---------------------------------------------------------------------------
// Rate tables and the change feed (issue 11). These Store methods live in
// their own interface, TableStore, which memstore and sqlstore implement;
// a Linker needs it only for WithTables.
// ---------------------------------------------------------------------------

// TableRecord is one rate table as a Store keeps it: the table itself in
// nsarates' canonical CSV form (identity, effective dates, fees and cells),
// plus the sync bookkeeping that lets any instance resume loading it.
type TableRecord struct {
	// Key names the table in the Store: TableKeyContract(accountID) for a
	// customer's contract table, TableKeyCommercial for the published one.
	Key string
	// AccountID is the platform account of a contract table; empty for a
	// published table.
	AccountID string
	// TableID, Version and the effective dates repeat the table's identity
	// (nsarates.TableInfo) so that Status needs no CSV parse.
	TableID, Version           string
	EffectiveFrom, EffectiveTo time.Time
	// CSV is the table in nsarates.CSVHeader format (Table.WriteCSV); empty
	// until the first cells are loaded. A contract table's eps_account
	// holds only the last four digits of its EPS account: the account
	// pays postage and is kept sealed in the link, from which the Linker
	// puts it back when it installs the table (nsarates.SetCSVAccount).
	CSV []byte
	// Complete is true once every cell of the table's plan was fetched;
	// Done and Total count the plan's cells (Done == Total when complete).
	// A CSV source is complete at once.
	Complete    bool
	Done, Total int
	// Checkpoint is the uspsload checkpoint (JSON) of a sync from USPS, so
	// that another instance or a restart carries on where it stopped.
	Checkpoint []byte
	// LeaseOwner and LeaseUntil say which instance is syncing the table:
	// others leave it alone until the lease ends.
	LeaseOwner string
	LeaseUntil time.Time
	// SyncedAt is when the table last gained cells or was checked;
	// LastError is a short, secret-free word on the last failed sync.
	SyncedAt  time.Time
	LastError string
	// Rev is the compare-and-swap counter of PutTable: 0 for a record not
	// yet stored, then 1, 2, …
	Rev int64
}

// TableKeyCommercial is the Store key of the published commercial table.
const TableKeyCommercial = "published/commercial"

// TableKeyContract is the Store key of accountID's contract table.
func TableKeyContract(accountID string) string { return "contract/" + accountID }

// ChangeKind says what a Change is about.
type ChangeKind uint8

// Kinds of change.
const (
	ChangeLink  ChangeKind = iota + 1 // Key is an account id: its link was created, updated or deleted
	ChangeTable                       // Key is a TableRecord.Key: the table was put or deleted
)

// Change is one entry of a Store's change feed.
type Change struct {
	Seq  int64
	Kind ChangeKind
	Key  string
}

// ErrChangesPruned: Changes was asked for entries the Store no longer
// keeps. The reader must drop what it cached and start again from
// LastChange.
var ErrChangesPruned = errors.New("linking: changes pruned")

// TableStore is implemented by Stores that keep rate tables and a change
// feed (memstore and sqlstore do). The feed lets every process that caches
// links or tables learn, within its poll interval, what another process
// changed.
type TableStore interface {
	// PutTable stores t if the stored Rev still equals t.Rev (0: the key
	// must not exist yet) and returns the stored record with Rev t.Rev+1.
	// ErrConflict if the Rev moved (nothing is written). It appends a
	// ChangeTable entry to the feed in the same transaction.
	PutTable(ctx context.Context, t *TableRecord) (*TableRecord, error)

	// GetTable returns the record of key, or ErrNotFound.
	GetTable(ctx context.Context, key string) (*TableRecord, error)

	// ListTables returns every record, ordered by key.
	ListTables(ctx context.Context) ([]*TableRecord, error)

	// DeleteTable removes the record of key (missing is not an error) and
	// appends a ChangeTable entry to the feed.
	DeleteTable(ctx context.Context, key string) error

	// Changes returns up to limit feed entries with Seq > after, in Seq
	// order. Every committed link write (CreateLink, UpdateLink, LinkTx
	// updates, ClaimDue, DeleteLink) and table write has an entry. On a
	// database with concurrent writers a lower Seq may become visible
	// after a higher one (its transaction committed later): readers must
	// tolerate gaps for a while. ErrChangesPruned if entries after `after`
	// were dropped.
	Changes(ctx context.Context, after int64, limit int) ([]Change, error)

	// LastChange returns the Seq of the newest entry (0 if none).
	LastChange(ctx context.Context) (int64, error)
}

// ChangeNotifier is implemented by Stores that can announce changes as they
// commit (PostgreSQL's LISTEN/NOTIFY). Wait returns when a change may have
// been committed since the last call, when ctx ends, or on error; a
// Linker's RunSync then reads Changes instead of waiting for its poll tick.
type ChangeNotifier interface {
	WaitForChange(ctx context.Context) error
}
