//go:build linux

package shmipc

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// endAlignedEcho answers with the request bytes at the end of resp.
func endAlignedEcho(req, resp []byte, t MsgType) (int, MsgType) {
	for i := range resp[:len(resp)-len(req)] {
		resp[i] = 0xEE // not the answer
	}
	return copy(resp[len(resp)-len(req):], req), t | RespEndAligned
}

// A Handler that ORs RespEndAligned into its type answers in place at the
// end of the response buffer: the host sees END_ALIGNED, the type without
// the bit, and the bytes at the end, for 0 bytes, 1 byte and the whole
// buffer; and the serve path still allocates nothing.
func TestServeEndAligned(t *testing.T) {
	const capacity = 128
	h := newHost(t, hostConfig{hostSlots: 1, reqCapacity: capacity, respCapacity: capacity})
	g := connect(t, h, testOptions())
	startServe(t, g, endAlignedEcho)
	resp := make([]byte, capacity)
	for _, size := range []int{0, 1, capacity} {
		req := bytes.Repeat([]byte{byte(size + 1)}, size)
		for i := range req {
			req[i] += byte(i)
		}
		n, rt, flags, err := h.callFlags(0, uint32(MsgAppStart), req, false, resp, 5*time.Second)
		if err != nil || n != size || rt != uint32(MsgAppStart) || flags != flagEndAligned || !bytes.Equal(resp[:n], req) {
			t.Errorf("%d bytes: got %d bytes type %#x flags %#x (err %v), equal %v; want %d bytes type %#x flags %#x",
				size, n, rt, flags, err, bytes.Equal(resp[:n], req), size, MsgAppStart, flagEndAligned)
		}
	}
	req := make([]byte, 64)
	var failed error
	if a := testing.AllocsPerRun(200, func() {
		if _, _, _, err := h.callFlags(0, uint32(MsgAppStart), req, false, resp, 5*time.Second); err != nil {
			failed = err
		}
	}); a != 0 || failed != nil {
		t.Errorf("end-aligned answer: %v allocations per request (err %v), want 0", a, failed)
	}
}

// A request type with bit 31 is no message type: an echo would send it
// back as its own type and so ask for an end-aligned answer. The guest
// answers MsgSystemError, start-aligned, and goes on serving.
func TestServeRefusesTypeBit31(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, reqCapacity: 64, respCapacity: 64})
	g := connect(t, h, testOptions())
	startServe(t, g, echo)
	resp := make([]byte, 64)
	n, rt, flags, err := h.callFlags(0, uint32(MsgAppStart|RespEndAligned), []byte("ab"), false, resp, 5*time.Second)
	if err != nil || rt != uint32(MsgSystemError) || flags != 0 || !bytes.HasPrefix(resp[:n], []byte("corrupt request: req_type")) {
		t.Errorf("type bit 31: got type %#x flags %#x %q (err %v), want MsgSystemError \"corrupt request: req_type ...\"", rt, flags, resp[:n], err)
	}
	if n, rt, err := h.call(0, uint32(MsgAppStart), []byte("ab"), false, resp, 5*time.Second); err != nil || rt != uint32(MsgAppStart) || string(resp[:n]) != "ab" {
		t.Errorf("after it: got type %#x %q (err %v), want the echo", rt, resp[:n], err)
	}
}

// A large answer (AnswerHandler's big) is copied to the start of the slot
// or pulled in order: RespEndAligned means nothing there and is dropped.
// One that the handler writes into resp itself may be end-aligned.
func TestAnswersEndAligned(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1, reqCapacity: 64, respCapacity: 64})
	g := connect(t, h, testOptions())
	a, err := NewAnswers(DefaultAnswerLimits(), func(req, resp []byte, t MsgType) (int, []byte, MsgType) {
		if t == MsgAppStart {
			big := append([]byte(nil), req...)
			return 0, big, t | RespEndAligned
		}
		n, rt := endAlignedEcho(req, resp, t)
		return n, nil, rt
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.ServeAnswers(ctx, a) }()
	defer func() {
		cancel()
		<-errc
	}()
	resp := make([]byte, 64)
	n, rt, flags, err := h.callFlags(0, uint32(MsgAppStart), []byte("big"), false, resp, 5*time.Second)
	if err != nil || rt != uint32(MsgAppStart) || flags != 0 || string(resp[:n]) != "big" {
		t.Errorf("big in the slot: got type %#x flags %#x %q (err %v), want type %#x flags 0 \"big\"", rt, flags, resp[:n], err, MsgAppStart)
	}
	n, rt, flags, err = h.callFlags(0, uint32(MsgAppStart+1), []byte("tail"), false, resp, 5*time.Second)
	if err != nil || rt != uint32(MsgAppStart+1) || flags != flagEndAligned || string(resp[:n]) != "tail" {
		t.Errorf("written in resp: got type %#x flags %#x %q (err %v), want type %#x end-aligned \"tail\"", rt, flags, resp[:n], err, MsgAppStart+1)
	}
}
