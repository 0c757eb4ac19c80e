package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore/sqlite"
)

// SQLite is the embedded default: one file, created and migrated on first
// open. For fleets, postgres.Open takes a DSN instead.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "nsalink")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "links.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	lk, _ := store.CreateLink(ctx, &linking.Link{AccountID: "acct-1", State: linking.StateUnlinked})
	lk.State = linking.StateAuthorizing
	lk, err = store.UpdateLink(ctx, lk, &linking.Event{From: linking.StateUnlinked, To: linking.StateAuthorizing, Cause: "start"})
	fmt.Println(lk.Version, err)

	stale, _ := store.GetLink(ctx, "acct-1")
	stale.Version = 1 // someone else's older copy
	_, err = store.UpdateLink(ctx, stale, nil)
	fmt.Println(err)
	// Output:
	// 2 <nil>
	// sqlstore: link "acct-1" version 1: linking: version conflict
}
