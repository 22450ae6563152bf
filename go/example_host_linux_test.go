package shmipc

// The host of the package's examples (example_test.go). A guest needs a
// host that created its segment, normally a C program (the repository's
// examples/host_example.c); inside `go test` the test host of host_test.go
// plays that part, so that the examples run and their output is checked.

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// ExamplesHostRequest is one request the examples' host sends: Data with
// type Type, or, if Stream, Data as one stream of application type Type.
type ExamplesHostRequest struct {
	Type   MsgType
	Data   []byte
	Stream bool
}

// examplesTB is the testing.TB the test host needs, outside a test: a
// failure is printed (so the example's output no longer matches) and, for
// Fatalf, ends the host's goroutine.
type examplesTB struct {
	testing.TB // nil: only the methods below are called
	mu         sync.Mutex
	cleanups   []func()
}

func (t *examplesTB) Helper() {}

func (t *examplesTB) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "examples host: "+format+"\n", args...)
}

func (t *examplesTB) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic(fmt.Sprintf(format, args...))
}

func (t *examplesTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *examplesTB) cleanup() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

// StartExamplesHost creates a segment under a name of its own with two host
// slots and one guest slot, and plays the host on a goroutine: it echoes
// guest calls from a listener, waits up to 5 s for a guest, sends reqs one
// at a time (each answer within 5 s), then closes the session and, once the
// guest has detached (or 5 s passed), removes the segment. It returns the
// segment's name. It exists only in the package's tests.
func StartExamplesHost(reqs ...ExamplesHostRequest) string {
	examplesHosts.Add(1)
	tb := &examplesTB{}
	h := newHost(tb, hostConfig{hostSlots: 2, guestSlots: 1})
	h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
	go func() {
		defer examplesHosts.Done()
		defer tb.cleanup()
		defer func() {
			if p := recover(); p != nil {
				h.close()
			}
		}()
		waitGuest(h, attachAttached, true, "the guest to attach")
		resp := make([]byte, h.geo.respCapacity)
		var streamID uint64
		for _, r := range reqs {
			msgs := [][]byte{r.Data}
			t := uint32(r.Type)
			if r.Stream {
				streamID++
				total := uint64(len(r.Data))
				msgs = [][]byte{startMsg(streamID, total, t), chunkMsg(streamID, total, 0, t, r.Data)}
				t = uint32(MsgStreamStart)
			}
			for i, m := range msgs {
				if i > 0 {
					t = uint32(MsgStreamChunk)
				}
				if _, _, err := h.call(0, t, m, false, resp, 5*time.Second); err != nil {
					tb.Fatalf("request of type %d: %v", t, err)
				}
			}
		}
		h.close()
		waitGuest(h, attachDetached, false, "the guest to detach")
	}()
	return h.name
}

// examplesHosts counts the examples' hosts still running; TestMain waits
// for them, so that no segment outlives the test binary.
var examplesHosts sync.WaitGroup

// waitGuest waits up to 5 s for the guest's attach state and lock.
func waitGuest(h *testHost, state uint32, locked bool, what string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, l := h.guestAttached()
		if st == state && l == locked {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("waited 5s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
