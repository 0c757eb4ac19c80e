package sqlstore_test

import (
	"testing"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/storetest"
)

func BenchmarkSQLite(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) linking.Store {
		s, _ := openSQLite(b)
		return s
	})
}

func BenchmarkPostgres(b *testing.B) {
	postgresDSN(b)
	storetest.Benchmark(b, func(b *testing.B) linking.Store { return openPostgres(b, postgresDSN(b)) })
}
