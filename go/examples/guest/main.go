// SPDX-License-Identifier: MIT

// Command guest is the README's Go quick start as a program: a guest that
// attaches to the segment given with -name (default "MyIPC"), makes one
// guest call, then answers the host's requests until the host closes the
// session (exit 0) or Ctrl-C.
//
// Requests of type MsgLookup look a key up: "answer" is answered "42",
// any other key fails with the reason "no such key: KEY", which a C host
// receives as SHMIPC_E_REMOTE. Every other request is echoed with its
// type. examples/host_example.c is a host for it:
//
//	go -C go build -o guest ./examples/guest
//	host_example MyIPC ./go/guest
package main

// README:go-quickstart begin
import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	shmipc "github.com/libshmipc/libshmipc/go"
)

// MsgLookup is an application message type: 128 (shmipc.MsgAppStart) and
// up are the application's and travel untouched both ways.
const MsgLookup = shmipc.MsgAppStart + 2

// handle answers one request in place: req and resp are in shared memory
// and valid only until it returns.
func handle(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
	if t == MsgLookup {
		if string(req) == "answer" {
			return copy(resp, "42"), t
		}
		// Fail with a reason: the host's call gets SHMIPC_E_REMOTE and
		// this text as its response.
		n := copy(resp, "no such key: ")
		n += copy(resp[n:], req)
		return n, shmipc.MsgSystemError
	}
	return copy(resp, req), t // anything else: echo, type unchanged
}

func main() {
	name := flag.String("name", "MyIPC", "the segment's name, as the host gave it")
	flag.Parse()

	g, err := shmipc.Connect(*name, &shmipc.Options{ConnectTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	// A guest call: the host's listener answers.
	buf := make([]byte, 1024)
	n, rt, err := g.Call(shmipc.MsgGuestCall, []byte("hello"), buf, time.Second)
	if err != nil {
		log.Print("guest call: ", err)
	} else {
		fmt.Printf("host answered %q (type %d)\n", buf[:n], rt)
	}

	// Serve runs one worker per host slot until ctx ends (Ctrl-C), Close,
	// or the host closes the session (nil) or dies (shmipc.ErrHostGone):
	// it blocks main, so the program serves until then.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch err = g.Serve(ctx, handle); {
	case err == nil:
		fmt.Println("guest: the host closed the session")
	case errors.Is(err, context.Canceled):
		fmt.Println("guest: interrupted")
	default: // shmipc.ErrHostGone: the host died or was replaced
		log.Fatal("serve: ", err)
	}
}

// README:go-quickstart end
