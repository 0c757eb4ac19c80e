package memstore_test

import (
	"testing"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/linking/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) linking.Store { return memstore.New() })
}
