/* db_fold.c: one transaction of the fold of the zone-aware summaries, computed in the worker
 * (migration 0015, ADR 7 item 14). analytics_take hands over the events it takes and the
 * stored row of each of their users; the keys to give, the first quarters that move, the
 * type counts and the set edits are computed here in hash tables, and only what changed is
 * written back (analytics_users_write, then the sets through analytics_store). */
#include "buf.h"
#include "db.h"
#include "db_internal.h"
#include "db_sets.h"
#include "fnv.h"
#include "log.h"
#include "userset.h"

#include <libpq-fe.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* analytics_take's columns */
enum { TK_KIND, TK_USER, TK_Q, TK_TYPE, TK_KEY, TK_AT, TK_FTYPES, TK_FQS };

/* A first quarter of a user for one type: as stored (orig, NO_Q: none) and after these
 * events (cur). */
#define NO_Q INT32_MIN
struct first {
	uint32_t type;
	int32_t orig, cur;
};

struct fuser {
	const char *at; /* its row (analytics_take's text), NULL when new */
	int64_t key;	/* -1 until given */
	struct first *f;
	uint32_t nf, capf;
};

/* Strings to their index in keys (open addressing; slot = index + 1, 0 empty). */
struct strmap {
	uint32_t *slot;
	size_t cap;
};

static uint32_t *
strmap_slot(const struct strmap *m, const char *const *keys, const char *s)
{
	size_t mask = m->cap - 1, i = fnv1a(FNV1A_SEED, s, strlen(s)) & mask;
	while (m->slot[i] && strcmp(keys[m->slot[i] - 1], s) != 0)
		i = (i + 1) & mask;
	return &m->slot[i];
}

/* Room for 2 * n entries before any rehash. 0, or -1 out of memory. */
static int
strmap_init(struct strmap *m, size_t n)
{
	for (m->cap = 16; m->cap < 2 * n; m->cap *= 2)
		;
	return (m->slot = calloc(m->cap, sizeof *m->slot)) ? 0 : -1;
}

/* 64-bit ids (never 0) to an index (open addressing). */
struct idmap {
	uint64_t *id;
	uint32_t *ix;
	size_t cap, n;
};

static size_t
idmap_pos(const struct idmap *m, uint64_t id)
{
	size_t mask = m->cap - 1, i = (size_t)((id * 0x9E3779B97F4A7C15ull) >> 20) & mask;
	while (m->id[i] && m->id[i] != id)
		i = (i + 1) & mask;
	return i;
}

static int
idmap_init(struct idmap *m, size_t n)
{
	m->n = 0;
	for (m->cap = 16; m->cap < 2 * n; m->cap *= 2)
		;
	m->id = calloc(m->cap, sizeof *m->id);
	m->ix = calloc(m->cap, sizeof *m->ix);
	return m->id && m->ix ? 0 : -1;
}

/* A set edit: keys to put into (or take out of, rm) the sets of kind and type whose blocks
 * hold quarter q. */
struct edit {
	char kind;
	int rm;
	uint32_t type;
	int32_t q;
	uint32_t *keys;
	size_t n, cap;
};

/* An event taken: its user (index in fold's u), type id and quarter. */
struct fevent {
	uint32_t user, type;
	int32_t q;
};

struct fold {
	const PGresult *r;
	struct fevent *ev;
	size_t nev;
	struct fuser *u;
	const char **uid;
	size_t nu;
	struct strmap users;
	char **tname; /* the types seen, owned */
	size_t nt, tcap;
	struct strmap types;
	uint32_t any; /* the type id of '' */
	struct edit *ed;
	size_t ned, edcap;
	struct idmap edits;
	struct idmap counts; /* (quarter, type) to its index in cq/ct/cn */
	int32_t *cq;
	uint32_t *ct;
	int64_t *cn;
	size_t nc, ccap;
};

/* The id of type name s (given one when new). UINT32_MAX out of memory. */
static uint32_t
type_id(struct fold *f, const char *s)
{
	uint32_t *slot = strmap_slot(&f->types, (const char *const *)f->tname, s);
	if (*slot)
		return *slot - 1;
	if (2 * (f->nt + 1) > f->types.cap) {
		free(f->types.slot);
		if (strmap_init(&f->types, 2 * (f->nt + 1)) < 0)
			return UINT32_MAX;
		for (size_t i = 0; i < f->nt; i++)
			*strmap_slot(&f->types, (const char *const *)f->tname, f->tname[i]) =
			    (uint32_t)i + 1;
		slot = strmap_slot(&f->types, (const char *const *)f->tname, s);
	}
	if ((f->nt + 1 > f->tcap && buf_array_reserve(&f->tname, &f->tcap, f->nt, sizeof *f->tname,
						      (size_t)1 << 24) < 0) ||
	    !(f->tname[f->nt] = strdup(s)))
		return UINT32_MAX;
	*slot = (uint32_t)++f->nt;
	return (uint32_t)f->nt - 1;
}

/* u's first quarter of type t seen at q: a first of a new type, or earlier. 0, or -1. */
static int
first_see(struct fuser *u, uint32_t t, int32_t q, int stored)
{
	for (uint32_t i = 0; i < u->nf; i++)
		if (u->f[i].type == t) {
			if (q < u->f[i].cur)
				u->f[i].cur = q;
			return 0;
		}
	if (u->nf + 1 > u->capf) {
		size_t cap = u->capf;
		if (buf_array_reserve(&u->f, &cap, u->nf, sizeof *u->f, (size_t)1 << 20) < 0)
			return -1;
		u->capf = (uint32_t)cap;
	}
	u->f[u->nf++] = (struct first){.type = t, .orig = stored ? q : NO_Q, .cur = q};
	return 0;
}

/* The next element of a one-dimensional text array as PostgreSQL prints it, unescaped into
 * out (reset first). 1, 0 at its end, -1 malformed or out of memory. */
static int
array_next(const char **p, struct buf *out)
{
	const char *s = *p;
	out->len = 0;
	if (*s == '{')
		s++;
	if (*s == '}' || !*s)
		return 0;
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			if (buf_reserve(out, 2) < 0)
				return -1;
			out->p[out->len++] = *s;
		}
		if (*s++ != '"')
			return -1;
	} else {
		for (; *s && *s != ',' && *s != '}'; s++) {
			if (buf_reserve(out, 2) < 0)
				return -1;
			out->p[out->len++] = *s;
		}
	}
	if (buf_reserve(out, 1) < 0)
		return -1;
	out->p[out->len] = '\0';
	if (*s == ',')
		s++;
	*p = s;
	return 1;
}

/* The stored user of row i into f (its key, row and first quarters). 0, or -1. */
static int
user_add(struct fold *f, int i, struct buf *tmp)
{
	const PGresult *r = f->r;
	struct fuser *u = &f->u[f->nu];
	const char *id = PQgetvalue(r, i, TK_USER);
	*u = (struct fuser){.key = -1};
	f->uid[f->nu] = id;
	uint32_t *slot = strmap_slot(&f->users, f->uid, id);
	if (*slot)
		return -1; /* twice: not what analytics_take returns */
	*slot = (uint32_t)++f->nu;
	if (PQgetisnull(r, i, TK_KEY))
		return 0;
	u->key = strtoll(PQgetvalue(r, i, TK_KEY), NULL, 10);
	u->at = PQgetvalue(r, i, TK_AT);
	const char *ts = PQgetvalue(r, i, TK_FTYPES), *qs = PQgetvalue(r, i, TK_FQS);
	int rc;
	while ((rc = array_next(&ts, tmp)) > 0) {
		char *end;
		if (*qs == '{' || *qs == ',')
			qs++;
		long q = strtol(qs, &end, 10);
		uint32_t t = type_id(f, tmp->p);
		if (end == qs || t == UINT32_MAX || first_see(u, t, (int32_t)q, 1) < 0)
			return -1;
		qs = end;
	}
	return rc;
}

/* One more key for the edit (kind, rm, type, q). 0, or -1 out of memory. */
static int
edit_key(struct fold *f, char kind, int rm, uint32_t type, int32_t q, uint32_t key)
{
	uint64_t id = ((uint64_t)(kind == 'c') << 63) | ((uint64_t)rm << 62) |
		      ((uint64_t)type << 32) | (uint32_t)q;
	id = id ? id : 1ull << 61; /* 0 marks an empty slot: ('a', add, type 0, q 0) */
	if (2 * (f->edits.n + 1) > f->edits.cap) {
		struct idmap old = f->edits;
		if (idmap_init(&f->edits, 2 * (old.n + 1)) < 0) {
			free(f->edits.id);
			free(f->edits.ix);
			f->edits = old;
			return -1;
		}
		for (size_t i = 0; i < old.cap; i++)
			if (old.id[i]) {
				size_t at = idmap_pos(&f->edits, old.id[i]);
				f->edits.id[at] = old.id[i];
				f->edits.ix[at] = old.ix[i];
			}
		f->edits.n = old.n;
		free(old.id);
		free(old.ix);
	}
	size_t at = idmap_pos(&f->edits, id);
	if (!f->edits.id[at]) {
		if (f->ned + 1 > f->edcap && buf_array_reserve(&f->ed, &f->edcap, f->ned,
							       sizeof *f->ed, (size_t)1 << 26) < 0)
			return -1;
		f->ed[f->ned] = (struct edit){.kind = kind, .rm = rm, .type = type, .q = q};
		f->edits.id[at] = id;
		f->edits.ix[at] = (uint32_t)f->ned++;
		f->edits.n++;
	}
	struct edit *e = &f->ed[f->edits.ix[at]];
	if (e->n + 1 > e->cap &&
	    buf_array_reserve(&e->keys, &e->cap, e->n, sizeof *e->keys, (size_t)1 << 28) < 0)
		return -1;
	e->keys[e->n++] = key;
	return 0;
}

/* One more event of type t in quarter q. 0, or -1 out of memory. */
static int
count_event(struct fold *f, uint32_t t, int32_t q)
{
	uint64_t id = ((uint64_t)(t + 1) << 32) | (uint32_t)q;
	size_t at = idmap_pos(&f->counts, id);
	if (!f->counts.id[at]) {
		if (2 * (f->counts.n + 1) > f->counts.cap)
			return -1; /* sized for every event at the start: cannot happen */
		if (f->nc + 1 > f->ccap) {
			size_t cap = f->ccap;
			if (buf_array_reserve(&f->cq, &cap, f->nc, sizeof *f->cq, (size_t)1 << 26) <
			    0)
				return -1;
			cap = f->ccap;
			if (buf_array_reserve(&f->ct, &cap, f->nc, sizeof *f->ct, (size_t)1 << 26) <
			    0)
				return -1;
			cap = f->ccap;
			if (buf_array_reserve(&f->cn, &cap, f->nc, sizeof *f->cn, (size_t)1 << 26) <
			    0)
				return -1;
			f->ccap = cap;
		}
		f->cq[f->nc] = q;
		f->ct[f->nc] = t;
		f->cn[f->nc] = 0;
		f->counts.id[at] = id;
		f->counts.ix[at] = (uint32_t)f->nc++;
		f->counts.n++;
	}
	f->cn[f->counts.ix[at]]++;
	return 0;
}

static void
fold_free(struct fold *f)
{
	free(f->ev);
	for (size_t i = 0; i < f->nu; i++)
		free(f->u[i].f);
	free(f->u);
	free(f->uid);
	free(f->users.slot);
	for (size_t i = 0; i < f->nt; i++)
		free(f->tname[i]);
	free(f->tname);
	free(f->types.slot);
	for (size_t i = 0; i < f->ned; i++)
		free(f->ed[i].keys);
	free(f->ed);
	free(f->edits.id);
	free(f->edits.ix);
	free(f->counts.id);
	free(f->counts.ix);
	free(f->cq);
	free(f->ct);
	free(f->cn);
}

/* u's first quarters (after these events) as two array literals, each appended to one of
 * ts and qs as an element. 0, or -1. */
static int
firsts_args(const struct fold *f, const struct fuser *u, struct buf *ts, struct buf *qs,
	    struct buf *tmp)
{
	tmp->len = 0;
	for (uint32_t i = 0; i < u->nf; i++)
		if (db_array_text(tmp, f->tname[u->f[i].type]) < 0)
			return -1;
	if (db_array_close(tmp) < 0 || db_array_text(ts, tmp->p) < 0)
		return -1;
	tmp->len = 0;
	for (uint32_t i = 0; i < u->nf; i++)
		if (db_array_int(tmp, u->f[i].cur) < 0)
			return -1;
	return db_array_close(tmp) < 0 || db_array_text(qs, tmp->p) < 0 ? -1 : 0;
}

/* The writes of analytics_users_write; the new users' keys into f. */
static enum db_status
users_write(struct db *db, struct fold *f)
{
	enum { N_IDS, N_TYPES, N_QS, U_AT, U_TYPES, U_QS, C_Q, C_TYPE, C_N, ARGS };
	struct buf a[ARGS] = {0}, tmp = {0};
	const char *params[ARGS];
	enum db_status st = DB_ERROR;
	PGresult *r = NULL;
	int rc = 0;
	for (size_t i = 0; i < f->nu && rc == 0; i++) {
		const struct fuser *u = &f->u[i];
		int moved = 0;
		for (uint32_t j = 0; j < u->nf; j++)
			moved |= u->f[j].cur != u->f[j].orig;
		if (u->key < 0)
			rc = db_array_text(&a[N_IDS], f->uid[i]) < 0 ||
			     firsts_args(f, u, &a[N_TYPES], &a[N_QS], &tmp) < 0;
		else if (moved)
			rc = db_array_text(&a[U_AT], u->at) < 0 ||
			     firsts_args(f, u, &a[U_TYPES], &a[U_QS], &tmp) < 0;
	}
	for (size_t i = 0; i < f->nc && rc == 0; i++)
		rc = db_array_int(&a[C_Q], f->cq[i]) < 0 ||
		     db_array_text(&a[C_TYPE], f->tname[f->ct[i]]) < 0 ||
		     db_array_int(&a[C_N], (long long)f->cn[i]) < 0;
	for (int c = 0; c < ARGS && rc == 0; c++) {
		rc = db_array_close(&a[c]);
		params[c] = a[c].p;
	}
	if (rc) {
		db_set_error(db, "analytics_users_write", "out of memory");
		goto out;
	}
	r = PQexecPrepared(db->conn, "analytics_users_write", ARGS, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		st = db_failure(db, "analytics_users_write", r);
		goto out;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		uint32_t *slot = strmap_slot(&f->users, f->uid, PQgetvalue(r, i, 0));
		if (*slot)
			f->u[*slot - 1].key = strtoll(PQgetvalue(r, i, 1), NULL, 10);
	}
	st = DB_OK;
	for (size_t i = 0; i < f->nu; i++)
		if (f->u[i].key < 0) {
			db_set_error(db, "analytics_users_write", "a new user was given no key");
			st = DB_ERROR;
			break;
		}
out:
	PQclear(r);
	for (int c = 0; c < ARGS; c++)
		buf_free(&a[c]);
	buf_free(&tmp);
	return st;
}

/* The edits: cohorts (a first quarter that is new or earlier: the key out of the old
 * quarter's sets, into the new one's) and activity (every event, of its type and of any). */
static int
edits_build(struct fold *f)
{
	for (size_t i = 0; i < f->nu; i++) {
		const struct fuser *u = &f->u[i];
		for (uint32_t j = 0; j < u->nf; j++) {
			const struct first *x = &u->f[j];
			if (x->cur == x->orig)
				continue;
			if ((x->orig != NO_Q &&
			     edit_key(f, 'c', 1, x->type, x->orig, (uint32_t)u->key) < 0) ||
			    edit_key(f, 'c', 0, x->type, x->cur, (uint32_t)u->key) < 0)
				return -1;
		}
	}
	for (size_t i = 0; i < f->nev; i++) {
		const struct fevent *e = &f->ev[i];
		uint32_t key = (uint32_t)f->u[e->user].key;
		if (edit_key(f, 'a', 0, e->type, e->q, key) < 0 ||
		    edit_key(f, 'a', 0, f->any, e->q, key) < 0)
			return -1;
	}
	return 0;
}

/* Reads the sets the edits change, applies the edits (every key taken out before any is put
 * in) and stores those that changed. */
static enum db_status
edits_apply(struct db *db, struct fold *f)
{
	static const int levels[] = {1, 4, 24};
	struct buf a[4] = {0};
	const char *params[4];
	struct store_args sa = {0};
	enum db_status st = DB_ERROR;
	PGresult *r = NULL;
	struct target *t = NULL;
	size_t nt = 0;
	int rc = 0;
	for (size_t i = 0; i < f->ned && rc == 0; i++) {
		int k = f->ed[i].kind == 'c' ? 2 : 0;
		rc = db_array_text(&a[k], f->tname[f->ed[i].type]) < 0 ||
		     db_array_int(&a[k + 1], f->ed[i].q) < 0;
	}
	for (int c = 0; c < 4 && rc == 0; c++) {
		rc = db_array_close(&a[c]);
		params[c] = a[c].p;
	}
	if (rc) {
		db_set_error(db, "analytics_sets_of", "out of memory");
		goto out;
	}
	r = PQexecPrepared(db->conn, "analytics_sets_of", 4, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		st = db_failure(db, "analytics_sets_of", r);
		goto out;
	}
	if (!(t = db_targets_new(r, &nt)))
		goto oom;
	for (int pass = 1; pass >= 0; pass--)
		for (size_t i = 0; i < f->ned; i++) {
			const struct edit *e = &f->ed[i];
			if (e->rm != pass)
				continue;
			for (int l = 0; l < 3; l++) {
				struct target *x =
				    db_target_find(r, t, nt, e->kind, f->tname[e->type], levels[l],
						   db_qblock(e->q, levels[l]));
				if (!x)
					goto damaged;
				for (size_t k = 0; k < e->n; k++)
					x->changed +=
					    (size_t)(pass ? userset_remove(x->s, e->keys[k])
							  : userset_add(x->s, e->keys[k]));
			}
		}
	rc = db_targets_store(r, t, nt, &sa);
	t = NULL;
	if (rc < 0)
		goto oom;
	/* events were taken, so type_counts changed even when no set did: the token changes
	 * too (analytics_store bumps it), or a kept top-events answer would outlive them */
	st = sa.a[0].len > 0
		 ? db_sets_store(db, &sa)
		 : db_exec_ok(db, "UPDATE analytics_gen SET g = g + 1", PGRES_COMMAND_OK);
	goto out;
damaged:
	db_set_error(db, "analytics_sets_of", "a stored user set is damaged or missing");
	log_msg(LOGL_ERROR, "db", "%s", db->err);
	goto out;
oom:
	db_set_error(db, "analytics_sets_of", "out of memory");
out:
	if (t) {
		for (size_t j = 0; j < nt; j++)
			t[j].changed = 0;
		db_targets_store(r, t, nt, &sa);
	}
	PQclear(r);
	for (int c = 0; c < 4; c++)
		buf_free(&a[c]);
	for (int c = 0; c < STORE_ARGS; c++)
		buf_free(&sa.a[c]);
	return st;
}

/* In the open transaction: one fold of the pending events of a range of quarters below a
 * page (analytics_take).
 * *next = the 'n' row's next page (-2 without: nothing was pending). */
enum db_status
db_fold_take(struct db *db, const char *const *params, int64_t *next)
{
	struct fold f = {0};
	struct buf tmp = {0};
	enum db_status st = DB_ERROR;
	size_t ne = 0, nu = 0;
	PGresult *r = PQexecPrepared(db->conn, "analytics_take", 4, params, NULL, NULL, 0);
	*next = -2;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		st = db_failure(db, "analytics_take", r);
		PQclear(r);
		return st;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		char k = *PQgetvalue(r, i, TK_KIND);
		if (k == 'n')
			*next = strtoll(PQgetvalue(r, i, TK_Q), NULL, 10);
		ne += k == 'e';
		nu += k == 'u';
	}
	if (!ne) {
		PQclear(r);
		return DB_OK;
	}
	f.r = r;
	if (!(f.ev = calloc(ne, sizeof *f.ev)) || !(f.u = calloc(nu, sizeof *f.u)) ||
	    !(f.uid = calloc(nu, sizeof *f.uid)) || strmap_init(&f.users, nu) < 0 ||
	    strmap_init(&f.types, 16) < 0 || idmap_init(&f.edits, 64) < 0 ||
	    idmap_init(&f.counts, ne) < 0 || (f.any = type_id(&f, "")) == UINT32_MAX)
		goto oom;
	for (int i = 0; i < PQntuples(r); i++)
		if (*PQgetvalue(r, i, TK_KIND) == 'u' && user_add(&f, i, &tmp) < 0)
			goto oom;
	for (int i = 0; i < PQntuples(r); i++) {
		if (*PQgetvalue(r, i, TK_KIND) != 'e')
			continue;
		uint32_t *slot = strmap_slot(&f.users, f.uid, PQgetvalue(r, i, TK_USER));
		uint32_t t = type_id(&f, PQgetvalue(r, i, TK_TYPE));
		int32_t q = (int32_t)strtol(PQgetvalue(r, i, TK_Q), NULL, 10);
		if (!*slot || t == UINT32_MAX)
			goto oom;
		struct fuser *u = &f.u[*slot - 1];
		f.ev[f.nev++] = (struct fevent){.user = *slot - 1, .type = t, .q = q};
		if (first_see(u, t, q, 0) < 0 || first_see(u, f.any, q, 0) < 0 ||
		    count_event(&f, t, q) < 0)
			goto oom;
	}
	if ((st = users_write(db, &f)) != DB_OK)
		goto out;
	if (edits_build(&f) < 0)
		goto oom;
	st = edits_apply(db, &f);
	goto out;
oom:
	db_set_error(db, "analytics_take",
		     "out of memory, or rows not as analytics_take gives them");
	log_msg(LOGL_ERROR, "db", "%s", db->err);
	st = DB_ERROR;
out:
	fold_free(&f);
	buf_free(&tmp);
	PQclear(r);
	return st;
}
