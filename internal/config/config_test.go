package config

import (
	"strings"
	"testing"
)

var testFlags = []string{"timeout", "user", "password-file", "ca-file", "xmpp-port", "require"}

func TestParse(t *testing.T) {
	f, err := Parse("config.yaml", []byte(`defaults:
  timeout: 10s
  user: "1080001"
clusters:
  site1:
    servers: [a.example.com, b.example.com]
    xmpp_port: 5222
  site2:
    servers:
      - c.example.com
`), testFlags)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Defaults) != 2 || f.Defaults[0].Flag != "timeout" || f.Defaults[1].Text != "1080001" || f.Defaults[1].Line != 3 {
		t.Errorf("defaults %+v", f.Defaults)
	}
	if got := strings.Join(f.Names(), ","); got != "site1,site2" {
		t.Errorf("clusters in order %q", got)
	}
	c, ok := f.Cluster("site1")
	if !ok || len(c.Servers) != 2 || c.Settings[0].Flag != "xmpp-port" || c.Settings[0].Line != 7 {
		t.Errorf("site1 %+v", c)
	}
	if c, _ := f.Cluster("site2"); c.Servers[0].Line != 10 {
		t.Errorf("site2 server line %d, want 10", c.Servers[0].Line)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key in a cluster", "clusters:\n  site1:\n    servers: [a]\n    timout: 5s\n",
			`config.yaml:4: unknown key "timout" in cluster "site1"`},
		{"unknown key in defaults", "defaults:\n  servers: [a]\n", `config.yaml:2: unknown key "servers" in defaults`},
		{"unknown top-level key", "cluster:\n  site1: {}\n", `config.yaml:1: unknown key "cluster" at the top level`},
		{"flag spelling", "defaults:\n  ca-file: x.pem\n", `config.yaml:2: unknown key "ca-file" in defaults: write ca_file`},
		{"password", "defaults:\n  user: probe\n  password: hunter2\n", `config.yaml:3: key "password" in defaults: a password does not belong in a config file`},
		{"password in a cluster", "clusters:\n  s:\n    servers: [a]\n    finesse_passwd: x\n", `config.yaml:4: key "finesse_passwd" in cluster "s"`},
		{"malformed yaml", "defaults:\n  timeout: 5s\n user: x\n", "config.yaml:2: did not find expected key"},
		{"tab indentation", "defaults:\n\ttimeout: 5s\n", "config.yaml:2: found character that cannot start any token"},
		{"no servers", "clusters:\n  site1:\n    timeout: 5s\n", `config.yaml:3: cluster "site1" has no servers`},
		{"empty cluster", "clusters:\n  site1:\n", `config.yaml:2: cluster "site1" has no servers`},
		{"servers not a list", "clusters:\n  s:\n    servers: a.example.com\n", "config.yaml:3: servers: want a list"},
		{"list for a flag", "defaults:\n  timeout: [5s]\n", "config.yaml:2: timeout: want a single value"},
		{"no value", "defaults:\n  timeout:\n", "config.yaml:2: timeout: no value"},
		{"key twice", "defaults:\n  timeout: 5s\n  timeout: 6s\n", `config.yaml:3: key "timeout" given twice in defaults (first at line 2)`},
		{"cluster twice", "clusters:\n  s: {servers: [a]}\n  s: {servers: [b]}\n", `config.yaml:3: key "s" given twice in clusters`},
		{"merge key", "clusters:\n  s:\n    <<: {timeout: 5s}\n    servers: [a]\n", "config.yaml:3: merge keys (<<) are not supported"},
		{"not a mapping", "- a\n", "config.yaml:1: want a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("config.yaml", []byte(tt.yaml), testFlags)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestIsPasswordKey(t *testing.T) {
	for key, want := range map[string]bool{
		"password": true, "Password": true, "passwd": true, "pass": true, "pw": true, "secret": true,
		"finesse_password": true, "password-file": false, "password_file": false, "user": false, "passive": false,
	} {
		if got := isPasswordKey(key); got != want {
			t.Errorf("isPasswordKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CONFIG_HOME": "/x", "HOME": "/h"}, "/x/finessectl/config.yaml"},
		{map[string]string{"HOME": "/h"}, "/h/.config/finessectl/config.yaml"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := DefaultPath(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("env %v: %q, want %q", tt.env, got, tt.want)
		}
	}
}
