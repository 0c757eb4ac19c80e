package memstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
)

// A memory store keeps copies: changing a returned link changes nothing
// until UpdateLink, which compares versions.
func Example() {
	ctx := context.Background()
	s := memstore.New()
	_, _ = s.CreateLink(ctx, &linking.Link{AccountID: "acct-1", State: linking.StateUnlinked})
	a, _ := s.GetLink(ctx, "acct-1")
	b, _ := s.GetLink(ctx, "acct-1")
	a.State = linking.StateAuthorizing
	stored, err := s.UpdateLink(ctx, a, nil)
	fmt.Println(stored.Version, err)
	b.State = linking.StateUnlinked
	_, err = s.UpdateLink(ctx, b, nil)
	fmt.Println(errors.Is(err, linking.ErrConflict))
	// Output:
	// 2 <nil>
	// true
}
