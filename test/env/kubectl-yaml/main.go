// kubectl-yaml: the test oracle for how kubectl reads manifest YAML.
//
// By default each input is one document, converted as kubectl converts each document of a file to
// JSON (sigs.k8s.io/yaml's YAMLToJSON: YAML 1.1 scalars through its go-yaml v2 fork).
// With -files each input is a whole file, read as `kubectl apply -f` reads it (cli-runtime's
// StreamVisitor): k8s.io/apimachinery's YAMLOrJSONDecoder splits it into documents (on lines starting
// with `---`, or as a JSON stream) and converts each; empty and null documents are skipped.
//
// stdin: a JSON array of strings (documents, or files with -files).
// stdout: a JSON array, per input {"json": "<what kubectl sends>"} (-files: {"docs": [...]})
// or {"error": "<why kubectl refuses>"}.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type result struct {
	JSON  *string   `json:"json,omitempty"`
	Docs  *[]string `json:"docs,omitempty"`
	Error *string   `json:"error,omitempty"`
}

func main() {
	files := flag.Bool("files", false, "each input is a whole file, split into documents as kubectl splits it")
	flag.Parse()
	var inputs []string
	if err := json.NewDecoder(os.Stdin).Decode(&inputs); err != nil {
		os.Stderr.WriteString("kubectl-yaml: stdin is not a JSON array of strings: " + err.Error() + "\n")
		os.Exit(2)
	}
	out := make([]result, len(inputs))
	for i, input := range inputs {
		if *files {
			out[i] = readFile(input)
		} else {
			out[i] = readDocument(input)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}

func readDocument(doc string) result {
	converted, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		msg := err.Error()
		return result{Error: &msg}
	}
	s := string(converted)
	return result{JSON: &s}
}

// readFile is cli-runtime's StreamVisitor.Visit (pkg/resource/visitor.go) without the schema and the
// API objects: a json.RawMessage takes the bytes a runtime.RawExtension would.
func readFile(text string) result {
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(text), 4096)
	docs := []string{}
	for {
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			if err == io.EOF {
				return result{Docs: &docs}
			}
			msg := err.Error()
			return result{Error: &msg}
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue
		}
		docs = append(docs, string(raw))
	}
}
