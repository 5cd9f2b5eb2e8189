/* test_health.c: GET /healthz with the database up. */
#include <string.h>

#include <criterion/criterion.h>

#include "client.h"

Test(health, ok, .timeout = 30)
{
	struct http_resp r;

	http_get(&r, "/healthz");
	cr_assert_eq(r.status, 200, "GET /healthz: expected 200, got %ld %.300s", r.status, r.body);
	expect_json_response(&r, "GET /healthz");
	cr_assert(jstr(r.json, "status") && strcmp(jstr(r.json, "status"), "ok") == 0,
		  "GET /healthz: expected \"status\": \"ok\", got %s", r.body);
	cr_assert(jstr(r.json, "db") && strcmp(jstr(r.json, "db"), "ok") == 0,
		  "GET /healthz: expected \"db\": \"ok\", got %s", r.body);
	http_resp_free(&r);
}
