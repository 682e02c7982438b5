#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bridge.sh - a pipeline whose stage is a real HTTP model server: client
# -> sluiced -> answer (two sluice-bridge instances, one on the
# completions API, one on chat) -> an OpenAI-compatible server
# (openai_server.py: HTTP/1.1, chunked server-sent events) -> back the
# same way. Six questions; each answer must come back byte for byte as
# the server streamed it ("echo: Q: " and the question), nothing aborted
# or lost, every mbuf back, and the bridges' stats must show one request,
# no retry and no failure for every answer. Then an application's call
# end to end: curl -> sluice-gateway -> sluiced -> a bridge -> the model
# server, streamed back as server-sent events, byte-exact.
#
# usage: bridge.sh WORK_BASE
#   (binaries in SLUICED SLUICEGEN SLUICE_BRIDGE SLUICE_GATEWAY NETNS_SH)

set -euo pipefail
IT_NAME=bridge
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
it_init "$@"
it_need_bin SLUICED SLUICEGEN SLUICE_BRIDGE SLUICE_GATEWAY NETNS_SH
command -v python3 >/dev/null || it_fail "python3 is not installed (tools/deps.sh)"

it_netns_up
P=$IT_PREFIX
server=$P.13:8000

# The model server: a process in the namespace, stopped with the rest.
it_model_server "$P.13" 8000

sl_engine_start "$IT_NS" "$SLUICE_BRIDGE" "$IT_WORK" answer/0 "$P.11:7801" \
	--upstream "http://$server" --api completions --prompt "Q: {input}"
sl_engine_start "$IT_NS" "$SLUICE_BRIDGE" "$IT_WORK" answer/1 "$P.12:7801" \
	--upstream "http://$server/" --api chat --prompt "Q: {input}"
it_wait_udp "$P.11:7801" "$P.12:7801"

cat >"$IT_WORK/pipeline.yaml" <<YAML
sluiced: {address: $P.1, port: $IT_PORT}
flows: {size: 4096, idle_timeout_ms: 5000, reorder_window: 16}
clients: [$P.0/24]
pipelines:
  - name: answer
    id: 1
    stages:
      - {name: answer, instances: [$P.11:7801, $P.12:7801]}
YAML
it_sluiced "$IT_WORK/pipeline.yaml"

jq -c -n '[
	"Who wrote the book?",
	"Ünïcödé: 東京 and 🎉, split anywhere",
	"A line\nand another",
	"\"Quotes\" and \\\\ backslashes",
	"short",
	"The last question of six, a little longer than the others were."
] | to_entries[] | {id: .key, question: .value}' >"$IT_WORK/questions.jsonl"

it_gen "$IT_WORK/run.json" --mode pipeline --questions "$IT_WORK/questions.jsonl" \
	--request-rate 20 --drain-ms 5000 --dump "$IT_WORK/run.tsv" ||
	it_fail "sluicegen failed: $(tail -n 3 "$IT_WORK/sluicegen.err")"
it_expect "$IT_WORK/run.json" '.completed == 6 and .aborted == 0 and .lost == 0' \
	"all six answered"
# Each answer, unescaped from the dump, is the server's text exactly.
python3 - "$IT_WORK/questions.jsonl" "$IT_WORK/run.tsv" <<'PY' || it_fail "an answer differs"
import json, sys
qs = [json.loads(l)["question"] for l in open(sys.argv[1], encoding="utf-8")]
got = {}
for line in open(sys.argv[2], encoding="utf-8"):
    idx, _id, _flags, text = line.rstrip("\n").split("\t", 3)
    got[int(idx)] = text.encode().decode("unicode_escape").encode("latin-1").decode()
bad = [i for i, q in enumerate(qs) if got.get(i) != "echo: Q: " + q]
for i in bad:
    print(f"answer {i}: {got.get(i)!r}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
(($(wc -l <"$IT_WORK/server.log") == 6)) ||
	it_fail "the server saw $(wc -l <"$IT_WORK/server.log") requests, not 6"

# The whole way, as an application calls it.
ip netns exec "$IT_NS" "$SLUICE_GATEWAY" --listen "$P.10:8080" \
	--server "$P.1:$IT_PORT" --bind "$P.10" --model answer=1 \
	--open-tenant 1 --quiet >"$IT_WORK/gateway.log" 2>&1 &
SL_ENGINE_PIDS+=($!)
sl_wait_tcp "$IT_NS" 5 "$P.10:8080" || it_fail "the gateway does not listen"
for n in 1 2; do
	status=$(ip netns exec "$IT_NS" curl -sS -N -m 20 -o "$IT_WORK/app-$n.txt" \
		-w '%{http_code}' -H 'Content-Type: application/json' \
		-d '{"model": "answer", "stream": true, "messages": [{"role": "user", "content": "Is the whole way streamed?"}]}' \
		"http://$P.10:8080/v1/chat/completions")
	[[ $status == 200 ]] || it_fail "gateway: HTTP $status"
	got=$(sed -n 's/^data: //p' "$IT_WORK/app-$n.txt" | grep -v '^\[DONE\]$' |
		jq -j '.choices[0].delta.content // empty')
	[[ $got == "echo: Q: Is the whole way streamed?" ]] ||
		it_fail "through the gateway: '$got'"
done

it_stop_all
it_expect "$IT_WORK/sluiced-stats.json" '.final and .mbufs.in_use == .mbufs.in_use_start' \
	"every mbuf back"
jq -s -e 'map(select(.upstream)) | length == 2 and
	(map(.upstream.done) | add) == 8 and
	(map(.upstream.requests) | add) == 8 and
	(map(.upstream.retries + .upstream.errors + .upstream.timeouts +
	     .upstream.malformed + .upstream.closed) | add) == 0' \
	"$IT_WORK"/engine-answer-*.json >/dev/null ||
	it_fail "bridges' stats: $(jq -c .upstream "$IT_WORK"/engine-answer-*.json)"
it_log "OK"
