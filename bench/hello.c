/* hello: the smallest useful libfcgi responder, for measuring the request path's ceiling
 * (nginx + FastCGI + libfcgi) on this machine. Not part of the service. tools/bench.sh starts
 * it like the pool (spawn-fcgi -n, listening socket on fd 0) behind the service's own nginx
 * config; it forks WORKERS copies of itself so both sides have the same number of processes. */
#include <fcgiapp.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--check-config") == 0)
		return 0; /* tools/stack.sh asks before starting anything */
	const char *w = getenv("WORKERS");
	int n = w ? atoi(w) : 4;
	for (int i = 1; i < n; i++)
		if (fork() == 0)
			break;
	static const char body[] = "{\"status\":\"ok\",\"db\":\"ok\"}";
	FCGX_Request r;
	if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_PutS("Status: 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
			  "Content-Length: 25\r\n\r\n",
			  r.out);
		FCGX_PutStr(body, (int)strlen(body), r.out);
		FCGX_Finish_r(&r);
	}
	return 0;
}
