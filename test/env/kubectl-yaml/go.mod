// The oracle of how kubectl reads YAML (test/env/kubectl-yaml.ts): sigs.k8s.io/yaml and its go-yaml v2
// fork, and k8s.io/apimachinery's splitter of a file into documents, at the versions kubectl v0.37
// pins. go.sum pins every module hash, so a build needs only the Go module proxy, not the checksum
// database.
module local/keybrake/kubectlyaml

go 1.26.0

require (
	k8s.io/apimachinery v0.37.0
	sigs.k8s.io/yaml v1.6.0
)

require (
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	sigs.k8s.io/json v0.0.0-20250730193827-2d320260d730 // indirect
)
