package sample

import "testing"

func TestPass(t *testing.T) {}

func TestSkip(t *testing.T) { t.Skip("needs Dovecot: MULTIDROP_DOVECOT not set") }

func TestFail(t *testing.T) {
	t.Log("before")
	t.Error("want 2, got 3")
}

func TestSub(t *testing.T) {
	t.Run("a", func(t *testing.T) {})
	t.Run("b", func(t *testing.T) { t.Skipf("skipped %d", 1) })
}
