// Package sessions is serverless session management for apps on AWS. The code lives in
// internal/ and functions/; this file only embeds the SAM template, so the local
// server and the admin command read the one deployed definition from any directory.
package sessions

import _ "embed"

// TemplateYAML is template.yaml, the AWS SAM template.
//
//go:embed template.yaml
var TemplateYAML []byte
