/* libmicrohttpd, loaded on first use (base/dl.h): with GnuTLS and its
 * dependencies it costs ~4 ms at start-up, which only `sentinel server`
 * needs to pay. Include this instead of <microhttpd.h>. */
#ifndef SN_HTTP_MHD_H
#define SN_HTTP_MHD_H
#include <stddef.h>
#include <microhttpd.h>

#define HTTP_MHD_FUNCS(X) \
	X(MHD_add_response_header) X(MHD_create_response_from_buffer) \
	X(MHD_create_response_from_callback) X(MHD_create_response_from_fd_at_offset64) \
	X(MHD_destroy_response) \
	X(MHD_get_connection_info) X(MHD_get_connection_values) X(MHD_get_daemon_info) X(MHD_is_feature_supported) \
	X(MHD_lookup_connection_value) X(MHD_queue_response) X(MHD_quiesce_daemon) \
	X(MHD_start_daemon) X(MHD_stop_daemon) X(MHD_suspend_connection) \
	X(MHD_resume_connection)

#define HTTP_MHD_FIELD(f) __typeof__(&f) f;
struct http_mhd {
	HTTP_MHD_FUNCS(HTTP_MHD_FIELD)
};
#undef HTTP_MHD_FIELD
extern struct http_mhd http_mhd;

/* Loads the library once; 0, or -ENOENT with a message in err. Every call
 * below is valid only after it returned 0. */
int http_mhd_load(char *err, size_t errlen);

#ifndef HTTP_MHD_IMPL
#define MHD_add_response_header http_mhd.MHD_add_response_header
#define MHD_create_response_from_buffer http_mhd.MHD_create_response_from_buffer
#define MHD_create_response_from_callback http_mhd.MHD_create_response_from_callback
#define MHD_create_response_from_fd_at_offset64 http_mhd.MHD_create_response_from_fd_at_offset64
#define MHD_destroy_response http_mhd.MHD_destroy_response
#define MHD_get_connection_info http_mhd.MHD_get_connection_info
#define MHD_get_connection_values http_mhd.MHD_get_connection_values
#define MHD_get_daemon_info http_mhd.MHD_get_daemon_info
#define MHD_is_feature_supported http_mhd.MHD_is_feature_supported
#define MHD_lookup_connection_value http_mhd.MHD_lookup_connection_value
#define MHD_queue_response http_mhd.MHD_queue_response
#define MHD_quiesce_daemon http_mhd.MHD_quiesce_daemon
#define MHD_start_daemon http_mhd.MHD_start_daemon
#define MHD_stop_daemon http_mhd.MHD_stop_daemon
#define MHD_suspend_connection http_mhd.MHD_suspend_connection
#define MHD_resume_connection http_mhd.MHD_resume_connection
#endif
#endif
