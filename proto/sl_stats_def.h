/* SPDX-License-Identifier: MIT */
/*
 * sl_stats_def.h - every counter and gauge sluiced reports, declared once.
 *
 * One X-macro per domain. An entry is
 *
 *	_(member, KIND, "prometheus", "help")
 *
 * member: the field in the structs generated from the table (the
 *	worker's counters, the stats snapshot) and its name in the stats
 *	file (dataplane/README.md, The stats file);
 * KIND: C a counter (only grows; a reset subtracts it; Prometheus adds
 *	_total), G a gauge (a level: never reset), B a gauge that is 0 or 1
 *	(true/false in the stats file);
 * prometheus: the family name after "sluice_" (without _total), "" where
 *	the family comes from a fixed field of the protobuf Stats instead;
 * help: the Prometheus help text (and the CLI's).
 *
 * The structs (SL_STATS_FIELD), the stats file (dataplane/sl_stats.c), the
 * protobuf copy and the generic Counter list (dataplane/sl_ctl.c) and the
 * Prometheus families of the fixed messages (control/sl_metrics.c) are all
 * generated from these tables; a member a protobuf message lacks is a
 * compile error in the copy, not a silent zero. Drop reasons are declared
 * in dataplane/sl_counters.h and guard counters in control/sl_guard.h, the
 * same way.
 */
#ifndef SL_STATS_DEF_H
#define SL_STATS_DEF_H

#include <stdint.h>

/* Worker-wide, top level of the stats file. */
#define SL_STATS_DP(_)                                                         \
	_(rx_packets, C, "", "Packets the dataplane received.")                \
	_(tx_packets, C, "", "Packets the dataplane sent.")                    \
	_(forwarded, C, "", "Fragments handed to the port.")                   \
	_(arp_replies, C, "arp_replies", "ARP replies sent.")                  \
	_(arp_requests, C, "arp_requests", "ARP requests sent.")               \
	_(non_sluice, C, "non_sluice_frames",                                  \
	  "ARP frames not for sluiced, consumed silently.")                    \
	_(arp_deferred, C, "arp_deferred",                                     \
	  "Fragments kept unsent until their next hop's MAC was known.")       \
	_(arp_ignored, C, "arp_ignored",                                       \
	  "ARP frames from addresses sluiced may not learn.")                  \
	_(requests_refused, C, "requests_refused",                             \
	  "New requests answered ABORT (OVERLOAD): a quota or a full table.")  \
	_(requests_aborted, C, "requests_aborted",                             \
	  "Admitted requests sluiced ended with ABORT on their own stream.")   \
	_(requests_cancelled, C, "requests_cancelled",                         \
	  "Requests whose client sent ABORT after their END: ended at once.")  \
	_(guard_blocks, C, "guard_blocks", "Streams a guard stopped.")         \
	_(reconfigs, C, "reconfigs", "Config snapshots the worker took.")      \
	_(reconfig_errors, C, "reconfig_errors",                               \
	  "Config snapshots refused: their derived state could not be built.") \
	_(keypins_full, C, "keypins_full",                                     \
	  "Keys routed without a pin: the key pin table was full.")            \
	_(workers, G, "workers", "Worker lcores running the packet path.")     \
	_(steered, C, "steered",                                               \
	  "Frames a worker handed to the worker that owns their request.")     \
	_(sched_lost, C, "sched_events_lost",                                  \
	  "Per-stream events the scheduler's ring had no room for.")           \
	_(prompts_unscanned, C, "prompts_unscanned",                           \
	  "Client requests whose prompt the cost model did not see: every "    \
	  "scan slot for them was busy.")                                      \
	_(route_planned, C, "route_planned",                                   \
	  "New streams routed from the scheduler's published plan.")           \
	_(route_plan_missed, C, "route_plan_missed",                           \
	  "New streams whose plan did not hold (stale, other snapshot, "       \
	  "member not taking streams): routed by the worker itself.")          \
	_(gpu_fragments, C, "gpu_fragments",                                   \
	  "Fragments queued into the GPU token rings (gpu_tx).")               \
	_(gpu_streams, C, "gpu_streams",                                       \
	  "Streams opened in the GPU token rings.")                            \
	_(gpu_aborts, C, "gpu_aborts",                                         \
	  "ABORT records ending ring streams that lost a fragment or left "    \
	  "unended.")                                                          \
	_(gpu_markers, C, "gpu_markers",                                       \
	  "Tokenless one-shot fragments for GPU instances, not queued.")       \
	_(gpu_slots_used, G, "gpu_slots_used",                                 \
	  "GPU token ring stream slots held: open, or ended and not yet "      \
	  "acked by their engine.")                                            \
	_(gpu_ring_dropped, C, "gpu_ring_dropped",                             \
	  "Fragments the GPU rings' consumers dropped (sequence, bounds, "     \
	  "overflow; each ends its stream ABORTED).")                          \
	_(gpu_ring_batch_errors, C, "gpu_ring_batch_errors",                   \
	  "Batches the GPU rings' consumers refused whole.")                   \
	_(relayed_in, C, "relayed_in",                                         \
	  "Cluster: frames relayed from another node's sluiced to an "         \
	  "instance here.")                                                    \
	_(relayed_out, C, "relayed_out",                                       \
	  "Cluster: frames relayed from an instance here to another node's "   \
	  "sluiced.")

/* "flows": the flow table (active and capacity are fixed fields). */
#define SL_STATS_FLOWS(_)                                                      \
	_(created, C, "", "Streams tracked.")                                  \
	_(ended, C, "", "Streams that ended.")                                 \
	_(expired, C, "", "Streams removed before their END.")

/* "rtx": loss repair (dataplane/sl_rtx.h). */
#define SL_STATS_RTX(_)                                                        \
	_(kept, C, "rtx_kept", "Loss repair: fragments kept for a resend.")    \
	_(resent, C, "rtx_resent",                                             \
	  "Loss repair: fragments sent again for a NACK.")                     \
	_(end_resends, C, "rtx_end_resends",                                   \
	  "Loss repair: END or ABORT sent again for a missing ACK.")           \
	_(lost_aborts, C, "rtx_lost_aborts",                                   \
	  "Loss repair: ABORT (LOST) for a fragment no longer kept.")          \
	_(evicted, C, "rtx_evicted",                                           \
	  "Loss repair: copies dropped for the global bound.")                 \
	_(gave_up, C, "rtx_gave_up",                                           \
	  "Loss repair: streams whose END was never ACKed.")                   \
	_(nack_gave_up, C, "rtx_nack_gave_up",                                 \
	  "Loss repair: received streams ended ABORT (LOST) at a gap never "   \
	  "repaired.")                                                         \
	_(untracked, C, "rtx_untracked",                                       \
	  "Loss repair: streams sent without copies (table full).")            \
	_(nacks_rx, C, "rtx_nacks_received", "Loss repair: NACKs received.")   \
	_(acks_rx, C, "rtx_acks_received", "Loss repair: ACKs received.")      \
	_(acks_stale, C, "rtx_acks_stale",                                     \
	  "Loss repair: ACKs for streams no longer kept.")                     \
	_(nacks_tx, C, "rtx_nacks_sent", "Loss repair: NACKs sent.")           \
	_(acks_tx, C, "rtx_acks_sent", "Loss repair: ACKs sent.")              \
	_(ctrl_full, C, "control_frames_unsent",                               \
	  "Control frames not sent: the queue was full.")

/* "liveness" (dataplane/sl_live.h). */
#define SL_STATS_LIVE(_)                                                       \
	_(probes_sent, C, "probes_sent",                                       \
	  "Liveness: PROBEs sent to instances.")                               \
	_(probes_answered, C, "probes_answered",                               \
	  "Liveness: PROBE answers received.")                                 \
	_(instances_died, C, "instances_died",                                 \
	  "Liveness: instances found dead.")                                   \
	_(instances_revived, C, "instances_revived",                           \
	  "Liveness: dead instances heard from again.")

/* "quotas": what the streams hold and may hold (dataplane/README.md). */
#define SL_STATS_QUOTA(_)                                                      \
	_(client_streams, G, "client_streams",                                 \
	  "Clients' streams in the table.")                                    \
	_(client_streams_max, G, "client_streams_max",                         \
	  "flows.client_streams.")                                             \
	_(source_streams_max, G, "source_streams_max",                         \
	  "flows.source_streams: one client address's streams at most.")       \
	_(held, G, "held_mbufs",                                               \
	  "Mbufs held in reorder buffers and buffer edges.")                   \
	_(held_max, G, "held_mbufs_max", "Mbufs the streams may hold in all.") \
	_(held_by_clients, G, "held_mbufs_clients",                            \
	  "Mbufs held in clients' reorder buffers.")                           \
	_(held_clients_max, G, "held_mbufs_clients_max",                       \
	  "Mbufs the clients' reorder buffers may hold.")                      \
	_(held_source_max, G, "held_mbufs_source_max",                         \
	  "Mbufs one client address's requests may hold.")                     \
	_(held_tenant_max, G, "held_mbufs_tenant_max",                         \
	  "Mbufs one tenant's requests may hold.")

/* "neighbours" (dataplane/sl_neigh.h). */
#define SL_STATS_NEIGH(_)                                                      \
	_(entries, G, "neighbours", "Neighbour table entries.")                \
	_(clients, G, "neighbours_clients", "Neighbour entries of clients.")   \
	_(unresolved, G, "neighbours_unresolved",                              \
	  "Neighbour entries waiting for an ARP answer.")                      \
	_(evicted, C, "neighbours_evicted",                                    \
	  "Client neighbour entries evicted for room.")                        \
	_(refused, C, "neighbours_refused",                                    \
	  "Neighbours not learned: no room.")                                  \
	_(forgotten, C, "neighbours_forgotten", "Neighbour entries aged out.")

/* "cluster": this node's membership of a cluster in etcd (sluiced
 * --cluster; control/sl_cluster.h). Kept by the control plane. */
#define SL_STATS_CLUSTER(_)                                                    \
	_(revision, G, "cluster_revision",                                     \
	  "Cluster: the etcd revision of the cluster config this node runs.")  \
	_(seen, G, "cluster_revision_seen",                                    \
	  "Cluster: the newest revision of the cluster config seen.")          \
	_(connected, B, "cluster_connected",                                   \
	  "Cluster: etcd answered within the lease's TTL (0: serving the "     \
	  "last revision without etcd).")                                      \
	_(members, G, "cluster_members", "Cluster: live members seen.")        \
	_(applied, C, "cluster_applied", "Cluster: revisions applied.")        \
	_(rejected, C, "cluster_rejected",                                     \
	  "Cluster: revisions refused (the last good one kept).")              \
	_(disconnects, C, "cluster_disconnects",                               \
	  "Cluster: times etcd was lost.")                                     \
	_(rejoins, C, "cluster_rejoins",                                       \
	  "Cluster: times the lease had expired and the node joined again.")

/* One instance ("instances" in the stats file; Prometheus label
 * instance="PIPELINE:NAME", "PIPELINE:STAGE:NAME" for a pool's member,
 * which is an instance of each of the pool's stages). */
#define SL_STATS_INSTANCE(_)                                                   \
	_(alive, B, "instance_alive",                                          \
	  "An instance is alive (1) or found dead (0) by liveness.")           \
	_(paused, B, "instance_paused",                                        \
	  "An instance asked for no new streams (PAUSE).")                     \
	_(streams, C, "", "Streams ever routed to the instance.")              \
	_(streams_active, G, "", "Streams pinned to the instance now.")        \
	_(fragments, C, "", "Fragments sent to the instance.")                 \
	_(deaths, C, "instance_deaths", "Times an instance was found dead.")   \
	_(streams_aborted, C, "instance_streams_aborted",                      \
	  "Streams of an instance aborted when it died.")                      \
	_(streams_resent, C, "instance_streams_resent",                        \
	  "Streams of an instance that died sent again to another one.")

/* One operator stage ("operators"; Prometheus sluice_operator_*). */
#define SL_STATS_OPERATOR(_)                                                   \
	_(groups_active, G, "operator_groups_active",                          \
	  "Operator groups in flight.")                                        \
	_(groups_created, C, "operator_groups_created",                        \
	  "Operator groups created.")                                          \
	_(groups_completed, C, "operator_groups_completed",                    \
	  "Operator groups whose result left.")                                \
	_(groups_aborted, C, "operator_groups_aborted",                        \
	  "Operator groups aborted.")                                          \
	_(groups_full, C, "operator_groups_full",                              \
	  "Groups refused because max_groups was reached.")                    \
	_(group_overflow, C, "operator_group_overflow",                        \
	  "Groups aborted at max_group_bytes.")                                \
	_(count_mismatch, C, "operator_count_mismatch",                        \
	  "Groups aborted for more ENDs than children.")                       \
	_(groups_expired, C, "operator_groups_expired",                        \
	  "Groups aborted by the idle timeout.")                               \
	_(late_inputs, C, "operator_late_inputs",                              \
	  "Fragments for a group already done.")                               \
	_(not_numeric, C, "operator_not_numeric",                              \
	  "Sum/top-k tokens without a number.")                                \
	_(depth_mismatch, C, "operator_depth_mismatch",                        \
	  "Inputs and split events at a depth the stage does not take.")       \
	_(result_overflow, C, "operator_result_overflow",                      \
	  "Results that could not leave whole (ABORT OVERLOAD instead).")

/* One configured tenant ("tenants"; label tenant="ID"). */
#define SL_STATS_TENANT(_)                                                     \
	_(streams, G, "tenant_streams", "A tenant's streams in flight.")       \
	_(requests, G, "tenant_requests",                                      \
	  "A tenant's client streams in the table.")                           \
	_(held, G, "tenant_held_mbufs", "Mbufs held for a tenant's requests.")

/* A struct member for an entry. */
#define SL_STATS_FIELD(m, kind, prom, help) uint64_t m;

/* What Prometheus appends to a family of each kind. */
#define SL_STATS_TOTAL_C "_total"
#define SL_STATS_TOTAL_G ""
#define SL_STATS_TOTAL_B ""

/* Whether an entry of each kind is a level (no _total, never reset). */
#define SL_STATS_GAUGE_C 0
#define SL_STATS_GAUGE_G 1
#define SL_STATS_GAUGE_B 1

#endif /* SL_STATS_DEF_H */
