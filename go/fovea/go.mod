module github.com/fovea/fovea/go/fovea

go 1.19
