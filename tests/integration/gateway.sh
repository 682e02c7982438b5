#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# gateway.sh - an application's HTTP call through the OpenAI-compatible
# front door: curl -> sluice-gateway -> sluiced -> an engine (transform
# upper) -> back. Streaming chat (server-sent events whose deltas join to
# the answer, then [DONE]) and a whole completion (one JSON object), both
# byte-exact; /v1/models; and the refusals: no token (401), an unknown
# pipeline (404), a body that is not JSON (400), one over --max-body
# (413); a second gateway on the same port (--reuse-port) sharing the
# connections. Every mbuf back at the end.
#
# usage: gateway.sh WORK_BASE
#   (binaries in SLUICED SLUICE_ENGINE SLUICE_GATEWAY NETNS_SH)

set -euo pipefail
IT_NAME=gateway
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICE_ENGINE SLUICE_GATEWAY NETNS_SH
command -v curl >/dev/null || it_fail "curl is not installed (tools/deps.sh)"

it_netns_up
P=$IT_PREFIX
it_engine answer/0 "$P.11:7801" upper
it_wait_udp "$P.11:7801"
cat >"$IT_WORK/pipeline.yaml" <<YAML
sluiced: {address: $P.1, port: $IT_PORT}
flows: {size: 4096, idle_timeout_ms: 5000, reorder_window: 16}
clients: [$P.0/24]
pipelines:
  - name: demo
    id: 1
    stages:
      - {name: answer, instances: [$P.11:7801]}
YAML
it_sluiced "$IT_WORK/pipeline.yaml"

printf '# token tenant\ntok-%s 1\n' "$$" >"$IT_WORK/tokens"
chmod 600 "$IT_WORK/tokens"
token=tok-$$
api=http://$P.10:8080
ip netns exec "$IT_NS" "$SLUICE_GATEWAY" --listen "$P.10:8080" \
	--server "$P.1:$IT_PORT" --bind "$P.10" --model demo=1 \
	--tokens "$IT_WORK/tokens" --max-body 1024 --reuse-port \
	--stats-file "$IT_WORK/gateway-1.json" --quiet \
	>"$IT_WORK/gateway.log" 2>&1 &
SL_ENGINE_PIDS+=($!)
sl_wait_tcp "$IT_NS" 5 "$P.10:8080" || it_fail "the gateway does not listen"

# call OUT STATUS_VAR CURL_ARGS...: status code into STATUS_VAR.
call() {
	local out=$1 var=$2
	shift 2
	printf -v "$var" '%s' "$(ip netns exec "$IT_NS" curl -sS -N -m 20 \
		-o "$out" -w '%{http_code}' "$@")"
}

call "$IT_WORK/stream.txt" status -H "Authorization: Bearer $token" \
	-H 'Content-Type: application/json' \
	-d '{"model": "demo", "stream": true, "messages": [{"role": "user", "content": "Hello, streaming world: 東京!"}]}' \
	"$api/v1/chat/completions"
[[ $status == 200 ]] || it_fail "streaming chat: HTTP $status: $(cat "$IT_WORK/stream.txt")"
got=$(sed -n 's/^data: //p' "$IT_WORK/stream.txt" | grep -v '^\[DONE\]$' |
	jq -j '.choices[0].delta.content // empty')
[[ $got == "HELLO, STREAMING WORLD: 東京!" ]] || it_fail "streamed answer: '$got'"
[[ $(tail -n 2 "$IT_WORK/stream.txt" | head -n 1) == "data: [DONE]" ]] ||
	it_fail "the stream does not end with [DONE]"
sed -n 's/^data: //p' "$IT_WORK/stream.txt" | grep -v '^\[DONE\]$' |
	jq -s -e 'length == 2 and .[-1].choices[0].finish_reason == "stop"' >/dev/null ||
	it_fail "the events: $(cat "$IT_WORK/stream.txt")"

call "$IT_WORK/whole.json" status -H "Authorization: Bearer $token" \
	-d '{"model": "demo", "prompt": "a whole answer, please"}' \
	"$api/v1/completions"
[[ $status == 200 ]] || it_fail "completion: HTTP $status"
it_expect "$IT_WORK/whole.json" \
	'.object == "text_completion" and .choices[0].text == "A WHOLE ANSWER, PLEASE" and .model == "demo"' \
	"the whole completion"

call "$IT_WORK/models.json" status -H "Authorization: Bearer $token" "$api/v1/models"
[[ $status == 200 ]] || it_fail "models: HTTP $status"
it_expect "$IT_WORK/models.json" '.data | map(.id) == ["demo"]' "the model list"

call "$IT_WORK/r.json" status -d '{"model": "demo", "prompt": "x"}' "$api/v1/completions"
[[ $status == 401 ]] || it_fail "no token: HTTP $status"
call "$IT_WORK/r.json" status -H "Authorization: Bearer wrong-$token" \
	-d '{"model": "demo", "prompt": "x"}' "$api/v1/completions"
[[ $status == 401 ]] || it_fail "a wrong token: HTTP $status"
call "$IT_WORK/r.json" status -H "Authorization: Bearer $token" \
	-d '{"model": "nope", "prompt": "x"}' "$api/v1/completions"
[[ $status == 404 ]] || it_fail "unknown model: HTTP $status"
it_expect "$IT_WORK/r.json" '.error.code == "model_not_found"' "the 404's error"
call "$IT_WORK/r.json" status -H "Authorization: Bearer $token" \
	-d '{"model": "demo", "prompt": ' "$api/v1/completions"
[[ $status == 400 ]] || it_fail "bad JSON: HTTP $status"
big=$(printf 'x%.0s' $(seq 1 2000))
call "$IT_WORK/r.json" status -H "Authorization: Bearer $token" \
	-d "{\"model\": \"demo\", \"prompt\": \"$big\"}" "$api/v1/completions"
[[ $status == 413 ]] || it_fail "a body over --max-body: HTTP $status"

# A second gateway on the same port (--reuse-port: one per core): the
# kernel spreads connections over both, and every answer is whole.
ip netns exec "$IT_NS" "$SLUICE_GATEWAY" --listen "$P.10:8080" \
	--server "$P.1:$IT_PORT" --bind "$P.10" --model demo=1 \
	--tokens "$IT_WORK/tokens" --reuse-port \
	--stats-file "$IT_WORK/gateway-2.json" --quiet \
	>"$IT_WORK/gateway-2.log" 2>&1 &
SL_ENGINE_PIDS+=($!)
sleep 0.3
for ((i = 0; i < 20; i++)); do
	call "$IT_WORK/r.json" status -H "Authorization: Bearer $token" \
		-d "{\"model\": \"demo\", \"prompt\": \"answer $i\"}" "$api/v1/completions"
	[[ $status == 200 ]] || it_fail "request $i with two gateways: HTTP $status"
	it_expect "$IT_WORK/r.json" '.choices[0].text == $want' \
		"request $i with two gateways" --arg want "ANSWER $i"
done

it_stop_all
# 2 requests before the second came, 20 after, both gateways took some.
jq -s -e '(map(.requests) | add) == 22 and all(.[]; .final and .requests > 0)' \
	"$IT_WORK/gateway-1.json" "$IT_WORK/gateway-2.json" >/dev/null ||
	it_fail "two gateways: $(jq -s -c 'map({requests, final})' "$IT_WORK"/gateway-[12].json)"
it_expect "$IT_WORK/sluiced-stats.json" '.final and .mbufs.in_use == .mbufs.in_use_start' \
	"every mbuf back"
grep -q "$token" "$IT_WORK/gateway.log" && it_fail "the gateway logged a token"
it_log "OK"
