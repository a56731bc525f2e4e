/* pm-log-writer.h — one log file's writer: whole lines, batched, written by
 * I/O threads.
 *
 * PmLogWriter: one per file (same device and inode, not the same string) or
 * the daemon's standard output, shared by every process writing there. It
 * owns the batches, which an I/O thread writes in order, write errors and
 * the "lines lost" accounting, backpressure (readers paused while the file
 * does not keep up), rotation by size and reopening. Its lines come from
 * the readers (pm-log-reader.h), which fill its batch through the calls at
 * the end. All calls are made on the main thread.
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
/* Written batches a writer keeps for reuse while busy, at least; more
 * while it owns at most PM_LOG_WRITER_MAX_BATCHES. */
#define PM_LOG_SPARES      2
/* A batch: lines pending below the flush size, one read, a line begun. */
#define PM_LOG_BATCH_BYTES (PM_LOG_FLUSH_BYTES + PM_LOG_READ_BYTES + 65536 + 1)
/* The most one writer holds, however fast its children write and however
 * slow its file: up to the high water plus the batch that crossed it, the
 * batch being filled, and the spares. Idle, it holds nothing. The read
 * buffer (PM_LOG_READ_BYTES + 64 KiB, one for all) comes on top while any
 * output flows. */
#define PM_LOG_WRITER_MAX_BYTES (PM_LOG_HIGH_WATER + (2 + PM_LOG_SPARES) * PM_LOG_BATCH_BYTES)
/* The batches a writer keeps while busy (in flight, spare and being
 * filled): a flood keeps about one read per batch in flight up to the high
 * water, plus the one that crossed it, the one being filled and the spares.
 * Fewer, and batches would be freed and allocated again all the time. */
#define PM_LOG_WRITER_MAX_BATCHES (PM_LOG_HIGH_WATER / PM_LOG_READ_BYTES + 2 + PM_LOG_SPARES)

typedef struct _PmLogWriter PmLogWriter;
/* The reader's side (pm-log-reader.h): a process's lines, and a pipe. */
typedef struct _PmLogClient PmLogClient;
typedef struct _PmLogStream PmLogStream;

/* Opens (creating parent directories) or shares the writer of @path, an
 * absolute path, as @creds (NULL: as the daemon; a writer is reopened and
 * rotated as whoever first opened it). PM_ERROR_LOG_FAILED naming the path
 * and the reason. */
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

/* ---- for the readers ---------------------------------------------------- */

/* Where the next bytes of the batch being filled go, with room for @room. */
guint8      *pm_log_writer_tail       (PmLogWriter *self,
                                       gsize        room);
/* Adds @len bytes, already in place at the tail, as @client's lines. */
void         pm_log_writer_commit     (PmLogWriter *self,
                                       PmLogClient *client,
                                       gsize        len);
/* Makes room for @len more bytes of @client's and returns where they go. */
guint8      *pm_log_writer_reserve    (PmLogWriter *self,
                                       PmLogClient *client,
                                       gsize        len);
/* Lines were added: a full batch goes out, a begun one within the period. */
void         pm_log_writer_schedule   (PmLogWriter *self);
/* Hands the pending lines to the I/O threads now. */
void         pm_log_writer_flush      (PmLogWriter *self);
/* Waits until every line handed over is written and accounted for. Blocks
 * the main loop: for exits, rotation and shutdown only. */
void         pm_log_writer_wait_idle  (PmLogWriter *self);
/* Whether more lines may come in (the file keeps up). */
gboolean     pm_log_writer_has_room   (PmLogWriter *self);
/* A regular file: an exit waits until its lines are in it. */
gboolean     pm_log_writer_is_regular (PmLogWriter *self);
/* @stream stops reading until the writer has room again; then the writer
 * calls pm_log_stream_resume(). */
void         pm_log_writer_pause      (PmLogWriter *self,
                                       PmLogStream *stream);
/* @stream, paused, is closed: it is not to be resumed. */
void         pm_log_writer_unpause    (PmLogWriter *self,
                                       PmLogStream *stream);
/* @client writes here, and asks for the file to be rotated past
 * @max_bytes (0: never), keeping @backups old files; again to change that.
 * Each rotation is told to every member: pm_log_client_rotated(). */
void         pm_log_writer_join       (PmLogWriter *self,
                                       PmLogClient *client,
                                       guint64      max_bytes,
                                       guint        backups);
void         pm_log_writer_leave      (PmLogWriter *self,
                                       PmLogClient *client);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PmLogWriter, pm_log_writer_unref)

G_END_DECLS
