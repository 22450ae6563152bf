package shmipc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// errorsPath is tests/errors.txt, shared with the C tests
// (tests/test_errors.c checks shmipc_strerror() against it).
const errorsPath = "../tests/errors.txt"

// sentinels maps the names of tests/errors.txt to the Go sentinels; "ok"
// has none.
var sentinels = map[string]*Error{
	"invalid": ErrInvalid, "name": ErrName, "nomem": ErrNoMem, "exists": ErrExists,
	"not_found": ErrNotFound, "access": ErrAccess, "version": ErrVersion,
	"corrupt": ErrCorrupt, "timeout": ErrTimeout, "peer_gone": ErrPeerGone,
	"too_big": ErrTooBig, "truncated": ErrTruncated, "remote": ErrRemote,
	"busy": ErrBusy, "closed": ErrClosed, "system": ErrSystem, "state": ErrState,
	"refused": ErrRefused, "aborted": ErrAborted,
}

// Every sentinel carries the code and the text of its row, so a Go error
// reads as the C library's shmipc_strerror() of the same code.
func TestErrorTexts(t *testing.T) {
	fh, err := os.Open(errorsPath)
	if err != nil {
		t.Fatalf("the error list is shared with the C tests and must be readable: %v", err)
	}
	defer fh.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(fh)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cols := strings.Fields(text)
		if len(cols) < 3 {
			t.Fatalf("%s:%d: want CODE NAME TEXT, got %q", errorsPath, line, text)
		}
		code, err := strconv.Atoi(cols[0])
		if err != nil {
			t.Fatalf("%s:%d: bad code in %q", errorsPath, line, text)
		}
		name := cols[1]
		// The text is the rest of the line after the name, as in C.
		rest := strings.TrimLeft(text, " \t")
		rest = strings.TrimLeft(rest[len(cols[0]):], " \t")
		msg := strings.TrimLeft(rest[len(name):], " \t")
		if seen[name] {
			t.Errorf("%s:%d: %s listed twice", errorsPath, line, name)
		}
		seen[name] = true
		if name == "ok" {
			if code != 0 {
				t.Errorf("%s:%d: ok is %d, want 0", errorsPath, line, code)
			}
			continue
		}
		e, ok := sentinels[name]
		if !ok {
			t.Errorf("%s:%d: %s: no Go sentinel", errorsPath, line, name)
			continue
		}
		if e.Code() != code {
			t.Errorf("%s:%d: %s: Go code %d, file %d", errorsPath, line, name, e.Code(), code)
		}
		if e.msg != msg {
			t.Errorf("%s:%d: %s: Go text %q, file %q", errorsPath, line, name, e.msg, msg)
		}
		if want := "shmipc: " + msg; e.Error() != want {
			t.Errorf("%s: Error() %q, want %q", name, e.Error(), want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !seen["ok"] {
		t.Errorf("%s: no row for ok", errorsPath)
	}
	for name := range sentinels {
		if !seen[name] {
			t.Errorf("%s: no row for %s", errorsPath, name)
		}
	}
}

// ErrHostGone is a second name of ErrPeerGone, not a second sentinel.
func TestErrHostGoneIsErrPeerGone(t *testing.T) {
	wrapped := fmt.Errorf("serve: %w", ErrPeerGone)
	if ErrHostGone != ErrPeerGone || !errors.Is(wrapped, ErrHostGone) ||
		ErrHostGone.Code() != ErrPeerGone.Code() {
		t.Errorf("ErrHostGone %v (code %d) is not ErrPeerGone", ErrHostGone, ErrHostGone.Code())
	}
}
