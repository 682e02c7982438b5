/* SPDX-License-Identifier: MIT */
/*
 * sl_etcd.c - etcd v3 over its gRPC-JSON gateway, with libcurl and
 * jansson (sl_etcd.h).
 *
 * Every unary call is one POST through etcd_call(): a JSON body out, a
 * JSON object back, the transport's and the gateway's errors mapped to
 * errnos, the endpoints tried in turn. The watch runs its own easy handle
 * on a multi handle so that it can look at *stop between reads; its
 * stream is split into lines, one JSON object each.
 *
 * The server is a peer on the network: every field read is checked for
 * its type, its base64 and its range, and an answer that fails a check is
 * -EPROTO, never a crash or a guess.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "sl_etcd.h"

#define SL_ETCD_TIMEOUT_DEFAULT_MS 2000
/* "http://" + a 253-byte host name + ":65535", with room to spare. */
#define SL_ETCD_ENDPOINT_LEN 280
/* A unary answer larger than this is refused, never cut: a prefix read of
 * many values at SL_ETCD_VALUE_MAX still fits. */
#define SL_ETCD_ANSWER_MAX ((size_t)64 * 1024 * 1024)
/* One line of the watch stream: a value in base64 inside JSON. */
#define SL_ETCD_LINE_MAX ((size_t)SL_ETCD_VALUE_MAX * 2 + 64 * 1024)
#define SL_ETCD_WATCH_POLL_MS 100
/* gRPC's NOT_FOUND, which etcd answers only for a lease it does not have. */
#define SL_ETCD_GRPC_NOT_FOUND 5

struct sl_etcd {
	CURL *curl; /* unary calls; keeps its connection between them */
	struct curl_slist *headers;
	char *endpoint[SL_ETCD_ENDPOINTS_MAX];
	size_t n_endpoints;
	size_t current;
	long timeout_ms;
	int64_t server_time;
	const char *path; /* of the call under way, for messages */
	char curl_err[CURL_ERROR_SIZE];
};

/* Bytes read from the network, up to a hard limit. */
struct sl_etcd_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
	int error; /* -E2BIG past max, -ENOMEM */
};

/* One watch stream being read. */
struct sl_etcd_watch {
	struct sl_etcd *e;
	CURL *curl;
	sl_etcd_watch_fn fn;
	void *arg;
	volatile uint64_t *heard_ms;
	int64_t start_rev;
	struct sl_etcd_buf line; /* what follows the last newline */
	size_t scanned;          /* bytes of line known to hold no newline */
	long status;
	bool answered; /* a whole response came from this endpoint */
	int rc;        /* ends the transfer: < 0 an error, 1 fn is done */
	char *err;
	size_t errlen;
};

static pthread_once_t etcd_once = PTHREAD_ONCE_INIT;
static CURLcode etcd_global_rc;

static void
etcd_global_init(void)
{
	etcd_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int __attribute__((format(printf, 4, 5)))
etcd_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* An answer that is not what the gateway sends: -EPROTO, naming the
 * endpoint, the call and what was wrong. */
static int __attribute__((format(printf, 4, 5)))
etcd_bad(const struct sl_etcd *e, char *err, size_t errlen, const char *fmt,
	 ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return etcd_fail(err, errlen, -EPROTO, "etcd %s%s: bad answer: %s",
			 sl_etcd_endpoint(e), e->path, what);
}

/* --- base64, as Go's encoding/json writes []byte ------------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_digit(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* @len bytes as a JSON string of base64; NULL when out of memory. */
static json_t *
b64_json(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t n = (len + 2) / 3 * 4, o = 0;
	uint32_t word;
	json_t *j;
	char *s;

	s = malloc(n + 1);
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		word = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			word |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			word |= in[i + 2];
		s[o++] = b64_alphabet[word >> 18];
		s[o++] = b64_alphabet[(word >> 12) & 63];
		s[o++] = i + 1 < len ? b64_alphabet[(word >> 6) & 63] : '=';
		s[o++] = i + 2 < len ? b64_alphabet[word & 63] : '=';
	}
	s[o] = '\0';
	j = json_stringn_nocheck(s, n);
	free(s);
	return j;
}

/* Padded standard base64 to bytes in @out (room for len / 4 * 3): the
 * length decoded, or -1 for anything else. '=' only ends the last quad. */
static long
b64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0;
	uint32_t word;
	int digit, pad;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		word = 0;
		pad = 0;
		for (size_t k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				pad++;
				digit = 0;
			} else if (pad > 0 ||
				   (digit = b64_digit(in[i + k])) < 0) {
				return -1;
			}
			word = word << 6 | (uint32_t)digit;
		}
		out[o++] = (unsigned char)(word >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(word >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)word;
	}
	return (long)o;
}

/* --- reading the gateway's JSON ------------------------------------- */

/* An int64 field: a decimal string (the gateway omits zero), >= @min. */
static int
json_int64(const struct sl_etcd *e, const json_t *obj, const char *name,
	   int64_t min, int64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, name);
	const char *s;
	long long n;
	char *end;

	*out = 0;
	if (v == NULL)
		return min > 0 ? etcd_bad(e, err, errlen, "no %s", name) : 0;
	if (!json_is_string(v))
		return etcd_bad(e, err, errlen, "%s is not a string", name);
	s = json_string_value(v);
	if (!(s[0] >= '0' && s[0] <= '9') &&
	    !(s[0] == '-' && s[1] >= '0' && s[1] <= '9'))
		return etcd_bad(e, err, errlen, "%s is not a number", name);
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' ||
	    (size_t)(end - s) != json_string_length(v))
		return etcd_bad(e, err, errlen, "%s is not an int64", name);
	if (n < min)
		return etcd_bad(e, err, errlen, "%s %lld is below %lld", name,
				n, (long long)min);
	*out = n;
	return 0;
}

/* A bool field (the gateway omits false). */
static int
json_flag(const struct sl_etcd *e, const json_t *obj, const char *name,
	  bool *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, name);

	*out = false;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return etcd_bad(e, err, errlen, "%s is not a bool", name);
	*out = json_is_true(v);
	return 0;
}

/* An object field; NULL in *out when absent and not @required. */
static int
json_child(const struct sl_etcd *e, const json_t *obj, const char *name,
	   bool required, json_t **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, name);

	*out = NULL;
	if (v == NULL && !required)
		return 0;
	if (!json_is_object(v))
		return etcd_bad(e, err, errlen, "%s is not an object", name);
	*out = v;
	return 0;
}

/* A bytes field: base64, decoded into a NUL-terminated copy; absent means
 * empty unless @required (then it must not be empty either). */
static int
json_bytes(const struct sl_etcd *e, const json_t *obj, const char *name,
	   bool required, char **out, size_t *out_len, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, name);
	size_t len = 0;
	long n = 0;
	char *bytes;

	*out = NULL;
	*out_len = 0;
	if (v == NULL && required)
		return etcd_bad(e, err, errlen, "no %s", name);
	if (v != NULL && !json_is_string(v))
		return etcd_bad(e, err, errlen, "%s is not a string", name);
	if (v != NULL)
		len = json_string_length(v);
	if (len > ((size_t)SL_ETCD_VALUE_MAX + 2) / 3 * 4)
		return etcd_bad(e, err, errlen, "%s over %d bytes", name,
				SL_ETCD_VALUE_MAX);
	bytes = malloc(len / 4 * 3 + 1);
	if (bytes == NULL)
		return etcd_fail(err, errlen, -ENOMEM, "etcd: out of memory");
	if (len > 0)
		n = b64_decode(json_string_value(v), len,
			       (unsigned char *)bytes);
	if (n < 0 || n > SL_ETCD_VALUE_MAX || (required && n == 0)) {
		free(bytes);
		return etcd_bad(e, err, errlen,
				"%s is not base64 of 1..%d bytes", name,
				SL_ETCD_VALUE_MAX);
	}
	bytes[n] = '\0';
	*out = bytes;
	*out_len = (size_t)n;
	return 0;
}

/* header.revision of an answer (etcd's revisions start at 1). */
static int
etcd_header_revision(const struct sl_etcd *e, const json_t *answer,
		     int64_t *rev, char *err, size_t errlen)
{
	json_t *header;
	int rc;

	rc = json_child(e, answer, "header", true, &header, err, errlen);
	if (rc == 0)
		rc = json_int64(e, header, "revision", 1, rev, err, errlen);
	return rc;
}

static int
etcd_kv(const struct sl_etcd *e, const json_t *j, struct sl_etcd_kv *kv,
	char *err, size_t errlen)
{
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(j))
		return etcd_bad(e, err, errlen, "kv is not an object");
	rc = json_bytes(e, j, "key", true, &kv->key, &kv->key_len, err, errlen);
	if (rc == 0)
		rc = json_bytes(e, j, "value", false, &kv->value,
				&kv->value_len, err, errlen);
	if (rc == 0)
		rc = json_int64(e, j, "create_revision", 0,
				&kv->create_revision, err, errlen);
	if (rc == 0)
		rc = json_int64(e, j, "mod_revision", 1, &kv->mod_revision, err,
				errlen);
	if (rc == 0)
		rc = json_int64(e, j, "version", 0, &kv->version, err, errlen);
	if (rc == 0)
		rc = json_int64(e, j, "lease", 0, &kv->lease, err, errlen);
	if (rc < 0)
		sl_etcd_kv_free(kv);
	return rc;
}

/* A range answer (also inside a txn): its revision and kvs. @out is left
 * empty on error. */
static int
etcd_kvs(const struct sl_etcd *e, const json_t *answer, struct sl_etcd_kvs *out,
	 char *err, size_t errlen)
{
	const json_t *kvs = json_object_get(answer, "kvs");
	size_t n;
	int rc;

	rc = etcd_header_revision(e, answer, &out->revision, err, errlen);
	if (rc < 0 || kvs == NULL)
		return rc;
	if (!json_is_array(kvs))
		return etcd_bad(e, err, errlen, "kvs is not an array");
	n = json_array_size(kvs);
	if (n == 0)
		return 0;
	out->kv = calloc(n, sizeof(*out->kv));
	if (out->kv == NULL)
		return etcd_fail(err, errlen, -ENOMEM, "etcd: out of memory");
	for (out->n = 0; out->n < n; out->n++) {
		rc = etcd_kv(e, json_array_get(kvs, out->n), &out->kv[out->n],
			     err, errlen);
		if (rc < 0) {
			sl_etcd_kvs_free(out);
			return rc;
		}
	}
	return 0;
}

/* The gateway's own error: {"error":"..","message":"..","code":N} for a
 * call, {"error":{"grpc_code":N,"message":"..",..}} inside a stream; a
 * plain "error" string in a few answers (LeaseGrantResponse). */
static int
etcd_gateway_error(const struct sl_etcd *e, long status, const json_t *root,
		   char *err, size_t errlen)
{
	const json_t *error = json_object_get(root, "error");
	const json_t *message = json_object_get(root, "message");
	const json_t *code = json_object_get(root, "code");
	char quoted[256];
	const char *s;
	size_t n = 0;

	if (json_is_object(error)) {
		message = json_object_get(error, "message");
		code = json_object_get(error, "grpc_code");
	}
	if (!json_is_string(message))
		message = error;
	if (!json_is_string(message) || (code && !json_is_integer(code)))
		return etcd_bad(e, err, errlen, "HTTP %ld without an error",
				status);
	/* One line for a person: the peer's control bytes do not pass. */
	for (s = json_string_value(message); *s && n + 1 < sizeof(quoted); s++)
		quoted[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	quoted[n] = '\0';
	return etcd_fail(
		err, errlen,
		json_integer_value(code) == SL_ETCD_GRPC_NOT_FOUND ? -ENOENT
								   : -EIO,
		"etcd %s%s: \"%s\"", sl_etcd_endpoint(e), e->path, quoted);
}

/* One whole answer: a JSON object that is no error; *answer to decref. */
static int
etcd_answer(const struct sl_etcd *e, long status, const struct sl_etcd_buf *b,
	    json_t **answer, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	root = json_loadb(b->data ? b->data : "", b->len,
			  JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return etcd_bad(e, err, errlen, "HTTP %ld, not JSON: %s",
				status, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return etcd_bad(e, err, errlen, "HTTP %ld, not an object",
				status);
	}
	if (status != 200 || json_object_get(root, "error") != NULL) {
		rc = etcd_gateway_error(e, status, root, err, errlen);
		json_decref(root);
		return rc;
	}
	*answer = root;
	return 0;
}

/* --- the transport ------------------------------------------------- */

static int
buf_append(struct sl_etcd_buf *b, const char *data, size_t len)
{
	size_t cap;
	char *p;

	if (len > b->max - b->len)
		return b->error = -E2BIG;
	if (b->len + len + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (p == NULL)
			return b->error = -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static size_t
etcd_write(char *data, size_t size, size_t n, void *arg)
{
	return buf_append(arg, data, size * n) == 0 ? size * n : 0;
}

/* Each answer's Date header: the server's clock (sl_etcd_server_time). */
static size_t
etcd_header(char *line, size_t size, size_t n, void *arg)
{
	struct sl_etcd *e = arg;
	size_t len = size * n;
	char date[64];
	time_t t;

	if (len <= 5 || len - 5 >= sizeof(date) ||
	    strncasecmp(line, "Date:", 5) != 0)
		return len;
	memcpy(date, line + 5, len - 5);
	date[len - 5] = '\0';
	date[strcspn(date, "\r\n")] = '\0';
	t = curl_getdate(date, NULL);
	if (t > 0)
		e->server_time = t;
	return len;
}

/* An easy handle for one endpoint's calls; @timeout_ms 0: no bound on
 * the whole transfer (the watch), the connection still bounded. */
static CURL *
etcd_easy_new(struct sl_etcd *e, long timeout_ms)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* Members are reached directly, whatever http_proxy says. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, etcd_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, e);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, e->curl_err);
	return h;
}

static void
etcd_url(const struct sl_etcd *e, char *url, size_t len)
{
	snprintf(url, len, "%s%s", sl_etcd_endpoint(e), e->path);
}

/* libcurl's failure as an errno: those that mean "this endpoint did not
 * answer" send the call to the next one (etcd_unreachable). */
static int
etcd_transport(struct sl_etcd *e, CURL *h, CURLcode cc, char *err,
	       size_t errlen)
{
	long os_errno = 0;
	int rc;

	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		rc = os_errno == EHOSTUNREACH || os_errno == ENETUNREACH
			     ? -EHOSTUNREACH
			     : -ECONNREFUSED;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		rc = -EHOSTUNREACH;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		rc = -ETIMEDOUT;
		break;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		rc = -ECONNRESET;
		break;
	case CURLE_OUT_OF_MEMORY:
		rc = -ENOMEM;
		break;
	default: /* a cut or malformed HTTP answer */
		rc = -EPROTO;
		break;
	}
	return etcd_fail(err, errlen, rc, "etcd %s%s: %s", sl_etcd_endpoint(e),
			 e->path,
			 e->curl_err[0] ? e->curl_err : curl_easy_strerror(cc));
}

static bool
etcd_unreachable(int rc)
{
	return rc == -ECONNREFUSED || rc == -EHOSTUNREACH || rc == -ETIMEDOUT ||
	       rc == -ECONNRESET;
}

/* One POST of @body to the current endpoint. */
static int
etcd_post(struct sl_etcd *e, const char *body, json_t **answer, char *err,
	  size_t errlen)
{
	struct sl_etcd_buf b = {.max = SL_ETCD_ANSWER_MAX};
	char url[SL_ETCD_ENDPOINT_LEN + 64];
	long status = 0;
	CURLcode cc;
	int rc;

	etcd_url(e, url, sizeof(url));
	e->curl_err[0] = '\0';
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, etcd_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(e->curl);
	if (b.error == -E2BIG)
		rc = etcd_bad(e, err, errlen, "over %zu bytes",
			      SL_ETCD_ANSWER_MAX);
	else if (b.error < 0)
		rc = etcd_fail(err, errlen, b.error, "etcd: out of memory");
	else if (cc != CURLE_OK)
		rc = etcd_transport(e, e->curl, cc, err, errlen);
	else if (curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status))
		rc = etcd_bad(e, err, errlen, "no HTTP status");
	else
		rc = etcd_answer(e, status, &b, answer, err, errlen);
	free(b.data);
	return rc;
}

/*
 * etcd_call - POST @req (taken: freed here; NULL means out of memory) as
 * JSON to @path, on the current endpoint and, while they do not answer,
 * on each next one once. *@answer: the answer's JSON object, to
 * json_decref, when 0 is returned.
 */
static int
etcd_call(struct sl_etcd *e, const char *path, json_t *req, json_t **answer,
	  char *err, size_t errlen)
{
	char *body;
	int rc = -ENOMEM;

	*answer = NULL;
	if (req == NULL)
		return etcd_fail(err, errlen, -ENOMEM, "etcd: out of memory");
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (body == NULL)
		return etcd_fail(err, errlen, -ENOMEM, "etcd: out of memory");
	e->path = path;
	for (size_t tried = 0; tried < e->n_endpoints; tried++) {
		rc = etcd_post(e, body, answer, err, errlen);
		if (!etcd_unreachable(rc))
			break;
		e->current = (e->current + 1) % e->n_endpoints;
	}
	free(body);
	return rc;
}

/* --- requests ------------------------------------------------------ */

static json_t *
int64_json(int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return json_string(s);
}

/* etcd's range_end for a prefix: the prefix up to its last byte that is
 * not 0xff, that byte plus one; "\0" (every key from the prefix on) when
 * there is none. Returns the length written to @end (room for @len or 1). */
static size_t
prefix_end(const char *key, size_t len, char *end)
{
	while (len > 0 && (unsigned char)key[len - 1] == 0xff)
		len--;
	if (len == 0) {
		end[0] = '\0';
		return 1;
	}
	memcpy(end, key, len);
	end[len - 1]++;
	return len;
}

/* {"key":..} for @key alone, {"key":..,"range_end":..} for every key
 * under it; the empty prefix is etcd's "\0".."\0", every key. */
static json_t *
etcd_range_req(const char *key, bool prefix)
{
	size_t len = strlen(key), end_len;
	json_t *req;
	char *end;

	if (!prefix)
		return json_pack("{s:o}", "key", b64_json(key, len));
	end = malloc(len + 1);
	if (end == NULL)
		return NULL;
	end_len = prefix_end(key, len, end);
	req = json_pack("{s:o, s:o}", "key", b64_json(key, len ? len : 1),
			"range_end", b64_json(end, end_len));
	free(end);
	return req;
}

static json_t *
etcd_put_req(const char *key, const void *val, size_t len, int64_t lease)
{
	return json_pack("{s:o, s:o, s:o*}", "key", b64_json(key, strlen(key)),
			 "value", b64_json(val, len), "lease",
			 lease ? int64_json(lease) : NULL);
}

static int
etcd_key_check(const struct sl_etcd *e, const char *key, bool prefix, char *err,
	       size_t errlen)
{
	if (e == NULL || key == NULL)
		return etcd_fail(err, errlen, -EINVAL,
				 "etcd: no client or key");
	if (!prefix && key[0] == '\0')
		return etcd_fail(err, errlen, -EINVAL, "etcd: empty key");
	if (strlen(key) > SL_ETCD_VALUE_MAX)
		return etcd_fail(err, errlen, -EINVAL,
				 "etcd: key over %d bytes", SL_ETCD_VALUE_MAX);
	return 0;
}

static int
etcd_put_check(const struct sl_etcd *e, const char *key, const void *val,
	       size_t len, int64_t lease, char *err, size_t errlen)
{
	int rc = etcd_key_check(e, key, false, err, errlen);

	if (rc < 0)
		return rc;
	if ((val == NULL && len > 0) || len > SL_ETCD_VALUE_MAX)
		return etcd_fail(err, errlen, -EINVAL,
				 "etcd: %s: value over %d bytes", key,
				 SL_ETCD_VALUE_MAX);
	if (lease < 0)
		return etcd_fail(err, errlen, -EINVAL, "etcd: lease %lld",
				 (long long)lease);
	return 0;
}

/* --- the client ---------------------------------------------------- */

/* "http://HOST:PORT": a name or an IPv4 address, or [an IPv6 one]. */
static bool
endpoint_ok(const char *s)
{
	const char *host = s + 7, *p = host;
	unsigned long port = 0;
	size_t digits = 0;

	if (strncmp(s, "http://", 7) != 0 || strlen(s) > SL_ETCD_ENDPOINT_LEN)
		return false;
	if (*p == '[') {
		while (*++p && (strchr("0123456789abcdefABCDEF:.", *p)))
			;
		if (*p++ != ']' || p - host < 4)
			return false;
	} else {
		while (*p && (strchr("-.", *p) || (*p >= '0' && *p <= '9') ||
			      ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
			p++;
		if (p == host)
			return false;
	}
	if (*p++ != ':')
		return false;
	for (; *p >= '0' && *p <= '9' && digits < 6; p++, digits++)
		port = port * 10 + (unsigned long)(*p - '0');
	return *p == '\0' && digits > 0 && port >= 1 && port <= 65535;
}

static int
etcd_endpoints(struct sl_etcd *e, const char *list, char *err, size_t errlen)
{
	const char *item = list, *comma;
	size_t len;
	int rc = 0;
	char *ep;

	for (;;) {
		comma = strchr(item, ',');
		len = comma ? (size_t)(comma - item) : strlen(item);
		while (len > 0 && (*item == ' ' || *item == '\t'))
			item++, len--;
		while (len > 0 &&
		       (item[len - 1] == ' ' || item[len - 1] == '\t'))
			len--;
		ep = strndup(item, len);
		if (ep == NULL)
			return etcd_fail(err, errlen, -ENOMEM,
					 "etcd: out of memory");
		if (e->n_endpoints == SL_ETCD_ENDPOINTS_MAX)
			rc = etcd_fail(err, errlen, -EINVAL,
				       "endpoint \"%.300s\": more than %d "
				       "endpoints",
				       ep, SL_ETCD_ENDPOINTS_MAX);
		else if (!endpoint_ok(ep))
			rc = etcd_fail(err, errlen, -EINVAL,
				       "endpoint \"%.300s\": not "
				       "http://HOST:PORT",
				       ep);
		if (rc < 0) {
			free(ep);
			return rc;
		}
		e->endpoint[e->n_endpoints++] = ep;
		if (comma == NULL)
			return 0;
		item = comma + 1;
	}
}

struct sl_etcd *
sl_etcd_open(const char *endpoints, long timeout_ms, char *err, size_t errlen)
{
	struct sl_etcd *e;

	pthread_once(&etcd_once, etcd_global_init);
	if (etcd_global_rc != CURLE_OK) {
		etcd_fail(err, errlen, -ENOMEM, "etcd: libcurl: %s",
			  curl_easy_strerror(etcd_global_rc));
		return NULL;
	}
	if (endpoints == NULL || timeout_ms < 0) {
		etcd_fail(err, errlen, -EINVAL,
			  "etcd: no endpoints or timeout");
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		etcd_fail(err, errlen, -ENOMEM, "etcd: out of memory");
		return NULL;
	}
	e->timeout_ms = timeout_ms ? timeout_ms : SL_ETCD_TIMEOUT_DEFAULT_MS;
	e->path = "";
	if (etcd_endpoints(e, endpoints, err, errlen) < 0) {
		sl_etcd_close(e);
		return NULL;
	}
	/* No "Expect: 100-continue" wait before a large value. */
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (e->headers != NULL && curl_slist_append(e->headers, "Expect:"))
		e->curl = etcd_easy_new(e, e->timeout_ms);
	if (e->curl == NULL) {
		etcd_fail(err, errlen, -ENOMEM, "etcd: out of memory");
		sl_etcd_close(e);
		return NULL;
	}
	return e;
}

void
sl_etcd_close(struct sl_etcd *e)
{
	if (e == NULL)
		return;
	curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	for (size_t i = 0; i < e->n_endpoints; i++)
		free(e->endpoint[i]);
	free(e);
}

const char *
sl_etcd_endpoint(const struct sl_etcd *e)
{
	return e->endpoint[e->current];
}

int64_t
sl_etcd_server_time(const struct sl_etcd *e)
{
	return e->server_time;
}

void
sl_etcd_kv_free(struct sl_etcd_kv *kv)
{
	if (kv == NULL)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void
sl_etcd_kvs_free(struct sl_etcd_kvs *kvs)
{
	if (kvs == NULL)
		return;
	for (size_t i = 0; i < kvs->n; i++)
		sl_etcd_kv_free(&kvs->kv[i]);
	free(kvs->kv);
	memset(kvs, 0, sizeof(*kvs));
}

int
sl_etcd_get(struct sl_etcd *e, const char *key, bool prefix,
	    struct sl_etcd_kvs *out, char *err, size_t errlen)
{
	json_t *answer;
	int rc;

	if (out == NULL)
		return etcd_fail(err, errlen, -EINVAL, "etcd: no output");
	memset(out, 0, sizeof(*out));
	rc = etcd_key_check(e, key, prefix, err, errlen);
	if (rc == 0)
		rc = etcd_call(e, "/v3/kv/range", etcd_range_req(key, prefix),
			       &answer, err, errlen);
	if (rc == 0) {
		rc = etcd_kvs(e, answer, out, err, errlen);
		json_decref(answer);
	}
	return rc;
}

int
sl_etcd_put(struct sl_etcd *e, const char *key, const void *val, size_t len,
	    int64_t lease, int64_t *rev, char *err, size_t errlen)
{
	json_t *answer;
	int64_t r;
	int rc;

	rc = etcd_put_check(e, key, val, len, lease, err, errlen);
	if (rc == 0)
		rc = etcd_call(e, "/v3/kv/put",
			       etcd_put_req(key, val, len, lease), &answer, err,
			       errlen);
	if (rc < 0)
		return rc;
	rc = etcd_header_revision(e, answer, &r, err, errlen);
	json_decref(answer);
	if (rc == 0 && rev != NULL)
		*rev = r;
	return rc;
}

/* The compare of put_if: the key's mod_revision, or its absence. */
static json_t *
etcd_compare(const char *key, int64_t expect_mod)
{
	json_t *k = b64_json(key, strlen(key));

	if (expect_mod == 0)
		return json_pack("{s:s, s:o, s:s, s:s}", "target", "CREATE",
				 "key", k, "result", "EQUAL", "create_revision",
				 "0");
	return json_pack("{s:s, s:o, s:s, s:o}", "target", "MOD", "key", k,
			 "result", "EQUAL", "mod_revision",
			 int64_json(expect_mod));
}

/* A failed put_if's answer: the key's mod_revision from the failure
 * branch's range, 0 when the key is absent. */
static int
etcd_txn_current(const struct sl_etcd *e, const json_t *answer, int64_t *mod,
		 char *err, size_t errlen)
{
	const json_t *responses = json_object_get(answer, "responses");
	struct sl_etcd_kvs kvs = {0};
	json_t *range;
	int rc;

	if (!json_is_array(responses) || json_array_size(responses) != 1)
		return etcd_bad(e, err, errlen, "not one response");
	rc = json_child(e, json_array_get(responses, 0), "response_range", true,
			&range, err, errlen);
	if (rc == 0)
		rc = etcd_kvs(e, range, &kvs, err, errlen);
	if (rc == 0 && kvs.n > 1)
		rc = etcd_bad(e, err, errlen, "%zu keys for one", kvs.n);
	if (rc == 0)
		*mod = kvs.n ? kvs.kv[0].mod_revision : 0;
	sl_etcd_kvs_free(&kvs);
	return rc;
}

int
sl_etcd_put_if(struct sl_etcd *e, const char *key, const void *val, size_t len,
	       int64_t expect_mod, int64_t lease, int64_t *rev, char *err,
	       size_t errlen)
{
	bool succeeded;
	json_t *answer;
	int64_t r = 0;
	int rc;

	rc = etcd_put_check(e, key, val, len, lease, err, errlen);
	if (rc == 0 && expect_mod < 0)
		rc = etcd_fail(err, errlen, -EINVAL,
			       "etcd: %s: mod_revision %lld", key,
			       (long long)expect_mod);
	if (rc == 0)
		rc = etcd_call(
			e, "/v3/kv/txn",
			json_pack("{s:[o], s:[{s:o}], s:[{s:o}]}", "compare",
				  etcd_compare(key, expect_mod), "success",
				  "request_put",
				  etcd_put_req(key, val, len, lease), "failure",
				  "request_range", etcd_range_req(key, false)),
			&answer, err, errlen);
	if (rc < 0)
		return rc;
	rc = json_flag(e, answer, "succeeded", &succeeded, err, errlen);
	if (rc == 0 && succeeded)
		rc = etcd_header_revision(e, answer, &r, err, errlen);
	else if (rc == 0)
		rc = etcd_txn_current(e, answer, &r, err, errlen);
	json_decref(answer);
	if (rc == 0 && rev != NULL)
		*rev = r;
	return rc < 0 ? rc : !succeeded;
}

int
sl_etcd_delete(struct sl_etcd *e, const char *key, bool prefix,
	       int64_t *deleted, int64_t *rev, char *err, size_t errlen)
{
	json_t *answer;
	int64_t n = 0, r = 0;
	int rc;

	rc = etcd_key_check(e, key, prefix, err, errlen);
	if (rc == 0)
		rc = etcd_call(e, "/v3/kv/deleterange",
			       etcd_range_req(key, prefix), &answer, err,
			       errlen);
	if (rc < 0)
		return rc;
	rc = etcd_header_revision(e, answer, &r, err, errlen);
	if (rc == 0)
		rc = json_int64(e, answer, "deleted", 0, &n, err, errlen);
	json_decref(answer);
	if (rc == 0 && deleted != NULL)
		*deleted = n;
	if (rc == 0 && rev != NULL)
		*rev = r;
	return rc;
}

int
sl_etcd_lease_grant(struct sl_etcd *e, int64_t ttl_s, int64_t *id, char *err,
		    size_t errlen)
{
	json_t *answer;
	int64_t granted, ttl;
	int rc;

	if (e == NULL || ttl_s <= 0)
		return etcd_fail(err, errlen, -EINVAL, "etcd: lease TTL %lld",
				 (long long)ttl_s);
	rc = etcd_call(e, "/v3/lease/grant",
		       json_pack("{s:o}", "TTL", int64_json(ttl_s)), &answer,
		       err, errlen);
	if (rc < 0)
		return rc;
	rc = json_int64(e, answer, "ID", 1, &granted, err, errlen);
	if (rc == 0)
		rc = json_int64(e, answer, "TTL", 1, &ttl, err, errlen);
	json_decref(answer);
	if (rc == 0 && id != NULL)
		*id = granted;
	return rc;
}

int
sl_etcd_lease_keepalive(struct sl_etcd *e, int64_t id, int64_t *ttl_left,
			char *err, size_t errlen)
{
	json_t *answer, *result;
	int64_t echoed, ttl = 0;
	int rc;

	if (e == NULL || id <= 0)
		return etcd_fail(err, errlen, -EINVAL, "etcd: lease %lld",
				 (long long)id);
	rc = etcd_call(e, "/v3/lease/keepalive",
		       json_pack("{s:o}", "ID", int64_json(id)), &answer, err,
		       errlen);
	if (rc < 0)
		return rc;
	rc = json_child(e, answer, "result", true, &result, err, errlen);
	if (rc == 0)
		rc = json_int64(e, result, "ID", 1, &echoed, err, errlen);
	if (rc == 0 && echoed != id)
		rc = etcd_bad(e, err, errlen, "lease %lld for %lld",
			      (long long)echoed, (long long)id);
	/* A lease etcd no longer has comes back with no TTL (or -1). */
	if (rc == 0)
		rc = json_int64(e, result, "TTL", INT64_MIN, &ttl, err, errlen);
	json_decref(answer);
	if (rc == 0 && ttl <= 0)
		rc = etcd_fail(err, errlen, -ENOENT,
			       "etcd %s: lease %lld: gone", sl_etcd_endpoint(e),
			       (long long)id);
	if (rc == 0 && ttl_left != NULL)
		*ttl_left = ttl;
	return rc;
}

int
sl_etcd_lease_revoke(struct sl_etcd *e, int64_t id, char *err, size_t errlen)
{
	json_t *answer;
	int64_t rev;
	int rc;

	if (e == NULL || id <= 0)
		return etcd_fail(err, errlen, -EINVAL, "etcd: lease %lld",
				 (long long)id);
	rc = etcd_call(e, "/v3/lease/revoke",
		       json_pack("{s:o}", "ID", int64_json(id)), &answer, err,
		       errlen);
	if (rc < 0)
		return rc;
	rc = etcd_header_revision(e, answer, &rev, err, errlen);
	json_decref(answer);
	return rc;
}

/* --- the watch ----------------------------------------------------- */

static void
watch_events_free(struct sl_etcd_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sl_etcd_kv_free(&ev[i].kv);
	free(ev);
}

/* One event; "type" is omitted for a PUT. */
static int
watch_event(const struct sl_etcd *e, const json_t *j, struct sl_etcd_event *ev,
	    char *err, size_t errlen)
{
	const json_t *type = json_object_get(j, "type");

	if (!json_is_object(j))
		return etcd_bad(e, err, errlen, "event is not an object");
	if (type == NULL)
		ev->deleted = false;
	else if (json_is_string(type) &&
		 !strcmp(json_string_value(type), "PUT"))
		ev->deleted = false;
	else if (json_is_string(type) &&
		 !strcmp(json_string_value(type), "DELETE"))
		ev->deleted = true;
	else
		return etcd_bad(e, err, errlen, "event type");
	return etcd_kv(e, json_object_get(j, "kv"), &ev->kv, err, errlen);
}

/* A response's events, handed to fn: 1 when fn is done. */
static int
watch_events(struct sl_etcd_watch *w, const json_t *events, int64_t rev)
{
	size_t n = json_array_size(events), i;
	struct sl_etcd_event *ev;
	int rc = 0;

	if (rev < 1)
		return etcd_bad(w->e, w->err, w->errlen, "events, no revision");
	ev = calloc(n, sizeof(*ev));
	if (ev == NULL)
		return etcd_fail(w->err, w->errlen, -ENOMEM,
				 "etcd: out of memory");
	for (i = 0; i < n && rc == 0; i++)
		rc = watch_event(w->e, json_array_get(events, i), &ev[i],
				 w->err, w->errlen);
	if (rc == 0 && w->fn(w->arg, ev, n, rev) != 0)
		rc = 1;
	watch_events_free(ev, n);
	return rc;
}

static bool
blank(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
			return false;
	return true;
}

/* One line of the stream: {"result":{header, created | events |
 * canceled}} or the gateway's {"error":{..}}. */
static int
watch_response(struct sl_etcd_watch *w, const char *text, size_t len)
{
	struct sl_etcd *e = w->e;
	json_t *root, *result = NULL, *header = NULL, *events;
	int64_t rev = 0, compacted = 0;
	json_error_t jerr;
	bool canceled;
	int rc;

	if (blank(text, len))
		return 0;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return etcd_bad(e, w->err, w->errlen, "not JSON: %s",
				jerr.text);
	if (!json_is_object(root))
		rc = etcd_bad(e, w->err, w->errlen, "not an object");
	else if (json_object_get(root, "error") != NULL)
		rc = etcd_gateway_error(e, w->status, root, w->err, w->errlen);
	else
		rc = json_child(e, root, "result", true, &result, w->err,
				w->errlen);
	if (rc == 0)
		rc = json_child(e, result, "header", true, &header, w->err,
				w->errlen);
	if (rc == 0)
		rc = json_int64(e, header, "revision", 0, &rev, w->err,
				w->errlen);
	if (rc == 0)
		rc = json_flag(e, result, "canceled", &canceled, w->err,
			       w->errlen);
	if (rc == 0)
		rc = json_int64(e, result, "compact_revision", 0, &compacted,
				w->err, w->errlen);
	if (rc == 0 && canceled && compacted > 0)
		rc = etcd_fail(w->err, w->errlen, -ESTALE,
			       "etcd %s: watch from revision %lld: compacted "
			       "up to %lld",
			       sl_etcd_endpoint(e), (long long)w->start_rev,
			       (long long)compacted);
	else if (rc == 0 && canceled)
		rc = etcd_fail(w->err, w->errlen, -EIO,
			       "etcd %s: watch canceled", sl_etcd_endpoint(e));
	if (rc == 0) {
		w->answered = true;
		events = json_object_get(result, "events");
		if (events != NULL && !json_is_array(events))
			rc = etcd_bad(e, w->err, w->errlen, "events");
		else if (json_array_size(events) > 0)
			rc = watch_events(w, events, rev);
	}
	json_decref(root);
	return rc;
}

/* The complete lines in w->line, each handed to watch_response; what
 * follows the last newline stays for the next read. */
static int
watch_lines(struct sl_etcd_watch *w)
{
	char *start = w->line.data, *end = w->line.data + w->line.len;
	char *nl, *from = w->line.data + w->scanned;
	int rc = 0;

	while (rc == 0 && (nl = memchr(from, '\n', (size_t)(end - from)))) {
		rc = watch_response(w, start, (size_t)(nl - start));
		start = from = nl + 1;
	}
	w->line.len = (size_t)(end - start);
	memmove(w->line.data, start, w->line.len);
	w->scanned = w->line.len;
	return rc;
}

static size_t
watch_write(char *data, size_t size, size_t n, void *arg)
{
	struct sl_etcd_watch *w = arg;
	size_t len = size * n;

	if (w->heard_ms != NULL)
		*w->heard_ms = mono_ms();
	if (w->status == 0)
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &w->status);
	if (buf_append(&w->line, data, len) < 0) {
		w->rc = w->line.error == -E2BIG
				? etcd_bad(w->e, w->err, w->errlen,
					   "a line over %zu bytes",
					   SL_ETCD_LINE_MAX)
				: etcd_fail(w->err, w->errlen, -ENOMEM,
					    "etcd: out of memory");
		return 0;
	}
	/* An error answer is one object, read whole and parsed at the end. */
	if (w->status == 200)
		w->rc = watch_lines(w);
	return w->rc == 0 ? len : 0;
}

/* The transfer ended by itself: an error answer, or a stream cut. */
static int
watch_ended(struct sl_etcd_watch *w, CURLcode cc)
{
	json_t *answer = NULL;
	int rc;

	if (cc != CURLE_OK)
		return etcd_transport(w->e, w->curl, cc, w->err, w->errlen);
	/* Not 200: etcd_answer reads it as the gateway's error. */
	if (w->status != 200) {
		rc = etcd_answer(w->e, w->status, &w->line, &answer, w->err,
				 w->errlen);
		json_decref(answer);
		return rc;
	}
	rc = w->line.len ? watch_response(w, w->line.data, w->line.len) : 0;
	if (rc != 0)
		return rc;
	return etcd_fail(w->err, w->errlen, -ECONNRESET,
			 "etcd %s/v3/watch: the stream ended",
			 sl_etcd_endpoint(w->e));
}

/* The watch on the current endpoint, until it ends: 0 when stopped or fn
 * is done, else the error. Until the first response, e->timeout_ms. */
static int
watch_once(struct sl_etcd_watch *w, const char *body, const volatile bool *stop)
{
	struct sl_etcd *e = w->e;
	char url[SL_ETCD_ENDPOINT_LEN + 64];
	uint64_t deadline = mono_ms() + (uint64_t)e->timeout_ms;
	CURLMcode mc = CURLM_OK;
	CURLM *multi;
	CURLMsg *msg;
	int running = 1, left, rc = 0;

	w->curl = etcd_easy_new(e, 0);
	multi = curl_multi_init();
	if (w->curl == NULL || multi == NULL) {
		curl_easy_cleanup(w->curl);
		curl_multi_cleanup(multi);
		return etcd_fail(w->err, w->errlen, -ENOMEM,
				 "etcd: out of memory");
	}
	etcd_url(e, url, sizeof(url));
	e->curl_err[0] = '\0';
	curl_easy_setopt(w->curl, CURLOPT_URL, url);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
	curl_multi_add_handle(multi, w->curl);
	for (;;) {
		mc = curl_multi_perform(multi, &running);
		if (mc != CURLM_OK || w->rc != 0)
			break;
		if (!running) {
			msg = curl_multi_info_read(multi, &left);
			rc = watch_ended(w, msg ? msg->data.result : CURLE_OK);
			break;
		}
		if (stop != NULL && *stop)
			break;
		if (!w->answered && mono_ms() >= deadline) {
			rc = etcd_fail(w->err, w->errlen, -ETIMEDOUT,
				       "etcd %s/v3/watch: no answer in %ld ms",
				       sl_etcd_endpoint(e), e->timeout_ms);
			break;
		}
		mc = curl_multi_poll(multi, NULL, 0, SL_ETCD_WATCH_POLL_MS,
				     NULL);
		if (mc != CURLM_OK)
			break;
	}
	if (mc != CURLM_OK)
		rc = etcd_fail(w->err, w->errlen, -ENOMEM, "etcd: libcurl: %s",
			       curl_multi_strerror(mc));
	else if (w->rc < 0)
		rc = w->rc;
	curl_multi_remove_handle(multi, w->curl);
	curl_easy_cleanup(w->curl);
	curl_multi_cleanup(multi);
	return rc;
}

int
sl_etcd_watch(struct sl_etcd *e, const char *prefix, int64_t start_rev,
	      sl_etcd_watch_fn fn, void *arg, const volatile bool *stop,
	      volatile uint64_t *heard_ms, char *err, size_t errlen)
{
	struct sl_etcd_watch w;
	json_t *create, *req;
	char *body;
	int rc;

	rc = etcd_key_check(e, prefix, true, err, errlen);
	if (rc == 0 && (fn == NULL || start_rev < 1))
		rc = etcd_fail(err, errlen, -EINVAL,
			       "etcd: watch from revision %lld",
			       (long long)start_rev);
	if (rc < 0)
		return rc;
	create = etcd_range_req(prefix, true);
	if (create != NULL &&
	    (json_object_set_new(create, "start_revision",
				 int64_json(start_rev)) < 0 ||
	     json_object_set_new(create, "progress_notify", json_true()) < 0)) {
		json_decref(create);
		create = NULL;
	}
	req = json_pack("{s:o}", "create_request", create);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (body == NULL)
		return etcd_fail(err, errlen, -ENOMEM, "etcd: out of memory");
	e->path = "/v3/watch";
	for (size_t tried = 0; tried < e->n_endpoints; tried++) {
		w = (struct sl_etcd_watch){
			.e = e,
			.fn = fn,
			.arg = arg,
			.heard_ms = heard_ms,
			.start_rev = start_rev,
			.line = {.max = SL_ETCD_LINE_MAX},
			.err = err,
			.errlen = errlen,
		};
		rc = watch_once(&w, body, stop);
		free(w.line.data);
		if (!etcd_unreachable(rc) || w.answered)
			break;
		e->current = (e->current + 1) % e->n_endpoints;
	}
	free(body);
	return rc;
}
