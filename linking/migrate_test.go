package linking_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nsalink/nsalink/internal/pgtest"
	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/linking/sqlstore"
	"github.com/nsalink/nsalink/linking/sqlstore/postgres"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
)

// schemaBeforeIdentity is the last schema version without the payment
// identity columns (migration 5).
const schemaBeforeIdentity = 4

// applyMigrations brings db to schema version upTo with the shipped
// migration files, recording them as sqlstore does, as an older nsalink
// would have left the database.
func applyMigrations(t *testing.T, db *sql.DB, dialect string, upTo int) {
	t.Helper()
	ctx := t.Context()
	_, err := db.ExecContext(ctx, `CREATE TABLE nsalink_schema_migrations (
		version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at_us BIGINT NOT NULL)`)
	require.NoError(t, err)
	dir := filepath.Join("sqlstore", "internal", "sqlimpl", "migrations", dialect)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		require.NoError(t, err)
		if v > upTo {
			continue
		}
		body, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		var b strings.Builder
		for line := range strings.Lines(string(body)) {
			if !strings.HasPrefix(strings.TrimSpace(line), "--") {
				b.WriteString(line)
			}
		}
		for stmt := range strings.SplitSeq(b.String(), ";\n") {
			if stmt = strings.TrimSpace(stmt); stmt != "" {
				_, err := db.ExecContext(ctx, stmt)
				require.NoError(t, err, e.Name())
			}
		}
		_, err = db.ExecContext(ctx, bind(dialect, `INSERT INTO nsalink_schema_migrations (version, name, applied_at_us) VALUES (?, ?, ?)`),
			v, e.Name(), time.Now().UnixMicro())
		require.NoError(t, err)
	}
}

// bind rewrites ? placeholders as $n for PostgreSQL.
func bind(dialect, q string) string {
	if dialect != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// insertOldLink writes l with the columns of schema version 3, as
// nsalink's store did before migration 5.
func insertOldLink(t *testing.T, db *sql.DB, dialect string, l *linking.Link) {
	t.Helper()
	us := func(tm time.Time) int64 { return tm.UnixMicro() }
	blob := func(b []byte) any {
		if len(b) == 0 {
			return nil
		}
		return b
	}
	_, err := db.ExecContext(t.Context(), bind(dialect, `INSERT INTO nsalink_links (account_id, state, reason, environment, crid, mid, manifest_mid, eps_account,
		token, token_expiry_us, refresh_expiry_us, payment_token, payment_token_expiry_us,
		version, created_at_us, updated_at_us, next_check_at_us, check_attempts, last_error, eps_sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		l.AccountID, string(l.State), string(l.Reason), string(l.Environment), string(l.CRID), string(l.MID), string(l.ManifestMID), l.EPSAccount.Reveal(),
		blob(l.Token), us(l.TokenExpiry), us(l.RefreshExpiry), blob(l.PaymentToken), us(l.PaymentTokenExpiry),
		l.Version, us(l.CreatedAt), us(l.UpdatedAt), us(l.NextCheckAt), l.CheckAttempts, l.LastError, blob(l.SealedEPS))
	require.NoError(t, err)
}

// TestLinkFromBeforeMigrationStillWorks: a link made active and stored by
// the schema before migration 5 (an older nsalink) keeps working once the
// store migrates: its status, cached payment token, renewal, a label, and
// new credentials with a location.
func TestLinkFromBeforeMigrationStillWorks(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			// The journey to active, kept in memory: the link as an older
			// version stored it (EPS number and tokens sealed).
			e := newEnv(t, memstore.New())
			e.linkAccount(account)
			st, err := e.linker.SubmitCredentials(t.Context(), account, creds(epsActive))
			require.NoError(t, err)
			require.Equal(t, linking.StateActive, st.State)
			old, err := e.store.GetLink(t.Context(), account)
			require.NoError(t, err)
			require.NotEmpty(t, old.SealedEPS)

			var db *sql.DB
			var open func() sqlstore.Store
			switch dialect {
			case "sqlite":
				path := filepath.Join(t.TempDir(), "links.db")
				db, err = sql.Open("sqlite", sqlite.DSN(path))
				open = func() sqlstore.Store {
					s, err := sqlite.Open(t.Context(), path)
					require.NoError(t, err)
					return s
				}
			case "postgres":
				dsn := pgtest.DSN(t)
				db, err = sql.Open("pgx", dsn)
				open = func() sqlstore.Store {
					s, err := postgres.Open(t.Context(), dsn)
					require.NoError(t, err)
					return s
				}
			}
			require.NoError(t, err)
			applyMigrations(t, db, dialect, schemaBeforeIdentity)
			insertOldLink(t, db, dialect, old)
			require.NoError(t, db.Close())

			store := open() // migrates to the current schema
			t.Cleanup(func() { store.Close() })
			var version int
			require.NoError(t, store.DB().QueryRowContext(t.Context(), `SELECT max(version) FROM nsalink_schema_migrations`).Scan(&version))
			require.Greater(t, version, schemaBeforeIdentity)

			raw, err := store.GetLink(t.Context(), account)
			require.NoError(t, err)
			assert.Empty(t, raw.ReturnsMID)
			assert.Empty(t, raw.NSAContract)
			assert.Nil(t, raw.Locations)

			l := e.newLinker(store)
			st, err = l.Status(t.Context(), account)
			require.NoError(t, err)
			assert.Equal(t, linking.StateActive, st.State)
			assert.Equal(t, "0001", st.EPSLast4)

			calls := len(e.srv.PaymentAuthorizations())
			tok, _, err := l.PaymentToken(t.Context(), account)
			require.NoError(t, err)
			assert.True(t, e.srv.PaymentTokenValid(tok.Reveal()))
			assert.Len(t, e.srv.PaymentAuthorizations(), calls, "the cached token carried over")

			e.srv.Advance(8 * time.Hour)
			_, _, err = l.PaymentToken(t.Context(), account)
			require.NoError(t, err)
			auths := e.srv.PaymentAuthorizations()
			require.Len(t, auths, calls+1, "renewed")
			assertRoles(t, auths[calls], paymentModels[0].roles, paymentModels[0].payer, epsActive, custMID, manifestMID)

			_, err = l.BuyLabel(t.Context(), account, labelPurchase(e, "after-migration"))
			require.NoError(t, err)
			charges := e.srv.LabelCharges()
			require.Len(t, charges, 1)
			assert.Equal(t, epsActive, charges[0].EPS)

			// New identity fields reach the migrated row.
			in := creds(epsActive)
			in.NSAContract = "NSA-1"
			in.Locations = []linking.LocationInput{{Label: "East", MID: eastMID, EPS: epsEast}}
			st, err = l.SubmitCredentials(t.Context(), account, in)
			require.NoError(t, err)
			assert.Equal(t, linking.StateActive, st.State, st.LastError)
			assert.Equal(t, []string{"East"}, st.Locations)
		})
	}
}
