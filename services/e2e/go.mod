module github.com/vigil/vigil/services/e2e

go 1.26.0

replace (
	github.com/vigil/vigil/gen => ../../gen
	github.com/vigil/vigil/services/runtime => ../runtime
)
