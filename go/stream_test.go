package shmipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"
)

// The behaviour the conformance vectors (stream_vectors_test.go) cannot
// show: concurrency, the callback's answers, short response buffers and
// allocations.

// testLimits are small limits for unit tests.
func testLimits() StreamLimits {
	return StreamLimits{MaxStream: 1 << 20, MaxTotal: 1 << 21, MaxStreams: 4, MaxParked: 4, IdleTimeout: time.Second}
}

// collector is a StreamFunc that records deliveries; it refuses those
// whose app type is refuse (if not 0).
type collector struct {
	mu     sync.Mutex
	got    []delivery
	refuse MsgType
}

func (c *collector) deliver(id uint64, appType MsgType, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, delivery{id, appType, data})
	if c.refuse != 0 && appType == c.refuse {
		return ErrRefused
	}
	return nil
}

func (c *collector) deliveries() []delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]delivery(nil), c.got...)
}

// echoNext is the next Handler of the unit tests: it echoes.
func echoNext(req, resp []byte, t MsgType) (int, MsgType) { return copy(resp, req), t }

func newTestReassembler(t testing.TB, lim StreamLimits, c *collector) *Reassembler {
	t.Helper()
	r, err := NewReassembler(lim, c.deliver, echoNext)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startMsg and chunkMsg build stream requests.
func startMsg(id, total uint64, appType uint32) []byte {
	return putStreamHeader(nil, streamHeader{id: id, total: total, appType: appType})
}

func chunkMsg(id, total, off uint64, appType uint32, data []byte) []byte {
	return append(putStreamHeader(nil, streamHeader{id: id, total: total, offset: off, appType: appType}), data...)
}

func abortMsg(id, total uint64, appType uint32) []byte {
	return putStreamHeader(nil, streamHeader{id: id, total: total, appType: appType, flags: streamFlagAbort})
}

// send passes one message to r and returns the answer, failing the test
// if the response is not a well-formed 16-byte stream response.
func send(t testing.TB, r *Reassembler, typ MsgType, req []byte) (StreamReason, StreamState) {
	t.Helper()
	resp := make([]byte, 32)
	n, rt := r.Handle(req, resp, typ)
	if n != streamRespSize || rt != typ {
		t.Fatalf("response %d bytes type %d, want 16 bytes type %d", n, rt, typ)
	}
	le := binary.LittleEndian
	if mp := le.Uint32(resp[8:]); mp != uint32(r.lim.MaxParked) || le.Uint32(resp[12:]) != 0 {
		t.Fatalf("response max_parked %d reserved %d", mp, le.Uint32(resp[12:]))
	}
	return StreamReason(le.Uint32(resp)), StreamState(le.Uint32(resp[4:]))
}

func expect(t testing.TB, what string, status StreamReason, state StreamState, wantStatus StreamReason, wantState StreamState) {
	t.Helper()
	if status != wantStatus || state != wantState {
		t.Fatalf("%s: got %s %s want %s %s", what, status, state, wantStatus, wantState)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func TestNewReassemblerLimits(t *testing.T) {
	c := &collector{}
	ok := DefaultStreamLimits()
	if ok != (StreamLimits{1 << 30, 1 << 30, 16, 64, 10 * time.Second}) {
		t.Errorf("DefaultStreamLimits() = %+v", ok)
	}
	if _, err := NewReassembler(ok, c.deliver, echoNext); err != nil {
		t.Errorf("default limits: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*StreamLimits)
	}{
		{"max streams 0", func(l *StreamLimits) { l.MaxStreams = 0 }},
		{"max parked -1", func(l *StreamLimits) { l.MaxParked = -1 }},
		{"max parked 2^32", func(l *StreamLimits) { l.MaxParked = int(uint64(1<<32) & uint64(maxInt)) }},
		{"idle 0", func(l *StreamLimits) { l.IdleTimeout = 0 }},
		{"idle < 0", func(l *StreamLimits) { l.IdleTimeout = -time.Second }},
	} {
		lim := ok
		tc.edit(&lim)
		if lim.MaxParked == 0 && tc.name == "max parked 2^32" {
			continue // 32-bit int: the value cannot be expressed
		}
		if _, err := NewReassembler(lim, c.deliver, echoNext); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	if _, err := NewReassembler(ok, nil, echoNext); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil StreamFunc: %v, want ErrInvalid", err)
	}
	if _, err := NewReassembler(ok, c.deliver, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil next Handler: %v, want ErrInvalid", err)
	}
	zeroParked := ok
	zeroParked.MaxParked = 0
	if _, err := NewReassembler(zeroParked, c.deliver, echoNext); err != nil {
		t.Errorf("MaxParked 0: %v", err)
	}
}

func TestStreamNames(t *testing.T) {
	if StreamTooBig.String() != "too_big" || StreamRefused.String() != "refused" ||
		StreamReason(99).String() != "StreamReason(99)" {
		t.Errorf("StreamReason names: %v %v %v", StreamTooBig, StreamRefused, StreamReason(99))
	}
	if StreamDropped.String() != "dropped" || StreamState(7).String() != "StreamState(7)" {
		t.Errorf("StreamState names: %v %v", StreamDropped, StreamState(7))
	}
	if ErrRefused.Code() != -18 {
		t.Errorf("ErrRefused code %d, want -18", ErrRefused.Code())
	}
}

func TestReassemblerPassesOtherTypes(t *testing.T) {
	c := &collector{}
	r := newTestReassembler(t, testLimits(), c)
	for _, typ := range []MsgType{MsgNormal, MsgShutdown, MsgSystemError, MsgGuestCall, 6, 127, MsgAppStart, 4000} {
		resp := make([]byte, 64)
		n, rt := r.Handle([]byte("payload"), resp, typ)
		if n != 7 || rt != typ || string(resp[:n]) != "payload" {
			t.Errorf("type %d: got %d bytes %q type %d, want the echo", typ, n, resp[:n], rt)
		}
	}
	// A short response buffer is the next Handler's business.
	if n, _ := r.Handle([]byte("payload"), make([]byte, 3), MsgNormal); n != 3 {
		t.Errorf("non-stream message with a 3-byte buffer: n %d, want the next Handler's 3", n)
	}
}

func TestReassemblerRespTooSmall(t *testing.T) {
	c := &collector{}
	r := newTestReassembler(t, testLimits(), c)
	for size := 0; size < streamRespSize; size++ {
		for _, m := range []struct {
			typ MsgType
			req []byte
		}{{MsgStreamStart, startMsg(1, 0, 200)}, {MsgStreamStart, startMsg(2, 10, 200)},
			{MsgStreamChunk, chunkMsg(1, 0, 0, 200, []byte{1})}, {MsgStreamStart, nil}} {
			resp := make([]byte, size)
			n, rt := r.Handle(m.req, resp, m.typ)
			if n >= 0 {
				t.Fatalf("resp of %d bytes, type %d: n %d type %d, want n < 0", size, m.typ, n, rt)
			}
			// Through Serve's path this is a SYSTEM_ERROR answer.
			n, rt = invoke(r.Handle, m.req, resp, m.typ)
			if rt != MsgSystemError || n < 0 || n > size {
				t.Fatalf("resp of %d bytes via invoke: n %d type %d, want SYSTEM_ERROR", size, n, rt)
			}
		}
	}
	if st := r.Stats(); st != (StreamStats{}) || len(c.deliveries()) != 0 {
		t.Errorf("unanswerable messages changed the receiver: %+v, %d deliveries", st, len(c.deliveries()))
	}
	// Exactly 16 bytes is enough.
	n, rt := r.Handle(startMsg(1, 10, 200), make([]byte, 16), MsgStreamStart)
	if n != 16 || rt != MsgStreamStart {
		t.Errorf("16-byte buffer: n %d type %d", n, rt)
	}
}

func TestReassemblerRefused(t *testing.T) {
	c := &collector{refuse: 666}
	r := newTestReassembler(t, testLimits(), c)
	st, s := send(t, r, MsgStreamStart, startMsg(1, 20, 666))
	expect(t, "start", st, s, StreamOK, StreamOpen)
	st, s = send(t, r, MsgStreamChunk, chunkMsg(1, 20, 10, 666, pattern(10, 1)))
	expect(t, "first chunk", st, s, StreamOK, StreamOpen)
	st, s = send(t, r, MsgStreamChunk, chunkMsg(1, 20, 0, 666, pattern(10, 2)))
	expect(t, "completing chunk", st, s, StreamRefused, StreamDropped)
	st, s = send(t, r, MsgStreamStart, startMsg(2, 0, 666))
	expect(t, "empty stream", st, s, StreamRefused, StreamDropped)
	// The same ids open again, and other types are delivered.
	st, s = send(t, r, MsgStreamStart, startMsg(1, 3, 7))
	expect(t, "restart", st, s, StreamOK, StreamOpen)
	st, s = send(t, r, MsgStreamChunk, chunkMsg(1, 3, 0, 7, []byte("abc")))
	expect(t, "restart chunk", st, s, StreamOK, StreamComplete)
	got := c.deliveries()
	if len(got) != 3 || len(got[0].data) != 20 || len(got[1].data) != 0 || string(got[2].data) != "abc" {
		t.Fatalf("deliveries %+v", got)
	}
	if want := append(pattern(10, 2), pattern(10, 1)...); !bytes.Equal(got[0].data, want) {
		t.Errorf("refused stream was handed over as %x, want %x", got[0].data, want)
	}
	if st := r.Stats(); st.Delivered != 1 || st.Dropped != 2 || st.Open != 0 || st.Reserved != 0 || st.PeakReserved != 20 {
		t.Errorf("stats %+v, want 1 delivered, 2 dropped, peak 20", st)
	}
}

func TestReassemblerDeliverPanics(t *testing.T) {
	r, err := NewReassembler(testLimits(), func(uint64, MsgType, []byte) error { panic("deliver fails") }, echoNext)
	if err != nil {
		t.Fatal(err)
	}
	send(t, r, MsgStreamStart, startMsg(1, 4, 200))
	resp := make([]byte, 64)
	n, rt := invoke(r.Handle, chunkMsg(1, 4, 0, 200, []byte("data")), resp, MsgStreamChunk)
	if rt != MsgSystemError || !strings.Contains(string(resp[:n]), "deliver fails") {
		t.Errorf("panicking StreamFunc: type %d %q, want SYSTEM_ERROR", rt, resp[:n])
	}
	if st := r.Stats(); st != (StreamStats{PeakReserved: 4, Dropped: 1}) {
		t.Errorf("stats %+v, want the stream counted as dropped", st)
	}
	// The receiver still works.
	st, s := send(t, r, MsgStreamStart, startMsg(1, 4, 200))
	expect(t, "start after the panic", st, s, StreamOK, StreamOpen)
}

// A stream dropped while another message copies into it: that message
// answers status 0 with DROPPED, and the buffer stays reserved until its
// copy ends. Dropped here by ABORT, an overlapping chunk and the idle sweep.
func TestReassemblerDroppedDuringCopy(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(r *Reassembler, clk *fakeClock) (StreamReason, StreamState)
		want StreamReason
	}{
		{"abort", func(r *Reassembler, _ *fakeClock) (StreamReason, StreamState) {
			return send(t, r, MsgStreamChunk, abortMsg(1, 100, 200))
		}, StreamAborted},
		{"overlap", func(r *Reassembler, _ *fakeClock) (StreamReason, StreamState) {
			return send(t, r, MsgStreamChunk, chunkMsg(1, 100, 5, 200, pattern(10, 3)))
		}, StreamOverlap},
		{"idle", func(r *Reassembler, clk *fakeClock) (StreamReason, StreamState) {
			clk.t += 2 * time.Second
			return send(t, r, MsgStreamChunk, chunkMsg(1, 100, 50, 200, pattern(10, 3)))
		}, StreamUnknown},
	} {
		for _, completes := range []bool{false, true} {
			c := &collector{}
			r := newTestReassembler(t, testLimits(), c)
			clk := &fakeClock{}
			r.now = clk.now
			inCopy, release := make(chan struct{}), make(chan struct{})
			send(t, r, MsgStreamStart, startMsg(1, 100, 200))
			size := 10
			if completes {
				send(t, r, MsgStreamChunk, chunkMsg(1, 100, 10, 200, pattern(90, 4)))
			}
			r.copyHook = func(uint64) { close(inCopy); <-release }
			type answer struct {
				st StreamReason
				s  StreamState
			}
			done := make(chan answer, 1)
			go func() {
				st, s := send(t, r, MsgStreamChunk, chunkMsg(1, 100, 0, 200, pattern(size, 5)))
				done <- answer{st, s}
			}()
			select {
			case <-inCopy:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: waited 10s for the chunk to reach its copy", tc.name)
			}
			r.copyHook = nil // only the blocked copier saw it
			st, s := tc.drop(r, clk)
			wantState := StreamDropped
			if tc.want == StreamUnknown {
				wantState = StreamNone
			}
			expect(t, tc.name+": dropping message", st, s, tc.want, wantState)
			if st := r.Stats(); st.Open != 0 || st.Reserved != 100 || st.Dropped != 1 {
				t.Errorf("%s: during the copy stats %+v, want none open, 100 reserved, 1 dropped", tc.name, st)
			}
			// The id is free again while the old buffer is still held.
			st, s = send(t, r, MsgStreamStart, startMsg(1, 30, 200))
			expect(t, tc.name+": restart during the copy", st, s, StreamOK, StreamOpen)
			close(release)
			var a answer
			select {
			case a = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: waited 10s for the copying chunk's answer", tc.name)
			}
			expect(t, tc.name+": copying chunk", a.st, a.s, StreamOK, StreamDropped)
			if st := r.Stats(); st.Open != 1 || st.Reserved != 30 || st.Dropped != 1 || st.Delivered != 0 {
				t.Errorf("%s: after the copy stats %+v, want the new stream only", tc.name, st)
			}
			if got := c.deliveries(); len(got) != 0 {
				t.Errorf("%s: dropped stream delivered %d times", tc.name, len(got))
			}
		}
	}
}

// The header is read once: a host that rewrites it while the chunk is
// copied changes nothing.
func TestReassemblerHeaderReadOnce(t *testing.T) {
	c := &collector{}
	r := newTestReassembler(t, testLimits(), c)
	send(t, r, MsgStreamStart, startMsg(9, 20, 300))
	req := chunkMsg(9, 20, 0, 300, pattern(20, 6))
	r.copyHook = func(uint64) {
		hostile := putStreamHeader(nil, streamHeader{id: 1, total: 1 << 40, offset: 1 << 62, appType: 1, flags: 0xFFFFFFFF})
		copy(req, hostile)
	}
	st, s := send(t, r, MsgStreamChunk, req)
	expect(t, "chunk rewritten during its copy", st, s, StreamOK, StreamComplete)
	if got := c.deliveries(); len(got) != 1 || got[0].id != 9 || got[0].appType != 300 || !bytes.Equal(got[0].data, pattern(20, 6)) {
		t.Errorf("deliveries %+v", got)
	}
}

// Chunks of several streams arrive on several goroutines in random order;
// each stream is delivered once, intact, and exactly one chunk answers
// COMPLETE.
func TestReassemblerConcurrentChunks(t *testing.T) {
	const (
		streams  = 3
		total    = 48 << 10
		chunk    = 512
		workers  = 6
		nChunks  = total / chunk
		maxSlots = streams * nChunks
	)
	lim := testLimits()
	lim.MaxParked = nChunks
	c := &collector{}
	r := newTestReassembler(t, lim, c)
	payload := make([][]byte, streams)
	type job struct {
		id  uint64
		off int
	}
	var jobs []job
	for i := range payload {
		payload[i] = pattern(total, byte(i+1))
		for j := 0; j < i; j++ {
			payload[i][j] ^= 0xFF // distinct streams
		}
		id := uint64(i + 1)
		st, s := send(t, r, MsgStreamStart, startMsg(id, total, uint32(500+i)))
		expect(t, "start", st, s, StreamOK, StreamOpen)
		for off := 0; off < total; off += chunk {
			jobs = append(jobs, job{id, off})
		}
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	queue := make(chan job, maxSlots)
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	var mu sync.Mutex
	complete := map[uint64]int{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := make([]byte, 16)
			for j := range queue {
				i := j.id - 1
				req := chunkMsg(j.id, total, uint64(j.off), uint32(500+i), payload[i][j.off:j.off+chunk])
				n, rt := r.Handle(req, resp, MsgStreamChunk)
				st := StreamReason(binary.LittleEndian.Uint32(resp))
				s := StreamState(binary.LittleEndian.Uint32(resp[4:]))
				if n != 16 || rt != MsgStreamChunk || st != StreamOK || (s != StreamOpen && s != StreamComplete) {
					t.Errorf("chunk %d of stream %d: %d bytes type %d %s %s", j.off, j.id, n, rt, st, s)
					return
				}
				if s == StreamComplete {
					mu.Lock()
					complete[j.id]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	got := c.deliveries()
	if len(got) != streams {
		t.Fatalf("%d deliveries, want %d", len(got), streams)
	}
	for _, d := range got {
		i := d.id - 1
		if d.appType != MsgType(500+i) || !bytes.Equal(d.data, payload[i]) || complete[d.id] != 1 {
			t.Errorf("stream %d: type %d, intact %v, %d COMPLETE answers", d.id, d.appType,
				bytes.Equal(d.data, payload[i]), complete[d.id])
		}
	}
	if st := r.Stats(); st.Open != 0 || st.Reserved != 0 || st.Delivered != streams || st.PeakReserved != streams*total {
		t.Errorf("stats %+v", st)
	}
}

// Chunk handling and the non-stream path do not allocate.
func TestReassemblerAllocs(t *testing.T) {
	c := &collector{}
	r := newTestReassembler(t, DefaultStreamLimits(), c)
	const runs, size = 1000, 256
	total := uint64(4 * runs * size) // room for every run, warm-ups included
	send(t, r, MsgStreamStart, startMsg(1, total, 200))
	req := chunkMsg(1, total, 0, 200, pattern(size, 7))
	resp := make([]byte, 16)
	off := uint64(0)
	// In order, each chunk at the in-order point.
	if a := testing.AllocsPerRun(runs, func() {
		binary.LittleEndian.PutUint64(req[16:], off)
		off += size
		if n, _ := r.Handle(req, resp, MsgStreamChunk); n != 16 || resp[0] != 0 {
			t.Fatalf("chunk at %d refused: %d", off-size, resp[0])
		}
	}); a != 0 {
		t.Errorf("in-order chunk: %v allocations, want 0", a)
	}
	// Out of order: park a range ahead, then fill in behind it.
	if a := testing.AllocsPerRun(runs/4, func() {
		for _, o := range []uint64{off + size, off} {
			binary.LittleEndian.PutUint64(req[16:], o)
			if n, _ := r.Handle(req, resp, MsgStreamChunk); n != 16 || resp[0] != 0 {
				t.Fatalf("chunk at %d refused: %d", o, resp[0])
			}
		}
		off += 2 * size
	}); a != 0 {
		t.Errorf("parked then absorbed chunk: %v allocations, want 0", a)
	}
	other := []byte("not a stream")
	if a := testing.AllocsPerRun(runs, func() { r.Handle(other, resp, MsgNormal) }); a != 0 {
		t.Errorf("non-stream message: %v allocations, want 0", a)
	}
	malformed := make([]byte, 8)
	if a := testing.AllocsPerRun(runs, func() { r.Handle(malformed, resp, MsgStreamChunk) }); a != 0 {
		t.Errorf("refused chunk: %v allocations, want 0", a)
	}
	start := startMsg(2, 4096, 200)
	abort := abortMsg(2, 4096, 200)
	a := testing.AllocsPerRun(100, func() {
		r.Handle(start, resp, MsgStreamStart)
		r.Handle(abort, resp, MsgStreamChunk)
	})
	t.Logf("STREAM_START of 4096 bytes and its ABORT: %v allocations", a)
	if a > 4 {
		t.Errorf("STREAM_START: %v allocations, want at most 4 (stream, buffer, ranges, map growth)", a)
	}
}

func BenchmarkReassemblerChunk(b *testing.B) {
	c := &collector{}
	r := newTestReassembler(b, DefaultStreamLimits(), c)
	const size = 4096
	req := chunkMsg(1, 0, 0, 200, pattern(size, 1))
	resp := make([]byte, 16)
	b.ReportAllocs()
	b.SetBytes(size)
	id := uint64(1)
	perStream := uint64(1 << 20)
	binary.LittleEndian.PutUint64(req[8:], perStream)
	b.ResetTimer()
	off := uint64(0)
	for i := 0; i < b.N; i++ {
		if off == 0 {
			binary.LittleEndian.PutUint64(req[0:], id)
			r.Handle(startMsg(id, perStream, 200), resp, MsgStreamStart)
		}
		binary.LittleEndian.PutUint64(req[16:], off)
		r.Handle(req, resp, MsgStreamChunk)
		off += size
		if off == perStream {
			off = 0
			id++
			c.got = c.got[:0]
		}
	}
}

// A recycled buffer is handed to the next stream of its length, with every
// byte overwritten; it counts against MaxTotal and goes after IdleTimeout.
func TestReassemblerRecycle(t *testing.T) {
	const n = spareMin
	lim := StreamLimits{MaxStream: 2 * n, MaxTotal: 2 * n, MaxStreams: 2, MaxParked: 4, IdleTimeout: time.Second}
	c := &collector{}
	r := newTestReassembler(t, lim, c)
	clk := &fakeClock{}
	r.now = clk.now
	one := func(id uint64, seed byte) []byte {
		t.Helper()
		data := pattern(n, seed)
		st, sa := send(t, r, MsgStreamStart, startMsg(id, n, 300))
		expect(t, "start", st, sa, StreamOK, StreamOpen)
		st, sa = send(t, r, MsgStreamChunk, chunkMsg(id, n, 0, 300, data))
		expect(t, "chunk", st, sa, StreamOK, StreamComplete)
		got := c.deliveries()
		d := got[len(got)-1]
		if d.id != id || !bytes.Equal(d.data, data) {
			t.Fatalf("stream %d delivered wrong bytes", id)
		}
		return d.data
	}
	first := one(1, 1)
	r.Recycle(first)
	if st := r.Stats(); st.Cached != n || st.PeakReserved != n {
		t.Fatalf("after Recycle: %+v", st)
	}
	second := one(2, 2)
	if &second[0] != &first[0] {
		t.Fatal("the recycled buffer was not reused")
	}
	// A small buffer is not kept; a kept one goes when a new stream needs
	// its room, and after IdleTimeout.
	r.Recycle(make([]byte, 100))
	if r.Stats().Cached != 0 {
		t.Fatal("kept a small buffer")
	}
	r.Recycle(second)
	st, sa := send(t, r, MsgStreamStart, startMsg(3, 2*n, 300))
	expect(t, "start", st, sa, StreamOK, StreamOpen)
	if s := r.Stats(); s.Cached != 0 || s.Reserved != 2*n {
		t.Fatalf("spare kept past MaxTotal: %+v", s)
	}
	st2, sa2 := send(t, r, MsgStreamChunk, abortMsg(3, 2*n, 300))
	expect(t, "abort", st2, sa2, StreamAborted, StreamDropped)
	r.Recycle(second)
	clk.t += 2 * time.Second
	st2, sa2 = send(t, r, MsgStreamChunk, chunkMsg(9, 1, 0, 300, []byte{1}))
	expect(t, "unknown", st2, sa2, StreamUnknown, StreamNone)
	if r.Stats().Cached != 0 {
		t.Fatal("spare kept past IdleTimeout")
	}
}

// A stream opened and abandoned allocates nothing once the Reassembler has
// warmed up: a short one reuses a pooled block and its record, a long one
// the buffer of the last dropped stream of its length, which counts as
// Cached meanwhile.
func TestReassemblerAbandonedReuse(t *testing.T) {
	lim := StreamLimits{MaxStream: 2 * spareMin, MaxTotal: 2 * spareMin, MaxStreams: 2, MaxParked: 4, IdleTimeout: time.Hour}
	c := &collector{}
	r := newTestReassembler(t, lim, c)
	for _, total := range []uint64{100, blockSize - 1, spareMin, 2 * spareMin} {
		start, abort := startMsg(7, total, 300), abortMsg(7, total, 300)
		chunk := chunkMsg(7, total, total-10, 300, pattern(10, 3))
		var resp [streamRespSize]byte
		answer := func(typ MsgType, req []byte, want StreamReason) {
			if n, _ := r.Handle(req, resp[:], typ); n != streamRespSize || StreamReason(resp[0]) != want {
				t.Fatalf("total %d, type %d: answer %x, want %s", total, typ, resp, want)
			}
		}
		cycle := func() {
			answer(MsgStreamStart, start, StreamOK)
			answer(MsgStreamChunk, chunk, StreamOK)
			answer(MsgStreamChunk, abort, StreamAborted)
		}
		cycle()
		if total >= spareMin {
			if st := r.Stats(); st.Cached != total || st.Reserved != 0 {
				t.Errorf("total %d: after a drop %+v, want the buffer cached", total, st)
			}
		}
		if a := testing.AllocsPerRun(20, cycle); a != 0 {
			t.Errorf("total %d: %v allocations per stream opened and abandoned, want 0", total, a)
		}
	}
	if st := r.Stats(); st.Dropped != 4*22 || st.Open != 0 || st.Reserved != 0 {
		t.Errorf("after the cycles: %+v", st)
	}
}

// A short stream is reassembled in a pooled block and delivered as a copy
// of its own, exactly its length.
func TestReassemblerShortCopy(t *testing.T) {
	c := &collector{}
	r := newTestReassembler(t, testLimits(), c)
	data := pattern(1000, 9)
	for id := uint64(1); id <= 2; id++ {
		st, sa := send(t, r, MsgStreamStart, startMsg(id, 1000, 300))
		expect(t, "start", st, sa, StreamOK, StreamOpen)
		st, sa = send(t, r, MsgStreamChunk, chunkMsg(id, 1000, 0, 300, data))
		expect(t, "chunk", st, sa, StreamOK, StreamComplete)
	}
	got := c.deliveries()
	if len(got) != 2 || !bytes.Equal(got[0].data, data) || !bytes.Equal(got[1].data, data) ||
		cap(got[0].data) != 1000 || &got[0].data[0] == &got[1].data[0] {
		t.Fatalf("short streams delivered as %d buffers, caps %d", len(got), cap(got[0].data))
	}
	if len(r.blocks) != 1 {
		t.Errorf("%d pooled blocks after two short streams, want 1", len(r.blocks))
	}
}
