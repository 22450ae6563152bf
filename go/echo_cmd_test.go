//go:build linux

package shmipc

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The echo guest (cmd/shmipc-echo, tests/ECHO_GUEST.md) runs as a separate
// process here, so these tests also cover the protocol across processes:
// shared futexes and open-file-description locks of another process.

var (
	echoOnce sync.Once
	echoBin  string
	echoErr  error
)

// TestMain removes the echo guest built by buildEcho, once the examples'
// hosts have removed their segments.
func TestMain(m *testing.M) {
	code := m.Run()
	examplesHosts.Wait() // each ends within 10 s (example_host_linux_test.go)
	if echoBin != "" {
		os.RemoveAll(filepath.Dir(echoBin))
	}
	os.Exit(code)
}

// buildEcho builds cmd/shmipc-echo once per test binary.
func buildEcho(t *testing.T) string {
	t.Helper()
	echoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shmipc-echo-")
		if err != nil {
			echoErr = err
			return
		}
		echoBin = filepath.Join(dir, "shmipc-echo")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		cmd := exec.Command(gobin, "build", "-o", echoBin, "./cmd/shmipc-echo")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			echoErr = errors.New("go build ./cmd/shmipc-echo: " + err.Error() + "\n" + string(out))
		}
	})
	if echoErr != nil {
		t.Fatal(echoErr)
	}
	return echoBin
}

// echoProc is a running echo guest.
type echoProc struct {
	cmd     *exec.Cmd
	stderr  bytes.Buffer
	exited  chan struct{} // closed when the process has been waited for
	waitErr error
}

// startEcho starts the echo guest on h and waits (bounded) for "ready".
func startEcho(t *testing.T, h *testHost, args ...string) *echoProc {
	t.Helper()
	return startGuest(t, h, buildEcho(t), args...)
}

// startGuest starts the echo guest bin (either language's, with the
// command line of tests/ECHO_GUEST.md) on h and waits (bounded) for "ready".
func startGuest(t *testing.T, h *testHost, bin string, args ...string) *echoProc {
	t.Helper()
	return startGuestEnv(t, h, bin, nil, args...)
}

// startGuestEnv is startGuest with the guest's environment (nil: this
// process's).
func startGuestEnv(t *testing.T, h *testHost, bin string, env []string, args ...string) *echoProc {
	t.Helper()
	p := &echoProc{exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"-name", h.name}, args...)...)
	p.cmd.Env = env
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
		}
	})
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Fatalf("echo guest printed %q, want \"ready\"; stderr: %s", line, p.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10s for the echo guest to print ready")
	}
	return p
}

// wait waits up to d for the echo guest to exit and returns its error.
func (p *echoProc) wait(t *testing.T, d time.Duration, what string) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(d):
		t.Fatalf("waited %v for the echo guest to exit (%s)", d, what)
		return nil
	}
}

func TestEchoGuestCommand(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 2, guestSlots: 1, reqCapacity: 128, respCapacity: 128})
	h.listen(func(req, resp []byte, t uint32) (int, uint32) {
		if t != uint32(MsgGuestCall) {
			return copy(resp, "want GUEST_CALL"), uint32(MsgSystemError)
		}
		if string(req) == "fail" {
			return copy(resp, "listener refuses"), uint32(MsgSystemError)
		}
		return copy(resp, "host saw "+string(req)), 77
	})
	p := startEcho(t, h)
	if st, locked := h.guestAttached(); st != attachAttached || !locked {
		t.Fatalf("echo guest: attach state %d, lock %v", st, locked)
	}

	resp := make([]byte, 128)
	delay := binary.LittleEndian.AppendUint32(nil, 150)
	delay = append(delay, "late"...)
	for _, tc := range []struct {
		name     string
		typ      uint32
		req      []byte
		end      bool
		wantType uint32
		want     string // response, or a substring of a SYSTEM_ERROR reason
		minTime  time.Duration
	}{
		{"echo", 0, []byte("hello"), false, 0, "hello", 0},
		{"empty", 0, nil, false, 0, "", 0},
		{"app type", 4000, []byte("app"), false, 4000, "app", 0},
		{"end-aligned", 9, []byte("from the end"), true, 9, "from the end", 0},
		{"full", 1, bytes.Repeat([]byte{'z'}, 128), false, 1, strings.Repeat("z", 128), 0},
		{"panic", 200, []byte("x"), false, uint32(MsgSystemError), "panic", 0},
		{"delay", 201, delay, false, 201, string(delay), 150 * time.Millisecond},
		{"guest call", 202, []byte("ping"), false, 202, "host saw ping", 0},
		{"guest call fails", 202, []byte("fail"), false, uint32(MsgSystemError), "listener refuses", 0},
		{"oversize", 203, []byte("x"), false, uint32(MsgSystemError), "129, limit 128", 0},
		// Types 4 and 5 are stream messages (TestEchoGuestStreams); 6 is echoed.
		{"after failures", 6, []byte("still here"), false, 6, "still here", 0},
	} {
		start := time.Now()
		n, rt, err := h.call(0, tc.typ, tc.req, tc.end, resp, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v; guest stderr: %s", tc.name, err, p.stderr.String())
		}
		got := string(resp[:n])
		ok := got == tc.want
		if tc.wantType == uint32(MsgSystemError) {
			ok = strings.Contains(got, tc.want)
		}
		if rt != tc.wantType || !ok {
			t.Errorf("%s: type %d %q, want type %d %q", tc.name, rt, got, tc.wantType, tc.want)
		}
		if d := time.Since(start); d < tc.minTime {
			t.Errorf("%s: answered after %v, want at least %v", tc.name, d, tc.minTime)
		}
	}

	h.close()
	if err := p.wait(t, 5*time.Second, "host closed"); err != nil {
		t.Errorf("echo guest after host close: %v; stderr: %s", err, p.stderr.String())
	}
	if st, locked := h.guestAttached(); st != attachDetached || locked {
		t.Errorf("after exit: attach state %d, lock %v; want DETACHED, free", st, locked)
	}
}

func TestEchoGuestExitsWhenHostDies(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 1})
	p := startEcho(t, h)
	h.dropLock()
	if err := p.wait(t, 5*time.Second, "host lock dropped"); err != nil {
		t.Errorf("echo guest after host death: %v; stderr: %s", err, p.stderr.String())
	}
}

func TestEchoGuestErrors(t *testing.T) {
	bin := buildEcho(t)
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no name", nil, "usage"},
		{"bad name", []string{"-name", ".x"}, "invalid segment name"},
		{"missing", []string{"-name", uniqueName(), "-timeout-ms", "50"}, "no such segment"},
		{"stream limits", []string{"-name", uniqueName(), "-stream-max-streams", "0"}, "MaxStreams"},
		{"stream idle", []string{"-name", uniqueName(), "-stream-idle-ms", "0"}, "usage"},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, tc.args...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%s: %v, stderr %q; want exit 1 mentioning %q", tc.name, err, stderr.String(), tc.stderr)
		}
	}
}

// The echo guest's stream receiver end to end: stream messages across the
// segment, in order and out of order from two host slots at once, the
// refusing type 210, and the digest (204) and stats (205) queries.
func TestEchoGuestStreams(t *testing.T) {
	h := newHost(t, hostConfig{hostSlots: 2, reqCapacity: 128, respCapacity: 128})
	p := startEcho(t, h, "-stream-max-parked", "50", "-stream-max-streams", "3",
		"-stream-max-total", "100000", "-stream-idle-ms", "60000")
	resp := make([]byte, 128)
	call := func(k int, typ uint32, req []byte) []byte {
		t.Helper()
		n, rt, err := h.call(k, typ, req, false, resp, 10*time.Second)
		if err != nil {
			t.Fatalf("type %d: %v; guest stderr: %s", typ, err, p.stderr.String())
		}
		if rt != typ {
			t.Fatalf("type %d: answered with type %d %q", typ, rt, resp[:n])
		}
		return append([]byte(nil), resp[:n]...)
	}
	stream := func(k int, typ uint32, req []byte, want StreamReason, wantState StreamState) {
		t.Helper()
		r := call(k, typ, req)
		le := binary.LittleEndian
		if len(r) != 16 || StreamReason(le.Uint32(r)) != want || StreamState(le.Uint32(r[4:])) != wantState ||
			le.Uint32(r[8:]) != 50 || le.Uint32(r[12:]) != 0 {
			t.Fatalf("stream message type %d: answer %x, want %s %s, max_parked 50", typ, r, want, wantState)
		}
	}
	digest := func(id uint64) (length uint64, appType, deliveries uint32, sum []byte) {
		t.Helper()
		r := call(0, 204, binary.LittleEndian.AppendUint64(nil, id))
		if len(r) != 48 {
			t.Fatalf("digest query: %d bytes, want 48", len(r))
		}
		le := binary.LittleEndian
		return le.Uint64(r), le.Uint32(r[8:]), le.Uint32(r[12:]), r[16:]
	}
	start, chunk := uint32(MsgStreamStart), uint32(MsgStreamChunk)

	// Stream 7: 150 bytes, the tail first.
	data := pattern(150, 0x5A)
	stream(0, start, startMsg(7, 150, 300), StreamOK, StreamOpen)
	stream(1, chunk, chunkMsg(7, 150, 96, 300, data[96:]), StreamOK, StreamOpen)
	stream(0, chunk, chunkMsg(7, 150, 0, 300, data[:96]), StreamOK, StreamComplete)
	sum := sha256.Sum256(data)
	if n, typ, d, s := digest(7); n != 150 || typ != 300 || d != 1 || !bytes.Equal(s, sum[:]) {
		t.Errorf("digest of stream 7: %d bytes type %d, %d deliveries, %x; want 150, 300, 1, %x", n, typ, d, s, sum)
	}
	if n, typ, d, s := digest(8); n != 0 || typ != 0 || d != 0 || !bytes.Equal(s, make([]byte, 32)) {
		t.Errorf("digest of a stream never delivered: %d %d %d %x, want zeros", n, typ, d, s)
	}

	// Stream 9: 40 chunks of 96 bytes from two slots at once, odd and even.
	const chunks, size = 40, 96
	big := pattern(chunks*size, 0x33)
	stream(0, start, startMsg(9, chunks*size, 301), StreamOK, StreamOpen)
	var wg sync.WaitGroup
	var mu sync.Mutex
	complete, failures := 0, []string{}
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			r := make([]byte, 128)
			for i := k; i < chunks; i += 2 {
				off := uint64(i * size)
				n, rt, err := h.call(k, chunk, chunkMsg(9, chunks*size, off, 301, big[off:off+size]), false, r, 10*time.Second)
				mu.Lock()
				switch {
				case err != nil || rt != chunk || n != 16 || r[0] != 0:
					failures = append(failures, fmt.Sprintf("chunk %d: %v type %d %x", i, err, rt, r[:n]))
				case r[4] == byte(StreamComplete):
					complete++
				}
				mu.Unlock()
			}
		}(k)
	}
	wg.Wait()
	if len(failures) != 0 || complete != 1 {
		t.Fatalf("concurrent chunks: %d COMPLETE answers, failures %v", complete, failures)
	}
	sum = sha256.Sum256(big)
	if n, typ, d, s := digest(9); n != chunks*size || typ != 301 || d != 1 || !bytes.Equal(s, sum[:]) {
		t.Errorf("digest of stream 9: %d bytes type %d, %d deliveries, %x", n, typ, d, s)
	}

	// Type 210 is refused; stream 7 again counts a second delivery; a
	// malformed message changes nothing.
	stream(0, start, startMsg(11, 10, 210), StreamOK, StreamOpen)
	stream(0, chunk, chunkMsg(11, 10, 0, 210, pattern(10, 1)), StreamRefused, StreamDropped)
	if _, _, d, _ := digest(11); d != 0 {
		t.Errorf("refused stream recorded with %d deliveries", d)
	}
	stream(1, start, make([]byte, 31), StreamMalformed, StreamNone)
	stream(0, start, startMsg(7, 3, 302), StreamOK, StreamOpen)
	stream(0, start, startMsg(12, 1000, 302), StreamOK, StreamOpen) // left open
	stream(1, chunk, chunkMsg(7, 3, 0, 302, []byte("abc")), StreamOK, StreamComplete)
	sum = sha256.Sum256([]byte("abc"))
	if n, typ, d, s := digest(7); n != 3 || typ != 302 || d != 2 || !bytes.Equal(s, sum[:]) {
		t.Errorf("digest of stream 7 after its second delivery: %d bytes type %d, %d deliveries, %x", n, typ, d, s)
	}

	st := call(1, 205, nil)
	le := binary.LittleEndian
	if len(st) != 40 {
		t.Fatalf("stats: %d bytes, want 40", len(st))
	}
	got := [5]uint64{le.Uint64(st), le.Uint64(st[8:]), le.Uint64(st[16:]), le.Uint64(st[24:]), le.Uint64(st[32:])}
	// Stream 12 is open; the peak was stream 9 alone; 7, 9 and 7 again
	// were delivered, 11 refused.
	if want := [5]uint64{1, 1000, chunks * size, 3, 1}; got != want {
		t.Errorf("stats (open, reserved, peak, delivered, dropped) %v, want %v", got, want)
	}

	n, rt, err := h.call(0, 204, []byte{1, 2, 3}, false, resp, 10*time.Second)
	if err != nil || rt != uint32(MsgSystemError) || !strings.Contains(string(resp[:n]), "8 bytes") {
		t.Errorf("digest query of 3 bytes: %v type %d %q, want SYSTEM_ERROR", err, rt, resp[:n])
	}
	h.close()
	if err := p.wait(t, 5*time.Second, "host closed"); err != nil {
		t.Errorf("echo guest after host close: %v; stderr: %s", err, p.stderr.String())
	}
}
