module github.com/otelcol-lambda/otelcol-lambda/instrumentation/go/lambdatrigger

go 1.26.0
