package sqlstore

import (
	"context"
	"sync"
	"time"
)

// batcher runs operations submitted concurrently in batches: writes in
// shared transactions (group commit), reads in shared queries. While one
// batch runs, the next one gathers, so that under load many writes share
// one commit — one fsync, one River insert — and many reads one round
// trip, and at low load each runs alone, at once, without waiting for
// company.
type batcher[T any] struct {
	ops chan *batchOp[T]
	// run executes a batch and sets each op's err.
	run      func(ctx context.Context, ops []*batchOp[T])
	max      int
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

type batchOp[T any] struct {
	item T
	err  error
	done chan struct{}
}

// batchTimeout bounds one batch's transaction; it does not depend on the
// contexts of the callers, one of whom leaving must not abort the others.
const batchTimeout = 30 * time.Second

// newBatcher starts workers goroutines that each commit batches of at most
// max operations.
func newBatcher[T any](workers, max int, run func(ctx context.Context, ops []*batchOp[T])) *batcher[T] {
	b := &batcher[T]{ops: make(chan *batchOp[T], max*workers), run: run, max: max, stop: make(chan struct{})}
	for range workers {
		b.wg.Go(b.loop)
	}
	return b
}

func (b *batcher[T]) loop() {
	for {
		var first *batchOp[T]
		select {
		case first = <-b.ops:
		case <-b.stop:
			return
		}
		batch := []*batchOp[T]{first}
	gather:
		for len(batch) < b.max {
			select {
			case op := <-b.ops:
				batch = append(batch, op)
			default:
				break gather
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		b.run(ctx, batch)
		cancel()
		for _, op := range batch {
			close(op.done)
		}
	}
}

// do submits item and waits until its batch has committed or failed. Once
// submitted, an operation is seen through even if ctx ends: the caller gets
// ctx's error, but the write may have been committed.
func (b *batcher[T]) do(ctx context.Context, item T) error {
	op := &batchOp[T]{item: item, done: make(chan struct{})}
	select {
	case b.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stop:
		return errClosed
	}
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the workers after their current batch; operations still
// queued are failed. Closing twice does nothing more.
func (b *batcher[T]) close() {
	b.stopOnce.Do(func() { close(b.stop) })
	b.wg.Wait()
	for {
		select {
		case op := <-b.ops:
			op.err = errClosed
			close(op.done)
		default:
			return
		}
	}
}
