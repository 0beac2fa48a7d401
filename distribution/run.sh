#!/usr/bin/env bash
# Starts a local Alertmanager, a Prometheus (remote-write receiver on, the rules of
# distribution/prometheus/rules loaded, alerting to that Alertmanager) and the
# otelcol-lambda gateway with distribution/config.yaml, prints where everything is, and
# stops them all on Ctrl-C.
#
# With PROMETHEUS_REMOTE_WRITE_URL set, no local Prometheus or Alertmanager is started and
# the gateway writes there. Ports and paths come from the environment variables listed in
# README.md; ALERTMANAGER_CONFIG, PROMETHEUS_RULES_DIR and PROMETHEUS_EVALUATION_INTERVAL
# replace the shipped receivers, rules and 15s evaluation interval.
#
# With OTELCOL_LAMBDA_JAEGER=1 (what `make run JAEGER=1` sets) it also starts Jaeger
# ($JAEGER_BIN, in-memory storage, distribution/jaeger/jaeger.yaml) on loopback and merges
# overlays/traces-otlp.yaml, so that the traces, and the exemplars' trace ids, can be looked
# up there. Ports: JAEGER_OTLP_GRPC_PORT (14317), JAEGER_QUERY_PORT (16686, the HTTP API),
# JAEGER_QUERY_GRPC_PORT (16685).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gateway_bin=${OTELCOL_LAMBDA_BIN:-$root/_build/otelcol-lambda}
run_dir=${OTELCOL_LAMBDA_RUN_DIR:-$root/.run}
prometheus_bin=${PROMETHEUS_BIN:-prometheus}
prometheus_port=${PROMETHEUS_PORT:-9090}
alertmanager_bin=${ALERTMANAGER_BIN:-prometheus-alertmanager}
alertmanager_port=${ALERTMANAGER_PORT:-9093}
evaluation_interval=${PROMETHEUS_EVALUATION_INTERVAL:-15s}
ready_timeout=${OTELCOL_LAMBDA_READY_TIMEOUT:-60}
# Extra configuration files merged over the default one, separated by spaces
# (e.g. "distribution/overlays/traces-otlp.yaml").
overlays=${OTELCOL_LAMBDA_OVERLAYS:-}
start_jaeger=${OTELCOL_LAMBDA_JAEGER:-}
jaeger_bin=${JAEGER_BIN:-$root/bin/jaeger}

export OTELCOL_LAMBDA_HTTP_ENDPOINT=${OTELCOL_LAMBDA_HTTP_ENDPOINT:-127.0.0.1:4318}
export OTELCOL_LAMBDA_GRPC_ENDPOINT=${OTELCOL_LAMBDA_GRPC_ENDPOINT:-127.0.0.1:4317}
export OTELCOL_LAMBDA_HEALTH_ENDPOINT=${OTELCOL_LAMBDA_HEALTH_ENDPOINT:-127.0.0.1:13133}
export OTELCOL_LAMBDA_TELEMETRY_HOST=${OTELCOL_LAMBDA_TELEMETRY_HOST:-127.0.0.1}
export OTELCOL_LAMBDA_TELEMETRY_PORT=${OTELCOL_LAMBDA_TELEMETRY_PORT:-8888}
# The receiver's replay state lives beside the Prometheus data it keeps from counting
# twice: a restarted `make run` recognises batches resent to it, and removing .run resets
# both together.
export OTELCOL_LAMBDA_STORAGE_DIR=${OTELCOL_LAMBDA_STORAGE_DIR:-$run_dir/storage}

say() { printf '[run] %s\n' "$*" || true; }
die() { printf '[run] error: %s\n' "$*" >&2; exit 1; }

[ -x "$gateway_bin" ] || die "no gateway binary at $gateway_bin: run 'make build' first"

# in_repo PATH: a relative path is relative to the repository root (overlays, the
# Alertmanager configuration, the rules directory).
in_repo() {
	case "$1" in /*) printf '%s' "$1" ;; *) printf '%s' "$root/$1" ;; esac
}
alertmanager_config=$(in_repo "${ALERTMANAGER_CONFIG:-distribution/alertmanager/alertmanager.yml}")
rules_dir=$(in_repo "${PROMETHEUS_RULES_DIR:-distribution/prometheus/rules}")

# addr_port ADDR and addr_host ADDR split host:port (host may be empty, or [v6]); a
# wildcard host is reached on loopback.
addr_port() { printf '%s' "${1##*:}"; }
addr_host() {
	local host=${1%:*}
	host=${host#[}
	host=${host%]}
	case "$host" in "" | 0.0.0.0 | ::) host=127.0.0.1 ;; esac
	printf '%s' "$host"
}
port_in_use() { (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null; }

# Every port this run will listen on, checked before anything starts: a port held by
# another process (say a gateway or Prometheus already running) would otherwise fail one
# component, or, worse, answer in its place. Each entry is "host:port|what|variable|more",
# more being an alternative to moving the port, if any.
ports=()
check_ports() {
	local entry addr what var more port host taken=0 invalid=0 seen=" "
	for entry in "${ports[@]}"; do
		IFS='|' read -r addr what var more <<<"$entry"
		port=$(addr_port "$addr")
		host=$(addr_host "$addr")
		if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
			printf '[run] error: %s is not a port number (1 to 65535) for %s: set %s\n' "'$port'" "$what" "$var" >&2
			invalid=1
			continue
		fi
		case "$seen" in
		*" $port "*)
			printf '[run] error: port %s (%s) is given twice: set %s to another port\n' "$port" "$what" "$var" >&2
			taken=1
			continue
			;;
		esac
		seen="$seen$port "
		if port_in_use "$port" "$host"; then
			printf '[run] error: port %s (%s) is taken by another process: set %s to move it%s\n' \
				"$port" "$what" "$var" "${more:+, or $more}" >&2
			taken=1
		fi
	done
	[ "$invalid" = 0 ] || die "invalid port numbers"
	[ "$taken" = 0 ] || die "ports taken; README.md's \"Moving the ports\" moves them all in one block"
}

# fill TEMPLATE KEY VALUE...: TEMPLATE with each @KEY@ replaced by VALUE, which may hold
# the characters sed's s|...|...| gives a meaning (\, | and &), but no line break.
fill() {
	local template=$1 args=()
	shift
	while [ $# -gt 0 ]; do
		case "$2" in *$'\n'*) die "a line break in the value for @$1@ of $template" ;; esac
		args+=(-e "s|@$1@|$(printf '%s' "$2" | sed -e 's/[\\|&]/\\&/g')|")
		shift 2
	done
	sed "${args[@]}" "$template"
}

# duration_ms DURATION: a Prometheus duration (15s, 1m30s) in milliseconds; fails on
# anything else.
duration_ms() {
	local rest=$1 total=0
	local -A unit_ms=([ms]=1 [s]=1000 [m]=60000 [h]=3600000 [d]=86400000 [w]=604800000 [y]=31536000000)
	[[ $rest =~ ^([0-9]{1,9}(ms|s|m|h|d|w|y))+$ ]] || return 1
	while [[ $rest =~ ^([0-9]+)(ms|s|m|h|d|w|y)(.*)$ ]]; do
		total=$((total + 10#${BASH_REMATCH[1]} * ${unit_ms[${BASH_REMATCH[2]}]}))
		rest=${BASH_REMATCH[3]}
	done
	printf '%s' "$total"
}

# owns_port PID PORT: PID holds a listening TCP socket on PORT. Where /proc cannot tell
# (not Linux), it is enough that PID is alive.
owns_port() {
	local pid=$1 port inodes fd link inode
	kill -0 "$pid" 2>/dev/null || return 1
	if [ ! -r /proc/net/tcp ] || [ ! -r "/proc/$pid/fd" ]; then
		return 0
	fi
	port=$(printf ':%04X' "$2")
	inodes=$(awk -v p="$port" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null)
	for fd in /proc/"$pid"/fd/*; do
		link=$(readlink "$fd" 2>/dev/null) || continue
		for inode in $inodes; do
			[ "$link" = "socket:[$inode]" ] && return 0
		done
	done
	return 1
}

# wait_ready URL PID NAME LOG: polls URL until it answers 200 from PID's own socket (not
# from another process on that port), failing early if PID dies.
wait_ready() {
	local url=$1 pid=$2 name=$3 log=$4 waited=0 addr
	addr=${url#*://}
	addr=${addr%%/*}
	until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && owns_port "$pid" "$(addr_port "$addr")"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			[ -f "$log" ] && tail -n 30 "$log" >&2
			die "$name exited during start-up${log:+ (log: $log)}"
		fi
		waited=$((waited + 1))
		if [ "$waited" -gt $((ready_timeout * 4)) ]; then
			curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null &&
				die "$name not ready after ${ready_timeout}s: $url answers, but from another process"
			die "$name not ready after ${ready_timeout}s at $url"
		fi
		sleep 0.25
	done
}

# Each process runs in a session of its own (setsid), so that Ctrl-C reaches this script
# only, and the script stops them in order: the gateway first, so that its last flush
# reaches Prometheus and Jaeger, then the rest. Once stopping, the script ignores INT,
# TERM and HUP. The terminal sends every Ctrl-C to make and to this script alike (make
# forwards nothing, it waits for the script), and a second one must neither cut the
# gateway's flush short nor end the script with the rest still running.
pids=()
declare -A names=()
gateway_pid=
stop_timeout=${OTELCOL_LAMBDA_STOP_TIMEOUT:-20}
# started PID NAME records a process to stop.
started() {
	pids+=("$1")
	names[$1]=$2
}
stop_pids() {
	local waited=0
	kill -TERM "$@" 2>/dev/null || true
	while kill -0 "$@" 2>/dev/null; do
		if [ "$waited" -ge $((stop_timeout * 4)) ]; then
			say "still running after ${stop_timeout}s: killing $*"
			kill -KILL "$@" 2>/dev/null || true
			break
		fi
		waited=$((waited + 1))
		sleep 0.25
	done
	wait "$@" 2>/dev/null || true
}
stop_all() {
	trap '' INT TERM HUP
	trap - EXIT
	local pid rest=()
	if [ -n "$gateway_pid" ] && kill -0 "$gateway_pid" 2>/dev/null; then
		say "stopping the gateway (pid $gateway_pid); its last flush goes out first (at most ${stop_timeout}s; further Ctrl-C are ignored)"
		stop_pids "$gateway_pid"
	fi
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null && rest+=("$pid")
	done
	for pid in "${rest[@]}"; do
		say "stopping ${names[$pid]} (pid $pid)"
	done
	[ ${#rest[@]} -eq 0 ] || stop_pids "${rest[@]}"
	[ ${#pids[@]} -eq 0 ] || say "stopped"
}
trap 'stop_all; exit 0' INT TERM HUP
trap 'stop_all' EXIT

gateway_telemetry_addr="$OTELCOL_LAMBDA_TELEMETRY_HOST:$OTELCOL_LAMBDA_TELEMETRY_PORT"
ports+=("$OTELCOL_LAMBDA_HTTP_ENDPOINT|the gateway's OTLP/HTTP and extension batches|OTELCOL_LAMBDA_HTTP_ENDPOINT")
ports+=("$OTELCOL_LAMBDA_GRPC_ENDPOINT|the gateway's OTLP/gRPC|OTELCOL_LAMBDA_GRPC_ENDPOINT")
ports+=("$OTELCOL_LAMBDA_HEALTH_ENDPOINT|the gateway's health check|OTELCOL_LAMBDA_HEALTH_ENDPOINT")
ports+=("$gateway_telemetry_addr|the gateway's own metrics|OTELCOL_LAMBDA_TELEMETRY_PORT")
if [ -z "${PROMETHEUS_REMOTE_WRITE_URL:-}" ]; then
	ports+=("127.0.0.1:$prometheus_port|Prometheus|PROMETHEUS_PORT|PROMETHEUS_REMOTE_WRITE_URL to write to that Prometheus instead")
	ports+=("127.0.0.1:$alertmanager_port|Alertmanager|ALERTMANAGER_PORT|PROMETHEUS_REMOTE_WRITE_URL to write to another Prometheus instead")
fi
if [ "$start_jaeger" = 1 ]; then
	jaeger_otlp_addr="127.0.0.1:${JAEGER_OTLP_GRPC_PORT:-14317}"
	jaeger_query_addr="127.0.0.1:${JAEGER_QUERY_PORT:-16686}"
	jaeger_query_grpc_addr="127.0.0.1:${JAEGER_QUERY_GRPC_PORT:-16685}"
	ports+=("$jaeger_otlp_addr|Jaeger's OTLP/gRPC|JAEGER_OTLP_GRPC_PORT")
	ports+=("$jaeger_query_addr|Jaeger's query API|JAEGER_QUERY_PORT")
	ports+=("$jaeger_query_grpc_addr|Jaeger's query gRPC|JAEGER_QUERY_GRPC_PORT")
fi
check_ports

mkdir -p "$run_dir"
# One run per run directory: a second Prometheus on the same data, or a second gateway on
# the same storage, does not work (the gateway fails with a bare "timeout"). The lock
# (on fd 9, which the processes started inherit) lasts as long as any of them.
if command -v flock >/dev/null 2>&1; then
	exec 9>>"$run_dir/run.lock"
	flock -n 9 ||
		die "$run_dir is in use by another 'make run': set OTELCOL_LAMBDA_RUN_DIR to a directory of its own"
	for file in "$OTELCOL_LAMBDA_STORAGE_DIR"/*; do
		[ -f "$file" ] || continue
		flock -n -s "$file" true 2>/dev/null ||
			die "$file is locked by another gateway: set OTELCOL_LAMBDA_STORAGE_DIR to a directory of its own"
	done
fi

if [ -n "${PROMETHEUS_REMOTE_WRITE_URL:-}" ]; then
	say "using the Prometheus at $PROMETHEUS_REMOTE_WRITE_URL (PROMETHEUS_REMOTE_WRITE_URL is set); no Alertmanager started either: load distribution/prometheus/rules into that Prometheus and send its alerts to your Alertmanager"
	prometheus_url=""
	alertmanager_url=""
else
	if ! command -v "$prometheus_bin" >/dev/null 2>&1; then
		[ -z "${PROMETHEUS_BIN:-}" ] || die "PROMETHEUS_BIN: no program $prometheus_bin"
		die "no Prometheus found: 'make run' installs it as root, or run: sudo apt-get install -y prometheus"
	fi
	if ! command -v "$alertmanager_bin" >/dev/null 2>&1; then
		[ -z "${ALERTMANAGER_BIN:-}" ] || die "ALERTMANAGER_BIN: no program $alertmanager_bin"
		die "no Alertmanager found: 'make run' installs it as root, or run: sudo apt-get install -y prometheus-alertmanager"
	fi
	[ -f "$alertmanager_config" ] || die "ALERTMANAGER_CONFIG: no file $alertmanager_config"
	[ -d "$rules_dir" ] || die "PROMETHEUS_RULES_DIR: no directory $rules_dir"
	# rule_files is a glob in a single-quoted YAML string.
	case "$rules_dir" in *[][*?\\\']* | *$'\n'*)
		die "PROMETHEUS_RULES_DIR: $rules_dir has a character that Prometheus' rule_files would not read as itself (* ? [ ] \\ ' or a line break): use another path" ;;
	esac
	compgen -G "$rules_dir/*.yml" >/dev/null ||
		die "PROMETHEUS_RULES_DIR: no .yml file in $rules_dir, so Prometheus would load no rules"
	# Broken rules would stop Prometheus at start-up: say which, before anything starts. The
	# promtool beside the Prometheus binary knows the same PromQL.
	promtool_bin=$(dirname "$(command -v "$prometheus_bin")")/promtool
	if [ -x "$promtool_bin" ] && ! "$promtool_bin" check rules "$rules_dir"/*.yml >"$run_dir/promtool.log" 2>&1; then
		grep -v -e '^$' -e '^Checking ' -e 'SUCCESS: ' "$run_dir/promtool.log" | tail -n 20 >&2
		die "PROMETHEUS_RULES_DIR: promtool check rules fails on $rules_dir (log: $run_dir/promtool.log)"
	fi
	# Below 1s Prometheus evaluates every rule more often than any sample arrives; 0 it
	# would take for its 1m default.
	if ! interval_ms=$(duration_ms "$evaluation_interval") || [ "$interval_ms" -lt 1000 ]; then
		die "PROMETHEUS_EVALUATION_INTERVAL: '$evaluation_interval' is not a duration of 1s or more, such as 15s, 1m or 1m30s"
	fi

	alertmanager_addr="127.0.0.1:$alertmanager_port"
	prometheus_addr="127.0.0.1:$prometheus_port"
	mkdir -p "$run_dir/prometheus-data"
	fill "$root/distribution/prometheus/prometheus.yml" \
		GATEWAY_TELEMETRY_ADDR "$gateway_telemetry_addr" \
		PROMETHEUS_ADDR "$prometheus_addr" \
		ALERTMANAGER_ADDR "$alertmanager_addr" \
		RULES_DIR "$rules_dir" \
		EVALUATION_INTERVAL "$evaluation_interval" >"$run_dir/prometheus.yml"

	# Started first, so that it is there when Prometheus sends its first alerts. One
	# instance, so no cluster gossip (an empty --cluster.listen-address turns it off).
	alertmanager_url="http://$alertmanager_addr"
	mkdir -p "$run_dir/alertmanager-data"
	say "starting Alertmanager on $alertmanager_url with $alertmanager_config (log: $run_dir/alertmanager.log)"
	setsid "$alertmanager_bin" \
		--config.file="$alertmanager_config" \
		--storage.path="$run_dir/alertmanager-data" \
		--web.listen-address="$alertmanager_addr" \
		--web.external-url="$alertmanager_url" \
		--cluster.listen-address= \
		>"$run_dir/alertmanager.log" 2>&1 &
	started $! Alertmanager
	wait_ready "$alertmanager_url/-/ready" "$!" Alertmanager "$run_dir/alertmanager.log"

	prometheus_url="http://$prometheus_addr"
	say "starting Prometheus on $prometheus_url, rules from $rules_dir evaluated every $evaluation_interval (log: $run_dir/prometheus.log)"
	setsid "$prometheus_bin" \
		--config.file="$run_dir/prometheus.yml" \
		--storage.tsdb.path="$run_dir/prometheus-data" \
		--web.listen-address="$prometheus_addr" \
		--web.external-url="$prometheus_url" \
		--web.enable-remote-write-receiver \
		--enable-feature=exemplar-storage,native-histograms \
		>"$run_dir/prometheus.log" 2>&1 &
	started $! Prometheus
	wait_ready "$prometheus_url/-/ready" "$!" Prometheus "$run_dir/prometheus.log"
	export PROMETHEUS_REMOTE_WRITE_URL="$prometheus_url/api/v1/write"
fi

jaeger_url=""
if [ "$start_jaeger" = 1 ]; then
	[ -x "$jaeger_bin" ] || die "no Jaeger binary at $jaeger_bin: run 'make run JAEGER=1', which builds it"
	jaeger_url="http://$jaeger_query_addr"
	fill "$root/distribution/jaeger/jaeger.yaml" \
		OTLP_GRPC_ADDR "$jaeger_otlp_addr" \
		QUERY_HTTP_ADDR "$jaeger_query_addr" \
		QUERY_GRPC_ADDR "$jaeger_query_grpc_addr" >"$run_dir/jaeger.yaml"
	say "starting Jaeger, OTLP/gRPC on $jaeger_otlp_addr, query on $jaeger_url (log: $run_dir/jaeger.log)"
	setsid "$jaeger_bin" --config "$run_dir/jaeger.yaml" >"$run_dir/jaeger.log" 2>&1 &
	started $! Jaeger
	wait_ready "$jaeger_url/api/services" "$!" Jaeger "$run_dir/jaeger.log"
	export OTELCOL_LAMBDA_TRACES_ENDPOINT="$jaeger_otlp_addr"
	case " $overlays " in
	*" distribution/overlays/traces-otlp.yaml "* | *" $root/distribution/overlays/traces-otlp.yaml "*) ;;
	*) overlays="$overlays distribution/overlays/traces-otlp.yaml" ;;
	esac
fi

config_args=(--config "$root/distribution/config.yaml")
for overlay in $overlays; do
	overlay=$(in_repo "$overlay")
	[ -f "$overlay" ] || die "overlay $overlay does not exist"
	config_args+=(--config "$overlay")
done

say "starting the gateway: $gateway_bin ${config_args[*]}"
setsid "$gateway_bin" "${config_args[@]}" &
gateway_pid=$!
started $! "the gateway"
wait_ready "http://$OTELCOL_LAMBDA_HEALTH_ENDPOINT/" "$!" gateway ""

cat <<INFO
[run] ready.
[run]   gateway lambda_telemetry (extension batches, OTLP/HTTP): http://$OTELCOL_LAMBDA_HTTP_ENDPOINT  (/v1/lambda/telemetry, /v1/traces, /v1/metrics, /v1/logs)
[run]   gateway OTLP/gRPC:                                     $OTELCOL_LAMBDA_GRPC_ENDPOINT
[run]   gateway health:                                        http://$OTELCOL_LAMBDA_HEALTH_ENDPOINT/
[run]   gateway own metrics:                                   http://$gateway_telemetry_addr/metrics
[run]   remote write to:                                       $PROMETHEUS_REMOTE_WRITE_URL
${prometheus_url:+[run]   Prometheus UI:                                         $prometheus_url
[run]   its rules and alerts:                                  $prometheus_url/classic/rules, $prometheus_url/classic/alerts
[run]   loaded from (PROMETHEUS_RULES_DIR):                    $rules_dir
[run]   Alertmanager (alerts: GET /api/v2/alerts):             $alertmanager_url
[run]   its routes and receivers (ALERTMANAGER_CONFIG):        $alertmanager_config
}${jaeger_url:+[run]   Jaeger query API (GET /api/traces/TRACE_ID):           $jaeger_url
[run]   traces exported to the OTLP/gRPC of Jaeger:            $OTELCOL_LAMBDA_TRACES_ENDPOINT
}[run] Ctrl-C stops everything.
INFO

# Whichever exits first ends the run; the EXIT trap stops the others.
exited_pid=
set +e
if [ $((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1])) -ge 501 ]; then
	wait -n -p exited_pid "${pids[@]}"
else
	wait -n "${pids[@]}"
fi
status=$?
set -e
if [ -z "$exited_pid" ]; then # bash before 5.1: the first that is gone
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || {
			exited_pid=$pid
			break
		}
	done
fi
exited="a process"
[ -z "$exited_pid" ] || exited="${names[$exited_pid]} (pid $exited_pid)"
say "$exited exited (status $status); stopping the rest"
exit "$status"
