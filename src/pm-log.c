/* pm-log.c — children's output into log files, as whole lines, batched.
 *
 * The path of a line: read() of a child's pipe into one buffer shared by all
 * children → optional ANSI stripping in place → the line assembler, which
 * hands out complete lines without copying → the writer's batch buffer, as
 * "[TIME ][NAME: ]line\n" → one write() per batch. A line enters the batch
 * whole, and a batch is written by one writer per file, so lines of many
 * processes sharing a file never tear or mix.
 *
 * Memory bound, documented in the README: per writer, at most
 * PM_LOG_HIGH_WATER bytes pending plus what one read can expand to; per
 * stream, one unfinished line (≤ PM_LINE_MAX + 1 bytes) and nothing when the
 * child is idle; one shared read buffer of PM_LOG_READ_BYTES.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-log"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "pm-error.h"
#include "pm-fdmux.h"
#include "pm-lines.h"
#include "pm-log.h"

#define PM_LOG_READ_BYTES  (64 * 1024)
/* Reads per wake-up of one pipe: enough to empty a full pipe, few enough to
 * be fair to the other children. */
#define PM_LOG_READS_PER_WAKEUP 4
/* Reads when a child has exited: a full pipe and then some, but bounded, in
 * case an escaped descendant keeps writing into it. */
#define PM_LOG_DRAIN_READS 64

/* The batch buffer: a GByteArray without the per-call overhead, since a
 * line is appended to it for every line of every child. */
typedef struct
{
  guint8 *data;
  gsize   len;
  gsize   cap;
} LogBuf;

static LogBuf *
logbuf_new (gsize cap)
{
  LogBuf *b = g_new (LogBuf, 1);

  b->data = g_malloc (cap);
  b->len = 0;
  b->cap = cap;
  return b;
}

static void
logbuf_free (LogBuf *b)
{
  g_free (b->data);
  g_free (b);
}

static inline void
logbuf_set_size (LogBuf *b,
                 gsize   len)
{
  if (G_UNLIKELY (len > b->cap))
    {
      b->cap = MAX (len, b->cap * 2);
      b->data = g_realloc (b->data, b->cap);
    }
  b->len = len;
}

typedef struct
{
  PmLogClient *client;     /* owns a reference */
  gsize        end;        /* offset in the buffer where its lines end */
} Segment;

typedef struct
{
  PmLogClient    *client;  /* not owned: the client owns its streams */
  int             fd;
  PmFdWatch      *watch;   /* NULL while paused or closed */
  gboolean        paused;
  PmLineAssembler lines;
  PmAnsiStripper  ansi;
} Stream;

struct _PmLogWriter
{
  gatomicrefcount ref;
  char           *path;         /* NULL for standard output */
  char           *key;          /* "dev:ino" in the registry, or NULL */
  int             fd;
  gboolean        use_send;     /* a socket: send(MSG_DONTWAIT) */
  LogBuf         *buf;          /* NULL while idle */
  gsize           off;          /* bytes of buf already written */
  gboolean        mid_line;     /* the file ends inside a line (after an error) */
  gsize           torn_bytes;   /* ... and holds this much of it */
  GArray         *segments;     /* of Segment: who owns the pending lines */
  guint           flush_timer;
  guint           out_watch;    /* waiting for POLLOUT after EAGAIN */
  GPtrArray      *paused;       /* of Stream*: readers waiting for room */
  GPtrArray      *lossy;        /* of PmLogClient* (refs) owed a "lost" line */
  int             last_errno;
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
  Stream       *streams[2];
  /* Timestamp of the chunk being assembled (one per read). */
  char          stamp[48];
  gsize         stamp_len;
};

static GHashTable  *writers;        /* key → PmLogWriter* (weak) */
static PmLogWriter *stdout_writer;
static guint8      *read_buf;       /* shared by every stream */

static void writer_flush (PmLogWriter *self);
static void writer_final_flush (PmLogWriter *self);
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

/* ---- the writer ------------------------------------------------------- */

static PmLogClient *pm_log_client_ref (PmLogClient *self);
static void         pm_log_client_unref (PmLogClient *self);

static void
segments_clear (PmLogWriter *self)
{
  for (guint i = 0; i < self->segments->len; i++)
    pm_log_client_unref (g_array_index (self->segments, Segment, i).client);
  g_array_set_size (self->segments, 0);
}

static void
writer_resume_readers (PmLogWriter *self)
{
  while (self->paused->len > 0)
    {
      Stream *stream = g_ptr_array_steal_index_fast (self->paused, self->paused->len - 1);

      stream->paused = FALSE;
      if (stream->fd >= 0)
        stream_watch (stream);
    }
}

static gboolean
on_writable (int          fd,
             GIOCondition condition,
             gpointer     user_data)
{
  PmLogWriter *self = user_data;

  self->out_watch = 0;
  writer_flush (self);
  return G_SOURCE_REMOVE;
}

static gboolean
on_flush_timer (gpointer user_data)
{
  PmLogWriter *self = user_data;

  self->flush_timer = 0;
  if (self->buf != NULL && self->buf->len == 0)
    {
      /* Idle since the last batch: memory follows activity. */
      g_clear_pointer (&self->buf, logbuf_free);
      return G_SOURCE_REMOVE;
    }
  writer_flush (self);
  return G_SOURCE_REMOVE;
}

/* Lines in [from, to) are lost: count them against their owners. */
static void
count_lost (PmLogWriter *self,
            gsize        from,
            gsize        to)
{
  gsize seg_start = 0;

  for (guint i = 0; i < self->segments->len; i++)
    {
      Segment *seg = &g_array_index (self->segments, Segment, i);
      gsize a = MAX (seg_start, from);
      gsize b = MIN (seg->end, to);
      guint64 n = 0;

      seg_start = seg->end;
      if (a >= b)
        continue;

      for (const guint8 *p = self->buf->data + a, *end = self->buf->data + b;
           (p = memchr (p, '\n', end - p)) != NULL; p++)
        n++;
      if (n == 0)
        continue;

      if (seg->client->lost_unreported == 0)
        g_ptr_array_add (self->lossy, pm_log_client_ref (seg->client));
      seg->client->lost += n;
      seg->client->lost_unreported += n;
      if (seg->client->lost_func != NULL)
        seg->client->lost_func (seg->client->lost, seg->client->lost_data);
    }
}

/* A write failed for good (ENOSPC, EIO, ...): the whole lines after the
 * failure are dropped and counted. A line the failed write cut in two is
 * taken back out of a regular file (ftruncate), so the file never ends in
 * half a line even if the disk stays full; where that is not possible (a
 * pipe), its rest is kept and completes it once writing works again. The
 * daemon never spins on this: the next attempt is the next batch. */
static void
writer_fail (PmLogWriter *self,
             int          errsv)
{
  LogBuf *buf = self->buf;
  gsize line_start = self->off;
  gsize in_file;
  struct stat st;

  while (line_start > 0 && buf->data[line_start - 1] != '\n')
    line_start--;
  in_file = self->off - line_start + (line_start == 0 && self->mid_line ? self->torn_bytes : 0);

  if (self->last_errno != errsv)
    g_message ("Cannot write to %s: %s", self->path ? self->path : "standard output",
               g_strerror (errsv));
  self->last_errno = errsv;

  if (in_file > 0 && fstat (self->fd, &st) == 0 && S_ISREG (st.st_mode) &&
      (gsize) st.st_size >= in_file && ftruncate (self->fd, st.st_size - in_file) == 0)
    {
      count_lost (self, line_start, buf->len);
      logbuf_set_size (buf, 0);
      self->mid_line = FALSE;
      self->torn_bytes = 0;
    }
  else
    {
      const guint8 *nl = NULL;
      gsize keep_end = self->off;

      if (in_file > 0)
        {
          nl = memchr (buf->data + self->off, '\n', buf->len - self->off);
          keep_end = nl ? (gsize) (nl - buf->data) + 1 : buf->len;
        }
      count_lost (self, keep_end, buf->len);
      memmove (buf->data, buf->data + self->off, keep_end - self->off);
      logbuf_set_size (buf, keep_end - self->off);
      self->mid_line = buf->len > 0;
      self->torn_bytes = in_file;
    }
  segments_clear (self);
  self->off = 0;

  if (buf->len == 0)
    g_clear_pointer (&self->buf, logbuf_free);
  else if (self->flush_timer == 0)
    self->flush_timer = g_timeout_add (PM_LOG_FLUSH_MS, on_flush_timer, self);

  writer_resume_readers (self);
}

static void writer_append_lost_reports (PmLogWriter *self);

static void
writer_flush (PmLogWriter *self)
{
  LogBuf *buf = self->buf;

  g_clear_handle_id (&self->flush_timer, g_source_remove);
  if (buf == NULL || self->out_watch != 0)
    return;

  while (self->off < buf->len)
    {
      gssize n;

      if (self->use_send)
        n = send (self->fd, buf->data + self->off, buf->len - self->off,
                  MSG_DONTWAIT | MSG_NOSIGNAL);
      else
        n = write (self->fd, buf->data + self->off, buf->len - self->off);

      if (n > 0)
        {
          self->off += n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          /* Backpressure: wait for room; readers stop past the high water. */
          self->out_watch = g_unix_fd_add (self->fd, G_IO_OUT, on_writable, self);
          return;
        }
      writer_fail (self, n < 0 ? errno : EIO);
      return;
    }

  self->mid_line = FALSE;
  self->torn_bytes = 0;
  segments_clear (self);
  self->off = 0;
  /* A busy writer keeps its buffer (no allocation per batch); the timer
   * frees it if no line comes meanwhile. */
  logbuf_set_size (buf, 0);
  if (self->flush_timer == 0)
    self->flush_timer = g_timeout_add (PM_LOG_FLUSH_MS, on_flush_timer, self);
  writer_resume_readers (self);

  if (self->last_errno != 0)
    {
      writer_append_lost_reports (self);
      self->last_errno = 0;
    }
}

/* Makes sure @extra more bytes fit, and notes that they belong to @client. */
static guint8 *
writer_reserve (PmLogWriter *self,
                PmLogClient *client,
                gsize        extra)
{
  Segment *last;
  gsize old_len;

  if (self->buf == NULL)
    self->buf = logbuf_new (PM_LOG_FLUSH_BYTES + PM_LINE_MAX);

  old_len = self->buf->len;
  logbuf_set_size (self->buf, old_len + extra);

  last = self->segments->len > 0
    ? &g_array_index (self->segments, Segment, self->segments->len - 1) : NULL;
  if (last != NULL && last->client == client)
    last->end = self->buf->len;
  else
    {
      Segment seg = { pm_log_client_ref (client), self->buf->len };
      g_array_append_val (self->segments, seg);
    }
  return self->buf->data + old_len;
}

static void
writer_schedule (PmLogWriter *self)
{
  if (self->buf == NULL)
    return;
  if (self->buf->len - self->off >= PM_LOG_FLUSH_BYTES)
    writer_flush (self);
  else if (self->flush_timer == 0 && self->out_watch == 0)
    self->flush_timer = g_timeout_add (PM_LOG_FLUSH_MS, on_flush_timer, self);
}

static void
writer_append_line (PmLogWriter  *self,
                    PmLogClient  *client,
                    const guint8 *line,
                    gsize         len)
{
  gsize total = client->stamp_len + client->prefix_len + len + 1;
  guint8 *p = writer_reserve (self, client, total);

  memcpy (p, client->stamp, client->stamp_len);
  p += client->stamp_len;
  memcpy (p, client->prefix, client->prefix_len);
  p += client->prefix_len;
  memcpy (p, line, len);
  p[len] = '\n';
}

static void
writer_append_lost_reports (PmLogWriter *self)
{
  while (self->lossy->len > 0)
    {
      PmLogClient *client = g_ptr_array_steal_index (self->lossy, 0);
      g_autofree char *msg = NULL;

      msg = g_strdup_printf ("elife-pmd: %" G_GUINT64_FORMAT " lines lost (%s)",
                             client->lost_unreported, g_strerror (self->last_errno));
      client->lost_unreported = 0;
      client->stamp_len = client->timestamps
        ? format_stamp (client->stamp, sizeof client->stamp) : 0;
      writer_append_line (self, client, (const guint8 *) msg, strlen (msg));
      pm_log_client_unref (client);
    }
  writer_schedule (self);
}

static PmLogWriter *
writer_new (char *path,
            int   fd)
{
  PmLogWriter *self = g_new0 (PmLogWriter, 1);

  g_atomic_ref_count_init (&self->ref);
  self->path = path;
  self->fd = fd;
  self->segments = g_array_new (FALSE, FALSE, sizeof (Segment));
  self->paused = g_ptr_array_new ();
  self->lossy = g_ptr_array_new ();
  return self;
}

static char *
file_key (int fd)
{
  struct stat st;

  if (fstat (fd, &st) < 0)
    return NULL;
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
                          (guint64) st.st_dev, (guint64) st.st_ino);
}

static int
open_log (const char *path,
          GError    **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd;

  if (g_mkdir_with_parents (dir, 0755) < 0)
    {
      int errsv = errno;
      g_set_error (error, PM_ERROR, PM_ERROR_LOG_FAILED,
                   _("Log “%s”: cannot create directory “%s”: %s"),
                   path, dir, g_strerror (errsv));
      return -1;
    }

  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, PM_ERROR, PM_ERROR_LOG_FAILED,
                   _("Log “%s”: %s"), path, g_strerror (errsv));
    }
  return fd;
}

PmLogWriter *
pm_log_writer_open (const char *path,
                    GError    **error)
{
  PmLogWriter *self;
  g_autofree char *key = NULL;
  int fd;

  g_return_val_if_fail (g_path_is_absolute (path), NULL);

  fd = open_log (path, error);
  if (fd < 0)
    return NULL;

  if (writers == NULL)
    writers = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, NULL);

  key = file_key (fd);
  if (key != NULL && (self = g_hash_table_lookup (writers, key)) != NULL)
    {
      close (fd);
      return pm_log_writer_ref (self);
    }

  self = writer_new (g_strdup (path), fd);
  self->key = g_steal_pointer (&key);
  if (self->key != NULL)
    g_hash_table_insert (writers, self->key, self);
  return self;
}

PmLogWriter *
pm_log_writer_get_stdout (void)
{
  if (stdout_writer == NULL)
    {
      struct stat st;
      int fd = STDOUT_FILENO;
      gboolean use_send = FALSE;

      /* Never block the daemon on a slow reader of its output (the
       * journal): a socket is written with MSG_DONTWAIT, a pipe through a
       * description of its own made non-blocking, so the flag does not
       * leak to whoever shares our stdout. A tty or a file blocks. */
      if (fstat (STDOUT_FILENO, &st) == 0)
        {
          if (S_ISSOCK (st.st_mode))
            use_send = TRUE;
          else if (S_ISFIFO (st.st_mode))
            {
              int own = open ("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);

              if (own >= 0)
                fd = own;
            }
        }
      stdout_writer = writer_new (NULL, fd);
      stdout_writer->use_send = use_send;
    }
  return pm_log_writer_ref (stdout_writer);
}

PmLogWriter *
pm_log_writer_ref (PmLogWriter *self)
{
  g_atomic_ref_count_inc (&self->ref);
  return self;
}

void
pm_log_writer_unref (PmLogWriter *self)
{
  if (!g_atomic_ref_count_dec (&self->ref))
    return;

  /* The last process using the file is gone: what it wrote still goes out. */
  writer_final_flush (self);
  g_clear_handle_id (&self->flush_timer, g_source_remove);
  g_clear_handle_id (&self->out_watch, g_source_remove);
  g_clear_pointer (&self->buf, logbuf_free);
  segments_clear (self);
  g_array_unref (self->segments);
  g_ptr_array_unref (self->paused);
  for (guint i = 0; i < self->lossy->len; i++)
    pm_log_client_unref (g_ptr_array_index (self->lossy, i));
  g_ptr_array_unref (self->lossy);

  if (self->key != NULL && writers != NULL)
    g_hash_table_remove (writers, self->key);
  if (self->path != NULL || self->fd != STDOUT_FILENO)
    close (self->fd);
  if (self == stdout_writer)
    stdout_writer = NULL;
  g_free (self->key);
  g_free (self->path);
  g_free (self);
}

/* A snapshot: flushing may change the registry. */
static GPtrArray *
all_writers (void)
{
  GPtrArray *all = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, writers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (all, value);
  return all;
}

gboolean
pm_log_reopen_all (GError **error)
{
  g_autoptr(GPtrArray) all = NULL;
  g_autoptr(GString) failed = NULL;

  if (writers == NULL)
    return TRUE;

  all = all_writers ();
  for (guint i = 0; i < all->len; i++)
    {
      PmLogWriter *self = g_ptr_array_index (all, i);
      g_autoptr(GError) local_error = NULL;
      int fd;

      /* Everything accepted so far belongs to the old file. */
      writer_flush (self);

      fd = open_log (self->path, &local_error);
      if (fd < 0)
        {
          if (failed == NULL)
            failed = g_string_new (NULL);
          else
            g_string_append (failed, "; ");
          g_string_append (failed, local_error->message);
          continue;
        }

      g_clear_handle_id (&self->out_watch, g_source_remove);
      close (self->fd);
      self->fd = fd;
      g_hash_table_remove (writers, self->key);
      g_free (self->key);
      self->key = file_key (fd);
      if (self->key != NULL)
        g_hash_table_replace (writers, self->key, self);
      if (self->buf != NULL)
        writer_flush (self);
    }

  if (failed != NULL)
    {
      g_set_error_literal (error, PM_ERROR, PM_ERROR_LOG_FAILED, failed->str);
      return FALSE;
    }
  return TRUE;
}

void
pm_log_flush_all (void)
{
  if (writers != NULL)
    {
      g_autoptr(GPtrArray) all = all_writers ();

      for (guint i = 0; i < all->len; i++)
        writer_flush (g_ptr_array_index (all, i));
    }
  if (stdout_writer != NULL)
    writer_flush (stdout_writer);
}

/* Last words: waits for slow readers rather than dropping what was
 * accepted, and breaks the writer ↔ client references. */
static void
writer_final_flush (PmLogWriter *self)
{
  g_clear_handle_id (&self->out_watch, g_source_remove);
  if (self->fd >= 0)
    fcntl (self->fd, F_SETFL, fcntl (self->fd, F_GETFL) & ~O_NONBLOCK);
  self->use_send = FALSE;
  /* Twice: a recovered writer appends its "lines lost" reports. */
  writer_flush (self);
  writer_flush (self);
  g_clear_handle_id (&self->flush_timer, g_source_remove);
  g_clear_pointer (&self->buf, logbuf_free);
  /* Releasing a client may release its writer (this one): take the arrays
   * out first. Callers hold a reference while calling this. */
  {
    g_autoptr(GArray) segments = g_steal_pointer (&self->segments);
    g_autoptr(GPtrArray) lossy = g_steal_pointer (&self->lossy);

    self->segments = g_array_new (FALSE, FALSE, sizeof (Segment));
    self->lossy = g_ptr_array_new ();
    for (guint i = 0; i < segments->len; i++)
      pm_log_client_unref (g_array_index (segments, Segment, i).client);
    for (guint i = 0; i < lossy->len; i++)
      pm_log_client_unref (g_ptr_array_index (lossy, i));
  }
}

void
pm_log_shutdown (void)
{
  if (writers != NULL)
    {
      g_autoptr(GPtrArray) all = all_writers ();

      g_ptr_array_set_free_func (all, (GDestroyNotify) pm_log_writer_unref);
      for (guint i = 0; i < all->len; i++)
        writer_final_flush (pm_log_writer_ref (g_ptr_array_index (all, i)));
    }
  if (stdout_writer != NULL)
    {
      g_autoptr(PmLogWriter) out = pm_log_writer_ref (stdout_writer);

      writer_final_flush (out);
    }
  g_clear_pointer (&read_buf, g_free);
}

/* ---- streams ---------------------------------------------------------- */

static void
emit_line (const guint8 *line,
           gsize         len,
           gpointer      user_data)
{
  PmLogClient *client = user_data;

  writer_append_line (client->writer, client, line, len);
}

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
    g_ptr_array_remove_fast (writer->paused, stream);
  stream->paused = FALSE;
  if (stream->fd >= 0)
    close (stream->fd);
  stream->fd = -1;
}

static gboolean
writer_congested (PmLogWriter *self)
{
  return self->buf != NULL && self->buf->len - self->off >= PM_LOG_HIGH_WATER;
}

/* Reads until the pipe is empty, @max_reads is reached or the writer is
 * congested, feeding the lines on. Returns FALSE at end of file. */
static gboolean
stream_read (Stream *stream,
             guint   max_reads)
{
  PmLogWriter *writer = stream->client->writer;

  if (read_buf == NULL)
    read_buf = g_malloc (PM_LOG_READ_BYTES);

  for (guint i = 0; i < max_reads && !writer_congested (writer); i++)
    {
      gssize n = read (stream->fd, read_buf, PM_LOG_READ_BYTES);

      if (n > 0)
        {
          stream_feed (stream, read_buf, n);
          writer_schedule (writer);
          if (n < PM_LOG_READ_BYTES)
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

  if (!stream_read (stream, PM_LOG_READS_PER_WAKEUP))
    {
      /* The child closed this stream (it may still run). */
      stream_finish (stream);
      writer_schedule (writer);
      stream_close (stream);
      return;
    }

  if (writer_congested (writer))
    {
      /* The file does not keep up: stop reading, the child blocks on its
       * pipe. Resumed by writer_resume_readers. */
      stream->paused = TRUE;
      g_ptr_array_add (writer->paused, stream);
      stream_unwatch (stream);
    }
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
  return self;
}

static void
client_clear (PmLogClient *self)
{
  pm_log_writer_unref (self->writer);
  g_free (self->prefix);
}

static PmLogClient *
pm_log_client_ref (PmLogClient *self)
{
  return g_rc_box_acquire (self);
}

static void
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
        stream_read (stream, PM_LOG_DRAIN_READS);
      stream_finish (stream);
      stream_close (stream);
      pm_line_assembler_clear (&stream->lines);
      g_free (stream);
      self->streams[i] = NULL;
    }

  /* A child that exits has its lines written now, not a batch later. */
  if (any)
    writer_flush (self->writer);
}

