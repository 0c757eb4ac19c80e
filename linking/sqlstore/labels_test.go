package sqlstore_test

import (
	"testing"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storetest"
)

func TestSQLiteLabelConformance(t *testing.T) {
	storetest.RunLabels(t, func(t *testing.T) linking.Store {
		s, _ := openSQLite(t)
		return s
	})
}

func TestPostgresLabelConformance(t *testing.T) {
	postgresDSN(t)
	storetest.RunLabels(t, func(t *testing.T) linking.Store { return openPostgres(t, postgresDSN(t)) })
}
