// Builds the pause program of the dev cluster's pause image (main.go; no dependencies).
module airpool.local/tools/k8s/pause

go 1.24.0
