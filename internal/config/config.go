// Package config reads finessectl's YAML configuration file: settings for
// 'finessectl check' shared by every run (defaults) and named clusters of
// Finesse servers with settings of their own. It knows nothing of the flags
// themselves: the caller names the flags a file may set and applies the
// values, so that each value is parsed by its own flag's rules.
package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Value is a scalar as written in the file, with its line for error messages.
type Value struct {
	Text string
	Line int
}

// Setting is one key of defaults or of a cluster.
type Setting struct {
	Key  string // as written: ca_file
	Flag string // the flag it sets: ca-file
	Value
}

// Cluster is a named set of servers checked together, with its settings.
type Cluster struct {
	Name     string
	Line     int
	Servers  []Value
	Settings []Setting
}

// File is a parsed configuration file; Clusters are in file order, which is
// the order a run without --cluster checks them in.
type File struct {
	Path     string
	Defaults []Setting
	Clusters []Cluster
}

// Error is a mistake in the file, at a line.
type Error struct {
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Path + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

// DefaultPath is where the configuration file is looked for without
// --config, following the XDG base directory specification; "" when the
// environment names no home. getenv is injected so that tests choose it.
func DefaultPath(getenv func(string) string) string {
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "finessectl", "config.yaml")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "finessectl", "config.yaml")
	}
	return ""
}

// Key is the file's spelling of a flag's long name: YAML keys
// conventionally use underscores.
func Key(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// Cluster returns the cluster called name.
func (f *File) Cluster(name string) (*Cluster, bool) {
	i := slices.IndexFunc(f.Clusters, func(c Cluster) bool { return c.Name == name })
	if i < 0 {
		return nil, false
	}
	return &f.Clusters[i], true
}

// Names lists the clusters in file order, for messages.
func (f *File) Names() []string {
	names := make([]string, len(f.Clusters))
	for i, c := range f.Clusters {
		names[i] = c.Name
	}
	return names
}

// Parse reads the file at path, whose content is data. flags are the long
// names of the flags a file may set; any other key is an error.
func Parse(path string, data []byte, flags []string) (*File, error) {
	p := parser{file: &File{Path: path}, flags: flags}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, p.yamlError(err)
	}
	if len(doc.Content) == 0 {
		return p.file, nil // an empty file sets nothing
	}
	top := resolve(doc.Content[0])
	if top.Kind != yaml.MappingNode {
		return nil, p.errorf(top.Line, "want a mapping with defaults and clusters")
	}
	err := p.mapping(top, "at the top level", func(key string, k, v *yaml.Node) error {
		switch key {
		case "defaults":
			s, err := p.settings(v, "in defaults", false)
			p.file.Defaults = s
			return err
		case "clusters":
			return p.clusters(v)
		}
		return p.errorf(k.Line, "unknown key %q at the top level (use defaults and clusters)", key)
	})
	if err != nil {
		return nil, err
	}
	return p.file, nil
}

type parser struct {
	file  *File
	flags []string
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &Error{Path: p.file.Path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// yamlLine is compiled on first use, not at start-up: it is needed only
// for a config file that is not YAML.
var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// yamlError moves the line of a YAML syntax error to the front, where the
// other errors have it and where editors look for it.
func (p *parser) yamlError(err error) error {
	if m := yamlLine().FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return p.errorf(line, "%s", m[2])
	}
	return p.errorf(0, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// resolve follows aliases (*name), which YAML allows for any value.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// mapping calls fn for each key of n, in order. A key given twice is an
// error: YAML itself forbids it, and silently keeping one of two timeouts
// would hide a mistake.
func (p *parser) mapping(n *yaml.Node, where string, fn func(key string, k, v *yaml.Node) error) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return p.errorf(k.Line, "a key %s must be a name", where)
		}
		if k.Tag == "!!merge" {
			return p.errorf(k.Line, "merge keys (<<) are not supported %s: put shared settings under defaults", where)
		}
		if first, ok := seen[k.Value]; ok {
			return p.errorf(k.Line, "key %q given twice %s (first at line %d)", k.Value, where, first)
		}
		seen[k.Value] = k.Line
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) clusters(n *yaml.Node) error {
	if n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.errorf(n.Line, "clusters: want a mapping of cluster names to their servers and settings")
	}
	return p.mapping(n, "in clusters", func(name string, k, v *yaml.Node) error {
		c := Cluster{Name: name, Line: k.Line}
		where := fmt.Sprintf("in cluster %q", name)
		if v.Kind != yaml.MappingNode && v.Tag != "!!null" {
			return p.errorf(v.Line, "cluster %q: want a mapping with servers and settings", name)
		}
		var err error
		if c.Settings, err = p.settings(v, where, true); err != nil {
			return err
		}
		if c.Servers, err = p.servers(v, name); err != nil {
			return err
		}
		p.file.Clusters = append(p.file.Clusters, c)
		return nil
	})
}

// servers reads a cluster's servers key, which settings has already
// checked for shape.
func (p *parser) servers(n *yaml.Node, cluster string) ([]Value, error) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "servers" {
			continue
		}
		var servers []Value
		for _, s := range resolve(n.Content[i+1]).Content {
			servers = append(servers, Value{Text: resolve(s).Value, Line: s.Line})
		}
		if len(servers) > 0 {
			return servers, nil
		}
	}
	return nil, p.errorf(n.Line, "cluster %q has no servers: add servers: [HOST, ...]", cluster)
}

// settings reads the flag keys of n; servers is allowed when inCluster.
func (p *parser) settings(n *yaml.Node, where string, inCluster bool) ([]Setting, error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n.Line, "want a mapping of settings %s", where)
	}
	var out []Setting
	err := p.mapping(n, where, func(key string, k, v *yaml.Node) error {
		flag := strings.ReplaceAll(key, "_", "-")
		switch {
		case isPasswordKey(key):
			return p.errorf(k.Line, "key %q %s: a password does not belong in a config file; "+
				"put it in a file only you can read (chmod 600) and name that file with password_file", key, where)
		case inCluster && key == "servers":
			return p.checkServers(v, key)
		case strings.Contains(key, "-") && slices.Contains(p.flags, key):
			return p.errorf(k.Line, "unknown key %q %s: write %s", key, where, Key(key))
		case !slices.Contains(p.flags, flag):
			return p.errorf(k.Line, "unknown key %q %s", key, where)
		case v.Kind != yaml.ScalarNode:
			return p.errorf(k.Line, "%s: want a single value", key)
		case v.Tag == "!!null":
			return p.errorf(k.Line, "%s: no value", key)
		}
		out = append(out, Setting{Key: key, Flag: flag, Value: Value{Text: v.Value, Line: k.Line}})
		return nil
	})
	return out, err
}

func (p *parser) checkServers(v *yaml.Node, key string) error {
	if v.Kind != yaml.SequenceNode && v.Tag != "!!null" {
		return p.errorf(v.Line, "%s: want a list, such as [finesse-a.example.com, finesse-b.example.com]", key)
	}
	for _, s := range v.Content {
		if s := resolve(s); s.Kind != yaml.ScalarNode || s.Value == "" {
			return p.errorf(s.Line, "%s: each server is a host, host:port or https://host:port", key)
		}
	}
	return nil
}

// isPasswordKey catches a password written into the file under any of the
// names people reach for: the file is readable by others by design.
func isPasswordKey(key string) bool {
	k := strings.ToLower(Key(key))
	if k == "password_file" {
		return false
	}
	return strings.Contains(k, "passw") || strings.Contains(k, "secret") ||
		slices.Contains([]string{"pass", "pw", "pwd"}, k)
}

// Flags lists the long names of the flags in fs that a file may set: all
// but skip. Taking them from the flag set means a new flag is accepted in
// the file without anyone remembering to list it here.
func Flags(fs *pflag.FlagSet, skip ...string) []string {
	var names []string
	fs.VisitAll(func(fl *pflag.Flag) {
		if !slices.Contains(skip, fl.Name) {
			names = append(names, fl.Name)
		}
	})
	return names
}

// Apply sets settings on fs, in order, through each flag's own parser, so
// that a duration, a number of days or a range means in the file what it
// means on the command line. A relative path given to a flag marked as a
// file name is taken relative to the config file, not to wherever the
// command happens to run (cron starts in the home directory).
func (f *File) Apply(fs *pflag.FlagSet, settings []Setting) error {
	for _, s := range settings {
		value := s.Text
		fl := fs.Lookup(s.Flag)
		if _, isFile := fl.Annotations[cobra.BashCompFilenameExt]; isFile && value != "" && value != "-" && !filepath.IsAbs(value) {
			value = filepath.Join(filepath.Dir(f.Path), value)
		}
		if err := fs.Set(s.Flag, value); err != nil {
			// The flag's own message, without pflag's wrapping, which
			// names the command-line spelling of the flag.
			if cause := errors.Unwrap(err); cause != nil {
				err = cause
			}
			return &Error{Path: f.Path, Line: s.Line, Msg: s.Key + ": " + err.Error()}
		}
	}
	return nil
}
