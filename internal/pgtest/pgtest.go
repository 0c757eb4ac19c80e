// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the database named by $NSALINK_TEST_POSTGRES_DSN. It is a
// package of its own so that only tests of PostgreSQL code link pgx.
package pgtest

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

// The variables DSN reads.
const (
	dsnEnv    = "NSALINK_TEST_POSTGRES_DSN"
	strictEnv = "NSALINK_TEST_STRICT"
)

// DSN returns the DSN of $NSALINK_TEST_POSTGRES_DSN with its search_path set
// to a fresh schema, dropped when t ends, so that tests and packages running
// at once never collide. Without the variable it skips t, or fails it when
// NSALINK_TEST_STRICT=1, so that CI can never be green by skipping.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		if os.Getenv(strictEnv) == "1" {
			t.Fatalf("%s is not set but %s=1: PostgreSQL tests must run (.ci/run starts PostgreSQL and sets it)", dsnEnv, strictEnv)
		}
		t.Skipf("%s is not set: skipping PostgreSQL tests", dsnEnv)
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
