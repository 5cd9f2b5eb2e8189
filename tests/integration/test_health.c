/* test_health.c: GET /healthz with the database up. */
#include <string.h>

#include <criterion/criterion.h>

#include "client.h"

Test(health, ok, .timeout = 30)
{
	struct http_resp r;

	expect_get_json(&r, "/healthz");
	cr_assert(jstr_is(r.json, "status", "ok"),
		  "GET /healthz: expected \"status\": \"ok\", got %s", r.body);
	cr_assert(jstr_is(r.json, "db", "ok"), "GET /healthz: expected \"db\": \"ok\", got %s",
		  r.body);
	http_resp_free(&r);
}

/* GET / (the first URL make run prints) is a small JSON index, not a 404; every route it lists
 * is known to the service (not 404); other methods get 405 JSON. */
Test(health, root_index, .timeout = 30)
{
	struct http_resp r;
	expect_get_json(&r, "/");
	cr_expect(jstr_is(r.json, "docs", "/docs"), "GET /: names /docs: %s", r.body);
	json_object *routes = jget(r.json, "routes");
	cr_assert(routes && json_object_is_type(routes, json_type_array), "routes: %s", r.body);
	for (size_t i = 0; i < json_object_array_length(routes); i++) {
		const char *route = json_object_get_string(json_object_array_get_idx(routes, i));
		const char *path = strchr(route, ' ');
		cr_assert(path, "route '%s' is METHOD PATH", route);
		struct http_resp q;
		http_request(&q, strncmp(route, "POST", 4) == 0 ? "POST" : "GET", path + 1,
			     "application/json", "", 0, NULL);
		cr_expect(q.status != 404 && q.status != 0, "%s is a route of the service: %ld",
			  route, q.status);
		http_resp_free(&q);
	}
	http_resp_free(&r);
	http_request(&r, "POST", "/", "application/json", "[]", 2, NULL);
	cr_expect_eq(r.status, 405, "POST /: %ld", r.status);
	expect_json_response(&r, "POST /");
	cr_expect(r.allow && strcmp(r.allow, "GET, HEAD") == 0, "POST /: Allow: %s",
		  r.allow ? r.allow : "(none)");
	http_resp_free(&r);
}
