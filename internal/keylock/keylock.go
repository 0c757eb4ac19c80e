// Package keylock is a set of per-key mutexes that can be waited for with a
// context: the in-process queue in front of each linking store's per-link
// lock.
package keylock

import (
	"context"
	"sync"
)

// Set is a set of per-key mutexes; the zero value is ready. An entry lives
// only while someone holds or waits for it.
type Set struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds one token while locked
	refs int           // holders + waiters
}

func (k *Set) ref(key string) *keyLock {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = make(map[string]*keyLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	return l
}

func (k *Set) unref(key string, l *keyLock) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(k.m, key)
	}
}

// Lock waits for key's lock or for ctx to end, and returns the unlock func.
func (k *Set) Lock(ctx context.Context, key string) (func(), error) {
	l := k.ref(key)
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; k.unref(key, l) }, nil
	case <-ctx.Done():
		k.unref(key, l)
		return nil, ctx.Err()
	}
}

// TryLock takes key's lock if it is free.
func (k *Set) TryLock(key string) (func(), bool) {
	l := k.ref(key)
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; k.unref(key, l) }, true
	default:
		k.unref(key, l)
		return nil, false
	}
}
