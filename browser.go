package sessions

import _ "embed"

// BrowserClient is clients/browser/sessions.js, the browser module
// (@example/sessions-client). The local server serves these bytes at /sessions.js, so
// the demo page runs the file an app installs, not a copy.
//
//go:embed clients/browser/sessions.js
var BrowserClient []byte
