package password

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeUsername(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
		reason         error // nil: accepted
	}{
		{"lower case is kept", "alice", "alice", nil},
		{"upper case is folded", "ALICE", "alice", nil},
		{"surrounding spaces are trimmed", "  alice\t", "alice", nil},
		{"decomposed é equals composed é", "alic\u0065\u0301", "alic\u00e9", nil},
		{"composed é stays composed", "alic\u00e9", "alic\u00e9", nil},
		{"an email is a name", "Alice@Example.com", "alice@example.com", nil},
		{"ASCII punctuation is allowed", "o'brien_jr.-2", "o'brien_jr.-2", nil},
		{"fullwidth letters are the ordinary ones", "ｈａｎｋ", "hank", nil},
		{"fullwidth capitals are the ordinary lower case", "ＨＡＮＫ", "hank", nil},
		{"halfwidth katakana are the ordinary katakana", "ｶﾀｶﾅ", "カタカナ", nil},
		{"Greek is lower-cased", "Δημήτρης", "δημήτρης", nil},
		{"Greek in capitals ends in a final sigma", "ΔΗΜΉΤΡΗΣ", "δημήτρης", nil},
		{"Hebrew, right to left, is kept", "דוד", "דוד", nil},
		{"a ZWNJ between joining Arabic letters passes PRECIS", "می\u200cخواهم", "می\u200cخواهم", nil},
		{"64 characters are accepted", strings.Repeat("a", 64), strings.Repeat("a", 64), nil},
		{"empty is refused", "", "", ErrUsernameLength},
		{"only spaces is refused", "   ", "", ErrUsernameLength},
		{"65 characters are refused", strings.Repeat("a", 65), "", ErrUsernameLength},
		{"65 fullwidth characters are refused", strings.Repeat("ａ", 65), "", ErrUsernameLength},
		{"a huge input is refused before any work", strings.Repeat("a", 1<<20), "", ErrUsernameLength},
		{"a zero-width space is refused", "ha\u200bnk", "", ErrUsernameInvisible},
		{"a trailing zero-width joiner is refused", "hank\u200d", "", ErrUsernameInvisible},
		{"a soft hyphen is refused", "ha\u00adnk", "", ErrUsernameInvisible},
		{"a variation selector is refused", "hank\ufe0f", "", ErrUsernameInvisible},
		{"a Hangul filler is refused", "\u3164", "", ErrUsernameInvisible},
		{"a control character is refused", "ali\x00ce", "", ErrUsernameDisallowed},
		{"invalid UTF-8 is refused", "ali\xffce", "", ErrUsernameDisallowed},
		{"an inner space is refused", "john smith", "", ErrUsernameDisallowed},
		{"an ideographic space inside is refused", "john\u3000smith", "", ErrUsernameDisallowed},
		{"a ligature (a compatibility form) is refused", "ﬁnn", "", ErrUsernameDisallowed},
		{"mathematical bold letters are refused", "𝐡𝐚𝐧𝐤", "", ErrUsernameDisallowed},
		{"an emoji is refused", "hank😀", "", ErrUsernameDisallowed},
		{"a braille blank is refused", "hank\u2800", "", ErrUsernameDisallowed},
		{"the replacement character is refused", "ali\ufffdce", "", ErrUsernameDisallowed},
		{"a digit before Hebrew breaks the Bidi Rule", "1דוד", "", ErrUsernameDirection},
		{"Hebrew ending in an underscore breaks the Bidi Rule", "דוד_", "", ErrUsernameDirection},
		// x/text's profile would refuse these (golang/go#17383); RFC 8265 applies the
		// Bidi Rule only to names with right-to-left characters.
		{"a non-ASCII Latin name may end in an underscore", "José_", "josé_", nil},
		{"a non-ASCII Latin name may start with an underscore", "_josé", "_josé", nil},
		{"a Cyrillic name may end in a dot", "Андрей.", "андрей.", nil},
		{"a Hiragana name may end in a digit or a hyphen", "たなか-1", "たなか-1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeUsername(tc.in)
			if tc.reason == nil {
				if err != nil || got != tc.want {
					t.Fatalf("NormalizeUsername(%+q) = %+q, %v; want %+q", tc.in, got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrBadUsername) || !errors.Is(err, tc.reason) || got != "" {
				t.Fatalf("NormalizeUsername(%+q) = %+q, %v; want ErrBadUsername and %q", tc.in, got, err, tc.reason)
			}
			if want := "invalid username: " + tc.reason.Error(); err.Error() != want {
				t.Errorf("message %q, want %q (which does not echo the input)", err, want)
			}
		})
	}
}

func TestNormalizeUsernameIsIdempotent(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"ＨＡＮＫ", "ΔΗΜΉΤΡΗΣ", "Jose\u0301", "ｶﾀｶﾅ", "İstanbul", "Straße", "می\u200cخواهم"} {
		n, err := NormalizeUsername(in)
		if err != nil {
			t.Fatalf("NormalizeUsername(%+q): %v", in, err)
		}
		if again, err := NormalizeUsername(n); again != n || err != nil {
			t.Errorf("NormalizeUsername(%+q) = %+q, but NormalizeUsername(%+q) = %+q, %v", in, n, n, again, err)
		}
	}
}

// The three look-alikes of issue 9 (item 8), beside an existing "hank": each either
// names hank's account (so creating it collides and logging in with it reaches hank,
// throttle key included, since the key is the normalised name) or is refused at
// creation with a reason.
func TestLookAlikesOfAnExistingNameAreTheSameAccountOrRefused(t *testing.T) {
	t.Parallel()
	existing, err := NormalizeUsername("hank")
	if err != nil || CheckNewUsername("hank") != nil {
		t.Fatalf("hank itself: %q, %v, %v", existing, err, CheckNewUsername("hank"))
	}
	for _, tc := range []struct {
		name, in string
		reason   error // nil: the same account as hank
	}{
		{"fullwidth ｈａｎｋ is hank", "ｈａｎｋ", nil},
		{"HANK in capitals is hank", "HANK", nil},
		{"hаnk with a Cyrillic а (U+0430) is refused as mixed script", "h\u0430nk", ErrUsernameMixedScript},
		{"һank with a Cyrillic һ (U+04BB) is refused as mixed script", "\u04bbank", ErrUsernameMixedScript},
		{"hαnk with a Greek α is refused as mixed script", "h\u03b1nk", ErrUsernameMixedScript},
		{"ha\\u200bnk with a zero-width space is refused as invisible", "ha\u200bnk", ErrUsernameInvisible},
		{"hank\\u200c with a zero-width non-joiner is refused as invisible", "hank\u200c", ErrUsernameInvisible},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckNewUsername(tc.in)
			if tc.reason != nil {
				if !errors.Is(err, ErrBadUsername) || !errors.Is(err, tc.reason) {
					t.Fatalf("CheckNewUsername(%+q) = %v, want ErrBadUsername and %q", tc.in, err, tc.reason)
				}
				if strings.Contains(err.Error(), tc.in) || strings.Contains(err.Error(), "hank") {
					t.Errorf("message %q echoes the input", err)
				}
				return
			}
			n, nerr := NormalizeUsername(tc.in)
			if err != nil || nerr != nil || n != existing {
				t.Fatalf("%+q: CheckNewUsername %v, NormalizeUsername %+q, %v; want the key %q", tc.in, err, n, nerr, existing)
			}
		})
	}
}

func TestCheckNewUsernameAllowsOneScriptOrAnAllowedCombination(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		reason   error // nil: accepted
	}{
		{"Latin with digits and ASCII punctuation", "hank_42.o'neil@example.com", nil},
		{"Greek", "Δημήτρης", nil},
		{"Cyrillic", "Дмитрий", nil},
		{"Hiragana", "たなか", nil},
		{"Hangul", "김민수", nil},
		{"Han", "田中", nil},
		{"Devanagari with its vowel signs", "पूजा", nil},
		{"Arabic", "محمد", nil},
		{"Hebrew with a trailing digit", "דוד1", nil},
		{"Latin with combining marks (Inherited)", "zoe\u0308", nil},
		{"Japanese: Han, Hiragana and Katakana with the prolonged sound mark", "田中たろうタロー", nil},
		{"Japanese with Latin", "tanaka田中タロウ", nil},
		{"Korean: Hangul and Han", "김민수金", nil},
		{"Chinese: Han and Bopomofo", "王ㄅㄆ", nil},
		{"Latin and Cyrillic", "ivan_петров", ErrUsernameMixedScript},
		{"Latin and Greek", "alphaβ", ErrUsernameMixedScript},
		{"Greek and Cyrillic", "Δимитрий", ErrUsernameMixedScript},
		{"Hangul and Hiragana", "김たなか", ErrUsernameMixedScript},
		{"Cyrillic and Han", "Дима田", ErrUsernameMixedScript},
		{"Latin and Devanagari digits", "hank१२", ErrUsernameMixedScript},
		{"Bopomofo and Hiragana", "ㄅた", ErrUsernameMixedScript},
		{"a ZWNJ that PRECIS allows in Persian", "می\u200cخواهم", ErrUsernameInvisible},
		{"whatever NormalizeUsername refuses", "john smith", ErrUsernameDisallowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckNewUsername(tc.in)
			switch {
			case tc.reason == nil && err != nil:
				t.Fatalf("CheckNewUsername(%+q) = %v, want it accepted", tc.in, err)
			case tc.reason != nil && (!errors.Is(err, ErrBadUsername) || !errors.Is(err, tc.reason)):
				t.Fatalf("CheckNewUsername(%+q) = %v, want ErrBadUsername and %q", tc.in, err, tc.reason)
			}
		})
	}
}

// FuzzNormalizeUsername: NormalizeUsername never panics; what it returns is a fixed
// point (normalising it again gives it back), 1 to MaxUsernameRunes characters of
// valid UTF-8 and judged by CheckNewUsername as the input is; every refusal wraps
// ErrBadUsername and one reason, and its message is the fixed text of that reason.
func FuzzNormalizeUsername(f *testing.F) {
	for _, s := range []string{"hank", "ｈａｎｋ", "h\u0430nk", "ha\u200bnk", "ΔΗΜΉΤΡΗΣ", "Jose\u0301", "たなか",
		"김민수", "می\u200cخواهم", "1דוד", "ﬁnn", "john smith", "ali\xffce", " \t", "tanaka田中", "İ", "ß"} {
		f.Add(s)
	}
	reasons := []error{ErrUsernameLength, ErrUsernameDisallowed, ErrUsernameInvisible, ErrUsernameDirection, ErrUsernameMixedScript}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := NormalizeUsername(in)
		checkNew := CheckNewUsername(in)
		if err != nil {
			if n != "" || !errors.Is(err, ErrBadUsername) || !errors.Is(checkNew, ErrBadUsername) {
				t.Fatalf("%+q: %+q, %v (CheckNewUsername %v)", in, n, err, checkNew)
			}
			known := false
			for _, r := range reasons {
				known = known || errors.Is(err, r) && err.Error() == "invalid username: "+r.Error()
			}
			if !known {
				t.Fatalf("%+q: error %q is not one of the reasons", in, err)
			}
			return
		}
		if c := utf8.RuneCountInString(n); n == "" || c > MaxUsernameRunes || !utf8.ValidString(n) {
			t.Fatalf("%+q: normalised to %+q (%d characters)", in, n, c)
		}
		if again, err := NormalizeUsername(n); again != n || err != nil {
			t.Fatalf("%+q -> %+q -> %+q, %v: not a fixed point", in, n, again, err)
		}
		if c2 := CheckNewUsername(n); (checkNew == nil) != (c2 == nil) || checkNew != nil && checkNew.Error() != c2.Error() {
			t.Fatalf("CheckNewUsername(%+q) = %v but CheckNewUsername(%+q) = %v", in, checkNew, n, c2)
		}
	})
}
