/* pm-log.h — children's output into log files, as whole lines, batched.
 *
 * PmLogWriter: one per file (same device and inode, not the same string) or
 * the daemon's standard output; it owns the batches, which an I/O thread
 * writes, write errors and backpressure. PmLogClient: one per process, with
 * its prefix and options; it reads the child's pipes (straight into the
 * batch when lines go out unchanged, else through one shared read buffer)
 * and keeps only each stream's unfinished line. All calls are made on the
 * main thread.
 */
#pragma once

#include <glib.h>

#include "pm-creds.h"

G_BEGIN_DECLS

/* A batch goes out when this much is pending ... */
#define PM_LOG_FLUSH_BYTES (64 * 1024)
/* ... or this long after its first line, whichever comes first. */
#define PM_LOG_FLUSH_MS    50
/* A writer whose file does not keep up stops its readers when this much is
 * handed to the I/O thread or pending; their children then block. */
#define PM_LOG_HIGH_WATER  (2 * 1024 * 1024)
/* One read of a child's pipe: at most this much, and for a process with a
 * prefix or time stamps so much less that its lines, prefixed, still fit. */
#define PM_LOG_READ_BYTES  (256 * 1024)
/* Written batches a writer keeps for reuse while busy. */
#define PM_LOG_SPARES      2
/* A batch: lines pending below the flush size, one read, a line begun. */
#define PM_LOG_BATCH_BYTES (PM_LOG_FLUSH_BYTES + PM_LOG_READ_BYTES + 65536 + 1)
/* The most one writer holds, however fast its children write and however
 * slow its file: up to the high water plus the batch that crossed it, the
 * batch being filled, and the spares. Idle, it holds nothing. The read
 * buffer (PM_LOG_READ_BYTES + 64 KiB, one for all) comes on top while any
 * output flows. */
#define PM_LOG_WRITER_MAX_BYTES (PM_LOG_HIGH_WATER + (2 + PM_LOG_SPARES) * PM_LOG_BATCH_BYTES)

typedef struct _PmLogWriter PmLogWriter;
typedef struct _PmLogClient PmLogClient;

/* Told when lines could not be written; @lost is the running total. */
typedef void (*PmLogLostFunc) (guint64  lost,
                               gpointer user_data);

/* Opens (creating parent directories) or shares the writer of @path, an
 * absolute path, as @creds (NULL: as the daemon; a writer is reopened as
 * whoever first opened it). PM_ERROR_LOG_FAILED naming the path and the
 * reason. */
PmLogWriter *pm_log_writer_open       (const char    *path,
                                       const PmCreds *creds,
                                       GError       **error);
/* The daemon's standard output. */
PmLogWriter *pm_log_writer_get_stdout (void);
PmLogWriter *pm_log_writer_ref        (PmLogWriter *self);
void         pm_log_writer_unref      (PmLogWriter *self);

/* Reopens every file writer at its path (log rotation). Files that could not
 * be reopened keep their old descriptor and are named in @error. */
gboolean     pm_log_reopen_all        (GError     **error);
/* Writes out every pending batch (daemon shutdown). */
void         pm_log_flush_all         (void);
/* Frees the stdout writer and the shared read buffer (at exit). */
void         pm_log_shutdown          (void);

PmLogClient *pm_log_client_new        (PmLogWriter  *writer,
                                       const char   *name,
                                       gboolean      timestamps,
                                       gboolean      strip_ansi,
                                       PmLogLostFunc lost_func,
                                       gpointer      user_data);
/* Drops the client; lines already accepted are still written. */
void         pm_log_client_free       (PmLogClient  *self);
/* Starts reading a child's pipes (takes the fds). */
void         pm_log_client_attach     (PmLogClient  *self,
                                       int           stdout_fd,
                                       int           stderr_fd);
/* The child is gone: reads what is left in the pipes, writes the unfinished
 * lines as lines, closes the pipes and flushes the batch. */
void         pm_log_client_detach     (PmLogClient  *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PmLogWriter, pm_log_writer_unref)

G_END_DECLS
