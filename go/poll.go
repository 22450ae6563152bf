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
// Handlers still never wait for one another: a poller that is about to
// run a handler while no other poller is free starts one more (up to one
// per slot), so a handler that blocks leaves the other slots served.

// errStandAside ends a worker's wait because the pollers are running.
var errStandAside = errors.New("pollers are running")

type pollGroup struct {
	g      *Guest
	h      Handler
	st     *serveState
	wg     *sync.WaitGroup
	slots  []slotView
	target int32 // pollers to start: GOMAXPROCS + 1, at most one per slot

	active atomic.Bool  // pollers are running: workers stand aside
	free   atomic.Int32 // running pollers not inside a handler

	mu      sync.Mutex
	running int32         // pollers alive
	gate    chan struct{} // closed when the last poller stops
}

func newPollGroup(g *Guest, h Handler, st *serveState, wg *sync.WaitGroup, slots []slotView) *pollGroup {
	target := int32(runtime.GOMAXPROCS(0)) + 1
	if int(target) > len(slots) {
		target = int32(len(slots))
	}
	gate := make(chan struct{})
	close(gate)
	return &pollGroup{g: g, h: h, st: st, wg: wg, slots: slots, target: target, gate: gate}
}

// start brings the pollers up unless they are running.
func (pg *pollGroup) start() {
	if pg.active.Load() {
		return
	}
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.running > 0 || pg.st.stop.Load() {
		return
	}
	pg.gate = make(chan struct{})
	pg.active.Store(true)
	for k := int32(0); k < pg.target; k++ {
		pg.spawnLocked(int(k))
	}
}

// spawnLocked starts one poller; pg.mu is held.
func (pg *pollGroup) spawnLocked(first int) {
	pg.running++
	pg.free.Add(1)
	pg.wg.Add(1)
	go pg.poll(first)
}

// exit is a poller's last step; the last one out lets the workers back.
func (pg *pollGroup) exit() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	pg.free.Add(-1)
	pg.running--
	if pg.running == 0 {
		pg.active.Store(false)
		close(pg.gate)
	}
}

// standAside parks a worker while the pollers run. It returns false when
// Serve is stopping.
func (pg *pollGroup) standAside() bool {
	pg.mu.Lock()
	gate := pg.gate
	pg.mu.Unlock()
	select {
	case <-gate:
		return true
	case <-pg.st.stopped:
		return false
	}
}

// poll scans every host slot, starting at slot first, and answers each
// request it can take, until it has found nothing for a spin budget.
func (pg *pollGroup) poll(first int) {
	defer pg.wg.Done()
	defer pg.exit()
	g, n := pg.g, len(pg.slots)
	budget := g.opts.SpinBudget
	for spins := budget; spins > 0; {
		if pg.st.stop.Load() || g.closing.Load() {
			return
		}
		found := false
		for j := 0; j < n; j++ {
			i := first + j
			if i >= n {
				i -= n
			}
			s := &pg.slots[i]
			ctrl := &s.hdr.ctrl
			// acquire: as in waitState
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
			if !pg.serve(i, s, taken) {
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
}

// serve answers the request taken in slot i. It returns false when this
// poller must stop: Serve failed, or there are more free pollers than
// needed after a handler that blocked.
func (pg *pollGroup) serve(i int, s *slotView, taken uint32) bool {
	if pg.free.Add(-1) == 0 {
		// Every other poller is inside a handler: keep one looking.
		pg.mu.Lock()
		if pg.running < int32(len(pg.slots)) && !pg.st.stop.Load() {
			pg.spawnLocked(i + 1)
		}
		pg.mu.Unlock()
	}
	err := pg.g.serveOne(s, pg.h, taken)
	if err != nil {
		pg.free.Add(1)
		pg.st.finish(fmt.Errorf("host slot %d: %w", i, err))
		return false
	}
	return pg.free.Add(1) <= pg.target
}
