package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/stretchr/testify/require"
)

// PostgresEnv names the variable holding a PostgreSQL DSN for tests.
const PostgresEnv = "NSALINK_TEST_POSTGRES_DSN"

// PostgresDSN returns the DSN of $NSALINK_TEST_POSTGRES_DSN with its
// search_path set to a fresh schema, dropped when t ends, so that tests and
// packages running at once never collide. Without the variable it skips
// t, or fails it when CI=true, so that CI can never be green by skipping.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set but CI=true: PostgreSQL tests must run in CI (.ci/run starts PostgreSQL and sets it)", PostgresEnv)
		}
		t.Skipf("%s is not set: skipping PostgreSQL tests", PostgresEnv)
	}
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	schema := fmt.Sprintf("nsalink_test_%d_%08x", os.Getpid(), rand.Uint32())
	_, err = admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema)
	require.NoError(t, err, "create test schema")
	t.Cleanup(func() {
		_, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		require.NoError(t, err)
		require.NoError(t, admin.Close())
	})
	return withSearchPath(t, dsn, schema)
}

func withSearchPath(t testing.TB, dsn, schema string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema // key=value form
	}
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
