/* metrics_text.h: GET /metrics and sums over the samples of its Prometheus text. */
#ifndef IT_METRICS_TEXT_H
#define IT_METRICS_TEXT_H

#include "http_client.h"

/* GET /metrics through c (asserts 200); the body, malloc'd, caller frees. */
char *it_metrics_text(struct http_client *c);

/* Sum of the samples of Prometheus text whose metric name is name and whose label set has every
 * label in labels (NULL-terminated "key=\"value\"" strings, or NULL for no condition). *matched
 * (when not NULL) is set to the number of samples summed. */
double it_metric_sum(const char *text, const char *name, const char *const *labels, int *matched);

#endif
