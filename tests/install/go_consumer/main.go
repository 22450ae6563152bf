// SPDX-License-Identifier: MIT

// Command shmipc-consumer is a guest written in a module of its own, the
// way a user of the Go guest writes one: it imports the package by its
// module path (redirected here to the checkout by a replace directive) and
// builds with CGO_ENABLED=0.
//
// It attaches to the segment given with -name, echoes every request (type
// included) until the host closes the session, and exits 0. With -call it
// first makes one guest-to-host call (the host must have guest slots).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	shmipc "github.com/libshmipc/libshmipc/go"
)

func main() {
	name := flag.String("name", "", "segment name, as given to the host")
	timeout := flag.Duration("timeout", 5*time.Second, "how long to wait for the host")
	call := flag.String("call", "", "make one guest call with this payload before serving")
	flag.Parse()
	if *name == "" {
		fmt.Fprintln(os.Stderr, "usage: shmipc-consumer -name NAME [-timeout D] [-call TEXT]")
		os.Exit(2)
	}
	if err := run(*name, *timeout, *call); err != nil {
		fmt.Fprintln(os.Stderr, "shmipc-consumer:", err)
		os.Exit(1)
	}
}

func run(name string, timeout time.Duration, call string) error {
	g, err := shmipc.Connect(name, &shmipc.Options{
		ConnectTimeout:   timeout,
		RetryInterval:    10 * time.Millisecond,
		CallTimeout:      5 * time.Second,
		SpinBudget:       4096,
		LivenessInterval: 50 * time.Millisecond,
		AllowOtherUser:   false,
	})
	if err != nil {
		return fmt.Errorf("connect %q: %w", name, err)
	}
	defer g.Close()

	if call != "" {
		resp := make([]byte, 4096)
		n, rt, err := g.Call(shmipc.MsgAppStart+1, []byte(call), resp, 5*time.Second)
		if err != nil {
			return fmt.Errorf("guest call: %w", err)
		}
		fmt.Printf("host answered %q (type %d)\n", resp[:n], rt)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var echo shmipc.Handler = func(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
		return copy(resp, req), t
	}
	fmt.Println("ready")
	err = g.Serve(ctx, echo)
	switch {
	case err == nil, errors.Is(err, shmipc.ErrPeerGone), errors.Is(err, context.Canceled):
		return nil // the host closed the session, or we were asked to stop
	default:
		return fmt.Errorf("serve: %w", err)
	}
}
