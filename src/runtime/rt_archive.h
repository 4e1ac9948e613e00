/* libarchive, loaded on first use (base/dl.h). Include this instead of
 * <archive.h>: the archive_* names below become calls through the table. */
#ifndef SN_RT_ARCHIVE_H
#define SN_RT_ARCHIVE_H
#include <archive.h>
#include <archive_entry.h>

#define RT_AR_FUNCS(X) \
	X(archive_read_new) X(archive_read_support_filter_all) X(archive_read_support_format_tar) \
	X(archive_read_open_filename) X(archive_read_open_memory) X(archive_read_open_fd) \
	X(archive_read_next_header) X(archive_read_data_block) X(archive_read_free) \
	X(archive_error_string) X(archive_entry_pathname) X(archive_entry_symlink) \
	X(archive_entry_hardlink) X(archive_entry_perm) X(archive_entry_mtime) \
	X(archive_entry_filetype) X(archive_entry_uid) X(archive_entry_gid) \
	X(archive_entry_size) X(archive_entry_size_is_set)

#define RT_AR_FIELD(f) __typeof__(&f) f;
struct rt_ar {
	RT_AR_FUNCS(RT_AR_FIELD)
};
#undef RT_AR_FIELD
extern struct rt_ar rt_ar;

/* Loads libarchive once; 0, or -ENOENT with a message in err. Every other
 * call below is valid only after it returned 0. */
int rt_ar_load(char *err, size_t errlen);

#ifndef RT_AR_IMPL
#define archive_read_new rt_ar.archive_read_new
#define archive_read_support_filter_all rt_ar.archive_read_support_filter_all
#define archive_read_support_format_tar rt_ar.archive_read_support_format_tar
#define archive_read_open_filename rt_ar.archive_read_open_filename
#define archive_read_open_memory rt_ar.archive_read_open_memory
#define archive_read_open_fd rt_ar.archive_read_open_fd
#define archive_read_next_header rt_ar.archive_read_next_header
#define archive_read_data_block rt_ar.archive_read_data_block
#define archive_read_free rt_ar.archive_read_free
#define archive_error_string rt_ar.archive_error_string
#define archive_entry_pathname rt_ar.archive_entry_pathname
#define archive_entry_symlink rt_ar.archive_entry_symlink
#define archive_entry_hardlink rt_ar.archive_entry_hardlink
#define archive_entry_perm rt_ar.archive_entry_perm
#define archive_entry_mtime rt_ar.archive_entry_mtime
#define archive_entry_filetype rt_ar.archive_entry_filetype
#define archive_entry_uid rt_ar.archive_entry_uid
#define archive_entry_gid rt_ar.archive_entry_gid
#define archive_entry_size rt_ar.archive_entry_size
#define archive_entry_size_is_set rt_ar.archive_entry_size_is_set
#endif
#endif
