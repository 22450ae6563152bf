//go:build linux

package shmipc

import (
	"context"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// The caller's deadline and cancel mark (docs/PROTOCOL.md, "Deadline and
// cancel"), both ways: the Go guest's Handler reads what the host wrote
// (Deadline, Cancelled), and the guest's Call writes the word the host's
// handler reads (its deadline, and the mark when it gives up).

// deadlineSlack bounds how far a deadline seen may be off the caller's:
// clock reads, a handler's start, this machine's load.
const deadlineSlack = 20 * time.Millisecond

// A Handler sees the deadline the host wrote (on the host's clock), none
// for 0, the cancel mark once the host sets it, and a garbage word as some
// value: it never panics.
func TestDeadlineHandlerSees(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	type sight struct {
		ok, cancelled bool
		left          time.Duration
	}
	var got atomic.Value
	var waitMark atomic.Bool
	startServe(t, g, func(req, resp []byte, mt MsgType) (int, MsgType) {
		if waitMark.Load() {
			for t0 := time.Now(); !g.Cancelled(req) && time.Since(t0) < 5*time.Second; {
				time.Sleep(10 * time.Microsecond)
			}
		}
		d, ok := g.Deadline(req)
		got.Store(sight{ok, g.Cancelled(req), time.Until(d)})
		return copy(resp, req), mt
	})
	word := &h.slots[0].hdr.deadline
	resp := make([]byte, 256)
	call := func(w uint64) sight {
		t.Helper()
		atomic.StoreUint64(word, w) // the test host writes it before its publish
		if _, _, err := h.call(0, 150, []byte("x"), false, resp, 5*time.Second); err != nil {
			t.Fatalf("call with word %#x: %v", w, err)
		}
		return got.Load().(sight)
	}

	at := uint64(monotonicNow() + int64(2*time.Second))
	if s := call(at); !s.ok || s.cancelled || s.left > 2*time.Second+deadlineSlack || s.left < 2*time.Second-deadlineSlack {
		t.Errorf("deadline 2 s ahead: seen %+v", s)
	}
	if s := call(deadlineBudget | uint64(time.Second)); !s.ok || s.left > time.Second+deadlineSlack || s.left < time.Second-deadlineSlack {
		t.Errorf("a budget of 1 s: seen %+v", s)
	}
	if s := call(0); s.ok || s.cancelled {
		t.Errorf("no deadline: seen %+v", s)
	}
	if s := call(deadlineCancelled); s.ok || !s.cancelled {
		t.Errorf("the mark alone: seen %+v", s)
	}
	for _, w := range []uint64{^uint64(0), deadlineValueMask, deadlineBudget, 1, 1 << 61} {
		if s := call(w); !s.ok || s.cancelled != (w&deadlineCancelled != 0) {
			t.Errorf("garbage word %#x: seen %+v", w, s)
		}
	}

	// The mark set while the Handler runs is seen within a bounded time.
	waitMark.Store(true)
	done := make(chan error, 1)
	go func() {
		atomic.StoreUint64(word, at)
		_, _, err := h.call(0, 150, []byte("x"), false, resp, 10*time.Second)
		done <- err
	}()
	h.awaitState(0, stateProcessing, 5*time.Second, "the handler to take the request")
	time.Sleep(5 * time.Millisecond)
	t0 := time.Now()
	atomic.StoreUint64(word, at|deadlineCancelled)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := got.Load().(sight); !s.cancelled || !s.ok {
		t.Errorf("marked while the handler ran: seen %+v", s)
	}
	if el := time.Since(t0); el > time.Second {
		t.Errorf("the handler saw the mark after %v", el)
	}
}

// Slices that are not requests of a host slot are refused, allocation-free
// as the accessors are.
func TestDeadlineForeignSlices(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 2, guestSlots: 1, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	for i := range h.slots {
		atomic.StoreUint64(&h.slots[i].hdr.deadline, deadlineCancelled|1)
	}
	local := make([]byte, 16)
	gs := g.slots
	for name, b := range map[string][]byte{
		"nil":            nil,
		"heap":           local,
		"response":       gs[0].resp,
		"response end":   gs[1].resp[len(gs[1].resp)-1:],
		"guest slot":     gs[2].req,
		"segment header": g.data[8:],
	} {
		if _, ok := g.Deadline(b); ok || g.Cancelled(b) {
			t.Errorf("%s: accepted", name)
		}
	}
	for i, s := range gs[:2] {
		if _, ok := g.Deadline(s.req[7:9]); !ok || !g.Cancelled(s.req[255:]) {
			t.Errorf("host slot %d: a request slice refused", i)
		}
	}
	if a := testing.AllocsPerRun(100, func() {
		_, _ = g.Deadline(gs[1].req[3:])
		_ = g.Cancelled(gs[1].req)
	}); a != 0 {
		t.Errorf("Deadline and Cancelled: %v allocations, want 0", a)
	}
}

// The guest's Call writes its deadline into the word at the publish (none
// for Infinite, the context's when it is sooner), and marks the word when
// it gives up while the host holds the request: on its timeout and on its
// context's cancel. The next call on the slot carries its own word.
func TestDeadlineGuestCall(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 1, reqCapacity: 256, respCapacity: 256})
	g := connect(t, h, testOptions())
	word := &h.slots[1].hdr.deadline
	var seen atomic.Uint64
	var waitMark atomic.Bool
	var sawAt atomic.Int64
	h.listen(func(req, resp []byte, mt uint32) (int, uint32) {
		seen.Store(atomic.LoadUint64(word))
		if waitMark.Load() {
			for t0 := time.Now(); time.Since(t0) < 5*time.Second; time.Sleep(10 * time.Microsecond) {
				if v := atomic.LoadUint64(word); v&deadlineCancelled != 0 {
					sawAt.Store(time.Now().UnixNano())
					seen.Store(v)
					break
				}
			}
		}
		return copy(resp, req), mt
	})
	resp := make([]byte, 256)
	// near: word w is a deadline about want ahead (read after the call:
	// less what the call took, within slack)
	near := func(w uint64, want, slack time.Duration) bool {
		left := time.Duration(int64(w&deadlineValueMask) - monotonicNow())
		return w&(deadlineBudget|deadlineCancelled) == 0 && left <= want+deadlineSlack && left >= want-slack
	}
	if _, _, err := g.Call(MsgType(150), []byte("a"), resp, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if w := seen.Load(); !near(w, 2*time.Second, deadlineSlack) {
		t.Errorf("Call with 2 s: word %#x, %v ahead", w, time.Duration(int64(w&deadlineValueMask)-monotonicNow()))
	}
	if _, _, err := g.Call(MsgType(150), []byte("a"), resp, Infinite); err != nil || seen.Load() != 0 {
		t.Errorf("Call with Infinite: word %#x (err %v), want 0", seen.Load(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if _, _, err := g.CallContext(ctx, MsgType(150), []byte("a"), resp); err != nil || !near(seen.Load(), time.Second, deadlineSlack) {
		t.Errorf("CallContext with a 1 s context: word %#x (err %v)", seen.Load(), err)
	}
	cancel()

	// Giving up while the host's handler holds the request marks it; the
	// handler sees the mark; the next call's word is unmarked.
	const rounds = 30
	for _, how := range []string{"timeout", "context"} {
		var lat []time.Duration
		skipped := 0
		for i := 0; i < rounds; {
			waitMark.Store(true)
			sawAt.Store(0)
			cancels := atomic.LoadUint64(&g.ctrSide.cancels)
			var err error
			var gaveUp time.Time
			if how == "timeout" {
				_, _, err = g.Call(MsgType(150), []byte("w"), resp, 20*time.Millisecond)
				gaveUp = time.Now()
			} else {
				ctx, cancel := context.WithCancel(context.Background())
				go func() { time.Sleep(20 * time.Millisecond); cancel() }()
				_, _, err = g.CallContext(ctx, MsgType(150), []byte("w"), resp)
				gaveUp = time.Now()
				cancel()
			}
			if err == nil {
				t.Fatalf("%s round %d: the call was answered", how, i)
			}
			if atomic.LoadUint64(&g.ctrSide.cancels) != cancels {
				// Given up before the host took it (a loaded machine):
				// taken back, no handler ran; not a round.
				if skipped++; skipped > rounds {
					t.Fatalf("%s: %d calls taken back before the host took them", how, skipped)
				}
				continue
			}
			for t0 := time.Now(); sawAt.Load() == 0; time.Sleep(50 * time.Microsecond) {
				if time.Since(t0) > 5*time.Second {
					t.Fatalf("%s round %d: the host's handler did not see the mark within 5 s (%v)", how, i, err)
				}
			}
			lat = append(lat, time.Duration(sawAt.Load()-gaveUp.UnixNano()))
			waitMark.Store(false)
			// The slot is quarantined until that late answer: the next
			// call waits for it, then carries its own, unmarked word.
			t1 := time.Now()
			if _, _, err := g.Call(MsgType(150), []byte("n"), resp, 5*time.Second); err != nil {
				t.Fatalf("%s round %d: the next call: %v", how, i, err)
			}
			if w := seen.Load(); w&deadlineCancelled != 0 || !near(w, 5*time.Second, time.Since(t1)+deadlineSlack) {
				t.Fatalf("%s round %d: the next call's word %#x", how, i, w)
			}
			i++
		}
		sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
		t.Logf("cancel mark after a %s seen by the host's handler, %d calls (%d more taken back untaken): median %v, worst %v",
			how, rounds, skipped, lat[rounds/2], lat[rounds-1])
		if lat[rounds/2] > 100*time.Millisecond {
			t.Errorf("%s: median %v from giving up to the handler seeing the mark", how, lat[rounds/2])
		}
	}
}
