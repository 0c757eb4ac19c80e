// Package storetest is the conformance suite of linking.Store. Every store
// in this module runs it, and so can a store you write:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) linking.Store {
//			return newEmptyStore(t) // a fresh, empty store per call
//		})
//	}
//
// Run checks the contract documented on linking.Store: typed errors,
// optimistic concurrency (stale versions rejected, no lost updates under 100
// goroutines), events appended atomically with updates, exact times and
// bytes, single-use auth requests under concurrency, LockLink mutual
// exclusion and rollback, and ClaimDue never handing a link to two claimers.
// Benchmark measures the operations the linking flow uses most.
//
// It uses plain testing with t.Run subtests and testify's require (not
// testify's suite package), and takes a few seconds on SQL stores.
package storetest
