/* capture.h: what a call writes to stderr (fd 2, so log_msg's write(2) is caught as well as
 * fprintf), for the unit tests of start-up messages. Header-only: static functions. */
#ifndef TEST_CAPTURE_H
#define TEST_CAPTURE_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct capture {
	FILE *tmp;
	int saved;
	char text[16384];
};

/* Sends fd 2 to a temporary file until capture_end. */
static void
capture_begin(struct capture *c)
{
	fflush(stderr);
	c->tmp = tmpfile();
	cr_assert(c->tmp, "tmpfile");
	c->saved = dup(2);
	cr_assert(c->saved >= 0 && dup2(fileno(c->tmp), 2) == 2, "dup2");
}

/* Restores fd 2 and returns what was written (NUL-terminated, truncated to the buffer). */
static const char *
capture_end(struct capture *c)
{
	size_t n;
	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	rewind(c->tmp);
	n = fread(c->text, 1, sizeof c->text - 1, c->tmp);
	c->text[n] = '\0';
	fclose(c->tmp);
	return c->text;
}

/* The number of lines in s (a last line without '\n' counts too). */
static int
capture_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		if (*s == '\n' || s[1] == '\0')
			n++;
	return n;
}

#endif
