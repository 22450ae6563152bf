// Command shmipc-echo is the Go echo guest used by libshmipc's interop
// tests and benchmarks (tests/ECHO_GUEST.md).
//
// Usage:
//
//	shmipc-echo -name NAME [-timeout-ms MS] [-stream-max-stream BYTES]
//	    [-stream-max-total BYTES] [-stream-max-streams N]
//	    [-stream-max-parked N] [-stream-idle-ms MS] [-no-streams]
//	    [-answer-max BYTES] [-answer-max-total BYTES]
//	    [-answer-max-answers N] [-answer-idle-ms MS]
//
// It attaches to segment NAME, waiting up to MS milliseconds (default 5000)
// for it, prints "ready" once attached, and answers requests until the host
// closes the session or dies; then it exits 0. Any other error exits 1 with a
// message on stderr. Stream messages (types 4 and 5) go to a stream receiver
// with the limits of the -stream-* flags (default: the protocol's
// defaults); it remembers the SHA-256 of each delivered stream for the last
// 64 stream ids (type 211: delivered without computing one) and refuses
// streams of application type 210. With -no-streams it has no stream
// receiver: stream messages are echoed like any other request. By request
// type:
//
//	200        the handler panics (the host sees SYSTEM_ERROR)
//	201        the first 4 bytes (LE u32) are a delay in ms: sleep, then echo
//	202        a guest call of type 3 with the request as payload (5 s
//	           timeout); answer its response with type 202, or SYSTEM_ERROR
//	           with the error text if it fails
//	203        answer resp_capacity + 1 bytes (the library turns it into
//	           SYSTEM_ERROR)
//	204        stream digest query: the request is a stream id (8 bytes LE);
//	           the answer (type 204, 48 bytes LE) is u64 length, u32 app
//	           type, u32 deliveries, then the 32-byte SHA-256 of the last
//	           delivery of that id (all 0 if it was never delivered)
//	205        stream stats: the answer (type 205, 40 bytes) is u64 open,
//	           reserved, peak_reserved, delivered, dropped
//	220        large answer: the request is u64 length n, u64 seed (16
//	           bytes LE); the answer (type 220) is the n bytes of the pattern
//	           of that seed, a large answer above the response capacity;
//	           their SHA-256 is kept for type 221
//	221        the last type-220 answer: u64 length and its SHA-256 (40 bytes)
//	222        large-answer counters (48 bytes, u64 LE): parked, held,
//	           peak held, released, dropped, expired
//	223        large answer of u64 length n (8 bytes LE) of the pattern of
//	           seed 0, from a buffer made once per size, without a hash
//	any other  echo the request bytes with the same type
//
// Large answers are parked under the limits of the -answer-* flags
// (default: the protocol's defaults).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	shmipc "github.com/libshmipc/libshmipc/go"
)

// Request types with special behaviour.
const (
	typePanic     = 200
	typeDelay     = 201
	typeGuestCall = 202
	typeOversize  = 203
	typeDigest    = 204
	typeStats     = 205

	typeLarge       = 220
	typeLargeDigest = 221
	typeAnswerStats = 222
	typeLargeStatic = 223

	// typeRefused is the stream application type the receiver refuses.
	typeRefused = 210
	// typeNoDigest is the stream application type delivered without a
	// SHA-256 (the benchmark times the transfer, not the hash).
	typeNoDigest = 211
	// digestSlots is how many stream ids the digest table remembers.
	digestSlots = 64
)

// Response sizes of the stream queries.
const (
	digestRespSize = 48
	statsRespSize  = 40
)

const usage = "usage: shmipc-echo -name NAME [-timeout-ms MS] [-stream-max-stream BYTES] " +
	"[-stream-max-total BYTES] [-stream-max-streams N] [-stream-max-parked N] [-stream-idle-ms MS] [-no-streams] " +
	"[-answer-max BYTES] [-answer-max-total BYTES] [-answer-max-answers N] [-answer-idle-ms MS]"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	def := shmipc.DefaultStreamLimits()
	fs := flag.NewFlagSet("shmipc-echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "segment name (required)")
	timeoutMs := fs.Int("timeout-ms", 5000, "connect timeout in milliseconds")
	maxStream := fs.Uint64("stream-max-stream", def.MaxStream, "largest stream accepted, in bytes")
	maxTotal := fs.Uint64("stream-max-total", def.MaxTotal, "bytes of all open streams together")
	maxStreams := fs.Int("stream-max-streams", def.MaxStreams, "open streams at once")
	maxParked := fs.Int("stream-max-parked", def.MaxParked, "parked chunk ranges per stream")
	idleMs := fs.Int64("stream-idle-ms", def.IdleTimeout.Milliseconds(), "idle timeout of an open stream in milliseconds")
	noStreams := fs.Bool("no-streams", false, "no stream receiver: echo stream messages like any other request")
	adef := shmipc.DefaultAnswerLimits()
	maxAnswer := fs.Uint64("answer-max", adef.MaxAnswer, "largest answer parked, in bytes")
	maxAnswerTotal := fs.Uint64("answer-max-total", adef.MaxTotal, "bytes of all parked answers")
	maxAnswers := fs.Int("answer-max-answers", adef.MaxAnswers, "answers parked at once")
	answerIdleMs := fs.Int64("answer-idle-ms", adef.IdleTimeout.Milliseconds(), "idle timeout of a parked answer in milliseconds")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	maxMs := int64(time.Duration(1<<63-1) / time.Millisecond)
	if *name == "" || fs.NArg() != 0 || *timeoutMs < 0 || *idleMs <= 0 || *idleMs > maxMs || *answerIdleMs <= 0 || *answerIdleMs > maxMs {
		fmt.Fprintln(stderr, usage)
		return 1
	}
	lim := shmipc.StreamLimits{
		MaxStream:   *maxStream,
		MaxTotal:    *maxTotal,
		MaxStreams:  *maxStreams,
		MaxParked:   *maxParked,
		IdleTimeout: time.Duration(*idleMs) * time.Millisecond,
	}
	connectTimeout := time.Duration(*timeoutMs) * time.Millisecond
	if connectTimeout == 0 {
		connectTimeout = time.Nanosecond // one attempt; 0 would mean the default
	}
	// The receiver is built before attaching, so bad limits fail at once.
	e := &echo{}
	r, err := shmipc.NewReassembler(lim, e.digests.deliver, e.handle)
	if err != nil {
		fmt.Fprintln(stderr, "shmipc-echo:", err)
		fmt.Fprintln(stderr, usage)
		return 1
	}
	serve := r.Handle
	if *noStreams {
		serve = e.handle
	}
	e.next = serve
	answers, err := shmipc.NewAnswers(shmipc.AnswerLimits{
		MaxAnswer:   *maxAnswer,
		MaxTotal:    *maxAnswerTotal,
		MaxAnswers:  *maxAnswers,
		IdleTimeout: time.Duration(*answerIdleMs) * time.Millisecond,
	}, e.answer)
	if err != nil {
		fmt.Fprintln(stderr, "shmipc-echo:", err)
		fmt.Fprintln(stderr, usage)
		return 1
	}
	e.answers = answers
	g, err := shmipc.Connect(*name, &shmipc.Options{ConnectTimeout: connectTimeout})
	if err != nil {
		fmt.Fprintln(stderr, "shmipc-echo:", err)
		return 1
	}
	e.g, e.r = g, r
	e.digests.recycle = r.Recycle
	fmt.Fprintln(stdout, "ready")
	err = g.ServeAnswers(context.Background(), answers)
	if cerr := g.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, shmipc.ErrHostGone) {
		fmt.Fprintln(stderr, "shmipc-echo:", err)
		return 1
	}
	return 0
}

// echo is the echo guest's state. g, r, next and answers are set before
// Serve starts.
type echo struct {
	g       *shmipc.Guest
	r       *shmipc.Reassembler
	digests digestTable
	next    shmipc.Handler // stream receiver, or handle with -no-streams
	answers *shmipc.Answers

	mu        sync.Mutex
	lastLen   uint64
	lastSum   [sha256.Size]byte
	static    []byte // the pattern of seed 0 for type 223
	staticSet sync.Mutex
}

// pattern fills p with the bytes of tests/common/pattern.h for seed.
func pattern(p []byte, seed uint64) {
	x := seed*0x9E3779B97F4A7C15 + 1
	var w [8]byte
	for i := 0; i < len(p); i += 8 {
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		binary.LittleEndian.PutUint64(w[:], x*0x2545F4914F6CDD1D)
		copy(p[i:], w[:])
	}
}

// answer is the AnswerHandler: types 220-223 here, the rest to next.
func (e *echo) answer(req, resp []byte, t shmipc.MsgType) (int, []byte, shmipc.MsgType) {
	le := binary.LittleEndian
	switch t {
	case typeLarge:
		if len(req) != 16 || le.Uint64(req) > 1<<40 {
			return copy(resp, "shmipc-echo: a large answer request is 16 bytes"), nil, shmipc.MsgSystemError
		}
		b := make([]byte, le.Uint64(req))
		pattern(b, le.Uint64(req[8:]))
		sum := sha256.Sum256(b)
		e.mu.Lock()
		e.lastLen, e.lastSum = uint64(len(b)), sum
		e.mu.Unlock()
		return 0, b, t
	case typeLargeDigest:
		if len(resp) < 40 {
			return len(resp) + 1, nil, t
		}
		e.mu.Lock()
		le.PutUint64(resp, e.lastLen)
		copy(resp[8:], e.lastSum[:])
		e.mu.Unlock()
		return 40, nil, t
	case typeAnswerStats:
		if len(resp) < 48 {
			return len(resp) + 1, nil, t
		}
		st := e.answers.Stats()
		le.PutUint64(resp[0:], uint64(st.Parked))
		le.PutUint64(resp[8:], st.Held)
		le.PutUint64(resp[16:], st.PeakHeld)
		le.PutUint64(resp[24:], st.Released)
		le.PutUint64(resp[32:], st.Dropped)
		le.PutUint64(resp[40:], st.Expired)
		return 48, nil, t
	case typeLargeStatic:
		if len(req) != 8 || le.Uint64(req) > 1<<40 {
			return copy(resp, "shmipc-echo: a static large answer request is 8 bytes"), nil, shmipc.MsgSystemError
		}
		n := le.Uint64(req)
		e.staticSet.Lock()
		if uint64(len(e.static)) < n {
			// A new buffer: answers still parked keep the old one.
			e.static = make([]byte, n)
			pattern(e.static, 0)
		}
		b := e.static[:n:n]
		e.staticSet.Unlock()
		return 0, b, t
	}
	n, rt := e.next(req, resp, t)
	return n, nil, rt
}

// handle answers the messages that are not stream messages. Apart from
// types 200 and 202's error path it does not allocate.
func (e *echo) handle(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
	switch t {
	case typePanic:
		panic("shmipc-echo: request type 200 asks for a handler failure")
	case typeDelay:
		if len(req) >= 4 {
			time.Sleep(time.Duration(binary.LittleEndian.Uint32(req)) * time.Millisecond)
		}
	case typeGuestCall:
		n, _, err := e.g.Call(shmipc.MsgGuestCall, req, resp, 5*time.Second)
		if err != nil {
			return copy(resp, err.Error()), shmipc.MsgSystemError
		}
		return n, t
	case typeOversize:
		return len(resp) + 1, t
	case typeDigest:
		if len(req) != 8 {
			return copy(resp, "shmipc-echo: a stream digest query is 8 bytes"), shmipc.MsgSystemError
		}
		if len(resp) < digestRespSize {
			return len(resp) + 1, t // too small: the library answers SYSTEM_ERROR
		}
		e.digests.query(binary.LittleEndian.Uint64(req), resp[:digestRespSize])
		return digestRespSize, t
	case typeStats:
		if len(resp) < statsRespSize {
			return len(resp) + 1, t
		}
		st := e.r.Stats()
		le := binary.LittleEndian
		le.PutUint64(resp[0:], uint64(st.Open))
		le.PutUint64(resp[8:], st.Reserved)
		le.PutUint64(resp[16:], st.PeakReserved)
		le.PutUint64(resp[24:], st.Delivered)
		le.PutUint64(resp[32:], st.Dropped)
		return statsRespSize, t
	}
	return copy(resp, req), t
}

// digest is what the echo guest remembers of a delivered stream id.
type digest struct {
	id         uint64
	appType    uint32
	length     uint64
	sum        [sha256.Size]byte
	deliveries uint32
	used       uint64 // when it was last delivered, for eviction
}

// digestTable remembers the last delivery of the last 64 distinct stream
// ids that were delivered.
type digestTable struct {
	mu    sync.Mutex
	slots [digestSlots]digest
	n     int
	clock uint64
	// recycle gives a delivered buffer back to the receiver (set before
	// serving starts).
	recycle func([]byte)
}

// deliver is the echo guest's StreamFunc: it refuses streams of type 210
// and records the SHA-256 of every other one.
func (d *digestTable) deliver(id uint64, appType shmipc.MsgType, data []byte) error {
	if appType == typeRefused {
		return shmipc.ErrRefused
	}
	var sum [sha256.Size]byte
	if appType != typeNoDigest {
		sum = sha256.Sum256(data)
	}
	if d.recycle != nil {
		d.recycle(data) // only the digest is kept
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clock++
	e := d.find(id)
	if e == nil {
		if d.n < len(d.slots) {
			e = &d.slots[d.n]
			d.n++
		} else {
			e = &d.slots[0]
			for i := range d.slots {
				if d.slots[i].used < e.used {
					e = &d.slots[i]
				}
			}
		}
		*e = digest{id: id}
	}
	e.appType, e.length, e.sum, e.used = uint32(appType), uint64(len(data)), sum, d.clock
	e.deliveries++
	return nil
}

// find returns the entry of id, or nil. The caller holds d.mu.
func (d *digestTable) find(id uint64) *digest {
	for i := 0; i < d.n; i++ {
		if d.slots[i].id == id {
			return &d.slots[i]
		}
	}
	return nil
}

// query writes the 48-byte answer of a digest query for id into out.
func (d *digestTable) query(id uint64, out []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var e digest
	if f := d.find(id); f != nil {
		e = *f
	}
	le := binary.LittleEndian
	le.PutUint64(out[0:], e.length)
	le.PutUint32(out[8:], e.appType)
	le.PutUint32(out[12:], e.deliveries)
	copy(out[16:], e.sum[:])
}
