/* A streaming multipart/form-data reader (RFC 7578, RFC 2046 5.1): the
 * body is scanned once for the delimiter CRLF "--" boundary, with no
 * buffer but the part headers: a partial match that spans two chunks is
 * a prefix of the delimiter, so its bytes are known without keeping them.
 *
 * Invariant: the boundary holds no CR (checked), so a mismatch inside a
 * partial match can restart a match only at the current byte. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/mem.h"
#include "dataset/ds.h"

#define BOUNDARY_MAX 70 /* RFC 2046 */

enum st { PREAMBLE, AFTER_DELIM, AFTER_DASH, AFTER_CR, HEADERS, BODY, EPILOGUE, FAILED };

struct ds_mp {
	ds_mp_cb cb;
	void *ud;
	char delim[BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
	size_t dlen, m;               /* delimiter bytes matched so far */
	enum st st;
	char hdr[DS_MP_HEADERS_MAX + 1];
	size_t hlen;
	int rc;
};

/* The boundary parameter of a Content-Type, quoted or not, into out. */
static int get_boundary(const char *ct, char *out, size_t outlen)
{
	const char *p = ct;
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n != 19 || strncasecmp(ct, "multipart/form-data", 19) != 0)
		return -EINVAL;
	while ((p = strchr(p, ';'))) {
		p++;
		p += strspn(p, " \t");
		if (strncasecmp(p, "boundary=", 9) != 0)
			continue;
		p += 9;
		size_t len;
		if (*p == '"') {
			p++;
			len = strcspn(p, "\"");
			if (p[len] != '"')
				return -EINVAL;
		} else {
			len = strcspn(p, "; \t");
		}
		if (len == 0 || len > BOUNDARY_MAX || len >= outlen)
			return -EINVAL;
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
				return -EINVAL;
		memcpy(out, p, len);
		out[len] = '\0';
		return 0;
	}
	return -EINVAL;
}

int ds_mp_new(const char *content_type, const ds_mp_cb *cb, void *ud, ds_mp **out)
{
	char b[BOUNDARY_MAX + 1];
	if (!content_type || get_boundary(content_type, b, sizeof b))
		return -EINVAL;
	ds_mp *m = xcalloc(1, sizeof *m);
	m->cb = *cb;
	m->ud = ud;
	m->dlen = (size_t)snprintf(m->delim, sizeof m->delim, "\r\n--%s", b);
	/* The body starts with the boundary, without the CRLF before it. */
	m->m = 2;
	m->st = PREAMBLE;
	*out = m;
	return 0;
}

void ds_mp_free(ds_mp **m)
{
	xfree(m);
}

/* One parameter (name="value" or name=value) of a Content-Disposition
 * into a new string, or NULL. */
static char *disp_param(const char *h, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = strchr(h, ';'); p; p = strchr(p, ';')) {
		p++;
		p += strspn(p, " \t");
		if (strncasecmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		if (*p != '"')
			return xstrndup(p, strcspn(p, "; \t"));
		char *v = xmalloc(strlen(p) + 1);
		size_t n = 0;
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			v[n++] = *p;
		}
		v[n] = '\0';
		if (*p != '"') {
			free(v);
			return NULL;
		}
		return v;
	}
	return NULL;
}

/* The headers of a part are complete in m->hdr: report its beginning. */
static int part_begin(ds_mp *m)
{
	char *name = NULL, *filename = NULL, *ctype = NULL;
	int rc = 0, have_disp = 0;
	m->hdr[m->hlen] = '\0';
	for (char *line = m->hdr, *next; *line && rc == 0; line = next) {
		char *eol = strstr(line, "\r\n");
		if (!eol)
			break;
		*eol = '\0';
		next = eol + 2;
		if (!*line)
			break;
		char *colon = strchr(line, ':');
		if (!colon) {
			rc = -EBADMSG;
			break;
		}
		*colon = '\0';
		char *v = colon + 1 + strspn(colon + 1, " \t");
		if (strcasecmp(line, "Content-Disposition") == 0) {
			if (have_disp++ || strncasecmp(v, "form-data", 9) != 0) {
				rc = -EBADMSG;
				break;
			}
			name = disp_param(v, "name");
			filename = disp_param(v, "filename");
		} else if (strcasecmp(line, "Content-Type") == 0 && !ctype) {
			ctype = xstrdup(v);
		}
	}
	if (rc == 0 && !name)
		rc = -EBADMSG; /* RFC 7578 4.2: every part names its field */
	if (rc == 0 && m->cb.begin)
		rc = m->cb.begin(m->ud, name, filename, ctype);
	free(name);
	free(filename);
	free(ctype);
	return rc;
}

static int emit(ds_mp *m, const char *p, size_t n)
{
	if (n == 0 || m->st != BODY || !m->cb.data)
		return 0;
	return m->cb.data(m->ud, p, n);
}

/* Scans body (or preamble) bytes from p[*i]; returns 0 with *i past the
 * delimiter when one completed (m->st then AFTER_DELIM), or at the end. */
static int scan(ds_mp *m, const char *p, size_t n, size_t *i)
{
	size_t run = *i, carry = m->m;
	long mstart = m->m ? -1 : 0;
	int rc;
	for (; *i < n; (*i)++) {
		char c = p[*i];
		if (c == m->delim[m->m]) {
			if (m->m == 0)
				mstart = (long)*i;
			if (++m->m < m->dlen)
				continue;
			if (mstart > (long)run && (rc = emit(m, p + run, (size_t)mstart - run)))
				return rc;
			if (m->st == BODY && m->cb.end && (rc = m->cb.end(m->ud)))
				return rc;
			m->m = 0;
			m->st = AFTER_DELIM;
			(*i)++;
			return 0;
		}
		if (m->m) {
			/* The partial match was data; a match from an earlier
			 * chunk goes out first, then this chunk's bytes. */
			if (mstart < 0) {
				if ((rc = emit(m, m->delim, carry)))
					return rc;
				run = 0;
			}
			m->m = 0;
			if (c == m->delim[0]) {
				mstart = (long)*i;
				m->m = 1;
			}
		}
	}
	if (m->m == 0)
		return emit(m, p + run, n - run);
	if (mstart > (long)run)
		return emit(m, p + run, (size_t)mstart - run);
	return 0;
}

static int step(ds_mp *m, const char *p, size_t n)
{
	size_t i = 0;
	int rc = 0;
	while (i < n && rc == 0) {
		char c = p[i];
		switch (m->st) {
		case PREAMBLE:
		case BODY:
			rc = scan(m, p, n, &i);
			break;
		case AFTER_DELIM:
			i++;
			if (c == '-')
				m->st = AFTER_DASH;
			else if (c == '\r')
				m->st = AFTER_CR;
			else
				rc = -EBADMSG;
			break;
		case AFTER_DASH:
			i++;
			if (c != '-')
				rc = -EBADMSG;
			m->st = EPILOGUE;
			break;
		case AFTER_CR:
			i++;
			if (c != '\n')
				rc = -EBADMSG;
			m->st = HEADERS;
			m->hlen = 0;
			break;
		case HEADERS:
			if (m->hlen == DS_MP_HEADERS_MAX || c == '\0') {
				rc = -EBADMSG;
				break;
			}
			m->hdr[m->hlen++] = c;
			i++;
			/* An empty header block is a lone CRLF. */
			if ((m->hlen == 2 && memcmp(m->hdr, "\r\n", 2) == 0) ||
			    (m->hlen >= 4 && memcmp(m->hdr + m->hlen - 4, "\r\n\r\n", 4) == 0)) {
				m->st = BODY;
				rc = part_begin(m);
			}
			break;
		case EPILOGUE:
			return 0;
		case FAILED:
			return m->rc;
		}
	}
	return rc;
}

int ds_mp_feed(ds_mp *m, const char *p, size_t n)
{
	if (m->st == FAILED)
		return m->rc;
	int rc = step(m, p, n);
	if (rc) {
		m->rc = rc;
		m->st = FAILED;
	}
	return rc;
}

int ds_mp_finish(ds_mp *m)
{
	if (m->st == FAILED)
		return m->rc;
	return m->st == EPILOGUE ? 0 : -EBADMSG;
}
