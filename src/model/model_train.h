/* Training as a job: what a node runs for the built-in program "train"
 * (the same fit and save as `sentinel train`, src/ml/ml_trainer.h), with
 * the options given as the job's config (docs/metrics.md, "Models and
 * detectors"):
 *   {"dataset":"D@v", "model":"M", "columns":["a","b"] or "a,b",
 *    "hidden":[16,8,16] or "16,8,16", "activation":"relu", "epochs":50,
 *    "batch":256, "lr":1e-3, "seed":1, "quantile":0.99, "patience":10,
 *    "val_fraction":0.2}
 * (every option but model and dataset may be left out: the defaults of
 * `sentinel train`). The server registers the job's artifacts model.onnx
 * and config.json as a new version of M once the job completed. */
#ifndef SN_MODEL_TRAIN_H
#define SN_MODEL_TRAIN_H
#include <stddef.h>
#include <jansson.h>

#define MODEL_TRAIN_DATA_MAX ((size_t)1 << 30) /* the CSV, held whole as `sentinel train` does */

/* Checks params (the job's config) and fits them to the CSV at csv_path;
 * writes out_dir/model.onnx and out_dir/config.json. *summary (may be
 * NULL; caller frees) gets {"rows","features","epochs","train_loss",
 * "val_loss","threshold"}. 0, or -EINVAL (bad params or data) or -errno,
 * with a message in err. */
int model_train_run(const json_t *params, const char *csv_path, const char *out_dir,
		    json_t **summary, char *err, size_t errlen);
#endif
