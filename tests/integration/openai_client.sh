#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# openai_client.sh - an application written for the OpenAI API, using the
# official Node.js client (npm `openai`, tools/openai-js/ask.mjs), asks a
# pipeline whose LM stages are bridges to OpenAI-compatible model servers:
#
#   ask.mjs -> sluice-gateway -> sluiced -> answer (sluice-bridge, chat API)
#     -> sluiced -> polish (sluice-bridge, completions API) -> sluiced
#     -> sluice-gateway -> ask.mjs,
#
# each bridge in front of openai_server.py (HTTP/1.1, server-sent events)
# and rendering its stage's prompt from the pipeline file (`prompt:`).
# Asserts, byte for byte: streaming and whole answers on both endpoints;
# the refusals as the client reports them (a wrong key 401, an unknown
# pipeline 404 model_not_found); a model server that fails (503: the
# bridge ABORTs UPSTREAM, the client gets 502 with that code) and one that
# closes mid-answer (the client reads the start of the answer, then an
# error event with code UPSTREAM_CLOSED). Then the gateway's bounds against
# slow and idle clients: headers trickled a byte at a time are shut down
# when the request is not whole within --timeout-s, hundreds of idle
# connections beyond --max-connections are all closed within their bound,
# and a real request is answered afterwards. The counters of the gateway
# and the bridges, in their stats files and as Prometheus text on
# /metrics (promtool-clean), are exactly what happened. Every mbuf back;
# the token never logged.
#
# usage: openai_client.sh WORK_BASE
#   (binaries in SLUICED SLUICE_BRIDGE SLUICE_GATEWAY NETNS_SH)

set -euo pipefail
IT_NAME=openai_client
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICE_BRIDGE SLUICE_GATEWAY NETNS_SH
js=$IT_SRC_ROOT/tools/openai-js
command -v node >/dev/null || it_fail "node is not installed (tools/deps.sh)"
[[ -d $js/node_modules/openai ]] ||
	it_fail "the npm openai client is not in $js/node_modules (tools/deps.sh)"

it_netns_up
P=$IT_PREFIX
server=$P.13:8000
# The model server: a process in the namespace, stopped with the rest.
it_model_server "$P.13" 8000

# The prompts live in the pipeline file (`prompt:`); each bridge renders
# its stage's (--config, --stage) as sluiced compiles the same file.
cat >"$IT_WORK/pipeline.yaml" <<YAML
sluiced: {address: $P.1, port: $IT_PORT}
flows: {size: 4096, idle_timeout_ms: 5000, reorder_window: 16}
clients: [$P.0/24]
pipelines:
  - name: ask
    id: 3
    stages:
      - {name: answer, prompt: "Q: {input}", instances: [$P.11:7801]}
      - {name: polish, prompt: "P: {input}", instances: [$P.12:7801]}
YAML
sl_engine_start "$IT_NS" "$SLUICE_BRIDGE" "$IT_WORK" answer/0 "$P.11:7801" \
	--upstream "http://$server" --api chat --metrics "$P.11:9465" \
	--first-token-timeout-ms 4000 \
	--config "$IT_WORK/pipeline.yaml" --stage ask/answer
sl_engine_start "$IT_NS" "$SLUICE_BRIDGE" "$IT_WORK" polish/0 "$P.12:7801" \
	--upstream "http://$server" --api completions --metrics "$P.12:9465" \
	--config "$IT_WORK/pipeline.yaml" --stage ask/polish
it_wait_udp "$P.11:7801" "$P.12:7801"

# A stage the file does not have is refused before anything starts.
rc=0
"$SLUICE_BRIDGE" --listen 127.0.0.1:0 --upstream "http://$server" \
	--config "$IT_WORK/pipeline.yaml" --stage ask/nope >"$IT_WORK/nostage.txt" 2>&1 || rc=$?
[[ $rc -eq 2 ]] && grep -q "pipeline.yaml has no stage ask/nope" "$IT_WORK/nostage.txt" ||
	it_fail "a missing stage: exit $rc: $(cat "$IT_WORK/nostage.txt")"

it_sluiced "$IT_WORK/pipeline.yaml"

token=sk-it-$$-$RANDOM
(
	umask 077
	printf '%s\n' "$token" >"$IT_WORK/key"
	printf 'wrong-%s\n' "$token" >"$IT_WORK/wrong.key"
	printf '# token tenant\n%s 2\n' "$token" >"$IT_WORK/tokens"
)
timeout_s=2
ip netns exec "$IT_NS" "$SLUICE_GATEWAY" --listen "$P.10:8080" \
	--server "$P.1:$IT_PORT" --bind "$P.10" --model ask=3 \
	--tokens "$IT_WORK/tokens" --timeout-s "$timeout_s" \
	--max-connections 64 --answer-timeout-s 2 --stats-file "$IT_WORK/gateway.json" \
	--metrics "$P.10:9464" >"$IT_WORK/gateway.log" 2>&1 &
gw_pid=$!
SL_ENGINE_PIDS+=("$gw_pid")
sl_wait_tcp "$IT_NS" 5 "$P.10:8080" || it_fail "the gateway does not listen"

# ask NAME [ASK_OPTION...] QUESTION: the npm client's JSON summary in
# $IT_WORK/NAME.json; its exit status in ask_rc.
ask() {
	local name=$1
	shift
	ask_rc=0
	ip netns exec "$IT_NS" node "$js/ask.mjs" --json --timeout 20 \
		--base-url "http://$P.10:8080/v1" --model ask "$@" \
		>"$IT_WORK/$name.json" 2>"$IT_WORK/$name.err" || ask_rc=$?
}

q='Is the whole way streamed? Ünïcödé: 東京 and 🎉, "quoted"'
want="echo: P: echo: Q: $q"
for mode in stream whole; do
	for api in chat completions; do
		args=(--api-key-file "$IT_WORK/key")
		[[ $mode == whole ]] && args+=(--no-stream)
		[[ $api == completions ]] && args+=(--completions)
		ask "$mode-$api" "${args[@]}" "$q"
		[[ $ask_rc -eq 0 ]] ||
			it_fail "$mode $api: exit $ask_rc: $(cat "$IT_WORK/$mode-$api".{json,err})"
		it_expect "$IT_WORK/$mode-$api.json" \
			'.answer == $want and .finish_reason == "stop" and .model == "ask"' \
			"$mode $api: the answer is not byte-exact" --arg want "$want"
	done
done
# Streamed as it arrived: one event per fragment or more, not one blob.
it_expect "$IT_WORK/stream-chat.json" '.chunks >= 4' "streaming chat came in one piece"

ask wrong-key --api-key-file "$IT_WORK/wrong.key" "x"
[[ $ask_rc -eq 1 ]] || it_fail "a wrong key: exit $ask_rc"
it_expect "$IT_WORK/wrong-key.json" '.error.status == 401' "a wrong key"
ip netns exec "$IT_NS" node "$js/ask.mjs" --json --base-url "http://$P.10:8080/v1" \
	--api-key-file "$IT_WORK/key" --model nope "x" >"$IT_WORK/no-model.json" 2>&1 || true
it_expect "$IT_WORK/no-model.json" \
	'.error.status == 404 and .error.code == "model_not_found"' "an unknown pipeline"

# The model server fails: the bridge ABORTs (UPSTREAM), the client is told.
ask fail --api-key-file "$IT_WORK/key" --no-stream "please [fail] now"
[[ $ask_rc -eq 1 ]] || it_fail "a failing model: exit $ask_rc"
it_expect "$IT_WORK/fail.json" \
	'.error.status == 502 and .error.code == "UPSTREAM" and .error.type == "sluice_abort"' \
	"a failing model server, whole"
# It closes mid-answer: the start of the answer, then an error event.
ask cut --api-key-file "$IT_WORK/key" "[cut] a longer question than ten bytes"
[[ $ask_rc -eq 1 ]] || it_fail "a cut stream: exit $ask_rc"
it_expect "$IT_WORK/cut.json" \
	'.error.status == null and .error.code == "UPSTREAM_CLOSED"' \
	"a stream cut by the model server"

# Slow and idle clients: a connection that trickles its headers a byte
# every 0.25 s is shut down when its request is not whole in --timeout-s
# (libmicrohttpd's own timeout, on silence, would never fire); 300 idle
# connections against --max-connections 64 wait in the listen backlog and
# are closed 64 at a time, each within --timeout-s of its accept, so all
# within (ceil(300 / 64) + 1) timeouts. Then a real request is answered.
ip netns exec "$IT_NS" python3 - "$P.10" 8080 "$timeout_s" 64 <<'PY' >"$IT_WORK/slow.txt" 2>&1 ||
import math, socket, sys, time
addr, port, limit, conns = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
slow = socket.create_connection((addr, port), timeout=5)
slow.sendall(b"POST /v1/completions HTTP/1.1\r\n")
idle = []
for _ in range(300):
    try:
        idle.append(socket.create_connection((addr, port), timeout=5))
    except OSError:
        pass
t0 = time.monotonic()
closed_at = None
slow.settimeout(0.25)
while time.monotonic() - t0 < 4 * limit + 5:
    try:
        slow.sendall(b"X")
        if slow.recv(4096) == b"":
            closed_at = time.monotonic() - t0
            break
    except socket.timeout:
        continue
    except OSError:
        closed_at = time.monotonic() - t0
        break
def closed(s):
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
for s in idle:
    s.setblocking(False)
deadline = (math.ceil(len(idle) / conns) + 1) * limit + 3
left = list(idle)
while left and time.monotonic() - t0 < deadline:
    time.sleep(0.2)
    left = [s for s in left if not closed(s)]
all_at = time.monotonic() - t0
print(f"trickled headers shut down after {closed_at:.2f} s; {len(idle)} idle "
      f"connections, {len(left)} still open after {all_at:.1f} s (bound {deadline:.0f} s)"
      if closed_at is not None else f"trickled headers never shut down; {len(left)} idle open")
sys.exit(0 if closed_at is not None and closed_at <= limit + 1 and not left else 1)
PY
	it_fail "slow or idle clients were not closed in time: $(cat "$IT_WORK/slow.txt")"
it_log "$(cat "$IT_WORK/slow.txt")"
ask after --api-key-file "$IT_WORK/key" "$q"
[[ $ask_rc -eq 0 ]] || it_fail "a request after the idle flood: exit $ask_rc"
it_expect "$IT_WORK/after.json" '.answer == $want' "after the idle flood" --arg want "$want"

# The counters as Prometheus scrapes them (published once a second):
# well-formed (promtool), and the numbers of what happened above.
# scrape IP:PORT OUT SAMPLE: scrape until SAMPLE is a line of it (3 s).
scrape() {
	local i
	for ((i = 0; i < 30; i++)); do
		ip netns exec "$IT_NS" curl -sf -m 5 -o "$2" "http://$1/metrics" || true
		grep -qxF "$3" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	it_fail "no '$3' in $1/metrics: $(grep -v '^#' "$2" 2>/dev/null | head -n 12)"
}
scrape "$P.10:9464" "$IT_WORK/gateway.prom" "sluice_gateway_requests 7"
scrape "$P.11:9465" "$IT_WORK/answer.prom" 'sluice_bridge_upstream_done{name="answer/0"} 5'
scrape "$P.12:9465" "$IT_WORK/polish.prom" 'sluice_bridge_upstream_requests{name="polish/0"} 5'
if command -v promtool >/dev/null; then
	for f in gateway answer polish; do
		promtool check metrics <"$IT_WORK/$f.prom" >"$IT_WORK/$f.promtool" 2>&1 ||
			it_fail "promtool check metrics ($f): $(head -n 3 "$IT_WORK/$f.promtool")"
	done
fi

# An answer that never comes (the model server stalls; the bridge waits 4
# s for a first token): the gateway ends it at --answer-timeout-s (2 s)
# with EXPIRED, and ends it in sluiced (ABORT CLIENT).
ask stall --api-key-file "$IT_WORK/key" "[stall] the first"
[[ $ask_rc -eq 1 ]] || it_fail "a silent answer: exit $ask_rc"
it_expect "$IT_WORK/stall.json" '.error.code == "EXPIRED" and .error.type == "sluice_abort"' \
	"a silent answer"
# The gateway stopped with an answer in flight: the client is told
# (SHUTDOWN), and the gateway exits 0 with its last stats.
ask shutdown --api-key-file "$IT_WORK/key" "[stall] the second" &
ask_pid=$!
sleep 0.7
kill -TERM "$gw_pid"
rc=0
wait "$gw_pid" || rc=$?
keep=()
for pid in "${SL_ENGINE_PIDS[@]}"; do
	[[ $pid == "$gw_pid" ]] || keep+=("$pid")
done
SL_ENGINE_PIDS=("${keep[@]}")
[[ $rc -eq 0 ]] || it_fail "the gateway exited $rc on SIGTERM: $(tail -n 3 "$IT_WORK/gateway.log")"
wait "$ask_pid" || true
it_expect "$IT_WORK/shutdown.json" '.error.code == "SHUTDOWN"' \
	"an answer in flight at the gateway's stop: $(cat "$IT_WORK/shutdown.json")"
# The bridge's first-token timeouts of the two stalls (4 s each).
for ((i = 0; i < 80; i++)); do
	jq -e '.upstream.timeouts == 2' "$IT_WORK/engine-answer-0.json" >/dev/null 2>&1 && break
	sleep 0.1
done

it_stop_all
it_expect "$IT_WORK/sluiced-stats.json" '.final and .mbufs.in_use == .mbufs.in_use_start' \
	"every mbuf back"
# The gateway's last word: 9 requests to sluiced (6 streamed), 5
# answered, 4 aborted (the 503, the cut, the silent one, the one at the
# stop), 1 of them expired here, a 401 and a 404 refused, the trickler
# shut down (and idle connections, whichever timeout came first).
it_expect "$IT_WORK/gateway.json" '.final and .requests == 9 and
	.streamed == 6 and .answered == 5 and .aborted == 4 and
	.expired == 1 and .cancelled == 0 and .refused == {"400": 0,
	"401": 1, "404": 1, "413": 0, "429": 0} and .too_slow >= 1 and
	.in_flight == 0' \
	"the gateway's counters: $(jq -c . "$IT_WORK/gateway.json")"
# sluiced ended the two requests the gateway gave up on.
it_expect "$IT_WORK/sluiced-stats.json" '.requests_cancelled == 2' \
	"sluiced's cancelled requests: $(jq -c '{requests_cancelled, requests_aborted}' "$IT_WORK/sluiced-stats.json")"
# The bridges, exactly: answer's model saw the 5 good questions, the cut
# one, the failing one (tried again once: no token had come) and the two
# stalls (no first token in 4 s), polish's only the 5 good answers.
it_expect "$IT_WORK/engine-answer-0.json" '.upstream | .requests == 9 and
	.retries == 1 and .done == 5 and .errors == 1 and .closed == 1 and
	.timeouts == 2 and .malformed == 0 and .active == 0' \
	"answer's bridge: $(jq -c .upstream "$IT_WORK/engine-answer-0.json")"
it_expect "$IT_WORK/engine-polish-0.json" '.upstream | .requests == 5 and
	.retries == 0 and .done == 5 and .errors + .closed + .timeouts +
	.malformed == 0 and .active == 0' \
	"polish's bridge: $(jq -c .upstream "$IT_WORK/engine-polish-0.json")"
grep -rq "$token" "$IT_WORK"/*.log "$IT_WORK"/*.err 2>/dev/null &&
	it_fail "a log holds the token"
it_log "OK: $(jq -c '{chunks, ms}' "$IT_WORK/stream-chat.json") streaming chat"
