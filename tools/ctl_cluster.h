/* SPDX-License-Identifier: MIT */
/*
 * ctl_cluster.h - `sluicectl --cluster ENDPOINTS COMMAND`: the cluster's
 * config and members in etcd (tools/ctl_cluster.c).
 */
#ifndef SL_CTL_CLUSTER_H
#define SL_CTL_CLUSTER_H

/* Run COMMAND (@argv[0]: apply, get or members) against the etcd at
 * @endpoints, keys under @prefix (NULL: the default). Returns sluicectl's
 * exit status. */
int sl_ctl_cluster_main(const char *endpoints, const char *prefix, int argc,
			char **argv);

#endif /* SL_CTL_CLUSTER_H */
