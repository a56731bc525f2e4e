/* pm-log-reader.c — one process's output: its pipes read into its writer.
 *
 * The path of a line, on the main thread: read() of a child's pipe into one
 * buffer shared by all children → optional ANSI stripping in place → the
 * line assembler (pm-lines), which hands out complete lines (or whole runs
 * of them) without copying → the writer's batch, as
 * "[TIME ][NAME: ]line\n". A process whose lines go out unchanged reads
 * straight into the batch instead, and only what follows its last whole
 * line goes through the assembler. From there on the lines are the
 * writer's (pm-log-writer.c).
 *
 * Memory bound, documented in the README: per stream, one unfinished line
 * (≤ PM_LINE_MAX + 1 bytes) and nothing when the child is idle; one shared
 * read buffer of PM_LOG_READ_BYTES (and an unfinished line), while any
 * batch exists.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-log"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "pm-fdmux.h"
#include "pm-lines.h"
#include "pm-log-reader.h"
#include "pm-log-writer.h"

/* The shared read buffer also takes what a read straight into a batch
 * leaves for the assembler: an unfinished line and a read. */
#define PM_LOG_READ_BUF    (PM_LOG_READ_BYTES + PM_LINE_MAX + 1)
/* "2026-11-27T18:04:05.123+01:00 " and then some. */
#define PM_LOG_STAMP_MAX   40
/* A pipe found full is widened to this, so a child writing flat out and the
 * daemon meet far less often (a context switch or two per pipeful). Only
 * busy children get it: the kernel holds the pages only while they are
 * filled, and an idle pipe stays at the default 64 KiB. */
#define PM_LOG_PIPE_WIDE   (256 * 1024)
#define PM_LOG_PIPE_DEFAULT (64 * 1024)
/* Reads per wake-up of one pipe: enough to empty a full pipe, few enough to
 * be fair to the other children. */
#define PM_LOG_READS_PER_WAKEUP 4
/* Reads when a child has exited: a full pipe and then some, but bounded, in
 * case an escaped descendant keeps writing into it. */
#define PM_LOG_DRAIN_READS 64

typedef struct _PmLogStream Stream;

struct _PmLogStream
{
  PmLogClient    *client;  /* not owned: the client owns its streams */
  int             fd;
  PmFdWatch      *watch;   /* NULL while paused or closed */
  gboolean        paused;
  gboolean        widened; /* F_SETPIPE_SZ tried */
  PmLineAssembler lines;
  PmAnsiStripper  ansi;
};

struct _PmLogClient
{
  PmLogWriter  *writer;        /* owns a reference */
  char         *prefix;        /* "NAME: " or "" */
  gsize         prefix_len;
  gboolean      timestamps;
  gboolean      strip_ansi;
  PmLogLostFunc lost_func;
  gpointer      lost_data;
  guint64       lost;
  guint64       lost_unreported;
  PmLogRotatedFunc rotated_func;
  guint64       rotations;
  Stream       *streams[2];
  /* Timestamp of the chunk being assembled (one per read). */
  char          stamp[48];
  gsize         stamp_len;
};

static guint8 *read_buf;       /* shared by every stream, while any batch exists */

static void stream_watch (Stream *stream);

/* ---- time stamps ------------------------------------------------------ */

/* Formats "2026-11-27T18:04:05.123+01:00 " into @out. The date part is
 * computed once per second; a whole second of lines costs one GDateTime. */
static gsize
format_stamp (char  *out,
              gsize  size)
{
  static gint64 cached_sec = -1;
  static char date_part[32];      /* "2026-11-27T18:04:05" */
  static char zone_part[16];      /* "+01:00" */
  gint64 now = g_get_real_time ();
  gint64 sec = now / G_USEC_PER_SEC;
  int ms = (int) ((now % G_USEC_PER_SEC) / 1000);

  if (sec != cached_sec)
    {
      g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (sec);
      g_autofree char *d = g_date_time_format (dt, "%Y-%m-%dT%H:%M:%S");
      g_autofree char *z = g_date_time_format (dt, "%:z");

      g_strlcpy (date_part, d, sizeof date_part);
      g_strlcpy (zone_part, z, sizeof zone_part);
      cached_sec = sec;
    }
  return g_snprintf (out, size, "%s.%03d%s ", date_part, ms, zone_part);
}


/* ---- lines ------------------------------------------------------------ */

static void
client_append_line (PmLogClient  *client,
                    const guint8 *line,
                    gsize         len)
{
  gsize total = client->stamp_len + client->prefix_len + len + 1;
  guint8 *p = pm_log_writer_reserve (client->writer, client, total);

  memcpy (p, client->stamp, client->stamp_len);
  p += client->stamp_len;
  memcpy (p, client->prefix, client->prefix_len);
  p += client->prefix_len;
  memcpy (p, line, len);
  p[len] = '\n';
}

gboolean
pm_log_client_count_lost (PmLogClient *self,
                          guint64      n)
{
  gboolean first = self->lost_unreported == 0;

  self->lost += n;
  self->lost_unreported += n;
  if (self->lost_func != NULL)
    self->lost_func (self->lost, self->lost_data);
  return first;
}

void
pm_log_client_report_lost (PmLogClient *self,
                           int          errsv)
{
  g_autofree char *msg = NULL;

  msg = g_strdup_printf ("elife-pmd: %" G_GUINT64_FORMAT " lines lost (%s)",
                         self->lost_unreported, g_strerror (errsv));
  self->lost_unreported = 0;
  self->stamp_len = self->timestamps
    ? format_stamp (self->stamp, sizeof self->stamp) : 0;
  client_append_line (self, (const guint8 *) msg, strlen (msg));
}

void
pm_log_reader_release_buffer (void)
{
  g_clear_pointer (&read_buf, g_free);
}

/* ---- streams ---------------------------------------------------------- */

static void
emit_line (const guint8 *line,
           gsize         len,
           gpointer      user_data)
{
  PmLogClient *client = user_data;

  client_append_line (client, line, len);
}

/* Lines that need no prefix, time or change: a whole run in one copy. */
static void
emit_run (const guint8 *lines,
          gsize         len,
          gpointer      user_data)
{
  PmLogClient *client = user_data;

  memcpy (pm_log_writer_reserve (client->writer, client, len), lines, len);
}

/* A process with a prefix or time stamps (a plain one is read by
 * stream_read_into_batch()): each line is copied out with them. */
static void
stream_feed (Stream *stream,
             guint8 *data,
             gsize   len)
{
  PmLogClient *client = stream->client;

  if (client->strip_ansi)
    len = pm_ansi_stripper_strip (&stream->ansi, data, len);
  /* All lines of one read share one time: the time they were read. */
  client->stamp_len = client->timestamps
    ? format_stamp (client->stamp, sizeof client->stamp) : 0;
  pm_line_assembler_feed (&stream->lines, data, len, emit_line, client);
}

/* Lines written as the child wrote them: no prefix, no time. */
static inline gboolean
client_is_plain (PmLogClient *client)
{
  return client->prefix_len == 0 && !client->timestamps;
}

/* How much to read at once for @client: lines of one byte, prefixed and
 * stamped, must still fit in PM_LOG_READ_BYTES, so that the batch stays
 * within PM_LOG_BATCH_BYTES whatever the child writes. */
static gsize
client_read_size (PmLogClient *client)
{
  gsize per_byte = 1 + client->prefix_len + (client->timestamps ? PM_LOG_STAMP_MAX : 0);

  return MAX (PM_LOG_READ_BYTES / per_byte, 1024);
}

/* For a plain client: reads straight into the batch, behind the unfinished
 * line taken out of the assembler, so whole lines need no copy at all. They
 * stay where they are (pm_lines_plain_run()); whatever follows the last of
 * them (a "\r\n", a line to cut, the unfinished line) goes through the
 * assembler from the read buffer. Returns what read() returned. */
static gssize
stream_read_into_batch (Stream *stream)
{
  PmLogClient *client = stream->client;
  PmLogWriter *writer = client->writer;
  gsize pending = pm_line_assembler_pending (&stream->lines);
  guint8 *start = pm_log_writer_tail (writer, pending + PM_LOG_READ_BYTES);
  guint8 *p;
  guint8 *end;
  gssize n;

  n = read (stream->fd, start + pending, PM_LOG_READ_BYTES);
  if (n <= 0)
    return n;

  end = start + pending + n;
  if (client->strip_ansi)
    end = start + pending + pm_ansi_stripper_strip (&stream->ansi, start + pending, n);
  pm_line_assembler_take (&stream->lines, start);

  p = start + pm_lines_plain_run (start, end - start);
  if (p > start)
    pm_log_writer_commit (writer, client, p - start);
  if (p < end)
    {
      /* The rest, from a copy: the assembler's lines land where it is. */
      gsize rest = end - p;

      memcpy (read_buf, p, rest);
      client->stamp_len = 0;
      pm_line_assembler_feed_runs (&stream->lines, read_buf, rest, emit_line, emit_run, client);
    }
  return n;
}

static void
stream_finish (Stream *stream)
{
  PmLogClient *client = stream->client;

  client->stamp_len = client->timestamps
    ? format_stamp (client->stamp, sizeof client->stamp) : 0;
  pm_line_assembler_finish (&stream->lines, emit_line, client);
}

static void on_readable (int      fd,
                         guint32  events,
                         gpointer user_data);

static void
stream_watch (Stream *stream)
{
  g_return_if_fail (stream->watch == NULL);
  stream->watch = pm_fd_watch_add (stream->fd, on_readable, stream);
}

static void
stream_unwatch (Stream *stream)
{
  g_clear_pointer (&stream->watch, pm_fd_watch_remove);
}

static void
stream_close (Stream *stream)
{
  PmLogWriter *writer = stream->client->writer;

  stream_unwatch (stream);
  if (stream->paused)
    pm_log_writer_unpause (writer, stream);
  stream->paused = FALSE;
  if (stream->fd >= 0)
    close (stream->fd);
  stream->fd = -1;
}

/* Reads until the pipe is empty, @max_reads is reached or the writer is
 * congested (with @drain: until the writer has room again), feeding the
 * lines on. Returns FALSE at end of file. */
static gboolean
stream_read (Stream  *stream,
             guint    max_reads,
             gboolean drain)
{
  PmLogClient *client = stream->client;
  PmLogWriter *writer = client->writer;
  gboolean plain = client_is_plain (client);
  gsize want = client_read_size (client);

  for (guint i = 0; i < max_reads; i++)
    {
      gssize n;

      if (!pm_log_writer_has_room (writer))
        {
          if (!drain)
            break;
          /* What an exited child left in its pipe is read now or never:
           * wait for room rather than stop. */
          pm_log_writer_flush (writer);
          pm_log_writer_wait_idle (writer);
        }

      /* Here, after any batch was freed above: it lives while batches do. */
      if (read_buf == NULL)
        read_buf = g_malloc (PM_LOG_READ_BUF);
      n = plain ? stream_read_into_batch (stream) : read (stream->fd, read_buf, want);

      if (n > 0)
        {
          if (n >= PM_LOG_PIPE_DEFAULT && !stream->widened)
            {
              /* Best effort: the limits (pipe-max-size, per-user pages)
               * may refuse, and the default size works too. */
              stream->widened = TRUE;
              (void) fcntl (stream->fd, F_SETPIPE_SZ, PM_LOG_PIPE_WIDE);
            }
          if (!plain)
            stream_feed (stream, read_buf, n);
          pm_log_writer_schedule (writer);
          if ((gsize) n < want)
            break;      /* the pipe is empty now */
          continue;
        }
      if (n < 0 && errno == EINTR)
        {
          i--;
          continue;
        }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      return FALSE;     /* EOF or a broken pipe */
    }
  return TRUE;
}

static void
on_readable (int      fd,
             guint32  events,
             gpointer user_data)
{
  Stream *stream = user_data;
  PmLogWriter *writer = stream->client->writer;

  if (!stream_read (stream, PM_LOG_READS_PER_WAKEUP, FALSE))
    {
      /* The child closed this stream (it may still run). */
      stream_finish (stream);
      pm_log_writer_schedule (writer);
      stream_close (stream);
      return;
    }

  if (!pm_log_writer_has_room (writer))
    {
      /* The file does not keep up: stop reading, the child blocks on its
       * pipe. Resumed by pm_log_stream_resume(). */
      stream->paused = TRUE;
      pm_log_writer_pause (writer, stream);
      stream_unwatch (stream);
    }
}

void
pm_log_stream_resume (PmLogStream *stream)
{
  stream->paused = FALSE;
  if (stream->fd >= 0)
    stream_watch (stream);
}

/* ---- clients ---------------------------------------------------------- */

PmLogClient *
pm_log_client_new (PmLogWriter  *writer,
                   const char   *name,
                   gboolean      timestamps,
                   gboolean      strip_ansi,
                   PmLogLostFunc lost_func,
                   gpointer      user_data)
{
  PmLogClient *self = g_rc_box_new0 (PmLogClient);

  self->writer = pm_log_writer_ref (writer);
  self->prefix = (name && *name) ? g_strconcat (name, ": ", NULL) : g_strdup ("");
  self->prefix_len = strlen (self->prefix);
  self->timestamps = timestamps;
  self->strip_ansi = strip_ansi;
  self->lost_func = lost_func;
  self->lost_data = user_data;
  pm_log_writer_join (self->writer, self, 0, 0);
  return self;
}

void
pm_log_client_set_rotation (PmLogClient     *self,
                            guint64          max_bytes,
                            guint            backups,
                            PmLogRotatedFunc rotated_func)
{
  self->rotated_func = rotated_func;
  pm_log_writer_join (self->writer, self, max_bytes, backups);
}

void
pm_log_client_rotated (PmLogClient *self,
                       guint        n)
{
  self->rotations += n;
  if (self->rotated_func != NULL)
    self->rotated_func (self->rotations, self->lost_data);
}

static void
client_clear (PmLogClient *self)
{
  pm_log_writer_unref (self->writer);
  g_free (self->prefix);
}

PmLogClient *
pm_log_client_ref (PmLogClient *self)
{
  return g_rc_box_acquire (self);
}

void
pm_log_client_unref (PmLogClient *self)
{
  g_rc_box_release_full (self, (GDestroyNotify) client_clear);
}

void
pm_log_client_free (PmLogClient *self)
{
  if (self == NULL)
    return;
  pm_log_client_detach (self);
  self->lost_func = NULL;
  self->rotated_func = NULL;
  pm_log_writer_leave (self->writer, self);
  pm_log_client_unref (self);
}

void
pm_log_client_attach (PmLogClient *self,
                      int          stdout_fd,
                      int          stderr_fd)
{
  int fds[2] = { stdout_fd, stderr_fd };

  pm_log_client_detach (self);
  for (guint i = 0; i < 2; i++)
    {
      Stream *stream = g_new0 (Stream, 1);

      stream->client = self;
      stream->fd = fds[i];
      pm_line_assembler_init (&stream->lines);
      pm_ansi_stripper_init (&stream->ansi);
      stream_watch (stream);
      self->streams[i] = stream;
    }
}

void
pm_log_client_detach (PmLogClient *self)
{
  gboolean any = FALSE;

  for (guint i = 0; i < 2; i++)
    {
      Stream *stream = self->streams[i];

      if (stream == NULL)
        continue;
      any = TRUE;
      /* What the child wrote before it exited is in the pipe: all of it is
       * read now, however much, so no accepted line is lost. Whatever
       * still holds the pipe open (an escaped descendant) is not waited for. */
      if (stream->fd >= 0)
        stream_read (stream, PM_LOG_DRAIN_READS, TRUE);
      stream_finish (stream);
      stream_close (stream);
      pm_line_assembler_clear (&stream->lines);
      g_free (stream);
      self->streams[i] = NULL;
    }

  /* A child that exits has its lines written now, not a batch later, and
   * in a file before anyone hears that it exited. */
  if (any)
    {
      pm_log_writer_flush (self->writer);
      if (pm_log_writer_is_regular (self->writer))
        pm_log_writer_wait_idle (self->writer);
    }
}


