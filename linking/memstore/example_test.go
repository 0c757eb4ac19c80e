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
	_ = s.CreateLink(ctx, &linking.Link{AccountID: "acct-1", State: linking.StateUnlinked})
	a, _ := s.GetLink(ctx, "acct-1")
	b, _ := s.GetLink(ctx, "acct-1")
	a.State = linking.StateAuthorizing
	fmt.Println(s.UpdateLink(ctx, a, nil))
	b.State = linking.StateUnlinked
	fmt.Println(errors.Is(s.UpdateLink(ctx, b, nil), linking.ErrConflict))
	// Output:
	// <nil>
	// true
}
