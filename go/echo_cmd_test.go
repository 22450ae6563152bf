//go:build linux

package shmipc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
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

// TestMain removes the echo guest built by buildEcho.
func TestMain(m *testing.M) {
	code := m.Run()
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
	p := &echoProc{exited: make(chan struct{})}
	p.cmd = exec.Command(buildEcho(t), append([]string{"-name", h.name}, args...)...)
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
		{"after failures", 5, []byte("still here"), false, 5, "still here", 0},
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
		{"missing", []string{"-name", uniqueName(), "-timeout-ms", "50"}, "timeout"},
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
