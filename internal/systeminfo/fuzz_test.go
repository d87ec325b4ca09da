package systeminfo

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// addFixtures seeds a fuzz target with every fixture and a few oddities.
func addFixtures(f *testing.F) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "<", "<SystemInfo>", "<SystemInfo/><x>", "\xef\xbb\xbf<SystemInfo/>",
		`<?xml version="1.0" encoding="latin1"?><SystemInfo><status>` + "\xff" + `</status></SystemInfo>`,
		`<?xml version="1.0" encoding="x"?><ApiErrors/>`,
		"<SystemInfo><primaryNode><host><host>a</host></host></primaryNode></SystemInfo>",
		"<ApiErrors><ApiError><ErrorType><ErrorType/></ErrorType></ApiError></ApiErrors>",
		"<SystemInfo><status>OUT_OF_SERVICE</status><Status>IN_SERVICE</Status></SystemInfo>",
		"<SystemInfo><status>IN_<b>OUT_OF</b>SERVICE</status></SystemInfo>",
		"<SystemInfo><primaryNode/><PrimaryNode/></SystemInfo>",
	} {
		f.Add([]byte(s))
	}
}

// checkErrorText holds for every error this package makes from server data.
func checkErrorText(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnusable) {
		t.Fatalf("error %v does not wrap ErrUnusable", err)
	}
	msg := err.Error()
	if !utf8.ValidString(msg) || !printable(msg) {
		t.Errorf("error text not sanitized: %q", msg)
	}
	if n := utf8.RuneCountInString(msg); n > len(ErrUnusable.Error())+2+errorMax {
		t.Errorf("error text is %d runes", n)
	}
}

func printable(s string) bool {
	for _, r := range s {
		if r != ' ' && !unicode.IsGraphic(r) {
			return false
		}
	}
	return true
}

// trimmed reports whether every string field of v, at any depth, is trimmed.
func trimmed(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return strings.TrimSpace(v.String()) == v.String()
	case reflect.Pointer:
		return v.IsNil() || trimmed(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if !trimmed(v.Field(i)) {
				return false
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if !trimmed(v.Index(i)) {
				return false
			}
		}
	}
	return true
}

func FuzzParse(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseDoc(data)
		if err != nil {
			if info != nil {
				t.Fatal("info and error both returned")
			}
			checkErrorText(t, err)
			return
		}
		if info == nil {
			t.Fatal("nil info without an error")
		}
		if !trimmed(reflect.ValueOf(info)) {
			t.Errorf("untrimmed field in %+v", info)
		}
		if _, err := json.Marshal(info); err != nil {
			t.Errorf("json.Marshal: %v", err)
		}
	})
}

func FuzzParseAPIErrors(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		errs, err := parseAPIErrorsDoc(data)
		if err != nil {
			if errs != nil {
				t.Fatal("list and error both returned")
			}
			checkErrorText(t, err)
			return
		}
		if !trimmed(reflect.ValueOf(errs)) {
			t.Errorf("untrimmed field in %+v", errs)
		}
		if text := apiErrorsText(errs); !printable(text) {
			t.Errorf("apiErrorsText not sanitized: %q", text)
		}
	})
}

// FuzzInterpret covers Fetch's decision once the body is in hand: every
// response lands in exactly one of the three documented outcomes.
func FuzzInterpret(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, code := range []int{200, 503, 404} {
			info, err := interpret(code, data)
			var nis *NotInServiceError
			switch {
			case err == nil:
				if code != 200 || !info.InService() {
					t.Fatalf("HTTP %d accepted: %+v", code, info)
				}
			case errors.As(err, &nis):
				if errors.Is(err, ErrUnusable) || code == 404 || info != nis.Info {
					t.Fatalf("HTTP %d: bad NotInServiceError %+v", code, nis)
				}
				if msg := nis.Error(); !printable(msg) || msg == "" {
					t.Errorf("NotInServiceError text not sanitized: %q", msg)
				}
			default:
				if info != nil {
					t.Fatalf("HTTP %d: info with %v", code, err)
				}
				checkErrorText(t, err)
			}
		}
	})
}
