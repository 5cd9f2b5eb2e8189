/* gen_csv: realistic, deterministic event CSVs for tests and benchmarks.
 *
 *   gen_csv OUT|- --rows N [--users U] [--start YYYY-MM-DD] [--days D] [--seed S]
 *           [--dup-rate F] [--bad-rate F] [--user-prefix P]
 *
 * The same arguments give the same bytes (event ids included). The shape follows
 * data/events_sample.csv: users arrive over the period in daily cohorts (fewer at weekends),
 * per-user activity is heavy-tailed (Pareto), activity decays with the days since a user
 * arrived, event types have skewed frequencies and type-specific properties, and timestamps
 * carry mixed offsets (+03:00, Z, -05:00). --dup-rate repeats an earlier row verbatim;
 * --bad-rate writes invalid rows of several kinds. User ids are 1..U, or P1..PU with
 * --user-prefix (tests use it to keep their users apart from the sample's). Rows are built in a
 * buffer by hand (no printf on the hot path): well over a million rows per second to a file. */
#include "event.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OUT_BUF = 1 << 20, RING = 1024, SLOT = 512, BAD_KINDS = 7 };

struct opts {
	const char *out;
	const char *user_prefix;
	uint64_t rows, users, seed;
	int64_t start_day;
	int days;
	double dup_rate, bad_rate;
};

/* xoshiro256** seeded with splitmix64: fast, and the same everywhere. */
struct rng {
	uint64_t s[4];
};

static uint64_t
splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
next(struct rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1). */
static double
unif(struct rng *r)
{
	return (double)(next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n). */
static uint64_t
below(struct rng *r, uint64_t n)
{
	return (uint64_t)(unif(r) * (double)n);
}

/* Index of the first cum[i] > x (cum ascending, cum[n-1] the total). */
static size_t
pick(const double *cum, size_t n, double x)
{
	size_t lo = 0, hi = n - 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cum[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* --- output buffer ------------------------------------------------------------------------ */

struct out {
	FILE *f;
	char *p;
	size_t len;
	int err;
};

static void
out_flush(struct out *o)
{
	if (o->len && fwrite(o->p, 1, o->len, o->f) != o->len)
		o->err = errno ? errno : EIO;
	o->len = 0;
}

static inline void
put_s(struct out *o, const char *s, size_t n)
{
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

#define PUT_LIT(o, lit) put_s((o), (lit), sizeof(lit) - 1)

static inline void
put_c(struct out *o, char c)
{
	o->p[o->len++] = c;
}

static void
put_u(struct out *o, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		put_c(o, tmp[--n]);
}

/* v with exactly width digits (zero-padded). */
static void
put_w(struct out *o, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		o->p[o->len + (size_t)i] = (char)('0' + v % 10);
		v /= 10;
	}
	o->len += (size_t)width;
}

static const char hexd[] = "0123456789abcdef";

static void
put_hex(struct out *o, uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--) {
		o->p[o->len + (size_t)i] = hexd[v & 15];
		v >>= 4;
	}
	o->len += (size_t)digits;
}

/* cents as "123.45" */
static void
put_money(struct out *o, uint64_t cents)
{
	put_u(o, cents / 100);
	put_c(o, '.');
	put_w(o, cents % 100, 2);
}

static void
put_uuid(struct out *o, struct rng *r)
{
	uint64_t a = next(r), b = next(r);
	a = (a & ~0xF000ULL) | 0x4000ULL;			 /* version 4 */
	b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; /* variant 10 */
	put_hex(o, a >> 32, 8);
	put_c(o, '-');
	put_hex(o, (a >> 16) & 0xFFFF, 4);
	put_c(o, '-');
	put_hex(o, a & 0xFFFF, 4);
	put_c(o, '-');
	put_hex(o, b >> 48, 4);
	put_c(o, '-');
	put_hex(o, b & 0xFFFFFFFFFFFFULL, 12);
}

/* --- the model ---------------------------------------------------------------------------- */

enum etype { T_APP_OPEN, T_VIEW_ITEM, T_MESSAGE, T_CART, T_LOGIN, T_PURCHASE, T_LOGOUT, T__MAX };

static const char *const type_names[T__MAX] = {
    "app_open", "view_item", "message_sent", "add_to_cart", "login", "purchase", "logout"};
static const double type_weights[T__MAX] = {30.5, 24.6, 17.8, 11.8, 5.7, 5.3, 4.3};

static const char *const countries[] = {"US", "DE", "PL", "GB", "FR", "NL", "SE", "IT",
					"ES", "RO", "UA", "KZ", "BR", "IN", "JP", "CA"};
static const double country_weights[] = {22, 12, 10, 9, 7, 6, 5, 5, 5, 4, 4, 3, 3, 2, 2, 1};
enum { NCOUNTRY = sizeof countries / sizeof countries[0] };

/* share of events per UTC hour: low at night, peaks in the evening */
static const double hour_weights[24] = {2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6,
					6, 6, 6, 6, 7, 8, 9, 9, 8, 6, 4, 3};

struct model {
	double *user_cum; /* cumulative activity weight of users 1..U */
	int *arrival;	  /* day (0-based) each user arrives */
	double type_cum[T__MAX], country_cum[NCOUNTRY], hour_cum[24];
};

static void
cumulate(double *cum, const double *w, size_t n)
{
	double t = 0;
	for (size_t i = 0; i < n; i++)
		cum[i] = t += w[i];
}

/* Arrival day of a user: daily cohorts, weekend days at 60%. */
static int
arrival_day(struct rng *r, const struct opts *o)
{
	for (;;) {
		int d = (int)below(r, (uint64_t)o->days);
		int64_t dow =
		    (o->start_day + d + 3) % 7; /* 0 = Monday (1970-01-01 was a Thursday) */
		if (dow < 5 || unif(r) < 0.6)
			return d;
	}
}

static int
model_init(struct model *m, const struct opts *o, struct rng *r)
{
	m->user_cum = malloc(o->users * sizeof *m->user_cum);
	m->arrival = malloc(o->users * sizeof *m->arrival);
	if (!m->user_cum || !m->arrival)
		return -1;
	double t = 0;
	for (uint64_t u = 0; u < o->users; u++) {
		double w = pow(1.0 - unif(r), -1.0 / 1.16); /* Pareto, alpha 1.16: 80/20 */
		m->user_cum[u] = t += w < 2000 ? w : 2000;
		m->arrival[u] = arrival_day(r, o);
	}
	cumulate(m->type_cum, type_weights, T__MAX);
	cumulate(m->country_cum, country_weights, NCOUNTRY);
	cumulate(m->hour_cum, hour_weights, 24);
	return 0;
}

static size_t
pick_w(struct rng *r, const double *cum, size_t n)
{
	return pick(cum, n, unif(r) * cum[n - 1]);
}

/* UTC instant (seconds since the epoch) of an event of user u: the day decays as 1/(1+k)
 * with the days k since the user arrived; the hour follows hour_weights. */
static int64_t
event_time(struct rng *r, const struct model *m, const struct opts *o, uint64_t u)
{
	int rem = o->days - m->arrival[u];
	int k = (int)floor(exp(unif(r) * log((double)rem + 1.0))) - 1;
	if (k < 0)
		k = 0;
	if (k >= rem)
		k = rem - 1;
	int64_t day = o->start_day + m->arrival[u] + k;
	int64_t hour = (int64_t)pick_w(r, m->hour_cum, 24);
	return day * 86400 + hour * 3600 + (int64_t)below(r, 3600);
}

/* occurred_at with a mixed offset: +03:00 60%, Z 30%, -05:00 10%. */
static void
put_time(struct out *o, struct rng *r, int64_t t)
{
	double x = unif(r);
	int off = x < 0.6 ? 180 : x < 0.9 ? 0 : -300;
	int64_t local = t + off * 60, days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	int64_t sec = local - days * 86400, y;
	unsigned mo, d;
	event_civil_from_days(days, &y, &mo, &d);
	put_w(o, (uint64_t)y, 4);
	put_c(o, '-');
	put_w(o, mo, 2);
	put_c(o, '-');
	put_w(o, d, 2);
	put_c(o, 'T');
	put_w(o, (uint64_t)(sec / 3600), 2);
	put_c(o, ':');
	put_w(o, (uint64_t)(sec / 60 % 60), 2);
	put_c(o, ':');
	put_w(o, (uint64_t)(sec % 60), 2);
	if (off == 0)
		put_c(o, 'Z');
	else if (off > 0)
		PUT_LIT(o, "+03:00");
	else
		PUT_LIT(o, "-05:00");
}

/* The properties of one event, written with CSV quote doubling (""key""). */
static void
put_props(struct out *o, struct rng *r, const struct model *m, enum etype t, uint64_t u)
{
	static const char *const methods[] = {"password", "google", "apple"};
	static const char *const channels[] = {"direct", "group", "channel"};
	static const char *const pay[] = {"card", "paypal", "apple_pay"};
	static const char *const os[] = {"iOS", "Android", "Web"};
	size_t c = pick(m->country_cum, NCOUNTRY,
			(double)((u * 2654435761u) % 1000) / 1000.0 * m->country_cum[NCOUNTRY - 1]);
	PUT_LIT(o, "\"{\"\"country\"\":\"\"");
	put_s(o, countries[c], 2);
	PUT_LIT(o, "\"\",\"\"session_id\"\":\"\"");
	put_hex(o, next(r), 8);
	put_c(o, '"');
	put_c(o, '"');
	switch (t) {
	case T_APP_OPEN:
		PUT_LIT(o, ",\"\"app_version\"\":\"\"1.");
		put_u(o, 5 + below(r, 5));
		put_c(o, '.');
		put_u(o, below(r, 10));
		PUT_LIT(o, "\"\",\"\"os\"\":\"\"");
		put_s(o, os[u % 3], strlen(os[u % 3]));
		put_c(o, '"');
		put_c(o, '"');
		break;
	case T_VIEW_ITEM:
	case T_CART:
		PUT_LIT(o, ",\"\"item_id\"\":\"\"SKU");
		put_w(o, 1000 + (uint64_t)(9000 * pow(unif(r), 2)), 4);
		put_c(o, '"');
		put_c(o, '"');
		if (t == T_CART) {
			PUT_LIT(o, ",\"\"qty\"\":");
			put_u(o, 1 + below(r, 3));
		} else {
			PUT_LIT(o, ",\"\"price\"\":");
			put_money(o, 199 + below(r, 30000));
			PUT_LIT(o, ",\"\"currency\"\":\"\"USD\"\"");
		}
		break;
	case T_MESSAGE:
		PUT_LIT(o, ",\"\"length\"\":");
		put_u(o, 1 + below(r, 500));
		PUT_LIT(o, ",\"\"channel\"\":\"\"");
		c = below(r, 3);
		put_s(o, channels[c], strlen(channels[c]));
		put_c(o, '"');
		put_c(o, '"');
		break;
	case T_PURCHASE:
		PUT_LIT(o, ",\"\"order_id\"\":\"\"");
		put_uuid(o, r);
		PUT_LIT(o, "\"\",\"\"amount\"\":");
		put_money(o, 999 + below(r, 50000));
		PUT_LIT(o, ",\"\"currency\"\":\"\"USD\"\",\"\"payment_method\"\":\"\"");
		put_s(o, pay[u % 3], strlen(pay[u % 3]));
		PUT_LIT(o, "\"\",\"\"items\"\":");
		put_u(o, 1 + below(r, 4));
		break;
	default: /* login, logout */
		PUT_LIT(o, ",\"\"method\"\":\"\"");
		put_s(o, methods[u % 3], strlen(methods[u % 3]));
		put_c(o, '"');
		put_c(o, '"');
		break;
	}
	PUT_LIT(o, "}\"");
}

/* One valid row, with its line end. */
static void
put_row(struct out *o, struct rng *r, const struct model *m, const struct opts *op)
{
	uint64_t u = pick(m->user_cum, op->users, unif(r) * m->user_cum[op->users - 1]);
	enum etype t = (enum etype)pick_w(r, m->type_cum, T__MAX);
	put_uuid(o, r);
	put_c(o, ',');
	put_time(o, r, event_time(r, m, op, u));
	put_c(o, ',');
	put_s(o, op->user_prefix, strlen(op->user_prefix));
	put_u(o, u + 1);
	put_c(o, ',');
	put_s(o, type_names[t], strlen(type_names[t]));
	put_c(o, ',');
	put_props(o, r, m, t, u);
	put_c(o, '\n');
}

/* One invalid row of a kind chosen at random: a bad UUID, an impossible date, an empty
 * user_id, unquoted JSON, malformed JSON, a missing field, a control character. */
static void
put_bad(struct out *o, struct rng *r, const struct model *m, const struct opts *op)
{
	size_t start = o->len;
	put_row(o, r, m, op);
	char *row = o->p + start, *c1 = memchr(row, ',', o->len - start);
	char *c2 = memchr(c1 + 1, ',', o->len - start - (size_t)(c1 + 1 - row));
	char *c3 = memchr(c2 + 1, ',', o->len - start - (size_t)(c2 + 1 - row));
	char *c4 = memchr(c3 + 1, ',', o->len - start - (size_t)(c3 + 1 - row));
	switch (below(r, BAD_KINDS)) {
	case 0: /* a UUID with a non-hex digit */
		row[3] = 'g';
		break;
	case 1: /* February 30th */
		memcpy(c1 + 6, "02-30", 5);
		break;
	case 2: /* empty user_id */
		memmove(c2 + 1, c3, (size_t)(o->p + o->len - c3));
		o->len -= (size_t)(c3 - c2 - 1);
		break;
	case 3: /* JSON that was not quoted: its commas split it */
		o->len = (size_t)(c4 - o->p) + 1;
		PUT_LIT(o, "{\"country\":\"PL\",\"session_id\":\"0badc0de\"}\n");
		break;
	case 4: /* JSON cut short */
		o->len = (size_t)(c4 - o->p) + 1;
		PUT_LIT(o, "\"{\"\"country\"\":\"\"PL\"\"\"\n");
		break;
	case 5: /* four fields */
		o->len = (size_t)(c4 - o->p);
		put_c(o, '\n');
		break;
	default: /* a control character in event_type */
		c3[1] = '\x01';
		break;
	}
}

/* --- main --------------------------------------------------------------------------------- */

static const char usage_text[] =
    "usage: gen_csv OUT|- --rows N [--users U] [--start YYYY-MM-DD] [--days D] [--seed S]\n"
    "               [--dup-rate F] [--bad-rate F] [--user-prefix P]\n"
    "\n"
    "Writes N synthetic events in the CSV format import_events loads (header\n"
    "event_id,occurred_at,user_id,event_type,properties_json) to OUT, or stdout for -.\n"
    "Deterministic for the same options. Touches no database.\n"
    "\n"
    "  --rows N          rows to write (required)\n"
    "  --users U        distinct users, ids 1..U (default N/10, at least 1)\n"
    "  --start DATE     first day of the period (default 2025-08-01)\n"
    "  --days D         length of the period, 1..3650 (default 30)\n"
    "  --seed S         random seed (default 1)\n"
    "  --dup-rate F     share of rows that repeat an earlier row verbatim, 0..1 (default 0)\n"
    "  --bad-rate F     share of invalid rows of several kinds, 0..1 (default 0)\n"
    "  --user-prefix P  user ids P1..PU instead of 1..U\n"
    "  -h, --help       this text\n"
    "\n"
    "Exit status: 0 written, 1 bad arguments or a write error.\n";

static int
usage(void)
{
	fputs(usage_text, stderr);
	return 1;
}

static int
num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
rate(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0 && v <= 1))
		return -1;
	*out = v;
	return 0;
}

/* One option with its value; -1 (message printed) when bad. */
static int
option(struct opts *o, const char *name, const char *v)
{
	uint64_t n;
	const char *why;
	int ok = 0;
	if (!strcmp(name, "--rows"))
		ok = num(v, 0, UINT64_C(1) << 40, &o->rows) == 0;
	else if (!strcmp(name, "--users"))
		ok = num(v, 1, 100000000, &o->users) == 0;
	else if (!strcmp(name, "--days"))
		ok = num(v, 1, 3650, &n) == 0 && (o->days = (int)n);
	else if (!strcmp(name, "--seed"))
		ok = num(v, 0, UINT64_MAX, &o->seed) == 0;
	else if (!strcmp(name, "--start"))
		ok = event_date_parse(v, strlen(v), &o->start_day, &why) == 0;
	else if (!strcmp(name, "--dup-rate"))
		ok = rate(v, &o->dup_rate) == 0;
	else if (!strcmp(name, "--bad-rate"))
		ok = rate(v, &o->bad_rate) == 0;
	else if (!strcmp(name, "--user-prefix"))
		ok = strlen(v) <= 64 && !strpbrk(v, ",\"\r\n") && (o->user_prefix = v);
	else
		return fprintf(stderr, "gen_csv: unknown option %s\n", name), -1;
	if (!ok)
		fprintf(stderr, "gen_csv: %s: bad value '%s'\n", name, v);
	return ok ? 0 : -1;
}

static int
parse(int argc, char **argv, struct opts *o)
{
	int rows_given = 0;
	*o = (struct opts){.seed = 1, .days = 30, .user_prefix = ""};
	o->start_day = event_days_from_civil(2025, 8, 1);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (argv[i][0] == '-' && argv[i][1] == '-') {
			if (i + 1 >= argc || option(o, argv[i], argv[i + 1]) < 0)
				return usage();
			rows_given |= !strcmp(argv[i], "--rows");
			i++;
		} else if (o->out) {
			return usage();
		} else {
			o->out = argv[i];
		}
	}
	if (!o->out || !rows_given)
		return usage();
	if (!o->users)
		o->users = o->rows / 10 ? o->rows / 10 : 1;
	if (o->start_day + o->days > event_days_from_civil(9999, 12, 31))
		return fprintf(stderr, "gen_csv: the period runs past 9999-12-31\n"), 1;
	return 0;
}

/* Writes a row: a repeat of a recent row, an invalid row, or a fresh one. The last RING rows
 * are kept for repeats, so memory stays flat. */
static void
one_row(struct out *o, struct rng *r, const struct model *m, const struct opts *op,
	char (*ring)[SLOT], uint16_t *ring_len, uint64_t *kept)
{
	double x = unif(r);
	size_t start = o->len;
	if (x < op->dup_rate && *kept) {
		uint64_t k = below(r, *kept < RING ? *kept : RING);
		put_s(o, ring[k], ring_len[k]);
		return;
	}
	if (x < op->dup_rate + op->bad_rate) {
		put_bad(o, r, m, op);
		return;
	}
	put_row(o, r, m, op);
	if (o->len - start <= SLOT) {
		uint64_t k = *kept % RING;
		memcpy(ring[k], o->p + start, o->len - start);
		ring_len[k] = (uint16_t)(o->len - start);
		(*kept)++;
	}
}

static int
generate(const struct opts *op, FILE *f)
{
	struct rng r;
	struct model m = {0};
	struct out o = {.f = f, .p = malloc(OUT_BUF + 4096)};
	char(*ring)[SLOT] = malloc(RING * SLOT);
	uint16_t *ring_len = malloc(RING * sizeof *ring_len);
	uint64_t seed = op->seed, kept = 0;
	int rc = -1;
	for (int i = 0; i < 4; i++)
		r.s[i] = splitmix(&seed);
	if (!o.p || !ring || !ring_len || model_init(&m, op, &r) < 0)
		goto out;
	PUT_LIT(&o, "event_id,occurred_at,user_id,event_type,properties_json\n");
	for (uint64_t i = 0; i < op->rows && !o.err; i++) {
		one_row(&o, &r, &m, op, ring, ring_len, &kept);
		if (o.len >= OUT_BUF)
			out_flush(&o);
	}
	out_flush(&o);
	rc = o.err ? -1 : 0;
out:
	free(o.p);
	free(ring);
	free(ring_len);
	free(m.user_cum);
	free(m.arrival);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts op;
	FILE *f;
	int rc = parse(argc, argv, &op);
	if (rc)
		return rc;
	f = strcmp(op.out, "-") ? fopen(op.out, "wb") : stdout;
	if (!f) {
		fprintf(stderr, "gen_csv: %s: %s\n", op.out, strerror(errno));
		return 1;
	}
	rc = generate(&op, f);
	if (fflush(f) != 0 || rc < 0) {
		fprintf(stderr, "gen_csv: %s: %s\n", op.out, strerror(errno ? errno : EIO));
		rc = 1;
	}
	if (f != stdout && fclose(f) != 0)
		rc = 1;
	return rc;
}
