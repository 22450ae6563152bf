package shmipc

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Pollers: the fast path of a Serve with more host slots than Ps.
//
// One worker goroutine per slot, each spinning on its own slot, only gets
// to look at its slot when the scheduler lets it run; with more workers
// than Ps every look costs a runtime.Gosched. While requests flow, a few
// pollers (one more than GOMAXPROCS) instead scan every host slot and
// answer what they find, and the workers stand aside (parked on a
// channel, no waiter bit set, so the host never has to wake them). When
// the pollers find nothing for a spin budget they stop, and the workers
// take over with the usual spin, announce and sleep on their own slot;
// the first request a worker answers starts the pollers again.
//
// Handlers still never wait for one another, and the workers stand aside
// only while a poller is looking: a poller that is about to run a handler
// while no other poller is looking starts one more, and the group ends
// (the workers take over) when the last poller that is not inside a handler
// stops, however many are still inside one. So a handler that blocks
// leaves the other slots served, by a poller or by their workers.
//
// The pollers not inside a handler are counted in looking, as tokens:
// start hands out target of them to new pollers, only while looking is 0
// (the group is inactive); a poller about to run a handler gives its
// token up, to a new poller if it held the last one; a poller back from a
// handler takes a token only while 0 < looking < target, else it stops;
// and the poller that takes looking to 0 by stopping ends the group.
// Hence 0 < looking <= target while the group is active, except within a
// hand-over and between the stop that takes looking to 0 and the end of
// the group it then makes; and no more than target pollers plus one per
// handler running in a poller are alive.

// errStandAside ends a worker's wait because the pollers are running.
var errStandAside = errors.New("pollers are running")

type pollGroup struct {
	g      *Guest
	h      Handler
	st     *serveState
	wg     *sync.WaitGroup
	slots  []slotView
	target int32 // pollers to start: GOMAXPROCS + 1, at most one per slot

	active  atomic.Bool  // a poller is looking: workers stand aside
	looking atomic.Int32 // pollers not inside a handler (tokens, see above)

	mu    sync.Mutex    // orders start against the end of the group
	ended chan struct{} // closed when the group ends: the workers serve
}

func newPollGroup(g *Guest, h Handler, st *serveState, wg *sync.WaitGroup, slots []slotView) *pollGroup {
	target := int32(runtime.GOMAXPROCS(0)) + 1
	if int(target) > len(slots) {
		target = int32(len(slots))
	}
	ended := make(chan struct{})
	close(ended)
	return &pollGroup{g: g, h: h, st: st, wg: wg, slots: slots, target: target, ended: ended}
}

// start brings the pollers up unless they are running.
func (pg *pollGroup) start() {
	if pg.active.Load() {
		return
	}
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.active.Load() || pg.st.stop.Load() {
		return
	}
	// looking is 0: the group ended when it reached 0, and nothing but start
	// raises it from 0 (a hand-over needs a token, and there is none).
	pg.ended = make(chan struct{})
	pg.looking.Add(pg.target)
	pg.active.Store(true)
	for k := int32(0); k < pg.target; k++ {
		pg.spawn(int(k))
	}
}

// spawn starts one poller, holding a token, at slot first.
func (pg *pollGroup) spawn(first int) {
	pg.wg.Add(1)
	go pg.poll(first)
}

// stop is the last step of a poller that holds a token; the last one
// ends the group and lets the workers back.
func (pg *pollGroup) stop() {
	if pg.looking.Add(-1) != 0 {
		return
	}
	pg.mu.Lock()
	defer pg.mu.Unlock()
	pg.active.Store(false)
	close(pg.ended)
}

// enter gives up the token of a poller about to run a handler for slot i.
// The last looking poller hands it to a new poller that goes on looking from
// slot i+1, so that the handler, if it blocks, holds up no other slot. The
// moment looking is 0 here makes a poller back from a handler stop, which is
// harmless, and no poller can end the group then (none holds a token).
func (pg *pollGroup) enter(i int) {
	if pg.looking.Add(-1) == 0 {
		pg.looking.Add(1)
		pg.spawn(i + 1)
	}
}

// rejoin takes a token for a poller back from a handler. It fails, and the
// poller stops, when the group has ended (looking is 0: the workers serve) or
// enough pollers are looking.
func (pg *pollGroup) rejoin() bool {
	// The usual value first: every other poller looking. A load before the
	// CAS would fetch the line shared and then upgrade it.
	for f := pg.target - 1; ; f = pg.looking.Load() {
		if f <= 0 || f >= pg.target {
			return false
		}
		if pg.looking.CompareAndSwap(f, f+1) {
			return true
		}
	}
}

// standAside parks a worker while the pollers run. It returns false when
// Serve is stopping.
func (pg *pollGroup) standAside() bool {
	pg.mu.Lock()
	ended := pg.ended
	pg.mu.Unlock()
	select {
	case <-ended:
		return true
	case <-pg.st.stopped:
		return false
	}
}

// poll scans every host slot, starting at slot first, and answers each
// request it can take, until it has found nothing for a spin budget. It
// starts with a token and gives it back through stop, unless it ends right
// after a handler, holding none.
func (pg *pollGroup) poll(first int) {
	defer pg.wg.Done()
	g, n := pg.g, len(pg.slots)
	budget := g.opts.SpinBudget
	for spins := budget; spins > 0; {
		if pg.st.stop.Load() || g.closing.Load() {
			break
		}
		found := false
		for j := 0; j < n; j++ {
			i := first + j
			if i >= n {
				i -= n
			}
			s := &pg.slots[i]
			ctrl := &s.hdr.ctrl
			// acquire: as in awaitRequest
			v := atomic.LoadUint32(ctrl)
			if !ctrlLegal(v) {
				// The slot's worker judges it: CORRUPT once it has seen
				// the word legal, else the host's to repair (see work).
				continue
			}
			if ctrlState(v) != stateReqReady {
				continue
			}
			// The take, as in work(): full barrier; fails if the requester
			// cancelled, announced, or another poller took it first.
			taken := v&^ctrlStateMask | stateProcessing
			if !atomic.CompareAndSwapUint32(ctrl, v, taken) {
				continue
			}
			found = true
			pg.enter(i)
			if err := g.serveOne(s, pg.h, taken); err != nil {
				pg.st.finish(fmt.Errorf("host slot %d: %w", i, err))
				return
			}
			if !pg.rejoin() {
				return
			}
		}
		if found {
			spins = budget
			continue
		}
		spins--
		switch {
		case spins%(4*yieldEvery) == 0:
			runtime.Gosched() // the other pollers and the parked workers
			osYield()         // the host's threads
		case spins%yieldEvery == 0:
			osYield()
		default:
			cpuPause()
		}
	}
	pg.stop()
}
