package password_test

import (
	"errors"
	"fmt"

	"github.com/example/sessions/internal/password"
)

// NormalizeUsername maps the spellings of one name to one key and refuses what
// would make a second name that looks the same.
func ExampleNormalizeUsername() {
	for _, in := range []string{"Hank", " hank ", "ｈａｎｋ", "ΔΗΜΉΤΡΗΣ", "Jose\u0301", "ha\u200bnk", "john smith"} {
		n, err := password.NormalizeUsername(in)
		fmt.Printf("%+q -> %+q %v\n", in, n, err)
	}
	// Output:
	// "Hank" -> "hank" <nil>
	// " hank " -> "hank" <nil>
	// "\uff48\uff41\uff4e\uff4b" -> "hank" <nil>
	// "\u0394\u0397\u039c\u0389\u03a4\u03a1\u0397\u03a3" -> "\u03b4\u03b7\u03bc\u03ae\u03c4\u03c1\u03b7\u03c2" <nil>
	// "Jose\u0301" -> "jos\u00e9" <nil>
	// "ha\u200bnk" -> "" invalid username: has an invisible character
	// "john smith" -> "" invalid username: has a character that usernames cannot contain
}

// CheckNewUsername adds the creation rules: one script (or a combination such as
// Japanese), no invisible character.
func ExampleCheckNewUsername() {
	for _, in := range []string{"hank", "h\u0430nk", "たなか田中", "김민수"} {
		err := password.CheckNewUsername(in)
		fmt.Printf("%+q: %v (mixed script: %v)\n", in, err, errors.Is(err, password.ErrUsernameMixedScript))
	}
	// Output:
	// "hank": <nil> (mixed script: false)
	// "h\u0430nk": invalid username: mixes letters of different scripts (mixed script: true)
	// "\u305f\u306a\u304b\u7530\u4e2d": <nil> (mixed script: false)
	// "\uae40\ubbfc\uc218": <nil> (mixed script: false)
}
