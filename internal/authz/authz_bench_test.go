package authz_test

// CPU benchmarks of the authorizer with DynamoDB taken out (`make bench`, see
// BENCHMARKS.md). One iteration of BenchmarkAuthorizerPath is what a warm Lambda
// container does per protected request: the payload 2.0 event's bytes (a request as
// API Gateway sends it, testdata/events) into the handler Lambda runs, the simple
// response's bytes out.
//
// The authorizer is the deployed one: app.New with the authorizer function's
// settings, its handler taken as app.Run takes it. Its DynamoDB client answers from a
// snapshot of real items, made by logging in through the service against DynamoDB
// Local (testenv), so the store's request building and item parsing are measured and
// the SDK and the network are not.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/example/sessions/internal/app"
	"github.com/example/sessions/internal/config"
	"github.com/example/sessions/internal/ddb"
	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/testenv"
	"github.com/example/sessions/internal/token"
)

var benchAlgs = []string{keys.EdDSA, keys.ES256, keys.RS256}

// snapshot is a DynamoDB client that answers the authorizer's reads from items copied
// out of a real table. Any other call panics (the embedded nil API).
type snapshot struct {
	ddb.API
	table string
	items map[string]map[string]types.AttributeValue // by pk
}

func (s *snapshot) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: s.items[pk(in.Key)]}, nil
}

func pk(key map[string]types.AttributeValue) string {
	v, _ := key["pk"].(*types.AttributeValueMemberS)
	if v == nil {
		return ""
	}
	return v.Value
}

// benchRig is one algorithm's signed-in user: the access token, the event carrying
// it, the table's items and the public key set.
type benchRig struct {
	alg    string
	token  string
	event  []byte
	db     *snapshot
	public *keys.Set
	now    func() time.Time
}

var (
	rigsMu sync.Mutex
	rigs   = map[string]*benchRig{}
)

// rig returns alg's rig, made once per test binary: -count repeats a benchmark, and
// the table it was made from is gone by then, which the snapshot does not need.
func rig(b *testing.B, alg string) *benchRig {
	b.Helper()
	rigsMu.Lock()
	defer rigsMu.Unlock()
	if r := rigs[alg]; r != nil {
		return r
	}
	h := testenv.New(b, testenv.Options{Alg: alg})
	u := h.CreateUser(b, "alice@example.com", "", "openid profile")
	tok := h.Login(b, u.Name, u.Password)
	items := map[string]map[string]types.AttributeValue{}
	for _, it := range h.Scan(b) {
		items[testenv.S(it, "pk")] = it
	}
	signing, err := keys.Parse([]byte(h.PEM))
	if err != nil {
		b.Fatal(err)
	}
	public, err := keys.ParseJWKS(signing.JWKS())
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "events", "allow-a-request-as-api-gateway-sends-it.json"))
	if err != nil {
		b.Fatal(err)
	}
	r := &benchRig{
		alg: alg, token: tok.AccessToken, public: public, now: h.Clock.Now,
		event: bytes.ReplaceAll(raw, []byte("$ACCESS_TOKEN"), []byte(tok.AccessToken)),
		db:    &snapshot{table: h.Table, items: items},
	}
	rigs[alg] = r
	return r
}

// authorizer returns the authorizer function's App over the snapshot and the handler
// Lambda runs.
func (r *benchRig) authorizer(b *testing.B) (*app.App, lambda.Handler) {
	b.Helper()
	f, ok := app.Lookup("authorizer")
	if !ok {
		b.Fatal("no authorizer in app.Functions")
	}
	env := map[string]string{
		"TABLE_NAME": r.db.table, "ISSUER": testenv.Issuer, "AUDIENCE": testenv.Audience,
		"PUBLIC_KEYS": string(r.public.JWKS()),
	}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, f.Uses)
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{DynamoDB: r.db, Now: r.now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	h, ok := f.Handler(a).(lambda.Handler)
	if !ok {
		b.Fatalf("the authorizer's handler %T is not a lambda.Handler", f.Handler(a))
	}
	return a, h
}

// lambdaCtx is an invocation's context as the runtime makes it: with the deadline.
func lambdaCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	b.Cleanup(cancel)
	return ctx
}

// invoke is one authorization; it fails the benchmark on anything but an allow.
func invoke(b *testing.B, ctx context.Context, h lambda.Handler, event []byte) {
	out, err := h.Invoke(ctx, event)
	if err != nil || !allowed(out) {
		b.Fatalf("denied: %s %v", out, err)
	}
}

// signature returns the check of the token's signature alone, the one cost the
// authorizer cannot avoid: the hash and the public-key operation over the signing
// input, with the signature already decoded.
func signature(b *testing.B, r *benchRig) func() bool {
	b.Helper()
	dot := strings.LastIndexByte(r.token, '.')
	input := []byte(r.token[:dot])
	sig, err := base64.RawURLEncoding.DecodeString(r.token[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	key := r.public.Signing().Public
	switch r.alg {
	case keys.EdDSA:
		pub := key.(ed25519.PublicKey)
		return func() bool { return ed25519.Verify(pub, input, sig) }
	case keys.ES256:
		pub := key.(*ecdsa.PublicKey)
		return func() bool {
			h := sha256.Sum256(input)
			return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		}
	case keys.RS256:
		pub := key.(*rsa.PublicKey)
		return func() bool {
			h := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
		}
	}
	b.Fatalf("no signature check for %s", r.alg)
	return nil
}

// BenchmarkAuthorizerPath is the whole CPU path of one authorization as Lambda runs
// it (Invoke).
func BenchmarkAuthorizerPath(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			r := rig(b, alg)
			_, h := r.authorizer(b)
			ctx := lambdaCtx(b)
			b.ReportAllocs()
			for b.Loop() {
				invoke(b, ctx, h, r.event)
			}
		})
	}
}

// BenchmarkAuthorizerPathTyped is the path before Invoke: aws-lambda-go decoding the
// whole event into the typed struct for Handle and encoding its answer.
func BenchmarkAuthorizerPathTyped(b *testing.B) {
	r := rig(b, keys.EdDSA)
	a, _ := r.authorizer(b)
	h := lambda.NewHandler(a.Authorizer.Handle)
	ctx := lambdaCtx(b)
	b.ReportAllocs()
	for b.Loop() {
		invoke(b, ctx, h, r.event)
	}
}

// BenchmarkHotPath alternates, iteration by iteration: the whole path
// (BenchmarkAuthorizerPath), the token check alone (token.Verifier.Verify: the
// stateless baseline) and the signature check alone, so all three run under the same
// load and their differences say where the time goes. It reports the median of each
// over the last hotSamples iterations (path-, verify- and sig-ns/op) and path/sig: on
// a shared, noisy box a preemption lands in one iteration of one side and moves a
// median little, a mean a lot.
func BenchmarkHotPath(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			r := rig(b, alg)
			_, h := r.authorizer(b)
			verifier := token.NewVerifier(r.public, testenv.Issuer, testenv.Audience, r.now)
			ctx := lambdaCtx(b)
			sides := []func() bool{
				func() bool { out, err := h.Invoke(ctx, r.event); return err == nil && allowed(out) },
				func() bool { _, err := verifier.Verify(r.token); return err == nil },
				signature(b, r),
			}
			var took [3][hotSamples]time.Duration
			n := 0
			for b.Loop() {
				for i, side := range sides {
					t0 := time.Now()
					if !side() {
						b.Fatalf("side %d refused", i)
					}
					took[i][n%hotSamples] = time.Since(t0)
				}
				n++
			}
			var med [3]float64
			for i := range med {
				med[i] = float64(medianOf(took[i][:min(n, hotSamples)]))
			}
			for i, unit := range []string{"path-ns/op", "verify-ns/op", "sig-ns/op"} {
				b.ReportMetric(med[i], unit)
			}
			b.ReportMetric(med[0]/med[2], "path/sig")
		})
	}
}

func allowed(out []byte) bool { return bytes.HasPrefix(out, []byte(`{"isAuthorized":true,`)) }

// hotSamples is how many of the last iterations BenchmarkHotPath keeps.
const hotSamples = 4096

func medianOf(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}
