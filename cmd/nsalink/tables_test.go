package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/nsarates"
	"github.com/nsalink/nsalink/uspsbiz"
)

// contractFor is a contract table for the EPS account eps.
func contractFor(eps string) string {
	return nsarates.CSVHeader + `
table,` + eps + `,Priority Mail Contract 629,2026-01,2026-01-18,2027-01-17,,,,,,,,
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,1lb,,,7.10
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,,,8.05
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,4lb,,,10.20
`
}

const commercialTable = nsarates.CSVHeader + `
table,,Commercial,2026-01,2026-01-18,,,,,,,,,
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,1lb,,,9.00
cell,,,,,,PRIORITY_MAIL,SP,MACHINABLE,05,2lb,,,11.40
`

var tablesNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func writeFile(t *testing.T, content string) string {
	path := filepath.Join(t.TempDir(), "table.csv")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func (f *fixture) tables(stdin string, args ...string) (int, string, string) {
	return f.runIO(func() time.Time { return tablesNow }, strings.NewReader(stdin), true, nil, append([]string{"tables"}, args...)...)
}

func (f *fixture) table(key string) *linking.TableRecord {
	r, err := f.store.GetTable(f.t.Context(), key)
	require.NoError(f.t, err)
	return r
}

func (f *fixture) noTables() {
	recs, err := f.store.ListTables(f.t.Context())
	require.NoError(f.t, err)
	require.Empty(f.t, recs, "nothing may be stored")
}

func TestTablesImportListExport(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		require.NotEmpty(t, f.get(acctActive).SealedEPS, "the fixture's EPS accounts are sealed at rest")
		key := linking.TableKeyContract(acctActive)

		// A stalled sync left a checkpoint, an error and a lease: the
		// import replaces it as SetContractTable would.
		_, err := f.store.PutTable(ctx, &linking.TableRecord{Key: key, AccountID: acctActive, Checkpoint: []byte(`{"next":3}`),
			LastError: "usps: 429", Done: 1, Total: 9, LeaseOwner: "other", LeaseUntil: tablesNow.Add(time.Hour)})
		require.NoError(t, err)

		code, out, errOut := f.tables("", "import", "-account", acctActive, writeFile(t, contractFor(epsActive)))
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, `stored the contract table of acct-active: "Priority Mail Contract 629" "2026-01", 3 cells`)
		require.Contains(t, out, "RunSync")
		got := f.table(key)
		require.True(t, got.Complete)
		require.Equal(t, 3, got.Done)
		require.Equal(t, 3, got.Total)
		require.Nil(t, got.Checkpoint)
		require.Empty(t, got.LastError)
		require.True(t, tablesNow.Equal(got.SyncedAt), "SyncedAt is the CLI's now")
		require.Equal(t, "Priority Mail Contract 629", got.TableID)

		// Exactly what SetContractTable stores, but for the clock and Rev.
		tab, err := nsarates.ReadCSV(strings.NewReader(contractFor(epsActive)))
		require.NoError(t, err)
		require.NoError(t, f.linker.SetContractTable(ctx, acctActive, tab))
		viaLinker := f.table(key)
		require.Equal(t, got.Rev+1, viaLinker.Rev)
		require.False(t, viaLinker.SyncedAt.IsZero())
		same := *viaLinker
		same.SyncedAt, same.Rev = got.SyncedAt, got.Rev
		require.Equal(t, got, &same)

		// The commercial table, from stdin.
		code, out, errOut = f.tables(commercialTable, "import", "-commercial", "-")
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, `stored the commercial table: "Commercial" "2026-01", 2 cells`)
		require.True(t, f.table(linking.TableKeyCommercial).Complete)

		// list: one row per table, the EPS by its last four digits.
		code, out, errOut = f.tables("", "list")
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, row("contract/acct-active", "acct-active", "…0001", "Priority", "Mail", "Contract", "629", "2026-01",
			"2026-01-18", "2027-01-17", "true", "3/3", fmtTime(viaLinker.SyncedAt), "-"), out)
		require.Regexp(t, row("published/commercial", "-", "-", "Commercial", "2026-01", "2026-01-18", "-", "true", "2/2",
			"2026-11-28T12:00:00Z", "-"), out)
		require.Contains(t, out, "2 tables")
		require.NotContains(t, out, epsActive)

		// The database keeps the table without the EPS account (its last
		// four digits only).
		stored := string(f.table(key).CSV)
		require.NotContains(t, stored, epsActive)
		require.Equal(t, strings.Replace(contractFor(epsActive), epsActive, "0001", 1), stored)

		// export by key, by -account: the table as imported, with the
		// link's full EPS account put back (so their stdout is not
		// secret-checked).
		export := func(args ...string) string {
			code, out, errOut := f.runIO(time.Now, nil, false, nil, append([]string{"tables", "export"}, args...)...)
			require.Equal(t, 0, code, errOut)
			require.Empty(t, errOut)
			return out
		}
		first := export(key)
		require.Equal(t, contractFor(epsActive), first)
		require.Equal(t, first, export("-account", acctActive))
		require.Equal(t, string(f.table(linking.TableKeyCommercial).CSV), export("-commercial"))

		// export → import → export gives the same bytes.
		code, _, errOut = f.tables(first, "import", "-account", acctActive, "-")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, first, export(key))
		require.Equal(t, stored, string(f.table(key).CSV))

		// Without the sealing keys: list says "sealed", export of a
		// contract table refuses (exit 2, nothing written); the
		// commercial table exports as before.
		noKeys := map[string]string{"NSALINK_SEAL_KEYS": ""}
		code, out, errOut = f.runIO(time.Now, nil, true, noKeys, "tables", "list")
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, `(?m)^contract/acct-active\s+acct-active\s+sealed\s+Priority Mail`, out)
		code, out, errOut = f.runIO(time.Now, nil, true, noKeys, "tables", "export", "-account", acctActive)
		require.Equal(t, 2, code)
		require.Empty(t, out)
		require.Contains(t, errOut, "set NSALINK_SEAL_KEYS")
		require.Contains(t, errOut, "nothing was written")
		code, out, errOut = f.runIO(time.Now, nil, false, noKeys, "tables", "export", "-commercial")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, string(f.table(linking.TableKeyCommercial).CSV), out)

		// A table whose link has another EPS account now (its last four
		// differ) does not export as the link's.
		other := f.table(key)
		other.CSV = []byte(strings.Replace(stored, ",0001,", ",0002,", 1))
		_, err = f.store.PutTable(ctx, other)
		require.NoError(t, err)
		code, out, errOut = f.tables("", "export", key)
		require.Equal(t, 1, code)
		require.Empty(t, out)
		require.Contains(t, errOut, "is for EPS account …0002")
		other = f.table(key)
		other.CSV = []byte(stored)
		_, err = f.store.PutTable(ctx, other)
		require.NoError(t, err)

		// An incomplete table exports with a warning; a missing one fails.
		r := f.table(key)
		r.Complete, r.Done, r.Total = false, 3, 7
		_, err = f.store.PutTable(ctx, r)
		require.NoError(t, err)
		code, out, errOut = f.runIO(time.Now, nil, false, nil, "tables", "export", key)
		require.Equal(t, 0, code)
		require.Equal(t, first, out)
		require.Contains(t, errOut, "incomplete (3/7 cells)")
		code, _, errOut = f.tables("", "export", "-account", "acct-none")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "no table contract/acct-none")
	})
}

func TestTablesImportRefusals(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		// A bad file names line, column and field, exits 2 and writes
		// nothing.
		bad := strings.Replace(contractFor(epsActive), "8.05", "8.0x5", 1)
		code, _, errOut := f.tables("", "import", "-account", acctActive, writeFile(t, bad))
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "line 4, column 48 (price)")
		require.Contains(t, errOut, "nothing was stored")
		code, _, errOut = f.tables("not,a,table\n", "import", "-commercial", "-")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "line 1, column 1")
		code, _, errOut = f.tables("", "import", "-commercial", filepath.Join(t.TempDir(), "missing.csv"))
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "missing.csv")
		f.noTables()

		// The table's EPS account must be the link's.
		code, _, errOut = f.tables("", "import", "-account", acctActive, writeFile(t, contractFor(epsACH)))
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "the table is for EPS account …0002, the link of acct-active has …0001; nothing was stored")
		f.noTables()

		// The EPS is sealed at rest: without the keys there is no check,
		// so no import.
		code, _, errOut = f.runIO(time.Now, nil, true, map[string]string{"NSALINK_SEAL_KEYS": ""},
			"tables", "import", "-account", acctActive, writeFile(t, contractFor(epsActive)))
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "set NSALINK_SEAL_KEYS")
		f.noTables()

		// The wrong kind of table for the flag.
		code, _, errOut = f.tables("", "import", "-commercial", writeFile(t, contractFor(epsActive)))
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "import it with -account ID")
		code, _, errOut = f.tables(commercialTable, "import", "-account", acctActive, "-")
		require.Equal(t, 2, code)
		require.Contains(t, errOut, "import it with -commercial")
		f.noTables()

		// A bad file over a stored table leaves it as it was.
		code, _, errOut = f.tables("", "import", "-account", acctActive, writeFile(t, contractFor(epsActive)))
		require.Equal(t, 0, code, errOut)
		before := f.table(linking.TableKeyContract(acctActive))
		code, _, _ = f.tables(bad, "import", "-account", acctActive, "-")
		require.Equal(t, 2, code)
		require.Equal(t, before, f.table(linking.TableKeyContract(acctActive)))

		// No link yet, or a link without an EPS account: stored, with a
		// note for the first.
		code, _, errOut = f.tables("", "import", "-account", "acct-new", writeFile(t, contractFor(epsNoNSA)))
		require.Equal(t, 0, code, errOut)
		require.Contains(t, errOut, "no link for account acct-new yet")
		code, _, errOut = f.tables("", "import", "-account", acctAwaiting, writeFile(t, contractFor(epsNoNSA)))
		require.Equal(t, 0, code, errOut)
		recs, err := f.store.ListTables(ctx)
		require.NoError(t, err)
		require.Len(t, recs, 3)
	})
}

func TestTablesUsage(t *testing.T) {
	for _, args := range [][]string{
		{"tables"},
		{"tables", "sync"},
		{"tables", "list", "extra"},
		{"tables", "list", "-commercial"},
		{"tables", "export"},
		{"tables", "export", "k", "-commercial"},
		{"tables", "export", "-account", "a", "-commercial"},
		{"tables", "import", "f.csv"},
		{"tables", "import", "-account", "a", "-commercial", "f.csv"},
		{"tables", "import", "-commercial"},
	} {
		code, _, errOut := runPlain(t, args...)
		require.Equal(t, 2, code, "%q: %s", args, errOut)
	}
	code, out, _ := runPlain(t, "tables", "-h")
	require.Equal(t, 0, code)
	require.Contains(t, out, "RunSync")
	require.Contains(t, out, "NSALINK_SEAL_KEYS")
	var b bytes.Buffer
	printUsage(&b)
	require.Contains(t, b.String(), "list, export or import the stored rate tables")
}

// TestTablesImportReachesRunningInstances: an instance running RunSync
// installs what the CLI imported, through the change feed, and drops a
// table replaced by another import.
func TestTablesImportReachesRunningInstances(t *testing.T) {
	backends(t, func(t *testing.T, f *fixture) {
		ctx := t.Context()
		key, err := base64.StdEncoding.DecodeString(f.k1)
		require.NoError(t, err)
		sealer, err := linking.NewAESGCMSealer("k1", map[string][]byte{"k1": key})
		require.NoError(t, err)
		c, err := uspsbiz.New(uspsbiz.WithEnvironment(uspsbiz.Environment(f.srv.URL)),
			uspsbiz.WithCredentials(uspsbiz.Credentials{ClientID: clientID, ClientSecret: clientSecret}))
		require.NoError(t, err)
		pricer, err := nsarates.NewPricer()
		require.NoError(t, err)
		running, err := linking.New(c, f.store, sealer, linking.WithRedirectURI(redirectURI),
			linking.WithPlatform("Acme Ship", platformCRID), linking.WithTables(pricer, nil),
			linking.WithCacheStaleness(10*time.Millisecond))
		require.NoError(t, err)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- running.RunSync(rctx) }()
		defer func() { cancel(); require.NoError(t, <-done) }()

		code, _, errOut := f.tables("", "import", "-account", acctActive, writeFile(t, contractFor(epsActive)))
		require.Equal(t, 0, code, errOut)
		waitFor(t, 10*time.Second, func() bool {
			info, ok := pricer.Contract(epsActive)
			return ok && info.Version == "2026-01"
		})
		next := strings.Replace(contractFor(epsActive), ",2026-01,", ",2026-07,", 1)
		code, _, errOut = f.tables(next, "import", "-account", acctActive, "-")
		require.Equal(t, 0, code, errOut)
		waitFor(t, 10*time.Second, func() bool {
			info, ok := pricer.Contract(epsActive)
			return ok && info.Version == "2026-07"
		})
	})
}

// waitFor polls cond until it holds or the bound (far above the expected
// milliseconds) passes.
func waitFor(t *testing.T, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
