# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# factcheck.sh - start and stop ALTO's fact-checking pipeline on the
# embedded topology; sourced by tools/bench/alto.sh and
# tools/bench/factcheck-run.sh (not run on its own).
#
#   namespace FC_NS (tools/netns.sh): sluicegen on FC_PREFIX.10 and the 16
#   engine instances on FC_PREFIX.11..18; sluiced on the host end of the
#   veth pair, FC_PREFIX.1:7700, with tools/pipelines/factcheck*.yaml.
#
# The caller sets FC_BUILD (build folder with sluiced, sluicegen,
# sluice-engine), FC_LOGS (where logs and engine stats go) and
# FC_TIME_SCALE (every modelled duration of the engines is multiplied by
# it), optionally FC_NS, FC_EAL_PREFIX, FC_ENGINE_ARGS (extra options
# for every sluice-engine), FC_ARGS_<role> (for that role's instances,
# e.g. FC_ARGS_queries=--serial-children), FC_SLUICED_ARGS (for sluiced,
# e.g. --impair), FC_LM_BRIDGE=1 (every LM instance a sluice-bridge in
# front of the emulator's HTTP side),
# FC_MAX_WAIT_MS and FC_CLAIMS_PREFIX / FC_QUERIES_PREFIX, then calls
# fc_init.
#
# The claims and queries LMs prefill a few-shot prompt before each input
# (--prefix-tokens): FacTool's claim-extraction and query-generation
# prompts are 2,281 and 1,210 characters (GAIR-NLP/factool,
# factool/utils/prompts/claim_extraction.yaml and query_generation.yaml;
# ALTO did not publish its own), at about 4 characters a token 570 and
# 300 tokens (FC_CLAIMS_PREFIX, FC_QUERIES_PREFIX). The answer stage has
# none.
#
# Every engine refuses new work (ABORT OVERLOAD, and PAUSE to sluiced)
# once its oldest waiting work has waited FC_MAX_WAIT_MS of model time
# (default 4000: ALTO's latency target for the whole pipeline; work
# that waited that long in one queue cannot meet it). Under overload a
# request is then refused at once instead of queued past any client's
# patience; 0 turns the bound off. fc_init installs an EXIT
# trap that stops everything started here and removes the namespace; a
# caller with its own cleanup calls fc_cleanup from it instead
# (FC_OWN_TRAP=1).

# Processes and the namespace: tools/topo.sh, shared with the tests.
# shellcheck source=tools/topo.sh
. "$(dirname "${BASH_SOURCE[0]}")/../topo.sh"

FC_PREFIX=${FC_PREFIX:-10.77.0}
FC_NS=${FC_NS:-sluice-fc}
FC_EAL_PREFIX=${FC_EAL_PREFIX:-sluice-fc}
FC_SERVER=$FC_PREFIX.1:7700
FC_MAX_WAIT_MS=${FC_MAX_WAIT_MS:-4000}
FC_CLAIMS_PREFIX=${FC_CLAIMS_PREFIX:-570}
FC_QUERIES_PREFIX=${FC_QUERIES_PREFIX:-300}
FC_TAG=${FC_TAG:-fc}
# sluiced gives up root after start-up and becomes this user, who must be
# able to write its stats (kept in FC_LOGS, copied where asked at stop).
FC_SLUICED_USER=${FC_SLUICED_USER:-nobody}
FC_SLUICED_STATS=
FC_SLUICED_STATS_RUN=

# The instances of tools/pipelines/factcheck.yaml: "stage/index role
# address". Keep in step with the YAML (fc_check_config compares them).
FC_INSTANCES=(
	"answer/0 answer $FC_PREFIX.11:7801"
	"answer/1 answer $FC_PREFIX.12:7801"
	"claims/0 claims $FC_PREFIX.13:7801"
	"claims/1 claims $FC_PREFIX.14:7801"
	"queries/0 queries $FC_PREFIX.15:7801"
	"queries/1 queries $FC_PREFIX.16:7801"
	"queries/2 queries $FC_PREFIX.17:7801"
	"bm25/0 bm25 $FC_PREFIX.11:7802"
	"bm25/1 bm25 $FC_PREFIX.12:7802"
	"bm25/2 bm25 $FC_PREFIX.13:7802"
	"bm25/3 bm25 $FC_PREFIX.14:7802"
	"encoder/0 encoder $FC_PREFIX.18:7801"
	"rerank/0 rerank $FC_PREFIX.15:7802"
	"rerank/1 rerank $FC_PREFIX.16:7802"
	"rerank/2 rerank $FC_PREFIX.17:7802"
	"rerank/3 rerank $FC_PREFIX.18:7802"
)

fc_say() {
	echo "$FC_TAG: $*"
}

fc_die() {
	echo "$FC_TAG: error: $*" >&2
	exit 1
}

fc_cleanup() {
	sl_topo_down "$FC_NS" "$FC_EAL_PREFIX"
}

fc_on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	fc_cleanup
	[[ $rc -eq 0 ]] || echo "$FC_TAG: failed (exit $rc); logs are in $FC_LOGS/" >&2
	exit $rc
}

# fc_init: checks, binaries, traps, a fresh namespace.
fc_init() {
	local bin
	FC_ROOT=${FC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
	[[ $(id -u) -eq 0 ]] || fc_die "run as root (network namespaces and DPDK need it)"
	FC_SLUICED=$FC_BUILD/dataplane/sluiced
	FC_SLUICEGEN=$FC_BUILD/tools/sluicegen
	FC_ENGINE=$FC_BUILD/tools/sluice-engine
	FC_SLUICECTL=$FC_BUILD/tools/sluicectl
	FC_BRIDGE=$FC_BUILD/tools/sluice-bridge
	for bin in "$FC_SLUICED" "$FC_SLUICEGEN" "$FC_ENGINE" "$FC_SLUICECTL" \
		"$FC_BRIDGE"; do
		[[ -x $bin ]] || fc_die "$bin was not built"
	done
	mkdir -p "$FC_LOGS"
	chown "$FC_SLUICED_USER" "$FC_LOGS" ||
		fc_die "cannot give $FC_LOGS to $FC_SLUICED_USER (sluiced writes there)"
	if [[ -z ${FC_OWN_TRAP:-} ]]; then
		trap fc_on_exit EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
	fi
	sl_netns_up "$FC_NS" "$FC_PREFIX" || fc_die "netns.sh up $FC_NS failed"
	FC_HOST_IF=$HOST_IF
	fc_say "namespace $FC_NS: sluiced drives $HOST_IF; client and engines on $NS_IF"
}

# fc_check_config FILE: every instance of FC_INSTANCES is in FILE.
fc_check_config() {
	local line ep
	for line in "${FC_INSTANCES[@]}"; do
		ep=${line##* }
		grep -qF "$ep" "$1" || fc_die "$1 has no instance $ep (FC_INSTANCES is out of step)"
	done
}

# fc_engine_start NAME ROLE IP:PORT: one engine instance in the namespace.
fc_engine_start() {
	local name=$1 role=$2 ep=$3 file extra=()
	file=${name//\//-}
	# The reranker joins bm25's and the encoder's output per query.
	[[ $role == rerank ]] && extra=(--join 2)
	[[ $role == claims ]] && extra=(--prefix-tokens "$FC_CLAIMS_PREFIX")
	[[ $role == queries ]] && extra=(--prefix-tokens "$FC_QUERIES_PREFIX")
	# FC_ARGS_<role>: extra options for that role's instances only.
	local role_args="FC_ARGS_$role"
	# shellcheck disable=SC2206 # one word per option
	extra+=(${!role_args:-})
	# FC_LM_BRIDGE=1: an LM instance is a sluice-bridge on its address in
	# front of the emulator's HTTP side (its UDP side moved 1000 ports
	# up, its HTTP side 1100 up): the same answers over real HTTP.
	if [[ ${FC_LM_BRIDGE:-0} == 1 && $role =~ ^(answer|claims|queries)$ ]]; then
		local ip=${ep%:*} port=${ep##*:}
		# shellcheck disable=SC2086 # FC_ENGINE_ARGS: one word per option
		sl_engine_start "$FC_NS" "$FC_ENGINE" "$FC_LOGS" "$name-model" \
			"$ip:$((port + 1000))" --role "$role" \
			--time-scale "$FC_TIME_SCALE" "${extra[@]}" \
			--max-wait-ms "$FC_MAX_WAIT_MS" ${FC_ENGINE_ARGS:-} \
			--http "$ip:$((port + 1100))"
		sl_engine_start "$FC_NS" "$FC_BRIDGE" "$FC_LOGS" "$name" "$ep" \
			--upstream "http://$ip:$((port + 1100))" \
			--max-num-seqs 1024 --max-queue 65535
		return
	fi
	# shellcheck disable=SC2086 # FC_ENGINE_ARGS: one word per option
	sl_engine_start "$FC_NS" "$FC_ENGINE" "$FC_LOGS" "$name" "$ep" \
		--role "$role" --time-scale "$FC_TIME_SCALE" "${extra[@]}" \
		--max-wait-ms "$FC_MAX_WAIT_MS" ${FC_ENGINE_ARGS:-}
}

# fc_engines_start: the 16 instances with their roles and the time scale.
fc_engines_start() {
	local line name role ep eps=()
	for line in "${FC_INSTANCES[@]}"; do
		read -r name role ep <<<"$line"
		fc_engine_start "$name" "$role" "$ep"
		eps+=("$ep")
	done
	fc_engines_wait "${eps[@]}"
	fc_say "16 engines up (time scale $FC_TIME_SCALE): answer 2, claims 2, queries 3, bm25 4, encoder 1, rerank 4"
}

# fc_engines_wait IP:PORT...: each engine listening, or stop the run.
fc_engines_wait() {
	if ! sl_wait_udp "$FC_NS" 5 "$@"; then
		tail -n 5 "$FC_LOGS"/engine-*.log >&2 || true
		fc_die "no engine listens on $SL_WAIT_MISSING after 5 s (see $FC_LOGS/)"
	fi
}

fc_engines_stop() {
	sl_engines_stop 10 || true
}

# fc_sluiced_start CONFIG STATS_FILE: start sluiced, wait for "ready".
fc_sluiced_start() {
	local config=$1 stats=$2 rc
	fc_check_config "$config"
	# The control API on a socket of this run's own (FC_CONTROL), and
	# metrics when FC_METRICS_PORT is set.
	local control=(--control "${FC_CONTROL:-none}")
	[[ -n ${FC_METRICS_PORT:-} ]] && control+=(--metrics "$FC_METRICS_PORT")
	# A benchmark starts from its file every time: no saved state.
	FC_SLUICED_STATS=$stats
	FC_SLUICED_STATS_RUN=$FC_LOGS/$(basename "$stats")
	rc=0
	# shellcheck disable=SC2086 # FC_SLUICED_ARGS: one word per option
	sl_sluiced_start "$FC_SLUICED" "$FC_LOGS/sluiced.log" \
		"$FC_LOGS/sluiced.err" 30 --config "$config" --iface "$FC_HOST_IF" \
		--stats-file "$FC_SLUICED_STATS_RUN" --stats-interval-ms 1000 \
		--state-dir none --user "$FC_SLUICED_USER" "${control[@]}" \
		${FC_SLUICED_ARGS:-} -- --file-prefix "$FC_EAL_PREFIX" || rc=$?
	if [[ $rc -ne 0 ]]; then
		tail -n 20 "$FC_LOGS/sluiced.err" >&2
		[[ $rc -ne 1 ]] || fc_die "sluiced exited ($SL_SLUICED_RC) before it was ready ($config)"
		fc_die "sluiced printed no ready line within 30 s"
	fi
	fc_say "${SL_READY_LINE#sluiced: } ($(basename "$config"))"
}

# fc_sluiced_stop: SIGTERM (sluiced writes its final stats); its status.
fc_sluiced_stop() {
	local rc=0
	[[ -n $SL_SLUICED_PID ]] || return 0
	sl_sluiced_stop 10 || rc=$?
	[[ $SL_STOP_KILLED -eq 0 ]] ||
		fc_say "warning: sluiced ignored SIGTERM for 10 s and was killed"
	if [[ -n $FC_SLUICED_STATS && $FC_SLUICED_STATS_RUN != "$FC_SLUICED_STATS" &&
		-f $FC_SLUICED_STATS_RUN ]]; then
		cp "$FC_SLUICED_STATS_RUN" "$FC_SLUICED_STATS"
	fi
	return $rc
}

# fc_gen OUT ERR ARGS...: sluicegen --mode pipeline in the namespace
# against sluiced; stdout to OUT, stderr to ERR; its exit status.
fc_gen() {
	local out=$1 err=$2 rc=0
	shift 2
	ip netns exec "$FC_NS" "$FC_SLUICEGEN" --mode pipeline \
		--server "$FC_SERVER" --bind "$FC_PREFIX.10" --pipeline 1 \
		--tenant 1 "$@" >"$out" 2>"$err" || rc=$?
	return $rc
}

# fc_ask QUESTION OUT: an application's call. sluice-gateway on
# FC_PREFIX.10:8080 in the namespace (a client of sluiced like sluicegen,
# pipeline factcheck = id 1, one bearer token for tenant 1), and the
# official OpenAI Node.js client (tools/openai-js/ask.mjs, npm `openai`)
# asking QUESTION through it, streaming; the client's JSON summary
# ({answer, chunks, finish_reason, ms} or {error}) in OUT. The gateway
# stops with the engines. Returns the client's exit status.
fc_ask() {
	local question=$1 out=$2 key=$FC_LOGS/gateway.key rc=0 token
	local gw=$FC_BUILD/tools/sluice-gateway js=$FC_ROOT/tools/openai-js
	[[ -x $gw ]] || fc_die "$gw was not built"
	[[ -d $js/node_modules/openai ]] ||
		fc_die "the npm openai client is not installed in $js (tools/deps.sh)"
	# A fresh key for this run, readable by root only.
	token=sk-sluice-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	(
		umask 077
		printf '%s\n' "$token" >"$key"
		printf '# token tenant\n%s 1\n' "$token" >"$FC_LOGS/gateway.tokens"
	)
	ip netns exec "$FC_NS" "$gw" --listen "$FC_PREFIX.10:8080" \
		--server "$FC_SERVER" --bind "$FC_PREFIX.10" --model factcheck=1 \
		--tokens "$FC_LOGS/gateway.tokens" --quiet \
		>"$FC_LOGS/gateway.log" 2>&1 &
	SL_ENGINE_PIDS+=($!)
	sl_wait_tcp "$FC_NS" 5 "$FC_PREFIX.10:8080" ||
		fc_die "sluice-gateway does not listen on $FC_PREFIX.10:8080"
	ip netns exec "$FC_NS" node "$js/ask.mjs" --json --timeout 60 \
		--base-url "http://$FC_PREFIX.10:8080/v1" --api-key-file "$key" \
		--model factcheck "$question" >"$out" 2>"$FC_LOGS/ask.err" || rc=$?
	return $rc
}

# fc_engine_stats OUT: the engines' stats files as one JSON array.
fc_engine_stats() {
	jq -s '.' "$FC_LOGS"/engine-*.json >"$1" 2>/dev/null || echo '[]' >"$1"
}
