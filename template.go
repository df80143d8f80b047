// Package sessions is serverless session management for apps on AWS. The code lives in
// internal/ and functions/; this package only embeds files other parts read from any
// directory: the SAM template (the local server, the admin command) and the browser
// module (served by the local server).
package sessions

import _ "embed"

// TemplateYAML is template.yaml, the AWS SAM template.
//
//go:embed template.yaml
var TemplateYAML []byte
