package verify_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sessions/internal/keys"
	"github.com/example/sessions/internal/testenv"
	"github.com/example/sessions/internal/token"
	"github.com/example/sessions/verify"
)

// serveJWKS answers a fetch with the service's current key set and the given headers.
func serveJWKS(s *service, hdr http.Header) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Write(s.set.Current().JWKS())
	}
}

func TestTheKeySetIsKeptForItsCacheControlMaxAge(t *testing.T) {
	t.Parallel()
	interval := verify.DefaultRefetchInterval
	for _, tc := range []struct {
		name string
		hdr  http.Header
		// kept is how long the set is used without a fetch; a fetch follows at kept.
		kept time.Duration
	}{
		{"the service's own max-age=300 keeps it 5 minutes", nil, 5 * time.Minute},
		{"max-age=60 keeps it a minute", http.Header{"Cache-Control": {"public, max-age=60"}}, time.Minute},
		{"MAX-AGE in upper case is read", http.Header{"Cache-Control": {"MAX-AGE=60"}}, time.Minute},
		{"a quoted max-age is read", http.Header{"Cache-Control": {`max-age="60"`}}, time.Minute},
		{"max-age less Age is what is left", http.Header{"Cache-Control": {"max-age=300"}, "Age": {"200"}}, 100 * time.Second},
		{"no Cache-Control keeps it the service's 5 minutes", http.Header{}, verify.DefaultMaxAge},
		{"a max-age of a day is capped at an hour", http.Header{"Cache-Control": {"max-age=86400"}}, verify.MaxAgeLimit},
		{"a max-age beyond int64 seconds is kept no longer than no max-age", http.Header{"Cache-Control": {"max-age=99999999999999999999"}}, interval},
		{"max-age=0 is kept for the refetch interval", http.Header{"Cache-Control": {"max-age=0"}}, interval},
		{"no-store is kept for the refetch interval", http.Header{"Cache-Control": {"no-store"}}, interval},
		{"no-cache is kept for the refetch interval", http.Header{"Cache-Control": {"max-age=300, no-cache"}}, interval},
		{"a malformed max-age is kept for the refetch interval", http.Header{"Cache-Control": {"max-age=5m"}}, interval},
		{"two different max-ages are kept for the refetch interval", http.Header{"Cache-Control": {"max-age=60", "max-age=600"}}, interval},
		{"an Age beyond max-age is kept for the refetch interval", http.Header{"Cache-Control": {"max-age=60"}, "Age": {"600"}}, interval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newService(t, keys.EdDSA)
			if tc.hdr != nil {
				s.inject(serveJWKS(s, tc.hdr))
			}
			v := s.verifier(t)
			start := s.clock.Now()
			mustVerify(t, v, s.mint(t))
			s.clock.Set(start.Add(tc.kept - time.Second))
			mustVerify(t, v, s.mint(t))
			if n := s.fetches.Load(); n != 1 {
				t.Fatalf("%d fetches a second before the set's time is up, want 1", n)
			}
			s.clock.Set(start.Add(tc.kept))
			mustVerify(t, v, s.mint(t))
			if n := s.fetches.Load(); n != 2 {
				t.Fatalf("%d fetches once the set's time is up, want 2", n)
			}
		})
	}
}

func TestUnknownKidsFetchAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	v := s.verifier(t)
	mustVerify(t, v, s.mint(t))
	o := otherKey(t, keys.EdDSA)
	forged := func(i int) string {
		return sign(t, o, with(header(o), "kid", strings.Repeat("k", i%40+1)), s.claims())
	}
	burst := func(n int) {
		for i := range n {
			mustRefuse(t, v, forged(i), token.ErrUnknownKey)
		}
	}
	burst(100)
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after 100 forged kids just after the first fetch, want 1", n)
	}
	s.clock.Advance(verify.DefaultRefetchInterval - time.Second)
	burst(100)
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after forged kids a second short of the interval, want still 1", n)
	}
	s.clock.Advance(time.Second)
	burst(100)
	if n := s.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after forged kids once the interval has passed, want 2 (one refetch)", n)
	}
	s.clock.Advance(verify.DefaultRefetchInterval)
	burst(100)
	if n := s.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after forged kids one more interval on, want 3", n)
	}
	mustVerify(t, v, s.mint(t)) // and the service's own tokens never stopped verifying
}

func TestConcurrentRequestsShareOneFetch(t *testing.T) {
	t.Parallel()
	const n = 32
	t.Run("cold, every request waits for the one first fetch and verifies", func(t *testing.T) {
		t.Parallel()
		s := newService(t, keys.EdDSA)
		v := s.verifier(t)
		at := s.mint(t)
		errs := make([]error, n)
		testenv.Together(n, func(i int) { _, errs[i] = v.Verify(context.Background(), at) })
		for i, err := range errs {
			if err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		}
		if got := s.fetches.Load(); got != 1 {
			t.Errorf("%d fetches for %d concurrent first requests, want 1", got, n)
		}
	})
	t.Run("unknown kids at once make one refetch and are all refused for their kid", func(t *testing.T) {
		t.Parallel()
		s := newService(t, keys.EdDSA)
		v := s.verifier(t)
		mustVerify(t, v, s.mint(t))
		o := otherKey(t, keys.EdDSA)
		forged := sign(t, o, header(o), s.claims())
		s.clock.Advance(verify.DefaultRefetchInterval) // a refetch is allowed again
		errs := make([]error, n)
		testenv.Together(n, func(i int) { _, errs[i] = v.Verify(context.Background(), forged) })
		for i, err := range errs {
			if got := reasonsOf(err); len(got) != 1 || got[0] != token.ErrUnknownKey {
				t.Errorf("request %d: %v, want only the unknown kid", i, err)
			}
		}
		if got := s.fetches.Load(); got != 2 {
			t.Errorf("%d fetches, want 2 (the first and one refetch for %d forged kids)", got, n)
		}
	})
}

func TestAFailedFetchKeepsTheLastGoodSet(t *testing.T) {
	t.Parallel()
	big := `{"keys":[` + strings.Repeat(" ", verify.MaxJWKSSize) + `]}`
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	faults := []struct {
		name  string
		fault func(t *testing.T, s *service) http.HandlerFunc
		why   error
	}{
		{"HTTP 500", func(*testing.T, *service) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }
		}, verify.ErrJWKSStatus},
		{"HTTP 404", func(*testing.T, *service) http.HandlerFunc { return http.NotFound }, verify.ErrJWKSStatus},
		{"a redirect (the default client follows none)", func(_ *testing.T, s *service) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, s.url()+"?again", http.StatusFound) }
		}, verify.ErrJWKSStatus},
		{"an HTML page", func(*testing.T, *service) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<html>sign in to the Wi-Fi</html>") }
		}, verify.ErrJWKSDocument},
		{"a key set without keys", func(*testing.T, *service) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"keys":[]}`) }
		}, verify.ErrJWKSDocument},
		{"a key whose kid is another key's", func(t *testing.T, s *service) http.HandlerFunc {
			o := otherSet(t)
			doc := strings.Replace(string(o.JWKS()), o.Signing().ID, s.signing().ID, 1)
			return func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, doc) }
		}, verify.ErrJWKSDocument},
		{"a document over 64 KiB", func(*testing.T, *service) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, big) }
		}, verify.ErrJWKSTooLarge},
		{"a document over 64 KiB without a Content-Length", func(*testing.T, *service) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				io.WriteString(w, big[:100])
				w.(http.Flusher).Flush() // chunked from here: the length is unknown
				io.WriteString(w, big[100:])
			}
		}, verify.ErrJWKSTooLarge},
		{"a dropped connection", func(*testing.T, *service) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			}
		}, io.EOF},
		{"an endpoint that hangs past the fetch timeout", func(*testing.T, *service) http.HandlerFunc {
			return func(_ http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}
		}, context.DeadlineExceeded},
	}
	timeout := func(c *verify.Config) { c.FetchTimeout = 200 * time.Millisecond }
	for _, f := range faults {
		t.Run(f.name+" before any good fetch is ErrKeysUnavailable, not retried within the interval", func(t *testing.T) {
			t.Parallel()
			s := newService(t, keys.EdDSA)
			log, logs := syncLog()
			v := s.verifier(t, timeout, func(c *verify.Config) { c.Log = log })
			clear := s.inject(f.fault(t, s))
			at := s.mint(t)
			for range 3 {
				err := mustRefuse(t, v, at, verify.ErrKeysUnavailable)
				if !errors.Is(err, f.why) || errors.Is(err, verify.ErrInvalid) {
					t.Fatalf("%q does not say why the fetch failed (%v), or calls the token invalid", err, f.why)
				}
			}
			if sent := s.fetches.Load(); sent != 1 {
				t.Errorf("%d fetches for 3 requests within the interval, want 1", sent)
			}
			if !strings.Contains(logs.String(), `"msg":"verify: fetching the JWKS failed"`) || !strings.Contains(logs.String(), `"keeping_last_key_set":false`) {
				t.Errorf("the failed fetch is not logged as a warning:\n%s", logs)
			}
			clear()
			s.clock.Advance(verify.DefaultRefetchInterval)
			mustVerify(t, v, at)
		})
		t.Run(f.name+" after a good fetch keeps verifying with the last good set", func(t *testing.T) {
			t.Parallel()
			s := newService(t, keys.EdDSA)
			log, logs := syncLog()
			v := s.verifier(t, timeout, func(c *verify.Config) { c.Log = log })
			mustVerify(t, v, s.mint(t))
			clear := s.inject(f.fault(t, s))
			if err := v.Refresh(context.Background()); !errors.Is(err, f.why) {
				t.Fatalf("Refresh: %v, want %v", err, f.why)
			}
			for _, d := range []time.Duration{5 * time.Minute, verify.DefaultRefetchInterval, time.Hour} {
				s.clock.Advance(d) // the set is stale: each step fetches, and fails
				mustVerify(t, v, s.mint(t))
			}
			if !strings.Contains(logs.String(), `"keeping_last_key_set":true`) {
				t.Errorf("the failed fetch is not logged as keeping the set:\n%s", logs)
			}
			clear()
			k := s.add(t, keys.EdDSA)
			s.clock.Advance(verify.DefaultRefetchInterval)
			mustVerify(t, v, sign(t, k, header(k), s.claims())) // the next fetch got the new set
		})
	}
}

func TestKeysThatAnInjectedClientFetchedOverPlainHTTPAreRefused(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	// The service's endpoint redirects to a plain-http host; the injected client follows
	// redirects and resolves that host to the test server.
	s.inject(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "keys.example.test" {
			serveJWKS(s, nil)(w, r)
			return
		}
		http.Redirect(w, r, "http://keys.example.test/.well-known/jwks.json", http.StatusFound)
	})
	addr := s.srv.Listener.Addr().String()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	v := s.verifier(t, func(c *verify.Config) { c.Client = client })
	err := mustRefuse(t, v, s.mint(t), verify.ErrKeysUnavailable)
	if !errors.Is(err, verify.ErrJWKSInsecure) {
		t.Errorf("%q, want the insecure fetch named", err)
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("%d requests, want the redirect and its target (the client was not used?)", n)
	}
}

// A stale set is fetched again by the request that finds it stale, which waits; others
// meanwhile use the stale set, so a slow endpoint delays one request, not all.
func TestWhileAStaleSetIsFetchedOtherRequestsUseIt(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	// A fetch timeout far beyond the test, so the held fetch ends only when released.
	v := s.verifier(t, func(c *verify.Config) { c.FetchTimeout = time.Hour })
	mustVerify(t, v, s.mint(t))
	arrived, hold := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(release) // before the server's Close, which waits for the held handler
	s.inject(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-hold
		serveJWKS(s, nil)(w, r)
	})
	s.clock.Advance(5 * time.Minute)
	at := s.mint(t)
	first := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), at)
		first <- err
	}()
	<-arrived // the first request's fetch is at the endpoint, held there
	second := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), at)
		second <- err
	}()
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("a request during the fetch: %v", err)
		}
	case <-time.After(10 * time.Second): // a bound on a hang, not a measurement
		release()
		t.Fatal("a request during the fetch waited for it")
	}
	select {
	case err := <-first:
		t.Fatalf("the request that started the fetch returned (%v) before its fetch ended", err)
	default:
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("the request that waited for the fetch: %v", err)
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

func TestTheRefetchIntervalCanBeSet(t *testing.T) {
	t.Parallel()
	s := newService(t, keys.EdDSA)
	v := s.verifier(t, func(c *verify.Config) { c.RefetchInterval = 2 * time.Minute })
	mustVerify(t, v, s.mint(t))
	o := otherKey(t, keys.EdDSA)
	for _, step := range []struct {
		advance time.Duration
		fetches int32
	}{{verify.DefaultRefetchInterval, 1}, {2*time.Minute - verify.DefaultRefetchInterval - time.Second, 1}, {time.Second, 2}} {
		s.clock.Advance(step.advance)
		mustRefuse(t, v, sign(t, o, header(o), s.claims()), token.ErrUnknownKey)
		if n := s.fetches.Load(); n != step.fetches {
			t.Fatalf("%d fetches after an unknown kid, want %d", n, step.fetches)
		}
	}
}
