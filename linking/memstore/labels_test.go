package memstore_test

import (
	"testing"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/memstore"
	"github.com/nsalink/nsalink/linking/storetest"
)

func TestLabelConformance(t *testing.T) {
	storetest.RunLabels(t, func(*testing.T) linking.Store { return memstore.New() })
}
