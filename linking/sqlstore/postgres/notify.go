package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/nsalink/nsalink/linking"
	"github.com/nsalink/nsalink/linking/sqlstore"
)

// store is the PostgreSQL Store: sqlstore's, plus WaitForChange on
// LISTEN nsalink_changes (the triggers of migration 0002 NOTIFY it at
// every commit that changes a link or a table).
type store struct {
	sqlstore.Store
	n *notifier
}

var _ linking.ChangeNotifier = (*store)(nil)

func wrap(s sqlstore.Store) *store {
	return &store{Store: s, n: &notifier{db: s.DB(), ch: make(chan struct{})}}
}

// WaitForChange implements linking.ChangeNotifier: it returns when a
// NOTIFY arrives (or the listening connection was re-established, when
// notifications may have been missed), or when ctx ends. The first call
// starts a listener that holds one connection of the pool until Close.
func (s *store) WaitForChange(ctx context.Context) error { return s.n.wait(ctx) }

// Close stops the listener, then closes the Store.
func (s *store) Close() error {
	s.n.close()
	return s.Store.Close()
}

type notifier struct {
	db *sql.DB

	mu      sync.Mutex
	ch      chan struct{} // closed and replaced at every notification
	cancel  context.CancelFunc
	done    chan struct{}
	closed  bool
	started bool
}

func (n *notifier) wait(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return errors.New("postgres: store closed")
	}
	if !n.started {
		n.started = true
		lctx, cancel := context.WithCancel(context.Background())
		n.cancel, n.done = cancel, make(chan struct{})
		go n.run(lctx)
	}
	ch := n.ch
	n.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	cancel, done := n.cancel, n.done
	n.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// run listens until ctx ends, reconnecting after a failure (a second
// later); every (re)connect wakes the waiters, who then read the feed.
func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	for ctx.Err() == nil {
		_ = n.listen(ctx)
		n.broadcast()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (n *notifier) listen(ctx context.Context) error {
	conn, err := n.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// The session is LISTENing: never hand it back to the pool.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		_ = conn.Close()
	}()
	if _, err := conn.ExecContext(ctx, "LISTEN nsalink_changes"); err != nil {
		return err
	}
	n.broadcast() // listening now: anything earlier must be read from the feed
	for {
		err := conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return errors.New("postgres: not a pgx connection")
			}
			_, err := c.Conn().WaitForNotification(ctx)
			return err
		})
		if err != nil {
			return err
		}
		n.broadcast()
	}
}
