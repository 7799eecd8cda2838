// kubectl-yaml: the test oracle for how kubectl reads manifest YAML. kubectl converts each document
// of a file to JSON with sigs.k8s.io/yaml (YAMLToJSON, YAML 1.1 scalars through its go-yaml v2 fork)
// before the API server sees it; this does exactly that and nothing else.
//
// stdin: a JSON array of YAML documents (one document each, as kubectl's splitter hands them over).
// stdout: a JSON array, per document {"json": "<what kubectl sends>"} or {"error": "<why kubectl refuses>"}.
package main

import (
	"encoding/json"
	"os"

	"sigs.k8s.io/yaml"
)

type result struct {
	JSON  *string `json:"json,omitempty"`
	Error *string `json:"error,omitempty"`
}

func main() {
	var docs []string
	if err := json.NewDecoder(os.Stdin).Decode(&docs); err != nil {
		os.Stderr.WriteString("kubectl-yaml: stdin is not a JSON array of strings: " + err.Error() + "\n")
		os.Exit(2)
	}
	out := make([]result, len(docs))
	for i, doc := range docs {
		converted, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			msg := err.Error()
			out[i].Error = &msg
		} else {
			s := string(converted)
			out[i].JSON = &s
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
