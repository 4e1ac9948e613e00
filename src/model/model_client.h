/* The client side of the model registry, shared by `sentinel model pull`
 * and `sentinel engine --server URL --model M@v`. */
#ifndef SN_MODEL_CLIENT_H
#define SN_MODEL_CLIENT_H
#include <stddef.h>
#include <jansson.h>

typedef struct model_conn {
	const char *server; /* base URL, no trailing slash needed */
	const char *token;
	int insecure;
} model_conn;

/* Downloads version spec ("M@v", "M@latest" or "M") into dir (made 0755
 * when missing) as model.onnx and config.json, each checked against the
 * SHA-256 the server lists for it. *version (may be NULL; caller decrefs)
 * gets the version's JSON. 0, or -ENOENT (no such model or version, or
 * not readable), -EINVAL (bad spec), -EIO (transport, or another answer)
 * or -errno (local files), with a message in err. */
int model_pull(const model_conn *mc, const char *spec, const char *dir, json_t **version,
	       char *err, size_t errlen);
#endif
