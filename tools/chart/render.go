// render: renders a Helm chart's templates the way `helm template` does, for
// tests on machines without a helm binary. Built from Debian's Go packages
// (text/template + sprig + sigs.k8s.io/yaml, GOPATH mode):
//
//	render -chart helm/lb [-f values.yaml ...] [-name lb] [-namespace default] [-lb-check path/to/lb]
//
// It covers what helm/lb uses: Values (chart defaults deep-merged with each
// -f file, null deleting a key), Chart, Release, Capabilities, Template, and
// helm's own functions (include, tpl, required, fail, toYaml, fromYaml,
// toJson, fromJson). With -lb-check, every ConfigMap key lb.yaml is written
// out and passed through `lb --check`; lb's FILE:LINE:COL errors fail the
// render, as a bad config would fail `helm install` with the chart's checks.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

func readYAML(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return m, nil
}

// merge deep-merges src into dst like helm: maps merge, anything else
// replaces, and null removes the key.
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func funcs(t *template.Template, top map[string]interface{}) template.FuncMap {
	f := sprig.TxtFuncMap()
	f["toYaml"] = toYAML
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["toJson"] = func(v interface{}) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["fromJsonArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			return []interface{}{err.Error()}
		}
		return a
	}
	f["fromYamlArray"] = func(s string) []interface{} {
		var a []interface{}
		if err := yaml.Unmarshal([]byte(s), &a); err != nil {
			return []interface{}{err.Error()}
		}
		return a
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		n, err := c.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = n.Execute(&buf, data)
		return buf.String(), err
	}
	f["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	return f
}

// chartFiles is .Files: Get reads a file of the chart (symlinks followed,
// as helm does when it loads a chart directory).
type chartFiles struct{ root string }

func (c chartFiles) Get(name string) string {
	b, err := os.ReadFile(filepath.Join(c.root, name))
	if err != nil {
		return ""
	}
	return string(b)
}

type apiVersions []string

// Has answers like helm's .Capabilities.APIVersions.Has.
func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func main() {
	chart := flag.String("chart", "helm/lb", "chart directory")
	name := flag.String("name", "lb", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	lbBin := flag.String("lb-check", "", "lb binary: pass each rendered lb.yaml through `lb --check`")
	out := flag.String("o", "-", "output file")
	notes := flag.Bool("notes", false, "render NOTES.txt too (to stderr)")
	var files valueFiles
	flag.Var(&files, "f", "values file (repeatable)")
	flag.Parse()
	if err := run(*chart, *name, *namespace, *lbBin, *out, *notes, files); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func run(chart, name, namespace, lbBin, out string, notes bool, files []string) error {
	meta, err := readYAML(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAML(filepath.Join(chart, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		v, err := readYAML(f)
		if err != nil {
			return err
		}
		values = merge(values, v)
	}
	chartName, _ := meta["name"].(string)
	top := map[string]interface{}{
		"Values": values,
		"Chart": map[string]interface{}{
			"Name": meta["name"], "Version": meta["version"], "AppVersion": meta["appVersion"],
			"Description": meta["description"], "Type": meta["type"],
		},
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Files": chartFiles{root: chart},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.29.0", "Major": "1", "Minor": "29", "GitVersion": "v1.29.0"},
			"APIVersions": apiVersions{"v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"},
		},
	}
	paths, err := filepath.Glob(filepath.Join(chart, "templates", "*"))
	if err != nil {
		return err
	}
	sort.Strings(paths)
	t := template.New("chart")
	t.Funcs(funcs(t, top)).Option("missingkey=zero")
	var names []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n := chartName + "/templates/" + filepath.Base(p)
		if _, err := t.New(n).Parse(string(b)); err != nil {
			return err
		}
		names = append(names, n)
	}
	var buf bytes.Buffer
	for _, n := range names {
		base := filepath.Base(n)
		if strings.HasPrefix(base, "_") || (base == "NOTES.txt" && !notes) {
			continue
		}
		data := merge(map[string]interface{}{}, top)
		data["Template"] = map[string]interface{}{"Name": n, "BasePath": chartName + "/templates"}
		var one bytes.Buffer
		if err := t.ExecuteTemplate(&one, n, data); err != nil {
			return err
		}
		s := strings.ReplaceAll(one.String(), "<no value>", "")
		if base == "NOTES.txt" {
			fmt.Fprint(os.Stderr, s)
			continue
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		fmt.Fprintf(&buf, "---\n# Source: %s\n%s\n", n, strings.TrimSpace(s))
	}
	if lbBin != "" {
		if err := lbCheck(lbBin, buf.Bytes()); err != nil {
			return err
		}
	}
	if out == "-" {
		_, err = os.Stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// lbCheck runs `lb --check` on every ConfigMap's lb.yaml in the output.
func lbCheck(lbBin string, manifests []byte) error {
	dir, err := os.MkdirTemp("", "lb-render-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, doc := range strings.Split(string(manifests), "\n---\n") {
		obj := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return fmt.Errorf("rendered output is not YAML: %v", err)
		}
		if obj["kind"] != "ConfigMap" {
			continue
		}
		data, _ := obj["data"].(map[string]interface{})
		cfg, ok := data["lb.yaml"].(string)
		if !ok {
			continue
		}
		md, _ := obj["metadata"].(map[string]interface{})
		sub := filepath.Join(dir, fmt.Sprint(md["name"]))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		path := filepath.Join(sub, "lb.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return err
		}
		cmd := exec.Command(lbBin, "--check", "--no-resolve", "--config", path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			var numbered strings.Builder
			for i, line := range strings.Split(strings.TrimRight(cfg, "\n"), "\n") {
				fmt.Fprintf(&numbered, "%4d  %s\n", i+1, line)
			}
			msg := strings.ReplaceAll(strings.TrimSpace(stderr.String()), dir+"/", "")
			return fmt.Errorf("values.config is not a valid lb config (lb --check, ConfigMap %v):\n%s\nrendered lb.yaml:\n%s",
				md["name"], msg, numbered.String())
		}
	}
	return nil
}
