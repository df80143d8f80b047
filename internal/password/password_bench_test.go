package password_test

// argon2id at the configured parameters (`make bench`, see BENCHMARKS.md). A login
// costs one Verify; creating an account or changing a password one Hash.

import (
	"testing"

	"github.com/example/sessions/internal/password"
)

func BenchmarkArgon2idOWASP(b *testing.B) {
	const pw = "correct horse battery staple"
	b.Run("Hash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := password.Hash(pw, password.OWASP); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Verify", func(b *testing.B) {
		h, err := password.Hash(pw, password.OWASP)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			ok, err := password.Verify(pw, h)
			if err != nil || !ok {
				b.Fatal("verify failed", err)
			}
		}
	})
}
