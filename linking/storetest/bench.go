package storetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nsalink/nsalink/linking"
)

// parallelism × GOMAXPROCS goroutines run the parallel benchmarks, like a
// busy backend instance.
const parallelism = 4

// Benchmark measures the store operations of the linking flow and reports
// ops/s next to ns/op. Sub-benchmarks ending in /parallel use RunParallel
// with one link per goroutine, except LockLinkUpdate/parallel-hot, where
// every goroutine contends for one link (the token-refresh case). newStore
// returns a fresh, empty store for one benchmark run.
func Benchmark(b *testing.B, newStore func(b *testing.B) linking.Store) {
	b.Run("GetLink", func(b *testing.B) {
		s := newStore(b)
		mustCreate(b, s, "bench")
		run(b, func(ctx context.Context) {
			if _, err := s.GetLink(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		})
	})
	// A link without locations, returns MID or contract number (links
	// saved before they existed): the locations column is empty, so the
	// read skips its JSON. Compare with GetLink (two locations).
	b.Run("GetLink/no-locations", func(b *testing.B) {
		s := newStore(b)
		l := newLink("bench")
		l.Locations, l.ReturnsMID, l.NSAContract = nil, "", ""
		if _, err := s.CreateLink(b.Context(), l); err != nil {
			b.Fatal(err)
		}
		run(b, func(ctx context.Context) {
			if _, err := s.GetLink(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("GetLink/parallel", func(b *testing.B) {
		s := newStore(b)
		ids := createMany(b, s, 64)
		runParallel(b, ids, func(ctx context.Context, id string) error {
			_, err := s.GetLink(ctx, id)
			return err
		})
	})
	b.Run("UpdateLink", func(b *testing.B) {
		s := newStore(b)
		l := mustCreate(b, s, "bench")
		run(b, func(ctx context.Context) {
			l.CheckAttempts++
			var err error
			if l, err = s.UpdateLink(ctx, l, nil); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("UpdateLink/parallel", func(b *testing.B) {
		s := newStore(b)
		ids := createMany(b, s, 64)
		runParallel(b, ids, func(ctx context.Context, id string) error {
			l, err := s.GetLink(ctx, id) // one goroutine per link: no conflicts
			if err != nil {
				return err
			}
			l.CheckAttempts++
			_, err = s.UpdateLink(ctx, l, nil)
			return err
		})
	})
	b.Run("UpdateLinkWithEvent", func(b *testing.B) {
		s := newStore(b)
		l := mustCreate(b, s, "bench")
		run(b, func(ctx context.Context) {
			l.CheckAttempts++
			var err error
			if l, err = s.UpdateLink(ctx, l, &linking.Event{To: l.State, Cause: "bench"}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("LockLinkUpdate", func(b *testing.B) {
		s := newStore(b)
		mustCreate(b, s, "bench")
		run(b, func(ctx context.Context) {
			if err := lockAndBump(ctx, s, "bench"); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("LockLinkUpdate/parallel", func(b *testing.B) {
		s := newStore(b)
		ids := createMany(b, s, 64)
		runParallel(b, ids, func(ctx context.Context, id string) error { return lockAndBump(ctx, s, id) })
	})
	b.Run("LockLinkUpdate/parallel-hot", func(b *testing.B) {
		s := newStore(b)
		mustCreate(b, s, "hot")
		runParallel(b, nil, func(ctx context.Context, _ string) error { return lockAndBump(ctx, s, "hot") })
	})
	b.Run("ConsumeAuthRequest", func(b *testing.B) {
		s := newStore(b)
		hashes := putAuthRequests(b, s, b.N)
		i := 0
		run(b, func(ctx context.Context) {
			if _, err := s.ConsumeAuthRequest(ctx, hashes[i], time.Now()); err != nil {
				b.Fatal(err)
			}
			i++
		})
	})
	b.Run("ConsumeAuthRequest/parallel", func(b *testing.B) {
		s := newStore(b)
		hashes := putAuthRequests(b, s, b.N)
		var next atomic.Int64
		runParallel(b, nil, func(ctx context.Context, _ string) error {
			_, err := s.ConsumeAuthRequest(ctx, hashes[next.Add(1)-1], time.Now())
			return err
		})
	})
}

func lockAndBump(ctx context.Context, s linking.Store, id string) error {
	return s.LockLink(ctx, id, func(_ context.Context, tx linking.LinkTx) error {
		l, err := tx.Get()
		if err != nil {
			return err
		}
		l.CheckAttempts++
		_, err = tx.Update(l, nil)
		return err
	})
}

func run(b *testing.B, op func(ctx context.Context)) {
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		op(ctx)
	}
	reportOpsPerSec(b)
}

// runParallel gives each goroutine its own id from ids (or "" if ids is nil).
func runParallel(b *testing.B, ids []string, op func(ctx context.Context, id string) error) {
	ctx := b.Context()
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ""
		if ids != nil {
			id = ids[int(next.Add(1)-1)%len(ids)]
		}
		for pb.Next() {
			if err := op(ctx, id); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOpsPerSec(b)
}

func reportOpsPerSec(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

func mustCreate(b *testing.B, s linking.Store, id string) *linking.Link {
	l, err := s.CreateLink(b.Context(), newLink(id))
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func createMany(b *testing.B, s linking.Store, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%03d", i)
		mustCreate(b, s, ids[i])
	}
	return ids
}

func putAuthRequests(b *testing.B, s linking.Store, n int) [][]byte {
	mustCreate(b, s, "bench")
	hashes := make([][]byte, n)
	exp := time.Now().Add(time.Hour)
	for i := range hashes {
		a := newAuth("bench", "", exp)
		a.StateHash = binary.BigEndian.AppendUint64(hash("bench")[:24], uint64(i))
		if err := s.PutAuthRequest(b.Context(), a); err != nil {
			b.Fatal(err)
		}
		hashes[i] = a.StateHash
	}
	return hashes
}
