package shmipc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	shmipc "github.com/libshmipc/libshmipc/go"
)

// A guest attaches to the segment a host created under the name "demo",
// answers its requests until the host closes the session, and calls the
// host back once. (It needs a running host, so it has no Output.)
func Example() {
	g, err := shmipc.Connect("demo", &shmipc.Options{ConnectTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	// A guest-to-host call; the host serves it from its listener.
	go func() {
		resp := make([]byte, g.RespCapacity())
		n, t, err := g.Call(shmipc.MsgGuestCall, []byte("hello, host"), resp, time.Second)
		switch {
		case errors.Is(err, shmipc.ErrTimeout):
			fmt.Println("the host did not answer in time")
		case err != nil:
			fmt.Println("guest call:", err)
		default:
			fmt.Printf("host answered %q (type %d)\n", resp[:n], t)
		}
	}()

	// Answer requests in place: req and resp live in shared memory. This
	// handler echoes, keeping the type; application types start at
	// shmipc.MsgAppStart.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err = g.Serve(ctx, func(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
		return copy(resp, req), t
	})
	switch {
	case errors.Is(err, shmipc.ErrHostGone):
		fmt.Println("the host closed the session")
	case err != nil && !errors.Is(err, context.Canceled):
		log.Fatal(err)
	}
}

// A guest that receives streams: the Reassembler answers the stream
// messages and hands each complete stream to its callback; every other
// message goes to the application's own handler.
func ExampleNewReassembler() {
	g, err := shmipc.Connect("demo", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	lim := shmipc.DefaultStreamLimits()
	lim.MaxStream = 64 << 20 // nothing larger than 64 MiB
	r, err := shmipc.NewReassembler(lim,
		func(id uint64, appType shmipc.MsgType, data []byte) error {
			if appType != 300 {
				return shmipc.ErrRefused // the sender sees REFUSED
			}
			fmt.Printf("stream %d: %d bytes\n", id, len(data)) // data is ours to keep
			return nil
		},
		func(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
			return copy(resp, req), t
		})
	if err != nil {
		log.Fatal(err)
	}
	if err := g.Serve(context.Background(), r.Handle); err != nil && !errors.Is(err, shmipc.ErrHostGone) {
		log.Fatal(err)
	}
}
