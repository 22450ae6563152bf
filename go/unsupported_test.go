//go:build !linux && !windows

package shmipc

import (
	"errors"
	"testing"
)

func TestConnectUnsupportedOS(t *testing.T) {
	if _, err := Connect("demo", nil); !errors.Is(err, ErrSystem) {
		t.Errorf("Connect on an unsupported OS: %v, want ErrSystem", err)
	}
	if _, err := Connect(".bad", nil); !errors.Is(err, ErrName) {
		t.Errorf("Connect with a bad name: %v, want ErrName", err)
	}
}
