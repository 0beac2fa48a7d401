// mkimage, which builds the container image from distribution/Dockerfile (make image), in a
// module of its own so that go-containerregistry stays out of the project's go.mod.
module github.com/otelcol-lambda/otelcol-lambda/distribution/image/mkimage

go 1.26

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
