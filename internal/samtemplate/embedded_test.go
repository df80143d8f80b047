package samtemplate_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/example/sessions"
	"github.com/example/sessions/internal/samtemplate"
)

// An external test package, so that the root package may import samtemplate one day
// without an import cycle.

func load(t *testing.T) *samtemplate.Template {
	t.Helper()
	root, err := samtemplate.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// The copy embedded in the root package is the file on disk.
func TestParseEmbedded(t *testing.T) {
	fromDisk := load(t)
	embedded, err := samtemplate.Parse(sessions.TemplateYAML)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(embedded.Routes(), fromDisk.Routes()) || !reflect.DeepEqual(embedded.Env(), fromDisk.Env()) {
		t.Fatal("embedded template differs from template.yaml")
	}
	if _, err := samtemplate.Parse([]byte("- a\n")); err == nil {
		t.Fatal("Parse of a list succeeded")
	}
}
