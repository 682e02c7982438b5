/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pipelines.h - the pipeline files the dataplane and API fuzzers
 * run on (fuzz_dataplane.c, fuzz_api.c): every kind of stage and edge,
 * small tables and short timeouts so that every bound and timer is
 * within reach of a short input.
 */
#ifndef FUZZ_PIPELINES_H
#define FUZZ_PIPELINES_H

/*
 * The pipeline file. Pipeline "fact": an idempotent answer stage whose
 * requests pass the block guard "forget" (literals, a regex, a prefix
 * to the engine) and whose answer returns through the redact guard
 * "pii"; a buffer edge to claims, a line split to queries (aggregation
 * 2, bounded load), a top-k of the queries' scores per request and a
 * concat of the results. Pipeline "sums": a regex split streamed token
 * by token into a sum, a sentence split into a count, both back to the
 * client. Pipeline "chain": two engines without edges. Small tables and
 * short timeouts, so that every bound and timer is within reach.
 */
#define FZ_HEAD                                                                \
	"sluiced: {address: 10.0.0.1, port: 7700}\n"                           \
	"flows: {size: 256, idle_timeout_ms: 50, reorder_window: 4,\n"         \
	"        buffer_max: 6, client_streams: 48, source_streams: 24,\n"     \
	"        tenant_streams: 32}\n"                                        \
	"liveness: {probe_ms: 20, dead_ms: 60}\n"                              \
	"clients: [10.0.1.0/24]\n"                                             \
	"tenants:\n"                                                           \
	"  - {id: 0}\n"                                                        \
	"  - {id: 1, max_streams: 6, fragments_per_s: 2000, burst: 12,\n"      \
	"     sources: [10.0.1.5]}\n"                                          \
	"  - {id: 2, max_streams: 40}\n"                                       \
	"guards:\n"                                                            \
	"  - {name: forget, action: block, literals: [Hsiao Yun-Hwa],\n"       \
	"     regex: ['\\bvx-[0-9]{3}\\b'], prefix: \"Do not discuss it.\",\n" \
	"     refusal: \"No.\"}\n"                                             \
	"  - {name: pii, action: redact, literals: [Ji-Yeon Park],\n"          \
	"     regex: ['[0-9]{3}-[0-9]{4}'], mask: \"<pii>\"}\n"

static const char fuzz_yaml_a[] = FZ_HEAD
	"pipelines:\n"
	"  - name: fact\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: answer, idempotent: true,\n"
	"         instances: [10.0.2.1:7801, 10.0.2.2:7801]}\n"
	"      - {name: claims, instances: [10.0.2.3:7801]}\n"
	"      - {name: queries, aggregation: 2, load_bound: 1.25,\n"
	"         instances: [10.0.2.4:7801, 10.0.2.5:7801, 10.0.2.6:7801]}\n"
	"      - {name: best, operator: topk, k: 2, aggregation: 1,\n"
	"         max_groups: 8}\n"
	"      - {name: results, operator: concat, aggregation: 1,\n"
	"         max_groups: 8, max_group_bytes: 512}\n"
	"    edges:\n"
	"      - {from: client, to: answer, guard: forget}\n"
	"      - {from: answer, to: client, guard: pii}\n"
	"      - {from: answer, to: claims, mode: buffer}\n"
	"      - {from: claims, to: queries, split: line}\n"
	"      - {from: queries, to: best}\n"
	"      - {from: best, to: results}\n"
	"      - {from: results, to: client}\n"
	"  - name: sums\n"
	"    id: 2\n"
	"    stages:\n"
	"      - {name: gen, balance: least_loaded,\n"
	"         instances: [10.0.3.1:7801, 10.0.3.2:7801]}\n"
	"      - {name: total, operator: sum, aggregation: 1,\n"
	"         max_groups: 8}\n"
	"      - {name: n, operator: count, aggregation: 1,\n"
	"         max_groups: 8}\n"
	"    edges:\n"
	"      - {from: client, to: gen}\n"
	"      - {from: gen, to: total, split: regex, pattern: \",\",\n"
	"         stream_children: true}\n"
	"      - {from: gen, to: n, split: sentence}\n"
	"      - {from: total, to: client}\n"
	"      - {from: n, to: client}\n"
	"  - name: chain\n"
	"    id: 3\n"
	"    stages:\n"
	"      - {name: first, instances: [10.0.4.1:7801]}\n"
	"      - {name: second, aggregation: 1,\n"
	"         instances: [10.0.4.2:7801, 10.0.4.3:7801]}\n";

/* Same layout as A; instances removed, added and draining. */
static const char fuzz_yaml_b[] =
	FZ_HEAD "pipelines:\n"
		"  - name: fact\n"
		"    id: 1\n"
		"    stages:\n"
		"      - {name: answer, idempotent: true,\n"
		"         instances: [10.0.2.2:7801, 10.0.2.7:7801]}\n"
		"      - {name: claims, instances: [10.0.2.3:7801]}\n"
		"      - {name: queries, aggregation: 2, load_bound: 1.25,\n"
		"         instances: [10.0.2.4:7801, 10.0.2.6:7801]}\n"
		"      - {name: best, operator: topk, k: 2, aggregation: 1,\n"
		"         max_groups: 8}\n"
		"      - {name: results, operator: concat, aggregation: 1,\n"
		"         max_groups: 8, max_group_bytes: 512}\n"
		"    edges:\n"
		"      - {from: client, to: answer, guard: forget}\n"
		"      - {from: answer, to: client, guard: pii}\n"
		"      - {from: answer, to: claims, mode: buffer}\n"
		"      - {from: claims, to: queries, split: line}\n"
		"      - {from: queries, to: best}\n"
		"      - {from: best, to: results}\n"
		"      - {from: results, to: client}\n"
		"  - name: sums\n"
		"    id: 2\n"
		"    stages:\n"
		"      - {name: gen, balance: least_loaded,\n"
		"         instances: [10.0.3.1:7801]}\n"
		"      - {name: total, operator: sum, aggregation: 1,\n"
		"         max_groups: 8}\n"
		"      - {name: n, operator: count, aggregation: 1,\n"
		"         max_groups: 8}\n"
		"    edges:\n"
		"      - {from: client, to: gen}\n"
		"      - {from: gen, to: total, split: regex, pattern: \",\",\n"
		"         stream_children: true}\n"
		"      - {from: gen, to: n, split: sentence}\n"
		"      - {from: total, to: client}\n"
		"      - {from: n, to: client}\n"
		"  - name: chain\n"
		"    id: 3\n"
		"    stages:\n"
		"      - {name: first, instances: [10.0.4.1:7801]}\n"
		"      - {name: second, aggregation: 1,\n"
		"         instances: [10.0.4.3:7801]}\n";

/* Another graph: no guards on fact, claims straight to the client, the
 * sums pipeline gone, a new one. */
static const char fuzz_yaml_c[] = FZ_HEAD
	"pipelines:\n"
	"  - name: fact\n"
	"    id: 1\n"
	"    stages:\n"
	"      - {name: answer, instances: [10.0.2.1:7801, 10.0.2.2:7801]}\n"
	"      - {name: claims, instances: [10.0.2.3:7801]}\n"
	"    edges:\n"
	"      - {from: client, to: answer}\n"
	"      - {from: answer, to: claims, split: sentence}\n"
	"      - {from: claims, to: client}\n"
	"  - name: chain\n"
	"    id: 3\n"
	"    stages:\n"
	"      - {name: first, instances: [10.0.4.1:7801]}\n"
	"      - {name: second, aggregation: 1,\n"
	"         instances: [10.0.4.2:7801, 10.0.4.3:7801]}\n"
	"  - name: late\n"
	"    id: 4\n"
	"    stages:\n"
	"      - {name: only, instances: [10.0.5.1:7801]}\n";

#endif /* FUZZ_PIPELINES_H */
