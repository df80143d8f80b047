// Command jwks is the Lambda function behind the jwks route (see template.yaml).
package main

import "github.com/example/sessions/internal/app"

func main() { app.Run("jwks", func(a *app.App) any { return a.API.JWKS }) }
