// Command shmipc-echo is the Go echo guest used by libshmipc's interop
// tests and benchmarks (tests/ECHO_GUEST.md).
//
// Usage:
//
//	shmipc-echo -name NAME [-timeout-ms MS]
//
// It attaches to segment NAME, waiting up to MS milliseconds (default 5000)
// for it, prints "ready" once attached, and answers requests until the host
// closes the session or dies; then it exits 0. Any other error exits 1 with a
// message on stderr. By request type:
//
//	200        the handler panics (the host sees SYSTEM_ERROR)
//	201        the first 4 bytes (LE u32) are a delay in ms: sleep, then echo
//	202        a guest call of type 3 with the request as payload (5 s
//	           timeout); answer its response with type 202, or SYSTEM_ERROR
//	           with the error text if it fails
//	203        answer resp_capacity + 1 bytes (the library turns it into
//	           SYSTEM_ERROR)
//	any other  echo the request bytes with the same type
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	shmipc "github.com/libshmipc/libshmipc/go"
)

// Request types with special behaviour.
const (
	typePanic     = 200
	typeDelay     = 201
	typeGuestCall = 202
	typeOversize  = 203
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shmipc-echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "segment name (required)")
	timeoutMs := fs.Int("timeout-ms", 5000, "connect timeout in milliseconds")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if *name == "" || fs.NArg() != 0 || *timeoutMs < 0 {
		fmt.Fprintln(stderr, "usage: shmipc-echo -name NAME [-timeout-ms MS]")
		return 1
	}
	connectTimeout := time.Duration(*timeoutMs) * time.Millisecond
	if connectTimeout == 0 {
		connectTimeout = time.Nanosecond // one attempt; 0 would mean the default
	}
	g, err := shmipc.Connect(*name, &shmipc.Options{ConnectTimeout: connectTimeout})
	if err != nil {
		fmt.Fprintln(stderr, "shmipc-echo:", err)
		return 1
	}
	fmt.Fprintln(stdout, "ready")
	err = g.Serve(context.Background(), handler(g))
	if cerr := g.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, shmipc.ErrHostGone) {
		fmt.Fprintln(stderr, "shmipc-echo:", err)
		return 1
	}
	return 0
}

// handler returns the echo handler. Apart from types 200 and 202's error
// path it does not allocate.
func handler(g *shmipc.Guest) shmipc.Handler {
	return func(req, resp []byte, t shmipc.MsgType) (int, shmipc.MsgType) {
		switch t {
		case typePanic:
			panic("shmipc-echo: request type 200 asks for a handler failure")
		case typeDelay:
			if len(req) >= 4 {
				time.Sleep(time.Duration(binary.LittleEndian.Uint32(req)) * time.Millisecond)
			}
		case typeGuestCall:
			n, _, err := g.Call(shmipc.MsgGuestCall, req, resp, 5*time.Second)
			if err != nil {
				return copy(resp, err.Error()), shmipc.MsgSystemError
			}
			return n, t
		case typeOversize:
			return len(resp) + 1, t
		}
		return copy(resp, req), t
	}
}
