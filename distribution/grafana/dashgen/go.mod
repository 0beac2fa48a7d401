module github.com/otelcol-lambda/otelcol-lambda/distribution/grafana/dashgen

go 1.26

require github.com/grafana/grafana-foundation-sdk/go v0.0.22
