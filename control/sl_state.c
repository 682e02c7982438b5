/* SPDX-License-Identifier: MIT */
/*
 * sl_state.c - runtime changes kept across restarts (sl_state.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sl_confine.h"
#include "sl_state.h"

#define CODE(x) SLUICE__V1__ERROR__CODE__CODE_##x
#define SL_STATE_TMP SL_STATE_FILE ".tmp"
#define SL_STATE_SUPERSEDED SL_STATE_FILE ".superseded"

/* ------------------------------------------------------------------ edits */

/* "FIELD: message" of the config helpers: the API code of their errno. */
static int
edit_code(int rc)
{
	return rc == -ENOENT   ? CODE(NOT_FOUND)
	       : rc == -EEXIST ? CODE(EXISTS)
	       : rc == -ENOSPC ? CODE(LIMIT)
			       : CODE(INVALID);
}

struct sl_config *
sl_state_apply_edit(const struct sl_config *cur,
		    const Sluice__V1__Request *edit, int *code, char *msg,
		    size_t msglen)
{
	struct sl_endpoint ep = {0};
	struct sl_config *next;
	struct in_addr a;
	int rc;

	next = sl_config_clone(cur);
	if (next == NULL) {
		*code = CODE(INTERNAL);
		snprintf(msg, msglen, "cannot copy the config");
		return NULL;
	}
	switch (edit->body_case) {
	case SLUICE__V1__REQUEST__BODY_ADD_INSTANCE: {
		const Sluice__V1__AddInstance *ai = edit->add_instance;

		if (ai->instance == NULL ||
		    inet_pton(AF_INET, ai->instance->address, &a) != 1 ||
		    ai->instance->port == 0 || ai->instance->port > 65535) {
			rc = -EINVAL;
			snprintf(msg, msglen,
				 "instance: not an instance address");
			break;
		}
		ep.ip = ntohl(a.s_addr);
		ep.port = (uint16_t)ai->instance->port;
		rc = sl_config_instance_edit(next, 'a', ai->pipeline, ai->stage,
					     ai->instance->name, &ep, msg,
					     msglen);
		break;
	}
	case SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE:
		rc = sl_config_instance_edit(
			next, 'r', edit->remove_instance->pipeline,
			edit->remove_instance->stage,
			edit->remove_instance->instance, &ep, msg, msglen);
		break;
	case SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE:
		rc = sl_config_instance_edit(
			next, 'd', edit->drain_instance->pipeline,
			edit->drain_instance->stage,
			edit->drain_instance->instance, &ep, msg, msglen);
		break;
	case SLUICE__V1__REQUEST__BODY_EDIT_GUARD:
		rc = sl_config_guard_edit(
			next, edit->edit_guard->guard, edit->edit_guard->remove,
			edit->edit_guard->regex, edit->edit_guard->pattern, msg,
			msglen);
		break;
	case SLUICE__V1__REQUEST__BODY_SET_POLICY: {
		const Sluice__V1__SetPolicy *sp = edit->set_policy;
		struct sl_policy_edit pe = {
			.policy = (enum sl_balance)sp->policy,
			.load_bound = sp->load_bound,
			.warm_prefixes = sp->warm_prefixes,
		};

		rc = sl_config_policy_edit(next, sp->pipeline, sp->stage,
					   sp->pool, &pe, msg, msglen);
		break;
	}
	default:
		rc = -EINVAL;
		snprintf(msg, msglen, "not an edit (request kind %d)",
			 (int)edit->body_case);
		break;
	}
	if (rc != 0) {
		sl_config_free(next);
		*code = edit_code(rc);
		return NULL;
	}
	return next;
}

/* An owned copy of @req with id and token cleared; NULL on no memory. */
static Sluice__V1__Request *
edit_copy(const Sluice__V1__Request *req)
{
	Sluice__V1__Request tmp = *req;
	Sluice__V1__Request *copy;
	uint8_t *buf;
	size_t len;

	tmp.id = 0;
	tmp.token = (char *)"";
	len = sluice__v1__request__get_packed_size(&tmp);
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return NULL;
	sluice__v1__request__pack(&tmp, buf);
	copy = sluice__v1__request__unpack(NULL, len, buf);
	free(buf);
	return copy;
}

static void
edits_free(Sluice__V1__Request **edits, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sluice__v1__request__free_unpacked(edits[i], NULL);
	free(edits);
}

/* A line naming an edit for messages: "add demo/polish/extra". */
static void
edit_name(const Sluice__V1__Request *e, char *buf, size_t len)
{
	switch (e->body_case) {
	case SLUICE__V1__REQUEST__BODY_ADD_INSTANCE:
		snprintf(buf, len, "add %s/%s/%s", e->add_instance->pipeline,
			 e->add_instance->stage,
			 e->add_instance->instance
				 ? e->add_instance->instance->name
				 : "?");
		break;
	case SLUICE__V1__REQUEST__BODY_REMOVE_INSTANCE:
		snprintf(buf, len, "remove %s/%s/%s",
			 e->remove_instance->pipeline,
			 e->remove_instance->stage,
			 e->remove_instance->instance);
		break;
	case SLUICE__V1__REQUEST__BODY_DRAIN_INSTANCE:
		snprintf(buf, len, "drain %s/%s/%s",
			 e->drain_instance->pipeline, e->drain_instance->stage,
			 e->drain_instance->instance);
		break;
	case SLUICE__V1__REQUEST__BODY_EDIT_GUARD:
		snprintf(buf, len, "guard %s %s %s%.64s%s",
			 e->edit_guard->remove ? "remove" : "add",
			 e->edit_guard->guard,
			 e->edit_guard->regex ? "/" : "\"",
			 e->edit_guard->pattern,
			 e->edit_guard->regex ? "/" : "\"");
		break;
	case SLUICE__V1__REQUEST__BODY_SET_POLICY: {
		int n = snprintf(
			buf, len, "policy %s/%s%s %s", e->set_policy->pipeline,
			e->set_policy->stage, e->set_policy->pool,
			sl_balance_name(
				(enum sl_balance)e->set_policy->policy));

		if (n > 0 && (size_t)n < len && e->set_policy->load_bound != 0)
			n += snprintf(buf + n, len - (size_t)n,
				      " load_bound %g",
				      e->set_policy->load_bound);
		if (n > 0 && (size_t)n < len &&
		    e->set_policy->warm_prefixes != 0)
			snprintf(buf + n, len - (size_t)n, " warm_prefixes %u",
				 e->set_policy->warm_prefixes);
		break;
	}
	default:
		snprintf(buf, len, "request kind %d", (int)e->body_case);
		break;
	}
}

/* -------------------------------------------------------------- the file */

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The state as given, written atomically: temp file, fsync, rename over
 * state.pb, fsync of the directory. */
static int
state_write(struct sl_state *st, const char *name, const char *yaml,
	    Sluice__V1__Request **edits, size_t n_edits, uint64_t generation,
	    char *err, size_t errlen)
{
	Sluice__V1__SavedState s = SLUICE__V1__SAVED_STATE__INIT;
	uint8_t *buf;
	size_t len;
	int fd, rc;

	if (st->dir_fd < 0)
		return 0;
	s.version = 1;
	s.startup_path = st->startup_path;
	s.startup_yaml = st->startup_yaml;
	s.config_name = (char *)(name ? name : "");
	s.config_yaml = (char *)(yaml ? yaml : "");
	s.n_edits = n_edits;
	s.edits = edits;
	s.generation = generation;
	s.saved_unix_ms = wall_ms();
	len = sluice__v1__saved_state__get_packed_size(&s);
	buf = malloc(len ? len : 1);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", st->path);
		return -ENOMEM;
	}
	sluice__v1__saved_state__pack(&s, buf);
	fd = openat(st->dir_fd, SL_STATE_TMP,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0) {
		rc = -errno;
		free(buf);
		snprintf(err, errlen, "%s/%s: %s", st->dir, SL_STATE_TMP,
			 strerror(-rc));
		return rc;
	}
	rc = write_all(fd, buf, len);
	free(buf);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 &&
	    renameat(st->dir_fd, SL_STATE_TMP, st->dir_fd, SL_STATE_FILE) != 0)
		rc = -errno;
	if (rc == 0 && fsync(st->dir_fd) != 0)
		rc = -errno;
	if (rc != 0) {
		unlinkat(st->dir_fd, SL_STATE_TMP, 0);
		snprintf(err, errlen, "%s: cannot write: %s", st->path,
			 strerror(-rc));
	}
	return rc;
}

int
sl_state_init(struct sl_state *st, const char *dir, const char *startup_path,
	      const char *startup_yaml, size_t len, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->dir_fd = -1;
	st->generation = 1;
	st->startup_path = strdup(startup_path);
	st->startup_yaml = strndup(startup_yaml, len);
	if (st->startup_path == NULL || st->startup_yaml == NULL) {
		snprintf(err, errlen, "state: out of memory");
		sl_state_fini(st);
		return -ENOMEM;
	}
	if (dir == NULL)
		return 0;
	if (strlen(dir) >= sizeof(st->dir)) {
		snprintf(err, errlen, "%s: path too long", dir);
		sl_state_fini(st);
		return -ENAMETOOLONG;
	}
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	snprintf(st->path, sizeof(st->path), "%s/%s", dir, SL_STATE_FILE);
	/* The directory itself may be a link the operator made; nothing
	 * beneath it is followed. */
	st->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dir_fd < 0) {
		int rc = -errno;

		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		sl_state_fini(st);
		return rc;
	}
	return 0;
}

static void
undo_clear(struct sl_state *st)
{
	free(st->undo_name);
	free(st->undo_yaml);
	edits_free(st->undo_edits, st->undo_n_edits);
	st->undo_name = NULL;
	st->undo_yaml = NULL;
	st->undo_edits = NULL;
	st->undo_n_edits = 0;
	st->undo_kind = 0;
}

void
sl_state_fini(struct sl_state *st)
{
	if (st->dir_fd >= 0)
		close(st->dir_fd);
	st->dir_fd = -1;
	free(st->startup_path);
	free(st->startup_yaml);
	free(st->config_name);
	free(st->config_yaml);
	edits_free(st->edits, st->n_edits);
	undo_clear(st);
	st->startup_path = st->startup_yaml = NULL;
	st->config_name = st->config_yaml = NULL;
	st->edits = NULL;
	st->n_edits = 0;
}

/* Read state.pb: 0 and *@out, -ENOENT when there is none, else -errno
 * with @err set. */
static int
state_read(struct sl_state *st, Sluice__V1__SavedState **out, char *err,
	   size_t errlen)
{
	struct stat sb;
	uint8_t *buf;
	size_t have = 0;
	int fd, rc;

	fd = openat(st->dir_fd, SL_STATE_FILE,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		if (rc != -ENOENT)
			snprintf(err, errlen, "%s: cannot open: %s", st->path,
				 strerror(-rc));
		return rc;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size > SL_STATE_MAX_BYTES) {
		close(fd);
		snprintf(err, errlen,
			 "%s: not a regular file of at most %u bytes", st->path,
			 SL_STATE_MAX_BYTES);
		return -EINVAL;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", st->path);
		return -ENOMEM;
	}
	while (have < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + have, (size_t)sb.st_size - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	*out = sluice__v1__saved_state__unpack(NULL, have, buf);
	free(buf);
	if (*out == NULL || (*out)->version != 1) {
		snprintf(err, errlen, "%s: not a sluice state file (version 1)",
			 st->path);
		if (*out != NULL)
			sluice__v1__saved_state__free_unpacked(*out, NULL);
		return -EINVAL;
	}
	return 0;
}

int
sl_state_restore(struct sl_state *st, const struct sl_confine *files,
		 struct sl_config **cfg, struct sl_state_restored *info,
		 char *err, size_t errlen)
{
	Sluice__V1__SavedState *s = NULL;
	struct sl_config *next = NULL;
	Sluice__V1__Request **edits = NULL;
	char msg[512];
	int rc;

	memset(info, 0, sizeof(*info));
	if (st->dir_fd < 0)
		return 0;
	rc = state_read(st, &s, err, errlen);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (strcmp(s->startup_yaml, st->startup_yaml) != 0) {
		/* The operator changed the file: it wins, loudly. */
		if (renameat(st->dir_fd, SL_STATE_FILE, st->dir_fd,
			     SL_STATE_SUPERSEDED) != 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: cannot set aside: %s",
				 st->path, strerror(-rc));
		} else {
			snprintf(err, errlen,
				 "state %s was made from another version of "
				 "%s: starting from %s; generation %" PRIu64
				 " with %zu edits kept in %s/%s",
				 st->path, s->startup_path, st->startup_path,
				 s->generation, s->n_edits, st->dir,
				 SL_STATE_SUPERSEDED);
			rc = 2;
		}
		sluice__v1__saved_state__free_unpacked(s, NULL);
		return rc;
	}
	if (s->n_edits > SL_STATE_MAX_EDITS || s->generation == 0) {
		snprintf(err, errlen,
			 "%s: %zu edits, generation %" PRIu64
			 ": not a state this sluiced wrote",
			 st->path, s->n_edits, s->generation);
		sluice__v1__saved_state__free_unpacked(s, NULL);
		return -EINVAL;
	}
	if (s->config_name[0] != '\0') {
		next = sl_config_parse_in(
			s->config_yaml, strlen(s->config_yaml), s->config_name,
			files, msg, sizeof(msg));
		if (next == NULL) {
			snprintf(err, errlen,
				 "%s: the applied file no longer compiles: %s",
				 st->path, msg);
			sluice__v1__saved_state__free_unpacked(s, NULL);
			return -EINVAL;
		}
		if (sl_config_check_replace(*cfg, next, msg, sizeof(msg)) !=
		    0) {
			snprintf(err, errlen, "%s: applied file %s: %s",
				 st->path, s->config_name, msg);
			sl_config_free(next);
			sluice__v1__saved_state__free_unpacked(s, NULL);
			return -EINVAL;
		}
	} else {
		next = sl_config_clone(*cfg);
		if (next == NULL) {
			snprintf(err, errlen, "%s: out of memory", st->path);
			sluice__v1__saved_state__free_unpacked(s, NULL);
			return -ENOMEM;
		}
	}
	edits = calloc(s->n_edits ? s->n_edits : 1, sizeof(*edits));
	if (edits == NULL) {
		sl_config_free(next);
		sluice__v1__saved_state__free_unpacked(s, NULL);
		snprintf(err, errlen, "%s: out of memory", st->path);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n_edits; i++) {
		struct sl_config *after;
		char what[128];
		int code;

		after = sl_state_apply_edit(next, s->edits[i], &code, msg,
					    sizeof(msg));
		if (after == NULL) {
			edit_name(s->edits[i], what, sizeof(what));
			snprintf(err, errlen,
				 "%s: edit %zu of %zu (%s) no longer applies: "
				 "%s",
				 st->path, i + 1, s->n_edits, what, msg);
			sl_config_free(next);
			edits_free(edits, i);
			sluice__v1__saved_state__free_unpacked(s, NULL);
			return -EINVAL;
		}
		sl_config_free(next);
		next = after;
		edits[i] = edit_copy(s->edits[i]);
		if (edits[i] == NULL) {
			sl_config_free(next);
			edits_free(edits, i);
			sluice__v1__saved_state__free_unpacked(s, NULL);
			snprintf(err, errlen, "%s: out of memory", st->path);
			return -ENOMEM;
		}
	}
	if (s->config_name[0] != '\0') {
		st->config_name = strdup(s->config_name);
		st->config_yaml = strdup(s->config_yaml);
	}
	st->edits = edits;
	st->n_edits = s->n_edits;
	st->generation = s->generation;
	next->generation = s->generation;
	info->restored = true;
	info->generation = s->generation;
	info->edits = (uint32_t)s->n_edits;
	info->saved_unix_ms = s->saved_unix_ms;
	snprintf(info->config, sizeof(info->config), "%s",
		 s->config_name[0] ? s->config_name : s->startup_path);
	sluice__v1__saved_state__free_unpacked(s, NULL);
	if ((st->config_name == NULL) != (st->config_yaml == NULL)) {
		snprintf(err, errlen, "%s: out of memory", st->path);
		sl_config_free(next);
		return -ENOMEM;
	}
	sl_config_free(*cfg);
	*cfg = next;
	return 1;
}

int
sl_state_save_apply(struct sl_state *st, const char *name, const char *yaml,
		    size_t len, uint64_t generation, char *err, size_t errlen)
{
	char *n = strdup(name), *y = strndup(yaml, len);
	int rc;

	if (n == NULL || y == NULL) {
		free(n);
		free(y);
		snprintf(err, errlen, "state: out of memory");
		return -ENOMEM;
	}
	rc = state_write(st, n, y, NULL, 0, generation, err, errlen);
	if (rc != 0) {
		free(n);
		free(y);
		return rc;
	}
	undo_clear(st);
	st->undo_kind = 2;
	st->undo_generation = st->generation;
	st->undo_name = st->config_name;
	st->undo_yaml = st->config_yaml;
	st->undo_edits = st->edits;
	st->undo_n_edits = st->n_edits;
	st->config_name = n;
	st->config_yaml = y;
	st->edits = NULL;
	st->n_edits = 0;
	st->generation = generation;
	return 0;
}

int
sl_state_save_edit(struct sl_state *st, const Sluice__V1__Request *edit,
		   uint64_t generation, char *err, size_t errlen)
{
	Sluice__V1__Request **edits, *copy;
	int rc;

	if (st->n_edits >= SL_STATE_MAX_EDITS) {
		snprintf(err, errlen,
			 "%u edits since the last apply are kept already; "
			 "apply a pipeline file to start again",
			 SL_STATE_MAX_EDITS);
		return -ENOSPC;
	}
	copy = edit_copy(edit);
	edits = realloc(st->edits, (st->n_edits + 1) * sizeof(*edits));
	if (copy == NULL || edits == NULL) {
		if (copy != NULL)
			sluice__v1__request__free_unpacked(copy, NULL);
		if (edits != NULL)
			st->edits = edits;
		snprintf(err, errlen, "state: out of memory");
		return -ENOMEM;
	}
	st->edits = edits;
	edits[st->n_edits] = copy;
	rc = state_write(st, st->config_name, st->config_yaml, edits,
			 st->n_edits + 1, generation, err, errlen);
	if (rc != 0) {
		sluice__v1__request__free_unpacked(copy, NULL);
		return rc;
	}
	undo_clear(st);
	st->undo_kind = 1;
	st->undo_generation = st->generation;
	st->n_edits++;
	st->generation = generation;
	return 0;
}

int
sl_state_undo_last(struct sl_state *st, char *err, size_t errlen)
{
	int rc;

	switch (st->undo_kind) {
	case 1:
		st->n_edits--;
		sluice__v1__request__free_unpacked(st->edits[st->n_edits],
						   NULL);
		break;
	case 2:
		free(st->config_name);
		free(st->config_yaml);
		edits_free(st->edits, st->n_edits);
		st->config_name = st->undo_name;
		st->config_yaml = st->undo_yaml;
		st->edits = st->undo_edits;
		st->n_edits = st->undo_n_edits;
		st->undo_name = st->undo_yaml = NULL;
		st->undo_edits = NULL;
		st->undo_n_edits = 0;
		break;
	default:
		return 0;
	}
	st->generation = st->undo_generation;
	st->undo_kind = 0;
	rc = state_write(st, st->config_name, st->config_yaml, st->edits,
			 st->n_edits, st->generation, err, errlen);
	return rc;
}
