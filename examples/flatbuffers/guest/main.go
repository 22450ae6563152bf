// SPDX-License-Identifier: MIT

// Command guest is the Go end of the FlatBuffers example: it attaches to
// the segment given with -name and prices each QuoteRequest
// (../quote.fbs) that the C++ host (../host.cpp) builds in the slot.
//
// Nothing is copied on the way in: the request is read in place, straight
// from the slot's request buffer (the host sent it end-aligned; the guest
// is handed exactly its bytes). The QuoteReply is built by a
// flatbuffers.Builder whose buffer is the slot's response buffer, so the
// builder's writes land in shared memory. The builder fills the buffer
// from its end, and the handler answers end-aligned
// (shmipc.RespEndAligned): the reply is sent where the builder left it,
// and the host reads it in place. No byte of the round trip is copied
// beyond the builders' own writes.
//
// The package quote is what flatc --go makes of ../quote.fbs; the build
// (tests/cpp/meson.build, through tests/cpp/flatbuffers_go.py) generates
// it and hands it to the go command as an overlay, so the generated code
// always matches the schema and flatc's own version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"
	shmipc "github.com/libshmipc/libshmipc/go"

	"github.com/libshmipc/libshmipc/examples/flatbuffers/guest/quote"
)

// MsgQuote is the message type of a QuoteRequest and its QuoteReply.
const MsgQuote = shmipc.MsgAppStart + 1

// fileID is the schema's file_identifier.
const fileID = "SHQT"

// builders holds one Builder per worker at most: a Builder keeps its
// bookkeeping (vtables) between calls, so the serve path allocates
// nothing once warm.
var builders = sync.Pool{New: func() any { return flatbuffers.NewBuilder(0) }}

var served atomic.Uint64

// errReply is the reason given when the reply does not fit the slot.
const errReply = "quote reply does not fit the response buffer"

// price answers one QuoteRequest. req is the request in shared memory
// (read, never copied); the reply is built in resp.
func price(req, resp []byte, t shmipc.MsgType) (n int, rt shmipc.MsgType) {
	if t != MsgQuote {
		return copy(resp, "unexpected message type"), shmipc.MsgSystemError
	}
	// The request comes from the other process: a FlatBuffer's accessors
	// index the slice and panic on an offset out of range, which is
	// turned into a refusal here (the Go runtime has no verifier).
	defer func() {
		if recover() != nil {
			n, rt = copy(resp, "malformed QuoteRequest"), shmipc.MsgSystemError
		}
	}()
	if len(req) < 8 || !flatbuffers.BufferHasIdentifier(req, fileID) {
		return copy(resp, "not a QuoteRequest (file identifier)"), shmipc.MsgSystemError
	}
	q := quote.GetRootAsQuoteRequest(req, 0)
	levels := q.LevelsLength()
	if levels == 0 {
		return copy(resp, "QuoteRequest without levels"), shmipc.MsgSystemError
	}
	best := q.Levels(0)

	// The builder's buffer is the response buffer, its capacity cut to
	// a multiple of 8: a FlatBuffer is aligned from its end.
	b := builders.Get().(*flatbuffers.Builder)
	defer func() {
		b.Bytes = nil // the pool must not keep the slot's memory
		builders.Put(b)
	}()
	cap8 := len(resp) &^ 7
	b.Bytes = resp[:cap8:cap8]
	b.Reset()
	sym := b.CreateByteString(q.Symbol())
	quote.QuoteReplyStart(b)
	quote.QuoteReplyAddId(b, q.Id())
	quote.QuoteReplyAddSymbol(b, sym)
	quote.QuoteReplyAddQuantity(b, q.Quantity())
	quote.QuoteReplyAddBest(b, best)
	quote.QuoteReplyAddTotal(b, float64(q.Quantity())*best)
	quote.QuoteReplyAddLevels(b, uint32(levels))
	b.FinishWithFileIdentifier(quote.QuoteReplyEnd(b), []byte(fileID))
	out := b.FinishedBytes()
	// A builder that ran out of room grew into a heap buffer of its own:
	// the reply is not in the slot.
	if cap8 == 0 || &b.Bytes[0] != &resp[0] {
		return copy(resp, errReply), shmipc.MsgSystemError
	}
	// No copy: the reply ends at cap8, the bytes after it (fewer than 8,
	// cut for the alignment) travel along and a reader ignores them, as
	// the host does with its request. End-aligned, the answer is the last
	// n bytes of resp, and the reply is at its start.
	n = len(out) + len(resp) - cap8
	served.Add(1)
	return n, MsgQuote | shmipc.RespEndAligned
}

func main() {
	name := flag.String("name", "QuoteIPC", "the segment's name, as the host gave it")
	flag.Parse()

	g, err := shmipc.Connect(*name, &shmipc.Options{ConnectTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch err = g.Serve(ctx, price); {
	case err == nil:
		fmt.Printf("quote guest: %d quotes served; the host closed the session\n", served.Load())
	case errors.Is(err, context.Canceled):
		fmt.Println("quote guest: interrupted")
	default:
		log.Fatal("serve: ", err)
	}
}
