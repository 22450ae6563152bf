//go:build linux

package shmipc

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The guest's StreamSender against the test host, whose listener serves
// the guest slots with a Reassembler (the Go one: the C host's receiver is
// the interop suite's, tests/test_guest_stream.c).

// streamHost is a test host with a receiver of lim on its guest slots and
// a guest connected to it.
type streamHost struct {
	h   *testHost
	g   *Guest
	r   *Reassembler
	mu  sync.Mutex
	got map[uint64][32]byte
	len map[uint64]int
}

func newStreamHost(t *testing.T, guestSlots uint32, lim StreamLimits) *streamHost {
	t.Helper()
	sh := &streamHost{got: map[uint64][32]byte{}, len: map[uint64]int{}}
	sh.h = newHost(t, hostConfig{hostSlots: 1, guestSlots: guestSlots, reqCapacity: 4096, respCapacity: 4096})
	r, err := NewReassembler(lim, func(id uint64, _ MsgType, data []byte) error {
		sh.mu.Lock()
		sh.got[id] = sha256.Sum256(data)
		sh.len[id] = len(data)
		sh.mu.Unlock()
		return nil
	}, func(req, resp []byte, t MsgType) (int, MsgType) { return copy(resp, req), t })
	if err != nil {
		t.Fatal(err)
	}
	sh.r = r
	sh.g = connect(t, sh.h, Options{LivenessInterval: 20 * time.Millisecond})
	return sh
}

// serve starts the listener through the receiver.
func (sh *streamHost) serve() {
	sh.h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		n, rt := sh.r.Handle(req, resp, MsgType(t))
		return n, uint32(rt)
	})
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func TestStreamSenderSizes(t *testing.T) {
	sh := newStreamHost(t, 4, DefaultStreamLimits())
	sh.serve()
	snd, err := sh.g.NewStreamSender(nil)
	if err != nil {
		t.Fatal(err)
	}
	chunk := 4096 - streamHeaderSize
	for i, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 17 << 20} {
		data := randomBytes(n, int64(i))
		id, err := snd.Send(MsgAppStart+9, data, 60*time.Second)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		sh.mu.Lock()
		sum, ok := sh.got[id]
		got := sh.len[id]
		sh.mu.Unlock()
		if !ok || got != n || sum != sha256.Sum256(data) {
			t.Fatalf("%d bytes: stream %d delivered %v with %d bytes, SHA-256 equal %v", n, id, ok, got, sum == sha256.Sum256(data))
		}
	}
	if st := sh.r.Stats(); st.Open != 0 || st.Reserved != 0 || st.Delivered != 6 {
		t.Fatalf("receiver after the sends: %+v", st)
	}
}

func TestStreamSenderConcurrent(t *testing.T) {
	sh := newStreamHost(t, 8, DefaultStreamLimits())
	sh.serve()
	snd, err := sh.g.NewStreamSender(&StreamConfig{Depth: 3})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for k := 0; k < 4; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				data := randomBytes(100000+k*7777+i, int64(k*100+i))
				id, err := snd.Send(MsgAppStart, data, 30*time.Second)
				if err != nil {
					errs <- err
					return
				}
				sh.mu.Lock()
				sum := sh.got[id]
				sh.mu.Unlock()
				if sum != sha256.Sum256(data) {
					errs <- errors.New("SHA-256 differs")
					return
				}
			}
		}(k)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A refusal names the stream, the chunk, its offset and the reason.
func TestStreamSenderRefusal(t *testing.T) {
	lim := DefaultStreamLimits()
	lim.MaxStream = 1 << 20
	sh := newStreamHost(t, 4, lim)
	// the receiver, but chunk 3 of every stream is answered OVERLAP
	sh.h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		if MsgType(t) == MsgStreamChunk && len(req) > streamHeaderSize &&
			binary.LittleEndian.Uint64(req[16:]) == 3*uint64(4096-streamHeaderSize) {
			le := binary.LittleEndian
			le.PutUint32(resp[0:], uint32(StreamOverlap))
			le.PutUint32(resp[4:], uint32(StreamDropped))
			le.PutUint32(resp[8:], 64)
			le.PutUint32(resp[12:], 0)
			return streamRespSize, t
		}
		n, rt := sh.r.Handle(req, resp, MsgType(t))
		return n, uint32(rt)
	})
	snd, err := sh.g.NewStreamSender(&StreamConfig{Depth: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = snd.Send(MsgAppStart, make([]byte, 1<<20+1), 10*time.Second)
	var se *StreamError
	if !errors.As(err, &se) || !errors.Is(err, ErrRefused) || se.Reason != StreamTooBig || se.Chunk != -1 {
		t.Fatalf("too big: %v (%+v)", err, se)
	}
	id, err := snd.Send(MsgAppStart, make([]byte, 100000), 10*time.Second)
	if !errors.As(err, &se) || !errors.Is(err, ErrRefused) || se.Reason != StreamOverlap ||
		se.Chunk != 3 || se.Offset != 3*uint64(4096-streamHeaderSize) || se.ID != id || se.Accepted != 3 {
		t.Fatalf("refused chunk: %v (%+v)", err, se)
	}
	t.Logf("%v", err)
}

// A host without a stream receiver answers the start as any guest call.
func TestStreamSenderNoReceiver(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 2, reqCapacity: 4096, respCapacity: 4096})
	g := connect(t, h, Options{})
	h.listen(func(req, resp []byte, t uint32) (int, uint32) { return copy(resp, req), t })
	snd, err := g.NewStreamSender(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snd.Send(MsgAppStart, make([]byte, 10000), 5*time.Second); !errors.Is(err, ErrRemote) {
		t.Fatalf("got %v, want ErrRemote", err)
	}
}

func TestStreamSenderConfig(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 2, reqCapacity: 4096, respCapacity: 4096})
	g := connect(t, h, Options{})
	for _, c := range []StreamConfig{{Depth: -1}, {Depth: 65}, {ChunkSize: 4096 - 31}, {ChunkSize: -1}} {
		if _, err := g.NewStreamSender(&c); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want ErrInvalid", c, err)
		}
	}
	h2 := newHost(t, hostConfig{hostSlots: 1, guestSlots: 0, reqCapacity: 4096, respCapacity: 4096})
	g2 := connect(t, h2, Options{})
	if _, err := g2.NewStreamSender(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("no guest slots: got %v, want ErrInvalid", err)
	}
}

// slowHost serves guest stream messages through sh's receiver with a pause
// before each, and counts the ABORT chunks it sees.
func (sh *streamHost) slowServe(pause time.Duration, aborts *atomic.Int32) {
	sh.h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		if MsgType(t) == MsgStreamChunk && len(req) >= streamHeaderSize &&
			binary.LittleEndian.Uint32(req[28:])&streamFlagAbort != 0 {
			aborts.Add(1)
		} else {
			time.Sleep(pause)
		}
		n, rt := sh.r.Handle(req, resp, MsgType(t))
		return n, uint32(rt)
	})
}

// One timeout bounds the whole send, and the sender aborts the stream.
func TestStreamSenderWholeTimeout(t *testing.T) {
	sh := newStreamHost(t, 4, DefaultStreamLimits())
	var aborts atomic.Int32
	sh.slowServe(2*time.Millisecond, &aborts)
	snd, err := sh.g.NewStreamSender(nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	// 1 MiB is 258 chunks of 2 ms or more each: well over the timeout
	_, err = snd.Send(MsgAppStart, make([]byte, 1<<20), 150*time.Millisecond)
	took := time.Since(t0)
	var se *StreamError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &se) || se.Chunk < 0 {
		t.Fatalf("got %v, want ErrTimeout at a chunk", err)
	}
	t.Logf("whole-stream timeout 150 ms: Send returned after %v (%v)", took, err)
	if took < 150*time.Millisecond || took > time.Second {
		t.Fatalf("Send took %v for a 150 ms timeout", took)
	}
	deadline := time.Now().Add(2 * time.Second)
	for aborts.Load() == 0 || sh.r.Stats().Open != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no abort freed the stream: %d aborts, %+v", aborts.Load(), sh.r.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// A host that dies mid-stream: Send returns ErrPeerGone within about a
// liveness interval (20 ms here).
func TestStreamSenderHostDies(t *testing.T) {
	sh := newStreamHost(t, 4, DefaultStreamLimits())
	var aborts atomic.Int32
	sh.slowServe(time.Millisecond, &aborts)
	snd, err := sh.g.NewStreamSender(nil)
	if err != nil {
		t.Fatal(err)
	}
	var died atomic.Int64
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(100 * time.Millisecond)
		sh.h.stopListening()
		died.Store(time.Now().UnixNano())
		sh.h.dropLock()
	}()
	_, err = snd.Send(MsgAppStart, make([]byte, 4<<20), 30*time.Second)
	after := time.Duration(time.Now().UnixNano() - died.Load())
	<-killed // the test host is the cleanup's again
	var se *StreamError
	if !errors.Is(err, ErrPeerGone) || !errors.As(err, &se) || se.Accepted == 0 || se.Accepted >= se.Chunks {
		t.Fatalf("got %v, want ErrPeerGone mid-stream", err)
	}
	t.Logf("host died mid-stream: Send returned %v after the death (%d of %d chunks accepted)", after, se.Accepted, se.Chunks)
	if after > time.Second {
		t.Fatalf("Send noticed the host's death after %v", after)
	}
	if aborts.Load() != 0 {
		t.Fatalf("%d aborts sent to a dead host", aborts.Load())
	}
}

// ackHost answers every stream message as accepted without allocating:
// COMPLETE for the message that reaches the total, OPEN otherwise.
func ackHost(h *testHost) {
	h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		le := binary.LittleEndian
		state := StreamOpen
		if len(req) >= streamHeaderSize {
			hd := parseStreamHeader(req)
			if hd.offset+uint64(len(req)-streamHeaderSize) == hd.total {
				state = StreamComplete
			}
		}
		le.PutUint32(resp[0:], 0)
		le.PutUint32(resp[4:], uint32(state))
		le.PutUint32(resp[8:], 64)
		le.PutUint32(resp[12:], 0)
		return streamRespSize, t
	})
}

// Send allocates nothing, whatever the number of chunks.
func TestStreamSenderZeroAllocs(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 4, reqCapacity: 4096, respCapacity: 4096})
	g := connect(t, h, Options{})
	ackHost(h)
	snd, err := g.NewStreamSender(nil)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64*(4096-streamHeaderSize))
	for _, n := range []int{4096 - streamHeaderSize, len(data)} {
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := snd.Send(MsgAppStart, data[:n], 5*time.Second); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("a %d-byte send made %v allocations, want 0", n, allocs)
		}
	}
}

// Stream ids come from one counter per guest, whatever the sender.
func TestStreamSenderIDs(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, guestSlots: 2, reqCapacity: 4096, respCapacity: 4096})
	g := connect(t, h, Options{})
	ackHost(h)
	a, _ := g.NewStreamSender(nil)
	b, _ := g.NewStreamSender(nil)
	var ids []uint64
	for _, s := range []*StreamSender{a, b, a} {
		id, err := s.Send(MsgAppStart, []byte("x"), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0] != 1 || ids[1] != 2 || ids[2] != 3 {
		t.Fatalf("ids %v, want 1 2 3", ids)
	}
}

// The sender's answer parser judges every answer as the C sender does.
func TestParseStreamAnswer(t *testing.T) {
	ans := func(status, state, parked uint32) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint32(b[0:], status)
		binary.LittleEndian.PutUint32(b[4:], state)
		binary.LittleEndian.PutUint32(b[8:], parked)
		return b
	}
	for _, c := range []struct {
		req, resp MsgType
		b         []byte
		want      error
	}{
		{MsgStreamStart, MsgStreamStart, ans(0, 1, 9), nil},
		{MsgStreamStart, MsgStreamChunk, ans(0, 1, 9), ErrRemote},
		{MsgStreamStart, MsgStreamStart, ans(0, 1, 9)[:15], ErrRemote},
		{MsgStreamStart, MsgSystemError, nil, ErrRemote},
		{MsgStreamChunk, MsgStreamStart, ans(0, 1, 9), ErrCorrupt},
		{MsgStreamChunk, MsgStreamChunk, bytes.Repeat([]byte{0}, 32), ErrCorrupt},
		{MsgStreamChunk, MsgStreamChunk, ans(0, 0, 9), ErrCorrupt},
		{MsgStreamChunk, MsgStreamChunk, ans(0, 4, 9), ErrCorrupt},
		{MsgStreamChunk, MsgStreamChunk, ans(7, 0, 9), nil},
		{MsgStreamChunk, MsgStreamChunk, ans(0, 3, 9), nil},
	} {
		_, _, parked, err := parseStreamAnswer(c.req, c.resp, len(c.b), c.b)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%v -> %v %x: got %v, want %v", c.req, c.resp, c.b, err, c.want)
		}
		if err == nil && parked != 9 {
			t.Errorf("max_parked %d", parked)
		}
	}
}

// Close during a Send: the send ends with ErrClosed and Close completes.
func TestStreamSenderCloseMidStream(t *testing.T) {
	sh := newStreamHost(t, 4, DefaultStreamLimits())
	var aborts atomic.Int32
	sh.slowServe(time.Millisecond, &aborts)
	snd, err := sh.g.NewStreamSender(nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		closed <- sh.g.Close()
	}()
	_, err = snd.Send(MsgAppStart, make([]byte, 4<<20), 30*time.Second)
	var se *StreamError
	if !errors.Is(err, ErrClosed) || !errors.As(err, &se) || se.Accepted == 0 {
		t.Fatalf("got %v, want ErrClosed mid-stream", err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if _, err := snd.Send(MsgAppStart, []byte("x"), time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("a send after Close: %v, want ErrClosed", err)
	}
}
