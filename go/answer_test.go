//go:build linux

package shmipc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The Go guest's large answers end to end, against the Go test host
// (host_test.go) doing the host's part of docs/PROTOCOL.md, "Large
// answers", by hand. The C host against this guest is the interop suite's
// (tests/test_answer_interop.c).

const answerTestCap = 4096

// answerBytes is the answer to a request of 8 bytes, LE length n.
func answerBytes(n uint64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(uint64(i)*131 + n*17 + 7)
	}
	return b
}

type answerGuest struct {
	h        *testHost
	g        *Guest
	a        *Answers
	released atomic.Int64
	serve    *serving
}

func startAnswers(t *testing.T, slots uint32, lim AnswerLimits) *answerGuest {
	ag := &answerGuest{}
	ag.h = newHost(t, hostConfig{hostSlots: slots, reqCapacity: answerTestCap, respCapacity: answerTestCap})
	ag.g = connect(t, ag.h, testOptions())
	lim.Release = func([]byte) { ag.released.Add(1) }
	a, err := NewAnswers(lim, func(req, resp []byte, ty MsgType) (int, []byte, MsgType) {
		if ty == MsgAppStart {
			return copy(resp, req), nil, ty
		}
		return 0, answerBytes(binary.LittleEndian.Uint64(req)), ty + 1
	})
	if err != nil {
		t.Fatal(err)
	}
	ag.a = a
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{cancel: cancel, errc: make(chan error, 1)}
	go func() { s.errc <- ag.g.ServeAnswers(ctx, a) }()
	t.Cleanup(func() {
		cancel()
		s.wait(t, 5*time.Second, "ServeAnswers to return at the end of the test")
	})
	ag.serve = s
	return ag
}

// pull makes one pull on host slot k and returns the status, the state,
// the total and the data.
func (ag *answerGuest) pull(t *testing.T, k int, id, off uint64, n, flags uint32) (PullStatus, AnswerState, uint64, []byte) {
	t.Helper()
	req := make([]byte, pullHdrSize)
	le := binary.LittleEndian
	le.PutUint64(req[pullID:], id)
	le.PutUint64(req[pullOffset:], off)
	le.PutUint32(req[pullLen:], n)
	le.PutUint32(req[pullFlags:], flags)
	resp := make([]byte, answerTestCap)
	m, rt, err := ag.h.call(k, uint32(MsgAnswerPull), req, false, resp, 5*time.Second)
	if err != nil || MsgType(rt) != MsgAnswerPull || m < pullRespSize {
		t.Fatalf("pull: %d bytes of type %d, %v", m, rt, err)
	}
	return PullStatus(le.Uint32(resp)), AnswerState(le.Uint32(resp[4:])), le.Uint64(resp[8:]), resp[pullRespSize:m]
}

// call asks for an answer of n bytes on slot k and pulls it whole.
func (ag *answerGuest) call(t *testing.T, k int, n uint64) ([]byte, MsgType) {
	t.Helper()
	resp := make([]byte, answerTestCap)
	m, rt, err := ag.h.call(k, uint32(MsgAppStart+1), binary.LittleEndian.AppendUint64(nil, n), false, resp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if MsgType(rt) != MsgLargeAnswer {
		return resp[:m], MsgType(rt)
	}
	le := binary.LittleEndian
	if m != answerHdrSize {
		t.Fatalf("announcement of %d bytes", m)
	}
	id, total, ty := le.Uint64(resp), le.Uint64(resp[8:]), MsgType(le.Uint32(resp[16:]))
	if total != n || id == 0 {
		t.Fatalf("announcement id %d total %d, want total %d", id, total, n)
	}
	var out []byte
	chunk := uint64(answerTestCap - pullRespSize)
	for off := uint64(0); off < total || off == 0; {
		c := total - off
		if c > chunk {
			c = chunk
		}
		var flags uint32
		if off+c == total {
			flags = pullRelease
		}
		st, state, got, data := ag.pull(t, k, id, off, uint32(c), flags)
		want := AnswerOpen
		if flags != 0 {
			want = AnswerReleased
		}
		if st != PullOK || state != want || got != total || uint64(len(data)) != c {
			t.Fatalf("pull at %d: %v %v %d, %d bytes", off, st, state, got, len(data))
		}
		out = append(out, data...)
		off += c
		if flags != 0 {
			break
		}
	}
	return out, ty
}

func (ag *answerGuest) waitEmpty(t *testing.T) AnswerStats {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := ag.a.Stats()
		if st.Parked == 0 && st.Held == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d answers parked, %d bytes held", st.Parked, st.Held)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLargeAnswerSizes(t *testing.T) {
	ag := startAnswers(t, 4, DefaultAnswerLimits())
	sizes := []uint64{0, 1, answerTestCap - 1, answerTestCap, answerTestCap + 1, 3*answerTestCap + 5, 17 << 20}
	for _, n := range sizes {
		got, ty := ag.call(t, 0, n)
		if ty != MsgAppStart+2 {
			t.Errorf("%d bytes: type %d", n, ty)
		}
		if sha256.Sum256(got) != sha256.Sum256(answerBytes(n)) {
			t.Errorf("%d bytes: SHA-256 differs (%d bytes in)", n, len(got))
		}
		ag.waitEmpty(t)
	}
	if r := ag.released.Load(); r != int64(len(sizes)) {
		t.Errorf("%d answers released, want %d", r, len(sizes))
	}
	if st := ag.a.Stats(); st.PeakHeld != 17<<20 || st.Released != 3 {
		t.Errorf("stats %+v, want PeakHeld %d, Released 3", st, 17<<20)
	}
}

// Pulls of one answer from several slots at once, in any order, under
// the race detector; the RELEASE last.
func TestLargeAnswerParallelPulls(t *testing.T) {
	ag := startAnswers(t, 4, DefaultAnswerLimits())
	const n = 1 << 20
	resp := make([]byte, answerTestCap)
	m, rt, err := ag.h.call(0, uint32(MsgAppStart+1), binary.LittleEndian.AppendUint64(nil, n), false, resp, 5*time.Second)
	if err != nil || MsgType(rt) != MsgLargeAnswer || m != answerHdrSize {
		t.Fatalf("%d bytes of type %d, %v", m, rt, err)
	}
	id := binary.LittleEndian.Uint64(resp)
	got := make([]byte, n)
	chunk := answerTestCap - pullRespSize
	var wg sync.WaitGroup
	for k := 0; k < 4; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			for off := k * chunk; off < n; off += 4 * chunk {
				c := n - off
				if c > chunk {
					c = chunk
				}
				st, state, _, data := ag.pull(t, k, id, uint64(off), uint32(c), 0)
				if st != PullOK || state != AnswerOpen {
					t.Errorf("pull at %d: %v %v", off, st, state)
					return
				}
				copy(got[off:], data)
			}
		}(k)
	}
	wg.Wait()
	if st, state, _, _ := ag.pull(t, 0, id, 0, 0, pullRelease); st != PullOK || state != AnswerReleased {
		t.Fatalf("release: %v %v", st, state)
	}
	if !bytes.Equal(got, answerBytes(n)) {
		t.Fatal("the pulled bytes differ")
	}
	ag.waitEmpty(t)
}

// A parked answer nobody pulls is swept by Serve while idle; everything
// parked is dropped when Serve ends.
func TestLargeAnswerExpiryAndEnd(t *testing.T) {
	lim := DefaultAnswerLimits()
	lim.IdleTimeout = 100 * time.Millisecond
	ag := startAnswers(t, 2, lim)
	resp := make([]byte, answerTestCap)
	if _, rt, err := ag.h.call(0, uint32(MsgAppStart+1), binary.LittleEndian.AppendUint64(nil, 10000), false, resp, 5*time.Second); err != nil || MsgType(rt) != MsgLargeAnswer {
		t.Fatalf("type %d, %v", rt, err)
	}
	id := binary.LittleEndian.Uint64(resp)
	start := time.Now()
	st := ag.waitEmpty(t)
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("dropped after %v, idle timeout 100ms", d)
	}
	if st.Expired != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v, want 1 expired", st)
	}
	if s, state, _, _ := ag.pull(t, 1, id, 0, 10, 0); s != PullExpired || state != AnswerNone {
		t.Errorf("pull of an expired answer: %v %v", s, state)
	}
	// parked, then the session ends
	if _, rt, err := ag.h.call(1, uint32(MsgAppStart+1), binary.LittleEndian.AppendUint64(nil, 10000), false, resp, 5*time.Second); err != nil || MsgType(rt) != MsgLargeAnswer {
		t.Fatalf("type %d, %v", rt, err)
	}
	if ag.a.Stats().Parked != 1 {
		t.Fatal("not parked")
	}
	ag.serve.cancel()
	ag.serve.wait(t, 5*time.Second, "ServeAnswers to return")
	if st := ag.a.Stats(); st.Parked != 0 || st.Held != 0 {
		t.Errorf("after Serve: %+v", st)
	}
	if r := ag.released.Load(); r != 2 {
		t.Errorf("%d answers released, want 2", r)
	}
}

// A host that dies with an answer half-read (its liveness lock dropped, as
// the kernel does for a killed process): Serve ends with ErrHostGone and
// the parked answers are released at once, the half-read one and one never
// pulled alike.
func TestLargeAnswerHostKilled(t *testing.T) {
	lim := DefaultAnswerLimits()
	lim.IdleTimeout = time.Hour // only the host's end may free them
	ag := startAnswers(t, 2, lim)
	resp := make([]byte, answerTestCap)
	var ids [2]uint64
	for k := range ids {
		_, rt, err := ag.h.call(k, uint32(MsgAppStart+1), binary.LittleEndian.AppendUint64(nil, 1<<20), false, resp, 5*time.Second)
		if err != nil || MsgType(rt) != MsgLargeAnswer {
			t.Fatalf("type %d, %v", rt, err)
		}
		ids[k] = binary.LittleEndian.Uint64(resp)
	}
	if st, state, _, data := ag.pull(t, 0, ids[0], 0, 1000, 0); st != PullOK || state != AnswerOpen || !bytes.Equal(data, answerBytes(1 << 20)[:1000]) {
		t.Fatalf("first pull: %v %v, %d bytes", st, state, len(data))
	}
	if st := ag.a.Stats(); st.Parked != 2 || st.Held != 2<<20 {
		t.Fatalf("before the host's death: %+v", st)
	}
	start := time.Now()
	ag.h.dropLock()
	if err := ag.serve.wait(t, 5*time.Second, "ServeAnswers to notice the host is gone"); !errors.Is(err, ErrHostGone) {
		t.Errorf("ServeAnswers: %v, want ErrHostGone", err)
	}
	st := ag.a.Stats()
	t.Logf("host gone: answers freed %v after the lock was dropped", time.Since(start))
	if st.Parked != 0 || st.Held != 0 || st.Dropped != 2 || st.Expired != 0 {
		t.Errorf("after the host's death: %+v, want nothing parked, 2 dropped", st)
	}
	if r := ag.released.Load(); r != 2 {
		t.Errorf("%d answers released, want 2", r)
	}
}

// The limits refuse with a reason (SYSTEM_ERROR), and release the bytes.
func TestLargeAnswerLimits(t *testing.T) {
	lim := DefaultAnswerLimits()
	lim.MaxAnswer = 20000
	lim.MaxAnswers = 1
	ag := startAnswers(t, 2, lim)
	b, rt := ag.call(t, 0, 20001)
	if rt != MsgSystemError || !bytes.Contains(b, []byte("large answer: length 20001, limit 20000")) {
		t.Errorf("%q of type %d", b, rt)
	}
	resp := make([]byte, answerTestCap)
	if _, rt, _ := ag.h.call(0, uint32(MsgAppStart+1), binary.LittleEndian.AppendUint64(nil, 10000), false, resp, 5*time.Second); MsgType(rt) != MsgLargeAnswer {
		t.Fatalf("type %d", rt)
	}
	b, rt = ag.call(t, 1, 10000)
	if rt != MsgSystemError || !bytes.Contains(b, []byte("answers parked")) {
		t.Errorf("%q of type %d", b, rt)
	}
	if r := ag.released.Load(); r != 2 {
		t.Errorf("%d released, want 2", r)
	}
}

// The small-answer path of Answers.Handle allocates nothing, and neither
// does a pull.
func TestLargeAnswerAllocs(t *testing.T) {
	a, err := NewAnswers(DefaultAnswerLimits(), func(req, resp []byte, ty MsgType) (int, []byte, MsgType) {
		if ty == MsgAppStart {
			return copy(resp, req), nil, ty
		}
		return 0, answerBytes(1 << 16), ty
	})
	if err != nil {
		t.Fatal(err)
	}
	req, resp := make([]byte, 64), make([]byte, answerTestCap)
	if n := testing.AllocsPerRun(1000, func() { a.Handle(req, resp, MsgAppStart) }); n != 0 {
		t.Errorf("small answer: %v allocations per call", n)
	}
	if _, rt := a.Handle(req[:8], resp, MsgAppStart+1); rt != MsgLargeAnswer {
		t.Fatalf("type %d", rt)
	}
	pull := make([]byte, pullHdrSize)
	binary.LittleEndian.PutUint64(pull, binary.LittleEndian.Uint64(resp))
	binary.LittleEndian.PutUint32(pull[pullLen:], 1000)
	if n := testing.AllocsPerRun(1000, func() {
		if _, rt := a.Handle(pull, resp, MsgAnswerPull); rt != MsgAnswerPull || PullStatus(binary.LittleEndian.Uint32(resp)) != PullOK {
			t.Fatal("pull refused")
		}
	}); n != 0 {
		t.Errorf("pull: %v allocations per call", n)
	}
}

func BenchmarkAnswersSmall(b *testing.B) {
	a, _ := NewAnswers(DefaultAnswerLimits(), func(req, resp []byte, ty MsgType) (int, []byte, MsgType) {
		return copy(resp, req), nil, ty
	})
	req, resp := make([]byte, 64), make([]byte, answerTestCap)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		a.Handle(req, resp, MsgAppStart)
	}
}

// The whole serve path through ServeAnswers allocates nothing for a small
// answer, and nothing per pull of a parked one (measured over the whole
// process: guest workers, handler, test host).
func TestServeAnswersZeroAllocs(t *testing.T) {
	ag := startAnswers(t, 2, DefaultAnswerLimits())
	req := bytes.Repeat([]byte{0xA5}, 64)
	resp := make([]byte, answerTestCap)
	var failed error
	small := func() {
		n, rt, err := ag.h.call(0, uint32(MsgAppStart), req, false, resp, 5*time.Second)
		if err != nil || n != len(req) || MsgType(rt) != MsgAppStart {
			failed = fmt.Errorf("%d bytes of type %d, %v", n, rt, err)
		}
	}
	small() // warm up
	if a := testing.AllocsPerRun(500, small); a != 0 || failed != nil {
		t.Errorf("small answer through ServeAnswers: %v allocations per request (err %v), want 0", a, failed)
	}
	if _, rt, err := ag.h.call(1, uint32(MsgAppStart+1), binary.LittleEndian.AppendUint64(nil, 1<<20), false, resp, 5*time.Second); err != nil || MsgType(rt) != MsgLargeAnswer {
		t.Fatalf("type %d, %v", rt, err)
	}
	pull := make([]byte, pullHdrSize)
	binary.LittleEndian.PutUint64(pull, binary.LittleEndian.Uint64(resp))
	binary.LittleEndian.PutUint32(pull[pullLen:], answerTestCap-pullRespSize)
	if a := testing.AllocsPerRun(200, func() {
		n, rt, err := ag.h.call(1, uint32(MsgAnswerPull), pull, false, resp, 5*time.Second)
		if err != nil || n != answerTestCap || MsgType(rt) != MsgAnswerPull || PullStatus(binary.LittleEndian.Uint32(resp)) != PullOK {
			failed = fmt.Errorf("pull: %d bytes of type %d, %v", n, rt, err)
		}
	}); a != 0 || failed != nil {
		t.Errorf("pull through ServeAnswers: %v allocations per pull (err %v), want 0", a, failed)
	}
}
