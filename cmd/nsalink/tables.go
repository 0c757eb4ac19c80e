package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/usps"
)

func tablesCommand() command {
	return command{
		name: "tables", args: "list|export|import", nargs: -1, summary: "list, export or import the stored rate tables",
		detail: `
Subcommands:
  tables list                                 every stored table and its sync state
  tables export KEY                           a table's CSV to stdout, byte for byte
  tables export -account ID | -commercial     the same, by account (or the commercial table)
  tables import -account ID FILE|-            store FILE (- for stdin) as ID's contract table
  tables import -commercial FILE|-            store FILE as the published commercial table

Tables are in nsarates's CSV format (nsarates.CSVHeader); an exported file
imports back to the same bytes. The database keeps a contract table without
its EPS account (only its last four digits): the account is sealed in the
link. list shows its last four digits from the link when NSALINK_SEAL_KEYS
is set (as for rotate-key), else "sealed". export of a contract table puts
the link's EPS account back, so it needs NSALINK_SEAL_KEYS (exit 2 without
them, nothing written), and the exported CSV holds the full EPS account:
keep the file as you would the contract.

import reads the whole file first: a bad file (exit 2) names its line, column
and field, and nothing is written. A contract table's EPS account must be the
link's (exit 1 and nothing written if not): its EPS is sealed at rest, so the check needs the sealing keys
(NSALINK_SEAL_KEYS, as for rotate-key), and without them a contract import is
refused. A table for an account with no link yet is stored and applies once
the link is active. The table is stored as SetContractTable or
SetCommercialTable would (complete, synced now, replacing the stored one);
running instances install it through RunSync's change feed, within their
cache staleness (about a second, at once on PostgreSQL), so run RunSync on
every instance that quotes.`,
		setup: func(e *env, fs *flag.FlagSet) func([]string) error {
			db := dbFlag(fs)
			account := fs.String("account", "", "export/import: the contract table of this platform account")
			commercial := fs.Bool("commercial", false, "export/import: the published commercial table")
			return func(args []string) error {
				if len(args) == 0 {
					return usagef("want list, export or import")
				}
				sub, args := args[0], args[1:]
				switch sub {
				case "list":
					if len(args) != 0 || *account != "" || *commercial {
						return usagef("tables list takes no arguments or -account/-commercial")
					}
					return e.withTables(*db, e.listTables)
				case "export":
					key, err := exportKey(args, *account, *commercial)
					if err != nil {
						return err
					}
					return e.withTables(*db, func(s tableStore) error { return e.exportTable(s, key) })
				case "import":
					if len(args) != 1 {
						return usagef("tables import wants one FILE (- for stdin)")
					}
					if (*account != "") == *commercial {
						return usagef("tables import wants -account ID or -commercial")
					}
					t, err := e.readTable(args[0])
					if err != nil {
						return err
					}
					return e.withTables(*db, func(s tableStore) error { return e.importTable(s, *account, t) })
				}
				return usagef("tables %s: want list, export or import", quoteID(sub))
			}
		},
	}
}

// tableStore is what the tables command needs of the database.
type tableStore interface {
	linking.Store
	linking.TableStore
}

func (e *env) withTables(db string, fn func(tableStore) error) error {
	s, err := e.store(db)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// exportKey is the Store key of the table export names: KEY, -account or
// -commercial, exactly one.
func exportKey(args []string, account string, commercial bool) (string, error) {
	n := len(args)
	if account != "" {
		n++
	}
	if commercial {
		n++
	}
	if n != 1 || len(args) > 1 {
		return "", usagef("tables export wants one of KEY, -account ID or -commercial")
	}
	switch {
	case account != "":
		return linking.TableKeyContract(account), nil
	case commercial:
		return linking.TableKeyCommercial, nil
	}
	return args[0], nil
}

func (e *env) listTables(s tableStore) error {
	recs, err := s.ListTables(e.ctx)
	if err != nil {
		return fmt.Errorf("listing tables: %w", err)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tACCOUNT\tEPS\tTABLE\tVERSION\tFROM\tTO\tCOMPLETE\tDONE/TOTAL\tSYNCED\tLAST ERROR")
	for _, r := range recs {
		eps, err := e.tableEPS(s, r)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%t\t%d/%d\t%s\t%s\n",
			quoteID(r.Key), dash(quoteIDOrEmpty(r.AccountID)), eps,
			dash(clean(r.TableID)), dash(clean(r.Version)), fmtDate(r.EffectiveFrom), fmtDate(r.EffectiveTo),
			r.Complete, r.Done, r.Total, fmtTime(r.SyncedAt), dash(clean(r.LastError)))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d tables\n", len(recs))
	return nil
}

func quoteIDOrEmpty(s string) string {
	if s == "" {
		return ""
	}
	return quoteID(s)
}

// tableEPS is the EPS account of a stored table as an operator may see
// it: the last four digits of its link's (the table record does not keep
// the account), "sealed" without NSALINK_SEAL_KEYS, "-" for the
// commercial table.
func (e *env) tableEPS(s tableStore, r *linking.TableRecord) (string, error) {
	if r.AccountID == "" {
		return "-", nil
	}
	l, err := s.GetLink(e.ctx, r.AccountID)
	if errors.Is(err, linking.ErrNotFound) {
		return "(no link)", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading link %s: %w", quoteID(r.AccountID), err)
	}
	if len(l.SealedEPS) > 0 && e.getenv("NSALINK_SEAL_KEYS") == "" {
		return "sealed", nil
	}
	if err := e.openEPS(l); err != nil {
		return "", err
	}
	if l.EPSAccount == "" {
		return "-", nil
	}
	return "…" + clean(l.EPSAccount.Last4()), nil
}

// fmtDate shows a table's effective date as the Central-time day of the CSV.
func fmtDate(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(nsarates.Central()).Format(time.DateOnly)
}

func (e *env) exportTable(s tableStore, key string) error {
	r, err := s.GetTable(e.ctx, key)
	if errors.Is(err, linking.ErrNotFound) {
		return fmt.Errorf("no table %s (tables list shows the keys)", quoteID(key))
	}
	if err != nil {
		return fmt.Errorf("reading table %s: %w", quoteID(key), err)
	}
	if len(r.CSV) == 0 {
		return fmt.Errorf("table %s has no prices yet (%d/%d cells)", quoteID(key), r.Done, r.Total)
	}
	out := r.CSV
	if r.AccountID != "" {
		if out, err = e.withLinkEPS(s, r); err != nil {
			return err
		}
	}
	if !r.Complete {
		fmt.Fprintf(e.stderr, "nsalink tables: warning: table %s is incomplete (%d/%d cells): its sync has not finished\n", quoteID(key), r.Done, r.Total)
	}
	_, err = e.stdout.Write(out)
	return err
}

// withLinkEPS is a stored contract table's CSV with its link's EPS account
// put back: the database keeps only its last four digits. Without the
// sealing keys it refuses (exit 2) rather than write a table without its
// account.
func (e *env) withLinkEPS(s tableStore, r *linking.TableRecord) ([]byte, error) {
	l, err := s.GetLink(e.ctx, r.AccountID)
	if errors.Is(err, linking.ErrNotFound) {
		return nil, fmt.Errorf("table %s: no link for account %s, whose EPS account it needs; nothing was written", quoteID(r.Key), quoteID(r.AccountID))
	}
	if err != nil {
		return nil, fmt.Errorf("reading link %s: %w", quoteID(r.AccountID), err)
	}
	if len(l.SealedEPS) > 0 && e.getenv("NSALINK_SEAL_KEYS") == "" {
		return nil, usagef("table %s is kept without its EPS account, which is sealed in the link of %s: set NSALINK_SEAL_KEYS (as for rotate-key) to export it with the account; nothing was written", quoteID(r.Key), quoteID(r.AccountID))
	}
	if err := e.openEPS(l); err != nil {
		return nil, err
	}
	if l.EPSAccount == "" {
		return nil, fmt.Errorf("table %s: the link of %s has no EPS account; nothing was written", quoteID(r.Key), quoteID(r.AccountID))
	}
	eps := string(l.EPSAccount)
	out, stored, err := nsarates.SetCSVAccount(r.CSV, eps)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", quoteID(r.Key), err)
	}
	if stored != "" && stored != eps && stored != l.EPSAccount.Last4() {
		return nil, fmt.Errorf("table %s is for EPS account …%s, the link of %s has …%s; nothing was written",
			quoteID(r.Key), clean(usps.EPSAccount(stored).Last4()), quoteID(r.AccountID), l.EPSAccount.Last4())
	}
	return out, nil
}

// readTable reads and parses a table file ("-": stdin). A file that cannot
// be read or parsed is a usage error (exit 2): nothing was written.
func (e *env) readTable(name string) (*nsarates.Table, error) {
	var in io.Reader
	if name == "-" {
		in = e.stdin
		name = "stdin"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, usagef("table file: %v", err)
		}
		defer f.Close()
		in = f
	}
	t, err := nsarates.ReadCSV(in)
	var pe *nsarates.ParseError
	if errors.As(err, &pe) {
		field := ""
		if pe.Field != "" {
			field = " (" + pe.Field + ")"
		}
		return nil, usagef("bad table file %s: line %d, column %d%s: %v; nothing was stored", quoteID(name), pe.Line, pe.Column, field, pe.Err)
	}
	if err != nil {
		return nil, usagef("bad table file %s: %v; nothing was stored", quoteID(name), err)
	}
	return t, nil
}

func (e *env) importTable(s tableStore, accountID string, t *nsarates.Table) error {
	info := t.Info()
	what := "the commercial table"
	if accountID == "" {
		if info.Account != "" {
			return usagef("the file is a contract table (EPS account …%s), not a published one: import it with -account ID", usps.EPSAccount(info.Account).Last4())
		}
	} else {
		what = "the contract table of " + quoteID(accountID)
		if info.Account == "" {
			return usagef("the file is a published table (no eps_account), not a contract: import it with -commercial")
		}
		if err := e.checkTableEPS(s, accountID, usps.EPSAccount(info.Account)); err != nil {
			return err
		}
	}
	if err := linking.StoreTable(e.ctx, s, accountID, t, e.now()); err != nil {
		return fmt.Errorf("storing %s: %w", what, err)
	}
	fmt.Fprintf(e.stdout, "stored %s: %s %s, %d cells, complete; running instances install it through RunSync\n",
		what, strconv.Quote(clean(info.ID)), strconv.Quote(clean(info.Version)), t.Len())
	return nil
}

// checkTableEPS checks that a contract table for accountID is for the EPS
// account of its link, when the link exists and has one.
func (e *env) checkTableEPS(s tableStore, accountID string, tableEPS usps.EPSAccount) error {
	l, err := s.GetLink(e.ctx, accountID)
	if errors.Is(err, linking.ErrNotFound) {
		fmt.Fprintf(e.stderr, "nsalink tables: note: no link for account %s yet; the table applies once its link is active with EPS account …%s\n", quoteID(accountID), tableEPS.Last4())
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading link %s: %w", quoteID(accountID), err)
	}
	if len(l.SealedEPS) > 0 && e.getenv("NSALINK_SEAL_KEYS") == "" {
		return usagef("the EPS account of %s is sealed: set NSALINK_SEAL_KEYS (as for rotate-key) so that the table's EPS account can be checked against it; nothing was stored", quoteID(accountID))
	}
	if err := e.openEPS(l); err != nil {
		return err
	}
	if l.EPSAccount != "" && l.EPSAccount != tableEPS {
		return fmt.Errorf("the table is for EPS account …%s, the link of %s has …%s; nothing was stored", tableEPS.Last4(), quoteID(accountID), l.EPSAccount.Last4())
	}
	return nil
}
