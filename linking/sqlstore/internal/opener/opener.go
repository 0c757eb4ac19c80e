// Package opener connects sqlstore to its driver packages, sqlite and
// postgres, without sqlstore importing any driver: sqlstore's init stores
// its unexported constructors here, and each driver package, which imports
// its database/sql driver, calls the constructor of its database. A program
// thus links only the drivers it imports.
package opener

// SQLite and Postgres hold sqlstore's constructors, each a
//
//	func(context.Context, string, ...sqlstore.Option) (*sqlstore.Store, error)
//
// taking a file path (SQLite) or a pgx DSN (PostgreSQL). They are typed any
// because naming sqlstore's types here would be an import cycle.
var SQLite, Postgres any

// SQLiteDSN is the modernc.org/sqlite DSN of the writer pool on the file at
// path; sqlite.DSN documents it.
func SQLiteDSN(path string) string {
	return path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// SQLiteReaderDSN is the DSN of the reader pool: no writes, no WAL switch.
func SQLiteReaderDSN(path string) string {
	return path + "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
}
