//go:build linux

package shmipc_test

import (
	"context"
	"time"

	shmipc "github.com/libshmipc/libshmipc/go"
)

// A long Handler looks at its caller's deadline before it starts and at
// the cancel mark as it works, and stops early once the caller has given
// up (the caller discards whatever it answers then).
func ExampleGuest_Cancelled() {
	var g *shmipc.Guest // from shmipc.Connect
	work := func(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
		if d, ok := g.Deadline(req); ok && time.Until(d) < time.Millisecond {
			return copy(resp, "no time left"), shmipc.MsgSystemError
		}
		n := 0
		for step := 0; step < 1000; step++ {
			if g.Cancelled(req) {
				return 0, t // nobody waits for this answer any more
			}
			n = step % len(resp) // one step of the real work
		}
		return n, t
	}
	_ = func(ctx context.Context) error { return g.Serve(ctx, work) }
}
