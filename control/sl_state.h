/* SPDX-License-Identifier: MIT */
/*
 * sl_state.h - runtime changes kept across restarts (sluiced --state-dir).
 *
 * What an operator changes through the control API (an ApplyPipeline,
 * instance adds, removes and drains, guard rule edits) lives in the
 * running config only; without this a restart would silently go back to
 * the --config file. sluiced keeps one file, DIR/state.pb, a
 * SavedState (proto/sluice.proto): the startup file's path and text, the
 * last applied pipeline file (name and text), the edits made since, in
 * order, and the generation. It is written after every successful change
 * and before the API answers: a temporary file, fsync, rename over
 * state.pb, fsync of the directory, so a crash leaves the old state or
 * the new one, never a mix.
 *
 * At start sluiced restores it: the applied file is compiled again (its
 * literals_file too, confined as for the API) and the edits replayed in
 * order; the result replaces the --config one, and its generation is the
 * one saved. Anything that no longer compiles or replays refuses the start
 * with the state file and the reason. A state made from a different
 * --config text (the operator edited the file since) is not restored: the
 * file wins, and the state is kept aside as state.pb.superseded.
 *
 * Edits are stored as the Requests that made them (AddInstance with the
 * name sluiced chose), id and token cleared; an apply starts the list
 * again. At most SL_STATE_MAX_EDITS edits after an apply: beyond that an
 * edit is refused (LIMIT) until a file is applied.
 */
#ifndef SL_STATE_H
#define SL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice.pb-c.h"

#include "sl_config.h"

#define SL_STATE_FILE "state.pb"
#define SL_STATE_MAX_EDITS 4096
#define SL_STATE_MAX_BYTES (64u << 20) /* a state file read at start */

struct sl_confine;

struct sl_state {
	int dir_fd; /* -1: persistence off */
	char dir[512];
	char path[600]; /* DIR/state.pb */
	/* What state.pb holds (or will once the first change is saved). */
	char *startup_path;
	char *startup_yaml;
	char *config_name; /* NULL: no apply since the startup file */
	char *config_yaml;
	size_t n_edits;
	Sluice__V1__Request **edits; /* owned: unpacked copies */
	uint64_t generation;
	/* The last save, for sl_state_undo_last: its kind, the generation
	 * before it and, for an apply, what it replaced. */
	int undo_kind; /* 0 none, 1 edit, 2 apply */
	uint64_t undo_generation;
	char *undo_name;
	char *undo_yaml;
	size_t undo_n_edits;
	Sluice__V1__Request **undo_edits;
};

/* What a restore found, for the log line and GetStats.restored. */
struct sl_state_restored {
	bool restored;
	uint64_t generation;
	char config[256]; /* the config the edits apply to */
	uint32_t edits;
	uint64_t saved_unix_ms;
};

/*
 * sl_state_init - persistence in directory @dir (NULL: off), which must
 * exist; @startup_path and its text @startup_yaml (@len bytes) are what
 * the daemon started from; the generation starts at 1. Returns 0, or a
 * negative errno with @err set ("DIR: why").
 */
int sl_state_init(struct sl_state *st, const char *dir,
		  const char *startup_path, const char *startup_yaml,
		  size_t len, char *err, size_t errlen);

void sl_state_fini(struct sl_state *st);

/*
 * sl_state_restore - replace *@cfg (compiled from the startup file) with
 * the saved state, if there is one for this startup file. @files confines
 * the files the saved config names.
 * Returns 0: nothing restored (no state file, persistence off), *@cfg
 *   untouched;
 *   1: restored: *@cfg is the new config (the old one freed), @info and
 *   st->generation filled;
 *   2: the state was made from another text of the startup file: set
 *   aside as state.pb.superseded, nothing restored, @err says so (one
 *   line for the log);
 *   a negative errno: the state cannot be read, or no longer compiles or
 *   replays; @err is one line "STATE: what: why".
 */
int sl_state_restore(struct sl_state *st, const struct sl_confine *files,
		     struct sl_config **cfg, struct sl_state_restored *info,
		     char *err, size_t errlen);

/*
 * sl_state_apply_edit - @edit (an AddInstance naming its instance,
 * RemoveInstance, DrainInstance or EditGuard Request) on a copy of @cur.
 * Returns the new config, or NULL with *@code a
 * SLUICE__V1__ERROR__CODE__CODE_* value and @msg "FIELD: message".
 */
struct sl_config *sl_state_apply_edit(const struct sl_config *cur,
				      const Sluice__V1__Request *edit,
				      int *code, char *msg, size_t msglen);

/*
 * sl_state_save_apply, sl_state_save_edit - record a change and write the
 * state atomically before the change is published: an applied file
 * (@name, @yaml of @len bytes; the edits start again) or one more edit
 * (copied; id and token cleared), with the generation it will carry.
 * With persistence off they only update memory. Returns 0; -ENOSPC when
 * SL_STATE_MAX_EDITS edits are recorded already; or the negative errno of
 * writing, with @err set. On failure nothing changed, in memory or on
 * disk.
 */
int sl_state_save_apply(struct sl_state *st, const char *name, const char *yaml,
			size_t len, uint64_t generation, char *err,
			size_t errlen);
int sl_state_save_edit(struct sl_state *st, const Sluice__V1__Request *edit,
		       uint64_t generation, char *err, size_t errlen);

/*
 * sl_state_undo_last - forget the change the last successful save
 * recorded (in memory and on disk), for a publish that failed after it.
 */
int sl_state_undo_last(struct sl_state *st, char *err, size_t errlen);

#endif /* SL_STATE_H */
