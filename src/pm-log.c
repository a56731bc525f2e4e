/* pm-log.c — children's output into log files, as whole lines, batched.
 *
 * The path of a line, on the main thread: read() of a child's pipe into one
 * buffer shared by all children → optional ANSI stripping in place → the
 * line assembler, which hands out complete lines (or whole runs of them)
 * without copying → the writer's batch, as "[TIME ][NAME: ]line\n". A full
 * batch (or one 50 ms old) is handed whole to an I/O thread, which writes it
 * with as few write() calls as the file takes. A line enters a batch whole,
 * batches of one file are written in order by one thread at a time, and one
 * writer serves every process sharing a file: lines never tear or mix.
 *
 * The I/O threads only ever touch a batch handed to them and the writer's
 * descriptor; what happened (lines lost to a write error) goes back to the
 * main thread with the batch, which does the accounting. So the main loop
 * never blocks on a slow disk, and reading and writing use two cores.
 *
 * Memory bound, documented in the README: per writer, at most
 * PM_LOG_HIGH_WATER bytes handed over or pending plus what one read can
 * expand to; per stream, one unfinished line (≤ PM_LINE_MAX + 1 bytes) and
 * nothing when the child is idle; one shared read buffer of
 * PM_LOG_READ_BYTES.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-log"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "pm-creds.h"
#include "pm-error.h"
#include "pm-fdmux.h"
#include "pm-lines.h"
#include "pm-log.h"

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
/* I/O threads, started as needed: files are written in parallel up to this. */
#define PM_LOG_IO_THREADS 2
/* Batches one thread writes for a writer before letting others have a turn. */
#define PM_LOG_IO_TURN 8

typedef struct
{
  PmLogClient *client;     /* owns a reference */
  gsize        end;        /* offset in the batch where its lines end */
} Segment;

/* Lines on their way to a file, and whose they are. Not a GByteArray: a
 * line is appended for every line of every child. */
typedef struct
{
  guint8 *data;
  gsize   len;
  gsize   cap;
  GArray *segments;        /* of Segment */
} Batch;

typedef enum
{
  JOB_WRITE,               /* write a batch */
  JOB_SWITCH,              /* continue in another file (rotation) */
} JobKind;

typedef struct
{
  PmLogWriter *writer;     /* owns a reference, released on the main thread */
  JobKind      kind;
  Batch       *batch;      /* JOB_WRITE */
  int          new_fd;     /* JOB_SWITCH */
  /* Set by the I/O thread: */
  int          errsv;      /* 0, or why writing failed */
  gsize        lost_from;  /* lines from this offset on were not written */
} Job;

typedef struct
{
  PmLogClient    *client;  /* not owned: the client owns its streams */
  int             fd;
  PmFdWatch      *watch;   /* NULL while paused or closed */
  gboolean        paused;
  gboolean        widened; /* F_SETPIPE_SZ tried */
  PmLineAssembler lines;
  PmAnsiStripper  ansi;
} Stream;

struct _PmLogWriter
{
  gatomicrefcount ref;
  char           *path;         /* NULL for standard output */
  char           *key;          /* "dev:ino" in the registry, or NULL */
  PmCreds        *creds;        /* whom it was opened as (reopened as), or NULL */
  gboolean        regular;      /* a regular file: exits wait for its lines */

  /* Main thread only. */
  Batch          *batch;        /* being filled; NULL while none */
  GPtrArray      *spares;       /* of Batch*: written, kept for the next ones */
  gsize           in_flight;    /* bytes handed to the I/O threads */
  guint           flush_timer;
  gboolean        busy;         /* a batch went out since the timer was armed */
  GPtrArray      *paused;       /* of Stream*: readers waiting for room */
  GPtrArray      *lossy;        /* of PmLogClient* (refs) owed a "lost" line */
  int             last_errno;

  /* Under io_lock. */
  GQueue          jobs;
  gboolean        scheduled;    /* jobs queued or being run */

  /* The I/O thread running the writer's jobs (one at a time); the main
   * thread only before the first job and after the last. */
  int             fd;
  GByteArray     *carry;        /* the rest of a line torn in a pipe */
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
static guint8      *read_buf;       /* shared by every stream, while any batch exists */
static guint        n_batches;

/* The I/O threads. */
static GMutex   io_lock;
static GCond    io_wake;            /* a writer is runnable, or io_quit */
static GCond    io_idle;            /* a writer's jobs are all done */
static GQueue   io_runq;            /* writers with jobs, waiting for a thread */
static GQueue   io_done;            /* jobs done, for the main thread */
static gboolean io_dispatch_pending;
static gboolean io_wake_main;       /* some reader waits for room */
static guint    n_paused;           /* streams paused, all writers (main thread) */
static gboolean io_quit;
static guint    io_n_waiting;
static GThread *io_threads[PM_LOG_IO_THREADS];
static guint    io_n_threads;

static void writer_flush (PmLogWriter *self);
static void writer_wait_idle (PmLogWriter *self);
static void stream_watch (Stream *stream);
static PmLogClient *pm_log_client_ref (PmLogClient *self);
static void         pm_log_client_unref (PmLogClient *self);

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

/* ---- batches ---------------------------------------------------------- */

static Batch *
batch_new (void)
{
  Batch *b = g_new (Batch, 1);

  /* What one read and the lines pending before it need, so that a batch
   * is never reallocated but for prefixes and time stamps. */
  b->cap = PM_LOG_BATCH_BYTES;
  b->data = g_malloc (b->cap);
  n_batches++;
  b->len = 0;
  b->segments = g_array_new (FALSE, FALSE, sizeof (Segment));
  return b;
}

/* Empties @b, releasing its lines' owners (which may release writers). */
static void
batch_reset (Batch *b)
{
  g_autoptr(GArray) segments = g_steal_pointer (&b->segments);

  b->len = 0;
  b->segments = g_array_new (FALSE, FALSE, sizeof (Segment));
  for (guint i = 0; i < segments->len; i++)
    pm_log_client_unref (g_array_index (segments, Segment, i).client);
}

static void
batch_free (Batch *b)
{
  if (b == NULL)
    return;
  batch_reset (b);
  g_array_unref (b->segments);
  g_free (b->data);
  g_free (b);
  /* No batch anywhere: no output is flowing, the read buffer can go too. */
  if (--n_batches == 0)
    g_clear_pointer (&read_buf, g_free);
}

/* Lines in [from, to) of @b were lost: counts them against their owners. */
static void
batch_count_lost (Batch       *b,
                  PmLogWriter *writer,
                  gsize        from,
                  gsize        to)
{
  gsize seg_start = 0;

  for (guint i = 0; i < b->segments->len; i++)
    {
      Segment *seg = &g_array_index (b->segments, Segment, i);
      gsize lo = MAX (seg_start, from);
      gsize hi = MIN (seg->end, to);
      guint64 n = 0;

      seg_start = seg->end;
      if (lo >= hi)
        continue;

      for (const guint8 *p = b->data + lo, *end = b->data + hi;
           (p = memchr (p, '\n', end - p)) != NULL; p++)
        n++;
      if (n == 0)
        continue;

      if (seg->client->lost_unreported == 0)
        g_ptr_array_add (writer->lossy, pm_log_client_ref (seg->client));
      seg->client->lost += n;
      seg->client->lost_unreported += n;
      if (seg->client->lost_func != NULL)
        seg->client->lost_func (seg->client->lost, seg->client->lost_data);
    }
}

/* ---- the I/O threads -------------------------------------------------- */

/* Writes all of @data, waiting for room if the descriptor is non-blocking.
 * Returns 0, or the errno that stopped it; *@done says how far it got. */
static int
write_all (int           fd,
           const guint8 *data,
           gsize         len,
           gsize        *done)
{
  gsize off = 0;
  int errsv = 0;

  while (off < len)
    {
      gssize n = write (fd, data + off, len - off);

      if (n > 0)
        {
          off += n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          struct pollfd pfd = { .fd = fd, .events = POLLOUT };

          if (poll (&pfd, 1, -1) >= 0 || errno == EINTR)
            continue;
        }
      errsv = (n < 0) ? errno : EIO;
      break;
    }
  *done = off;
  return errsv;
}

/* A write failed for good (ENOSPC, EIO, ...) at @off: the whole lines after
 * it are lost. A line the failure cut in two is taken back out of a regular
 * file (ftruncate), so the file never ends in half a line even if the disk
 * stays full; where that is not possible (a pipe), its rest is kept and
 * completes it once writing works again. Nothing is retried here: the next
 * attempt is the next batch, so a broken file never makes a thread spin. */
static void
job_fail (PmLogWriter *w,
          Job         *job,
          gsize        off,
          int          errsv)
{
  Batch *b = job->batch;
  gsize line_start = off;
  const guint8 *nl;
  struct stat st;

  while (line_start > 0 && b->data[line_start - 1] != '\n')
    line_start--;
  job->errsv = errsv;
  job->lost_from = line_start;
  if (off == line_start)
    return;

  if (fstat (w->fd, &st) == 0 && S_ISREG (st.st_mode) &&
      (gsize) st.st_size >= off - line_start &&
      ftruncate (w->fd, st.st_size - (off - line_start)) == 0)
    return;

  /* Batches hold whole lines: the torn one ends in this batch. */
  nl = memchr (b->data + off, '\n', b->len - off);
  g_assert (nl != NULL);
  w->carry = g_byte_array_new ();
  g_byte_array_append (w->carry, b->data + off, (guint) (nl + 1 - (b->data + off)));
  job->lost_from = nl + 1 - b->data;
}

static void
job_run (PmLogWriter *w,
         Job         *job)
{
  gsize done;
  int errsv;

  if (job->kind == JOB_SWITCH)
    {
      /* Every batch before this one went to the old file. */
      close (w->fd);
      w->fd = job->new_fd;
      job->new_fd = -1;
      g_clear_pointer (&w->carry, g_byte_array_unref);
      return;
    }

  job->errsv = 0;
  job->lost_from = job->batch->len;

  if (w->carry != NULL)
    {
      errsv = write_all (w->fd, w->carry->data, w->carry->len, &done);
      g_byte_array_remove_range (w->carry, 0, (guint) done);
      if (errsv != 0)
        {
          job->errsv = errsv;
          job->lost_from = 0;
          return;
        }
      g_clear_pointer (&w->carry, g_byte_array_unref);
    }

  errsv = write_all (w->fd, job->batch->data, job->batch->len, &done);
  if (errsv != 0)
    job_fail (w, job, done, errsv);
}

static gboolean io_dispatch (gpointer user_data);

/* Makes the main loop collect finished jobs soon. Called with io_lock. */
static void
io_request_dispatch_locked (void)
{
  if (!io_dispatch_pending && io_done.length > 0)
    {
      io_dispatch_pending = TRUE;
      g_idle_add_full (G_PRIORITY_DEFAULT, io_dispatch, NULL, NULL);
    }
}

/* Readers are paused (or not any more, @wake FALSE): a finished job must
 * wake the main loop to let them go on. Main thread. */
static void
io_set_wake_main (gboolean wake)
{
  g_mutex_lock (&io_lock);
  io_wake_main = wake;
  if (wake)
    io_request_dispatch_locked ();     /* jobs that finished meanwhile */
  g_mutex_unlock (&io_lock);
}

/* Runs some of @w's jobs. Called and returns with io_lock held. */
static void
io_run_writer_locked (PmLogWriter *w)
{
  Job *job;

  for (guint turn = 0; turn < PM_LOG_IO_TURN && (job = g_queue_pop_head (&w->jobs)) != NULL; turn++)
    {
      g_mutex_unlock (&io_lock);
      job_run (w, job);
      g_mutex_lock (&io_lock);

      /* The main thread is woken only when it waits for room or a write
       * failed; otherwise it collects finished jobs when it next hands one
       * over, or on the writer's timer: no wake-up per batch. */
      g_queue_push_tail (&io_done, job);
      if (io_wake_main || job->errsv != 0)
        io_request_dispatch_locked ();
    }

  if (w->jobs.length > 0)
    {
      /* Others' turn: back to the end of the queue. */
      g_queue_push_tail (&io_runq, w);
      g_cond_signal (&io_wake);
    }
  else
    {
      /* The last touch of @w: once its jobs are dispatched it may go. */
      w->scheduled = FALSE;
      g_cond_broadcast (&io_idle);
    }
}

static gpointer
io_thread (gpointer data)
{
  sigset_t all;

  /* Signals are for the main thread (and a write is never interrupted). */
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, NULL);

  g_mutex_lock (&io_lock);
  for (;;)
    {
      while (!io_quit && io_runq.length == 0)
        {
          io_n_waiting++;
          g_cond_wait (&io_wake, &io_lock);
          io_n_waiting--;
        }
      if (io_runq.length == 0)
        break;
      io_run_writer_locked (g_queue_pop_head (&io_runq));
    }
  g_mutex_unlock (&io_lock);
  return NULL;
}

/* Hands @job to the I/O threads, starting one if none is free. */
static void
io_submit (Job *job)
{
  PmLogWriter *w = job->writer;

  g_mutex_lock (&io_lock);
  g_queue_push_tail (&w->jobs, job);
  if (!w->scheduled)
    {
      w->scheduled = TRUE;
      g_queue_push_tail (&io_runq, w);
      if (io_n_waiting > 0)
        g_cond_signal (&io_wake);
      else if (io_n_threads < PM_LOG_IO_THREADS)
        {
          g_autoptr(GError) error = NULL;
          GThread *thread = g_thread_try_new ("pm-log-io", io_thread, NULL, &error);

          if (thread != NULL)
            io_threads[io_n_threads++] = thread;
          else if (io_n_threads == 0)
            {
              /* No thread at all: write here, as a last resort. */
              g_warning ("Cannot start a log I/O thread: %s", error->message);
              while (w->scheduled)
                {
                  g_queue_remove (&io_runq, w);
                  io_run_writer_locked (w);
                }
            }
        }
    }
  g_mutex_unlock (&io_lock);
}

/* ---- the writer (main thread) ----------------------------------------- */

static void
writer_resume_readers (PmLogWriter *self)
{
  while (self->paused->len > 0)
    {
      Stream *stream = g_ptr_array_steal_index_fast (self->paused, self->paused->len - 1);

      stream->paused = FALSE;
      if (--n_paused == 0)
        io_set_wake_main (FALSE);
      if (stream->fd >= 0)
        stream_watch (stream);
    }
}

static gboolean
writer_congested (PmLogWriter *self)
{
  return self->in_flight + (self->batch != NULL ? self->batch->len : 0) >= PM_LOG_HIGH_WATER;
}

static void writer_arm_timer (PmLogWriter *self);

/* Whether more lines may come in, finished jobs counted. */
static gboolean
writer_has_room (PmLogWriter *self)
{
  if (!writer_congested (self))
    return TRUE;
  io_dispatch (NULL);
  return !writer_congested (self);
}

static gboolean
on_flush_timer (gpointer user_data)
{
  g_autoptr(PmLogWriter) self = pm_log_writer_ref (user_data);

  self->flush_timer = 0;
  io_dispatch (NULL);
  if (self->batch == NULL || self->batch->len == 0)
    {
      if (self->busy || self->in_flight > 0)
        {
          /* Batches went out meanwhile: look again a period later. */
          self->busy = FALSE;
          writer_arm_timer (self);
          return G_SOURCE_REMOVE;
        }
      /* Idle for a whole period: memory follows activity. */
      g_clear_pointer (&self->batch, batch_free);
      g_ptr_array_set_size (self->spares, 0);
      return G_SOURCE_REMOVE;
    }
  writer_flush (self);
  return G_SOURCE_REMOVE;
}

static void
writer_arm_timer (PmLogWriter *self)
{
  if (self->flush_timer == 0)
    self->flush_timer = g_timeout_add (PM_LOG_FLUSH_MS, on_flush_timer, self);
}

/* The batch being filled, with room for @room more bytes. */
static Batch *
writer_batch (PmLogWriter *self,
              gsize        room)
{
  Batch *b = self->batch;

  if (b == NULL)
    b = self->batch = self->spares->len > 0
      ? g_ptr_array_steal_index_fast (self->spares, self->spares->len - 1)
      : batch_new ();

  if (G_UNLIKELY (b->len + room > b->cap))
    {
      b->cap = MAX (b->len + room, b->cap * 2);
      b->data = g_realloc (b->data, b->cap);
    }
  return b;
}

/* Adds @len bytes, already in place at the end of the batch, as @client's. */
static void
writer_commit (PmLogWriter *self,
               PmLogClient *client,
               gsize        len)
{
  Batch *b = self->batch;
  Segment *last;

  b->len += len;
  last = b->segments->len > 0
    ? &g_array_index (b->segments, Segment, b->segments->len - 1) : NULL;
  if (last != NULL && last->client == client)
    last->end = b->len;
  else
    {
      Segment seg = { pm_log_client_ref (client), b->len };
      g_array_append_val (b->segments, seg);
    }
}

/* Makes sure @extra more bytes fit, and notes that they belong to @client. */
static guint8 *
writer_reserve (PmLogWriter *self,
                PmLogClient *client,
                gsize        extra)
{
  Batch *b = writer_batch (self, extra);
  gsize old_len = b->len;

  writer_commit (self, client, extra);
  return b->data + old_len;
}

/* Hands the pending lines to the I/O threads. */
static void
writer_flush (PmLogWriter *self)
{
  Job *job;

  g_clear_handle_id (&self->flush_timer, g_source_remove);
  if (self->batch == NULL || self->batch->len == 0)
    return;

  job = g_new0 (Job, 1);
  job->writer = pm_log_writer_ref (self);
  job->kind = JOB_WRITE;
  job->batch = g_steal_pointer (&self->batch);
  job->new_fd = -1;
  self->in_flight += job->batch->len;
  self->busy = TRUE;
  io_submit (job);

  /* Collect what the I/O threads finished meanwhile (their buffers come
   * back for the next batches); the timer makes sure the rest is too. */
  io_dispatch (NULL);
  writer_arm_timer (self);
}

static void
writer_schedule (PmLogWriter *self)
{
  if (self->batch == NULL)
    return;
  if (self->batch->len >= PM_LOG_FLUSH_BYTES)
    writer_flush (self);
  else if (self->batch->len > 0)
    writer_arm_timer (self);
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

/* A job is back from its I/O thread. */
static void
job_complete (Job *job)
{
  PmLogWriter *self = job->writer;

  if (job->kind == JOB_WRITE)
    {
      Batch *b = job->batch;

      self->in_flight -= b->len;
      if (job->errsv != 0)
        {
          if (self->last_errno != job->errsv)
            g_message ("Cannot write to %s: %s", self->path ? self->path : "standard output",
                       g_strerror (job->errsv));
          self->last_errno = job->errsv;
          batch_count_lost (b, self, job->lost_from, b->len);
        }
      else if (self->last_errno != 0)
        {
          /* Writing works again: say what went missing. */
          writer_append_lost_reports (self);
          self->last_errno = 0;
        }

      batch_reset (b);
      /* A busy writer cycles through the same few buffers: no allocation,
       * no page faults per batch. */
      if (self->spares->len < PM_LOG_SPARES)
        g_ptr_array_add (self->spares, b);
      else
        batch_free (b);
      if (!writer_congested (self))
        writer_resume_readers (self);
      /* Frees the spares if nothing comes meanwhile. */
      writer_arm_timer (self);
    }
  else if (job->new_fd >= 0)
    close (job->new_fd);

  g_free (job);
  pm_log_writer_unref (self);
}

static gboolean
io_dispatch (gpointer user_data)
{
  GQueue done;
  Job *job;

  g_mutex_lock (&io_lock);
  done = io_done;
  g_queue_init (&io_done);
  io_dispatch_pending = FALSE;
  g_mutex_unlock (&io_lock);

  while ((job = g_queue_pop_head (&done)) != NULL)
    job_complete (job);
  return G_SOURCE_REMOVE;
}

/* Waits until every job handed over for @self is written, and accounts for
 * them. Blocks the main loop: for exits, rotation and shutdown only. */
static void
writer_wait_idle (PmLogWriter *self)
{
  g_mutex_lock (&io_lock);
  while (self->scheduled)
    g_cond_wait (&io_idle, &io_lock);
  g_mutex_unlock (&io_lock);
  io_dispatch (NULL);
}

static PmLogWriter *
writer_new (char *path,
            int   fd)
{
  PmLogWriter *self = g_new0 (PmLogWriter, 1);
  struct stat st;

  g_atomic_ref_count_init (&self->ref);
  self->path = path;
  self->fd = fd;
  self->regular = fstat (fd, &st) == 0 && S_ISREG (st.st_mode);
  self->paused = g_ptr_array_new ();
  self->lossy = g_ptr_array_new ();
  self->spares = g_ptr_array_new_with_free_func ((GDestroyNotify) batch_free);
  g_queue_init (&self->jobs);
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

/* As @creds (pm-creds.h): the directories and the file are theirs, and
 * nothing is created where they may not write. */
static int
open_log (const char    *path,
          const PmCreds *creds,
          GError       **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd;

  if (pm_mkdir_as (creds, dir, 0755) < 0)
    {
      int errsv = errno;
      g_set_error (error, PM_ERROR, PM_ERROR_LOG_FAILED,
                   _("Log “%s”: cannot create directory “%s”: %s"),
                   path, dir, g_strerror (errsv));
      return -1;
    }

  fd = pm_open_as (creds, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, PM_ERROR, PM_ERROR_LOG_FAILED,
                   _("Log “%s”: %s"), path, g_strerror (errsv));
    }
  return fd;
}

PmLogWriter *
pm_log_writer_open (const char    *path,
                    const PmCreds *creds,
                    GError       **error)
{
  PmLogWriter *self;
  g_autofree char *key = NULL;
  int fd;

  g_return_val_if_fail (g_path_is_absolute (path), NULL);

  fd = open_log (path, creds, error);
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
  self->creds = creds != NULL ? pm_creds_copy (creds) : NULL;
  self->key = g_steal_pointer (&key);
  if (self->key != NULL)
    g_hash_table_insert (writers, self->key, self);
  return self;
}

PmLogWriter *
pm_log_writer_get_stdout (void)
{
  /* Written by an I/O thread, so a slow reader of our output (the journal)
   * holds up only that thread, and then the children's pipes. */
  if (stdout_writer == NULL)
    stdout_writer = writer_new (NULL, STDOUT_FILENO);
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

  /* Every pending line holds its client, and every client and job holds
   * the writer: nothing is left to write. */
  g_warn_if_fail (self->batch == NULL || self->batch->len == 0);
  g_warn_if_fail (self->lossy->len == 0);
  writer_wait_idle (self);

  g_clear_handle_id (&self->flush_timer, g_source_remove);
  g_clear_pointer (&self->batch, batch_free);
  g_ptr_array_unref (self->spares);
  g_ptr_array_unref (self->paused);
  g_ptr_array_unref (self->lossy);
  g_clear_pointer (&self->carry, g_byte_array_unref);

  if (self->key != NULL && writers != NULL)
    g_hash_table_remove (writers, self->key);
  if (self->fd != STDOUT_FILENO)
    close (self->fd);
  if (self == stdout_writer)
    stdout_writer = NULL;
  g_free (self->key);
  g_free (self->path);
  pm_creds_free (self->creds);
  g_free (self);
}

/* Everything accepted so far goes out and is accounted for; then the "lines
 * lost" reports that a recovered writer appends. Blocks. */
static void
writer_drain (PmLogWriter *self)
{
  for (guint round = 0; round < 2; round++)
    {
      writer_flush (self);
      writer_wait_idle (self);
    }
}

/* A snapshot, with references: flushing may change the registry. */
static GPtrArray *
all_writers (void)
{
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) pm_log_writer_unref);
  GHashTableIter iter;
  gpointer value;

  if (writers != NULL)
    {
      g_hash_table_iter_init (&iter, writers);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        g_ptr_array_add (all, pm_log_writer_ref (value));
    }
  return all;
}

gboolean
pm_log_reopen_all (GError **error)
{
  g_autoptr(GPtrArray) all = all_writers ();
  g_autoptr(GString) failed = NULL;

  for (guint i = 0; i < all->len; i++)
    {
      PmLogWriter *self = g_ptr_array_index (all, i);
      g_autoptr(GError) local_error = NULL;
      Job *job;
      int fd;

      /* Everything accepted so far belongs to the old file. */
      writer_flush (self);

      fd = open_log (self->path, self->creds, &local_error);
      if (fd < 0)
        {
          if (failed == NULL)
            failed = g_string_new (NULL);
          else
            g_string_append (failed, "; ");
          g_string_append (failed, local_error->message);
          continue;
        }

      job = g_new0 (Job, 1);
      job->writer = pm_log_writer_ref (self);
      job->kind = JOB_SWITCH;
      job->new_fd = fd;
      io_submit (job);

      if (self->key != NULL)
        g_hash_table_remove (writers, self->key);
      g_free (self->key);
      self->key = file_key (fd);
      if (self->key != NULL)
        g_hash_table_replace (writers, self->key, self);
    }

  /* When this returns, the old files are complete and closed. */
  for (guint i = 0; i < all->len; i++)
    writer_wait_idle (g_ptr_array_index (all, i));

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
  g_autoptr(GPtrArray) all = all_writers ();

  if (stdout_writer != NULL)
    g_ptr_array_add (all, pm_log_writer_ref (stdout_writer));
  for (guint i = 0; i < all->len; i++)
    writer_drain (g_ptr_array_index (all, i));
}

void
pm_log_shutdown (void)
{
  g_autoptr(GPtrArray) all = all_writers ();

  if (stdout_writer != NULL)
    g_ptr_array_add (all, pm_log_writer_ref (stdout_writer));
  for (guint i = 0; i < all->len; i++)
    {
      PmLogWriter *self = g_ptr_array_index (all, i);
      g_autoptr(GPtrArray) lossy = NULL;

      writer_drain (self);
      /* Reports that can no longer be written: let their clients go. */
      lossy = g_steal_pointer (&self->lossy);
      self->lossy = g_ptr_array_new ();
      g_ptr_array_set_free_func (lossy, (GDestroyNotify) pm_log_client_unref);
    }
  g_clear_pointer (&all, g_ptr_array_unref);

  g_mutex_lock (&io_lock);
  io_quit = TRUE;
  g_cond_broadcast (&io_wake);
  g_mutex_unlock (&io_lock);
  for (guint i = 0; i < io_n_threads; i++)
    g_thread_join (io_threads[i]);
  io_n_threads = 0;
  io_quit = FALSE;
  io_dispatch (NULL);

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

/* Lines that need no prefix, time or change: a whole run in one copy. */
static void
emit_run (const guint8 *lines,
          gsize         len,
          gpointer      user_data)
{
  PmLogClient *client = user_data;

  memcpy (writer_reserve (client->writer, client, len), lines, len);
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
  Batch *b = writer_batch (writer, pending + PM_LOG_READ_BYTES);
  guint8 *start = b->data + b->len;
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
    writer_commit (writer, client, p - start);
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
    {
      g_ptr_array_remove_fast (writer->paused, stream);
      if (--n_paused == 0)
        io_set_wake_main (FALSE);
    }
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

      if (!writer_has_room (writer))
        {
          if (!drain)
            break;
          /* What an exited child left in its pipe is read now or never:
           * wait for room rather than stop. */
          writer_flush (writer);
          writer_wait_idle (writer);
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
          writer_schedule (writer);
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
      writer_schedule (writer);
      stream_close (stream);
      return;
    }

  if (!writer_has_room (writer))
    {
      /* The file does not keep up: stop reading, the child blocks on its
       * pipe. Resumed by writer_resume_readers. */
      stream->paused = TRUE;
      g_ptr_array_add (writer->paused, stream);
      if (n_paused++ == 0)
        io_set_wake_main (TRUE);
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
      writer_flush (self->writer);
      if (self->writer->regular)
        writer_wait_idle (self->writer);
    }
}

