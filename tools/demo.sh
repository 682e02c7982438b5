#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - the README's first command: install what is missing, build
# sluice, run the main job and print its results.
#
# The main job is ALTO's fact-checking pipeline, streaming
# (tools/pipelines/factcheck.yaml): Poisson questions from sluicegen go
# through sluiced (DPDK on the host end of a veth pair) to 16 engine
# emulators in the namespace sluice-demo (answer 2, claims 2, queries 3,
# bm25 4, encoder 1, rerank 4), splitters cut claims and queries into
# child streams, and an inline concat operator returns one result per
# question to the client. tools/bench/factcheck-run.sh does the run;
# see it for what lands in results/ (results/demo.json above all).
#
# Environment: DEMO_DURATION (s, default 20), DEMO_RATE (questions/s,
# default 60), DEMO_TIME_SCALE (engine time scale, default 0.05: the
# models run 20 times faster than ALTO's so that 20 s carry over a
# thousand questions on two cores), DEMO_BUILD (default build),
# DEMO_BRIDGE=1 (the seven LM instances as sluice-bridge processes in
# front of OpenAI-compatible model servers: the emulator's HTTP side),
# DEMO_ASK (the question an application asks at the end, through
# sluice-gateway with the official npm `openai` client, streaming; empty:
# none).
#
# After the load, an application asks one question the way an OpenAI
# client does (tools/openai-js/ask.mjs) and the answer is printed.
#
#   tools/demo.sh [--gpu=off|host|cuda|auto]
#
# --gpu=host (or DEMO_GPU): the answer stage's two instances are local GPU
# engines: sluiced delivers their input streams into token rings (the
# host backend here; cuda on a GPU machine once engines can map device
# memory) and the engines read them from there (FC_GPU in
# tools/bench/factcheck-run.sh).

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build=${DEMO_BUILD:-build}
gpu=${DEMO_GPU:-off}
for arg in "$@"; do
	case $arg in
	--gpu=*) gpu=${arg#--gpu=} ;;
	*)
		echo "usage: $0 [--gpu=off|host|cuda|auto]" >&2
		exit 2
		;;
	esac
done
case $gpu in
off | host | cuda | auto) ;;
*)
	echo "demo: --gpu: off, host, cuda or auto, not $gpu" >&2
	exit 2
	;;
esac

# shellcheck source=tools/deps.sh
. tools/deps.sh
echo "demo: building into ./$build"
tools/build.sh "$build"

FC_DURATION=${DEMO_DURATION:-20} \
FC_RATE=${DEMO_RATE:-60} \
FC_TIME_SCALE=${DEMO_TIME_SCALE:-0.05} \
FC_LM_BRIDGE=${DEMO_BRIDGE:-0} \
FC_ASK=${DEMO_ASK-Which claims about the Eiffel Tower can be checked?} \
FC_GPU=$gpu \
	exec tools/bench/factcheck-run.sh "$build"
