/* pm-log-reader.h — one process's output: its pipes read into its writer.
 *
 * PmLogClient: one per process, with its prefix and options. It reads the
 * child's stdout and stderr pipes (straight into the writer's batch when
 * lines go out unchanged, else through one read buffer shared by all
 * processes and the line assembler of pm-lines.h), adds the prefix and time
 * stamp to each line and keeps only each stream's unfinished line. The file
 * and its batches are the writer's (pm-log-writer.h). All calls are made on
 * the main thread.
 */
#pragma once

#include <glib.h>

#include "pm-log-writer.h"

G_BEGIN_DECLS

/* Told when lines could not be written; @lost is the running total. */
typedef void (*PmLogLostFunc) (guint64  lost,
                               gpointer user_data);
/* Told when the file was rotated; @rotations is the running total. */
typedef void (*PmLogRotatedFunc) (guint64  rotations,
                                  gpointer user_data);

PmLogClient *pm_log_client_new        (PmLogWriter  *writer,
                                       const char   *name,
                                       gboolean      timestamps,
                                       gboolean      strip_ansi,
                                       PmLogLostFunc lost_func,
                                       gpointer      user_data);
/* The client's file is to be rotated past @max_bytes (0: never), keeping
 * @backups old files (the file's writer settles this among the processes
 * sharing it); @rotated_func is told each rotation, with the user_data of
 * pm_log_client_new(). */
void         pm_log_client_set_rotation (PmLogClient     *self,
                                         guint64          max_bytes,
                                         guint            backups,
                                         PmLogRotatedFunc rotated_func);
/* Drops the client; lines already accepted are still written. */
void         pm_log_client_free       (PmLogClient  *self);
/* Starts reading a child's pipes (takes the fds). */
void         pm_log_client_attach     (PmLogClient  *self,
                                       int           stdout_fd,
                                       int           stderr_fd);
/* The child is gone: reads what is left in the pipes, writes the unfinished
 * lines as lines, closes the pipes and flushes the batch. */
void         pm_log_client_detach     (PmLogClient  *self);

/* ---- for the writer ------------------------------------------------------ */

/* Every line in a batch holds its client. */
PmLogClient *pm_log_client_ref        (PmLogClient  *self);
void         pm_log_client_unref      (PmLogClient  *self);
/* @n of the client's lines were lost. TRUE if it owed no report before:
 * the writer then keeps it for pm_log_client_report_lost(). */
gboolean     pm_log_client_count_lost (PmLogClient  *self,
                                       guint64       n);
/* The client's file was rotated @n times. */
void         pm_log_client_rotated    (PmLogClient  *self,
                                       guint         n);
/* Writing works again: appends "N lines lost (REASON)" as its line. */
void         pm_log_client_report_lost (PmLogClient *self,
                                        int          errsv);
/* The writer has room again: @stream reads on. */
void         pm_log_stream_resume     (PmLogStream  *stream);
/* No batch is left anywhere: the shared read buffer goes too. */
void         pm_log_reader_release_buffer (void);

G_END_DECLS
