package jobspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// docKind is the kind of a document node.
type docKind int

const (
	docNull docKind = iota
	docScalar
	docMap
	docList
)

func (k docKind) String() string {
	return [...]string{"null", "a scalar", "a map", "a list"}[k]
}

// docNode is a parsed YAML or JSON value with its line, so one walker reads
// both formats and every error can name a line.
type docNode struct {
	kind     docKind
	text     string // scalar text
	line     int
	keys     []string
	keyLines []int
	vals     []*docNode
	items    []*docNode
}

// isJSON decides the format: the extension when it says, else a document
// starting with '{' is JSON.
func isJSON(data []byte, filename string) bool {
	name := strings.ToLower(filename)
	switch {
	case strings.HasSuffix(name, ".json"):
		return true
	case strings.HasSuffix(name, ".yaml"), strings.HasSuffix(name, ".yml"):
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{"))
}

// parseYAML reads exactly one YAML document. Anchors and aliases are
// refused: a spec is small and aliases only make it harder to read (and
// they are the door to entity-expansion bombs).
func parseYAML(data []byte) (*docNode, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("line %d: a spec file holds one YAML document; remove the second one", extra.Line)
	}
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) != 1 {
			return nil, errors.New("empty document")
		}
		return fromYAML(root.Content[0], 0)
	}
	return fromYAML(&root, 0)
}

func fromYAML(n *yaml.Node, depth int) (*docNode, error) {
	if depth > 32 {
		return nil, fmt.Errorf("line %d: nested too deeply", n.Line)
	}
	if n.Anchor != "" {
		return nil, fmt.Errorf("line %d: anchors (&%s) are not supported in job specs", n.Line, n.Anchor)
	}
	d := &docNode{line: n.Line}
	switch n.Kind {
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: aliases (*%s) are not supported in job specs", n.Line, n.Value)
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			d.kind = docNull
			return d, nil
		}
		if n.Tag == "!!binary" || (strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!")) {
			return nil, fmt.Errorf("line %d: tag %s is not supported in job specs", n.Line, n.Tag)
		}
		d.kind, d.text = docScalar, n.Value
	case yaml.SequenceNode:
		d.kind = docList
		for _, c := range n.Content {
			item, err := fromYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			d.items = append(d.items, item)
		}
	case yaml.MappingNode:
		d.kind = docMap
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
				return nil, fmt.Errorf("line %d: map keys must be plain strings", k.Line)
			}
			if k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: merge keys (<<) are not supported in job specs", k.Line)
			}
			if prev, dup := seen[k.Value]; dup {
				return nil, fmt.Errorf("line %d: key %q already defined on line %d", k.Line, k.Value, prev)
			}
			seen[k.Value] = k.Line
			val, err := fromYAML(v, depth+1)
			if err != nil {
				return nil, err
			}
			d.keys = append(d.keys, k.Value)
			d.keyLines = append(d.keyLines, k.Line)
			d.vals = append(d.vals, val)
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	return d, nil
}

// parseJSON reads one JSON value token by token, keeping lines, refusing
// duplicate keys and trailing data.
func parseJSON(data []byte) (*docNode, error) {
	p := &jsonParser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	root, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("line %d: unexpected data after the JSON object", p.line())
	}
	return root, nil
}

type jsonParser struct {
	data []byte
	dec  *json.Decoder
}

func (p *jsonParser) line() int {
	off := int(p.dec.InputOffset())
	if off > len(p.data) {
		off = len(p.data)
	}
	return 1 + bytes.Count(p.data[:off], []byte("\n"))
}

func (p *jsonParser) value(depth int) (*docNode, error) {
	if depth > 32 {
		return nil, fmt.Errorf("line %d: nested too deeply", p.line())
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", p.line(), err)
	}
	d := &docNode{line: p.line()}
	switch t := tok.(type) {
	case nil:
		d.kind = docNull
	case string:
		d.kind, d.text = docScalar, t
	case json.Number:
		d.kind, d.text = docScalar, t.String()
	case bool:
		d.kind, d.text = docScalar, fmt.Sprint(t)
	case json.Delim:
		switch t {
		case '{':
			d.kind = docMap
			seen := map[string]int{}
			for p.dec.More() {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", p.line(), err)
				}
				k := kt.(string) // json.Decoder guarantees object keys are strings
				kl := p.line()
				if prev, dup := seen[k]; dup {
					return nil, fmt.Errorf("line %d: key %q already defined on line %d", kl, k, prev)
				}
				seen[k] = kl
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				d.keys = append(d.keys, k)
				d.keyLines = append(d.keyLines, kl)
				d.vals = append(d.vals, v)
			}
		case '[':
			d.kind = docList
			for p.dec.More() {
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				d.items = append(d.items, v)
			}
		}
		if _, err := p.dec.Token(); err != nil { // closing delimiter
			return nil, fmt.Errorf("line %d: %w", p.line(), err)
		}
	}
	return d, nil
}
