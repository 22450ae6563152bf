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
