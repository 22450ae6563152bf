//go:build linux

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

// hostForExample stands in for the host a guest attaches to, normally a C
// program such as the repository's examples/host_example.c: a test-only
// host (example_host_linux_test.go) creates a segment, returns its name,
// echoes the guest's calls, sends two requests, then closes the session.
func hostForExample() string {
	return shmipc.StartExamplesHost(
		shmipc.ExamplesHostRequest{Type: shmipc.MsgNormal, Data: []byte("ping")},
		shmipc.ExamplesHostRequest{Type: shmipc.MsgAppStart + 1, Data: []byte("hi")})
}

// streamHostForExample is the same, sending one stream of application type
// 300 instead.
func streamHostForExample() string {
	return shmipc.StartExamplesHost(
		shmipc.ExamplesHostRequest{Type: 300, Data: []byte("hello, stream"), Stream: true})
}

// A guest attaches to the segment its host created, calls the host once,
// then answers the host's requests until the host closes the session. (A
// test host plays the host here; see hostForExample.)
func Example() {
	name := hostForExample() // the segment's name, as the host gave it

	g, err := shmipc.Connect(name, &shmipc.Options{ConnectTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	// A guest-to-host call; the host serves it from its listener.
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

	// Answer requests in place: req and resp live in shared memory. This
	// handler echoes, keeping the type; application types start at
	// shmipc.MsgAppStart. Serve blocks until the host closes the session
	// (or ctx ends: Ctrl-C).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err = g.Serve(ctx, func(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
		fmt.Printf("request %q (type %d)\n", req, t)
		return copy(resp, req), t
	})
	switch {
	case err == nil:
		fmt.Println("the host closed the session")
	case errors.Is(err, shmipc.ErrHostGone):
		fmt.Println("the host died or was replaced:", err)
	case !errors.Is(err, context.Canceled):
		log.Fatal(err)
	}
	// Output:
	// host answered "hello, host" (type 3)
	// request "ping" (type 0)
	// request "hi" (type 129)
	// the host closed the session
}

// A guest that receives streams: the Reassembler answers the stream
// messages and hands each complete stream to its callback; every other
// message goes to the application's own handler. (A test host sends the
// stream here; see streamHostForExample.)
func ExampleNewReassembler() {
	name := streamHostForExample()

	lim := shmipc.DefaultStreamLimits()
	lim.MaxStream = 64 << 20 // nothing larger than 64 MiB
	r, err := shmipc.NewReassembler(lim,
		func(id uint64, appType shmipc.MsgType, data []byte) error {
			if appType != 300 {
				return shmipc.ErrRefused // the sender sees REFUSED
			}
			fmt.Printf("stream %d: %q\n", id, data) // data is ours to keep
			return nil
		},
		func(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
			return copy(resp, req), t
		})
	if err != nil {
		log.Fatal(err)
	}

	g, err := shmipc.Connect(name, &shmipc.Options{ConnectTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	err = g.Serve(context.Background(), r.Handle)
	if err == nil {
		fmt.Println("the host closed the session")
	} else {
		log.Fatal(err)
	}
	// Output:
	// stream 1: "hello, stream"
	// the host closed the session
}
