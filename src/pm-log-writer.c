/* pm-log-writer.c — one log file's writer: whole lines, batched, written by
 * I/O threads.
 *
 * The readers (pm-log-reader.c) put complete lines, as
 * "[TIME ][NAME: ]line\n", into the writer's batch. A full batch (or one
 * 50 ms old) is handed whole to an I/O thread, which writes it with as few
 * write() calls as the file takes. A line enters a batch whole, batches of
 * one file are written in order by one thread at a time, and one writer
 * serves every process sharing a file: lines never tear or mix.
 *
 * The I/O threads only ever touch a batch handed to them and the writer's
 * descriptor; what happened (lines lost to a write error) goes back to the
 * main thread with the batch, which does the accounting. So the main loop
 * never blocks on a slow disk, and reading and writing use two cores.
 *
 * Rotation (logMaxBytes, logBackups) is done by the I/O thread between two
 * writes of a batch: the batch is cut after the last whole line that still
 * fits, the files move down the chain (the oldest backup, emptied, becomes
 * the new file: writer_rotate_reusing()), and the rest goes into it. Lines
 * are written in order by one thread, so none tears, goes missing or
 * changes places, and a file shared by several processes is rotated once.
 * ReopenLogs is done by the same thread, in turn with the batches, so the
 * two may come in any order.
 *
 * Memory bound, documented in the README: per writer, at most
 * PM_LOG_HIGH_WATER bytes handed over or pending plus what one read can
 * expand to (PM_LOG_WRITER_MAX_BYTES); above the high water its readers
 * are paused and their children block on their pipes. A busy writer keeps
 * its written batches for reuse up to PM_LOG_WRITER_MAX_BATCHES in all,
 * and frees them once idle.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-log"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "pm-creds.h"
#include "pm-error.h"
#include "pm-lines.h"
#include "pm-log-reader.h"
#include "pm-log-writer.h"

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
  JOB_WRITE,               /* write a batch (rotating the file as needed) */
  JOB_REOPEN,              /* continue in the file now at the path */
} JobKind;

typedef struct
{
  PmLogWriter *writer;     /* owns a reference, released on the main thread */
  JobKind      kind;
  Batch       *batch;      /* JOB_WRITE */
  guint64      max_bytes;  /* JOB_WRITE: rotate past this (0: never) ... */
  guint        backups;    /* ... keeping this many old files */
  /* Set by the I/O thread: */
  int          errsv;      /* 0, or why writing failed */
  gboolean     rotate_failed; /* errsv is a rename's or create's */
  gsize        lost_from;  /* lines from this offset on were not written */
  guint        rotations;  /* how often the file was rotated */
  char        *new_key;    /* the file's "dev:ino" when it changed */
  GError      *error;      /* JOB_REOPEN: the path could not be opened */
} Job;

/* A process writing to the file, and the rotation it asks for. */
typedef struct
{
  PmLogClient *client;     /* not owned: it leaves before it goes */
  guint64      max_bytes;
  guint        backups;
} Member;

struct _PmLogWriter
{
  gatomicrefcount ref;
  char           *path;         /* NULL for standard output */
  char           *key;          /* "dev:ino" in the registry, or NULL */
  PmCreds        *creds;        /* whom it was opened as (reopened and rotated as), or NULL */
  gboolean        regular;      /* a regular file: exits wait for its lines */

  /* Main thread only. */
  Batch          *batch;        /* being filled; NULL while none */
  GPtrArray      *spares;       /* of Batch*: written, kept for the next ones */
  gsize           in_flight;    /* bytes handed to the I/O threads */
  guint           n_in_flight;  /* and in how many batches */
  guint           flush_timer;
  gboolean        busy;         /* a batch went out since the timer was armed */
  GPtrArray      *paused;       /* of PmLogStream*: readers waiting for room */
  GPtrArray      *lossy;        /* of PmLogClient* (refs) owed a "lost" line */
  int             last_errno;
  GArray         *members;      /* of Member: every process writing here */
  guint64         max_bytes;    /* the members' smallest non-zero logMaxBytes */
  guint           backups;      /* and largest logBackups among those */
  GError         *reopen_error; /* the last JOB_REOPEN's, for pm_log_reopen_all() */
  guint           untold;       /* rotations the members have not been told of */
  gint64          told_at;      /* when they last were (monotonic µs) */

  /* Under io_lock. */
  GQueue          jobs;
  gboolean        scheduled;    /* jobs queued or being run */

  /* The I/O thread running the writer's jobs (one at a time); the main
   * thread only before the first job and after the last. */
  int             fd;
  GByteArray     *carry;        /* the rest of a line torn in a pipe */
  guint           shifting;     /* a rename failed: the chain goes on from LOG.N */
  gboolean        renamed;      /* rotated away; the new file is still to create */
  struct stat     renamed_st;   /* the mode and owner it is to have */
  int             reuse_fd;     /* the oldest backup, emptied, on its way to LOG, or -1 */
  guint           reuse_at;     /* and the LOG.N it is at */
  gboolean        no_exchange;  /* RENAME_EXCHANGE refused here */
};

static GHashTable  *writers;        /* key → PmLogWriter* (weak) */
static PmLogWriter *stdout_writer;
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

static int   open_log (const char    *path,
                       const PmCreds *creds,
                       GError       **error);
static char *file_key (int fd);
static void  writers_settle (void);

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
    pm_log_reader_release_buffer ();
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

      if (pm_log_client_count_lost (seg->client, n))
        g_ptr_array_add (writer->lossy, pm_log_client_ref (seg->client));
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

/* Moves FILE.N-1 → FILE.N … FILE → FILE.1 and goes on in a new FILE with
 * the old one's mode and owner: the old FILE.N emptied and exchanged down
 * (writer_rotate_reusing()) or, where that cannot be, deleted first and a
 * new FILE created; with no backups, empties FILE in place. A backup that
 * is not there is skipped. Returns 0, or the errno of the rename or create that failed: the
 * next batch goes on from there (no backup is shifted or deleted twice).
 *
 * No rename replaces a file: ext4 (auto_da_alloc) would start writing back
 * the renamed file's data at once, a rotation costing a flush to disk. */
static int writer_rotate_as_owner (PmLogWriter *w,
                                   guint        backups);

/* As the writer's owner (pm-creds.h, this thread only): a caller's log
 * rotates only where the caller could rename and create files itself. */
static int
writer_rotate (PmLogWriter *w,
               guint        backups)
{
  PmCredsSaved saved;
  int errsv;

  if (!pm_creds_enter (w->creds, &saved))
    return errno;
  errsv = writer_rotate_as_owner (w, backups);
  pm_creds_leave (&saved);
  return errsv;
}

/* Gives @fd the mode and owner of @like. Best effort: only root may give a
 * file to another owner, and the file is written either way. */
static void
fd_take_mode_owner (int                fd,
                    const struct stat *like)
{
  struct stat st;

  if (fstat (fd, &st) < 0)
    return;
  if (st.st_uid != like->st_uid || st.st_gid != like->st_gid)
    (void) fchown (fd, like->st_uid, like->st_gid);
  if ((st.st_mode & 07777) != (like->st_mode & 07777))
    (void) fchmod (fd, like->st_mode & 07777);
}

static void
clear_fd (int *fd)
{
  if (*fd >= 0)
    close (g_steal_fd (fd));
}

/* The rotation with no inode deleted or created: the oldest backup, about
 * to be deleted, is emptied instead and moved down the chain by exchanges
 * (RENAME_EXCHANGE: LOG.N-1 ↔ LOG.N … LOG ↔ LOG.1) until it is the new
 * LOG, with the old one's mode and owner. perf: deleting the oldest and
 * creating LOG were half of a rotation's cost, the create alone a third on
 * ext4 without a journal (its allocator steps over every inode freed in
 * the last minute, one per rotation here); freeing the backup's page cache
 * is the same either way. LOG is never missing, and no exchange writes a
 * file back (auto_da_alloc is a rename's onto a file). Only a regular file
 * with no other link is emptied (a hard link's data stays, as unlink left
 * it). Returns 0 once LOG is the emptied file, an errno to go on from at
 * the next batch, or -1 where it does not apply (no oldest backup yet, no
 * RENAME_EXCHANGE on the file system): then renames go on from
 * w->shifting. */
static int
writer_rotate_reusing (PmLogWriter *w,
                       guint        backups)
{
  struct stat st, at;

  if (w->reuse_fd < 0)
    {
      g_autofree char *oldest = NULL;
      int fd;

      if (w->no_exchange || w->shifting != 0)
        return -1;
      oldest = g_strdup_printf ("%s.%u", w->path, backups);
      fd = open (oldest, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
      if (fd < 0)
        return -1;
      if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_nlink != 1 ||
          fstat (w->fd, &w->renamed_st) < 0 ||
          (st.st_dev == w->renamed_st.st_dev && st.st_ino == w->renamed_st.st_ino) ||
          ftruncate (fd, 0) < 0)
        {
          close (fd);
          return -1;
        }
      /* ext4 takes a truncation to 0 for the start of a file's rewrite and
       * writes the file back when it is next closed (auto_da_alloc): its
       * next close would write back the whole log (measured: ×0.38). A
       * descriptor closed now, while the file is empty, takes that flush
       * away, empty. */
      {
        g_autofree char *self_fd = g_strdup_printf ("/proc/self/fd/%d", fd);
        int again = open (self_fd, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (again >= 0)
          close (again);
      }
      fd_take_mode_owner (fd, &w->renamed_st);
      w->reuse_fd = fd;
      w->reuse_at = backups;
    }
  else
    {
      /* Going on after a failure: is it still where it was left? */
      g_autofree char *here = g_strdup_printf ("%s.%u", w->path, w->reuse_at);

      if (lstat (here, &at) < 0 || fstat (w->reuse_fd, &st) < 0 ||
          at.st_dev != st.st_dev || at.st_ino != st.st_ino)
        {
          w->shifting = w->reuse_at;
          clear_fd (&w->reuse_fd);
          return -1;
        }
    }

  while (w->reuse_at >= 1)
    {
      g_autofree char *here = g_strdup_printf ("%s.%u", w->path, w->reuse_at);
      g_autofree char *lower = w->reuse_at > 1 ? g_strdup_printf ("%s.%u", w->path, w->reuse_at - 1)
                                               : g_strdup (w->path);

      if (renameat2 (AT_FDCWD, lower, AT_FDCWD, here, RENAME_EXCHANGE) == 0 ||
          (errno == ENOENT &&
           renameat2 (AT_FDCWD, here, AT_FDCWD, lower, RENAME_NOREPLACE) == 0))
        {
          /* Exchanged, or (no LOG.N-1) moved down. */
          w->reuse_at--;
          continue;
        }
      if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
        {
          g_debug ("%s: no RENAME_EXCHANGE (%s), rotating by renames", w->path,
                   g_strerror (errno));
          w->no_exchange = TRUE;
          (void) unlink (here);
          w->shifting = w->reuse_at;
          clear_fd (&w->reuse_fd);
          return -1;
        }
      return errno;
    }
  /* Its mode and owner were given when it was emptied. */
  close (w->fd);
  w->fd = g_steal_fd (&w->reuse_fd);
  return 0;
}

static int
writer_rotate_as_owner (PmLogWriter *w,
                        guint        backups)
{
  g_autoptr(GError) error = NULL;
  struct stat st;
  int fd;

  if (backups == 0 && !w->renamed)
    return ftruncate (w->fd, 0) == 0 ? 0 : errno;

  if (!w->renamed)
    {
      int r = writer_rotate_reusing (w, backups);

      if (r >= 0)
        return r;
    }

  if (!w->renamed)
    {
      if (w->shifting == 0)
        {
          g_autofree char *oldest = g_strdup_printf ("%s.%u", w->path, backups);

          if (fstat (w->fd, &w->renamed_st) < 0)
            return errno;
          /* Not there, or not a file (then the rename onto it fails): fine. */
          (void) unlink (oldest);
          w->shifting = backups;
        }
      for (; w->shifting >= 1; w->shifting--)
        {
          guint i = w->shifting;
          g_autofree char *from = i > 1 ? g_strdup_printf ("%s.%u", w->path, i - 1)
                                        : g_strdup (w->path);
          g_autofree char *to = g_strdup_printf ("%s.%u", w->path, i);

          if (rename (from, to) < 0 && errno != ENOENT)
            return errno;
        }
      w->renamed = TRUE;
    }

  /* The same function as every other open of a log: whatever it does about
   * directories and ownership, it does for a rotated file too. */
  fd = open_log (w->path, w->creds, &error);
  if (fd < 0)
    return errno;

  /* Best effort: only root may give a file to another owner, and the file
   * is written either way. */
  if (fstat (fd, &st) == 0)
    {
      if (st.st_uid != w->renamed_st.st_uid || st.st_gid != w->renamed_st.st_gid)
        (void) fchown (fd, w->renamed_st.st_uid, w->renamed_st.st_gid);
      if ((st.st_mode & 07777) != (w->renamed_st.st_mode & 07777))
        (void) fchmod (fd, w->renamed_st.st_mode & 07777);
    }
  close (w->fd);
  w->fd = fd;
  w->renamed = FALSE;
  return 0;
}

/* Writes @job's batch into a file that is to stay within job->max_bytes:
 * as many whole lines as fit, a rotation, the rest. A line longer than the
 * limit goes alone into a file of its own. */
static void
job_write_rotating (PmLogWriter *w,
                    Job         *job)
{
  Batch *b = job->batch;
  gboolean fresh = FALSE;   /* rotated just now: at least one line goes in */
  gsize off = 0;

  while (off < b->len)
    {
      struct stat st;
      gsize n = 0;
      gsize done;
      int errsv;

      if (!w->renamed)
        {
          guint64 size;

          if (fstat (w->fd, &st) < 0)
            {
              job_fail (w, job, off, errno);
              break;
            }
          size = (guint64) st.st_size;
          n = pm_lines_fit (b->data + off, b->len - off,
                            size < job->max_bytes ? job->max_bytes - size : 0,
                            fresh || size == 0);
        }
      if (n > 0)
        {
          errsv = write_all (w->fd, b->data + off, n, &done);
          if (errsv != 0)
            {
              job_fail (w, job, off + done, errsv);
              break;
            }
          off += n;
          fresh = FALSE;
          continue;
        }

      errsv = writer_rotate (w, job->backups);
      if (errsv != 0)
        {
          /* As a failed write: the lines not written are lost and counted,
           * and the notice follows once a batch gets through. */
          job->errsv = errsv;
          job->rotate_failed = TRUE;
          job->lost_from = off;
          break;
        }
      job->rotations++;
      fresh = TRUE;
    }

  if (job->rotations > 0)
    {
      g_free (job->new_key);
      job->new_key = file_key (w->fd);
    }
}

/* ReopenLogs: every batch before this one went to the old file. */
static void
job_reopen (PmLogWriter *w,
            Job         *job)
{
  int fd = open_log (w->path, w->creds, &job->error);

  if (fd < 0)
    return;     /* the old file it is, then */
  close (w->fd);
  w->fd = fd;
  w->renamed = FALSE;
  w->shifting = 0;
  clear_fd (&w->reuse_fd);
  g_clear_pointer (&w->carry, g_byte_array_unref);
  job->new_key = file_key (fd);
}

static void
job_run (PmLogWriter *w,
         Job         *job)
{
  gsize done;
  int errsv;

  if (job->kind == JOB_REOPEN)
    {
      job_reopen (w, job);
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

  if (job->max_bytes > 0)
    {
      job_write_rotating (w, job);
      return;
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
      PmLogStream *stream = g_ptr_array_steal_index_fast (self->paused, self->paused->len - 1);

      if (--n_paused == 0)
        io_set_wake_main (FALSE);
      pm_log_stream_resume (stream);
    }
}

void
pm_log_writer_pause (PmLogWriter *self,
                     PmLogStream *stream)
{
  g_ptr_array_add (self->paused, stream);
  if (n_paused++ == 0)
    io_set_wake_main (TRUE);
}

void
pm_log_writer_unpause (PmLogWriter *self,
                       PmLogStream *stream)
{
  if (g_ptr_array_remove_fast (self->paused, stream) && --n_paused == 0)
    io_set_wake_main (FALSE);
}

gboolean
pm_log_writer_is_regular (PmLogWriter *self)
{
  return self->regular;
}

static gboolean
writer_congested (PmLogWriter *self)
{
  return self->in_flight + (self->batch != NULL ? self->batch->len : 0) >= PM_LOG_HIGH_WATER;
}

static void writer_arm_timer (PmLogWriter *self);
static void writer_tell_rotations (PmLogWriter *self);

/* Whether more lines may come in, finished jobs counted. */
gboolean
pm_log_writer_has_room (PmLogWriter *self)
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
  writer_tell_rotations (self);
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
  pm_log_writer_flush (self);
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

guint8 *
pm_log_writer_tail (PmLogWriter *self,
                    gsize        room)
{
  Batch *b = writer_batch (self, room);

  return b->data + b->len;
}

/* Adds @len bytes, already in place at the end of the batch, as @client's. */
void
pm_log_writer_commit (PmLogWriter *self,
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
guint8 *
pm_log_writer_reserve (PmLogWriter *self,
                       PmLogClient *client,
                       gsize        extra)
{
  Batch *b = writer_batch (self, extra);
  gsize old_len = b->len;

  pm_log_writer_commit (self, client, extra);
  return b->data + old_len;
}

/* Hands the pending lines to the I/O threads. */
void
pm_log_writer_flush (PmLogWriter *self)
{
  Job *job;

  g_clear_handle_id (&self->flush_timer, g_source_remove);
  if (self->batch == NULL || self->batch->len == 0)
    return;

  job = g_new0 (Job, 1);
  job->writer = pm_log_writer_ref (self);
  job->kind = JOB_WRITE;
  job->batch = g_steal_pointer (&self->batch);
  if (self->path != NULL && self->regular)
    {
      job->max_bytes = self->max_bytes;
      job->backups = self->backups;
    }
  self->in_flight += job->batch->len;
  self->n_in_flight++;
  self->busy = TRUE;
  io_submit (job);

  /* Collect what the I/O threads finished meanwhile (their buffers come
   * back for the next batches); the timer makes sure the rest is too. */
  io_dispatch (NULL);
  writer_arm_timer (self);
}

void
pm_log_writer_schedule (PmLogWriter *self)
{
  if (self->batch == NULL)
    return;
  if (self->batch->len >= PM_LOG_FLUSH_BYTES)
    pm_log_writer_flush (self);
  else if (self->batch->len > 0)
    writer_arm_timer (self);
}

static void
writer_append_lost_reports (PmLogWriter *self)
{
  while (self->lossy->len > 0)
    {
      PmLogClient *client = g_ptr_array_steal_index (self->lossy, 0);

      pm_log_client_report_lost (client, self->last_errno);
      pm_log_client_unref (client);
    }
  pm_log_writer_schedule (self);
}

/* The file at the path is another one now: the registry follows, so that a
 * process opening the path finds this writer. */
static void
writer_set_key (PmLogWriter *self,
                char        *key)
{
  if (writers == NULL)
    return g_free (key);
  if (self->key != NULL && g_hash_table_lookup (writers, self->key) == self)
    g_hash_table_remove (writers, self->key);
  g_free (self->key);
  self->key = key;
  if (self->key != NULL)
    g_hash_table_replace (writers, self->key, self);
}

/* Whether a written batch is kept for the next ones: PM_LOG_SPARES of
 * them, and while the writer is busy as many more as keep all its batches
 * (in flight, spare and being filled) within PM_LOG_WRITER_MAX_BATCHES. A
 * batch is larger than malloc's mmap threshold (main.c), so a batch freed
 * and allocated again is an munmap, an mmap and a page fault per page:
 * with eight children writing flat out, most batches came back to find
 * the spares full. One grown for long prefixed lines is not kept beyond
 * PM_LOG_SPARES. */
static gboolean
writer_keeps_spare (PmLogWriter *self,
                    Batch       *b)
{
  /* The batches it would own with @b kept: those in flight, the spares,
   * @b and the one being filled. */
  gsize owned = self->n_in_flight + self->spares->len + 2;

  return self->spares->len < PM_LOG_SPARES
    || (b->cap == PM_LOG_BATCH_BYTES && owned <= PM_LOG_WRITER_MAX_BATCHES);
}

/* Tells every member the rotations since the last time. A file rotating
 * flat out rotates a thousand times a second, and each rotation told at
 * once was a PropertiesChanged per process: a D-Bus signal built on the
 * main thread, sent by GDBus's thread and routed by the bus, about half
 * of what rotation cost the benchmark in CPU. So they are told at once if
 * none were for PM_LOG_FLUSH_MS, else on the writer's timer, and always
 * before an exit is known (pm_log_writer_wait_idle()) and before the
 * members change. */
static void
writer_tell_rotations (PmLogWriter *self)
{
  guint n = self->untold;

  if (n == 0)
    return;
  self->untold = 0;
  self->told_at = g_get_monotonic_time ();
  for (guint i = 0; i < self->members->len; i++)
    pm_log_client_rotated (g_array_index (self->members, Member, i).client, n);
}

/* A job is back from its I/O thread. */
static void
job_complete (Job *job)
{
  PmLogWriter *self = job->writer;

  if (job->new_key != NULL)
    writer_set_key (self, g_steal_pointer (&job->new_key));
  if (job->rotations > 0)
    {
      g_debug ("Rotated %s (%u)", self->path, job->rotations);
      self->untold += job->rotations;
      if (g_get_monotonic_time () - self->told_at >= PM_LOG_FLUSH_MS * G_TIME_SPAN_MILLISECOND)
        writer_tell_rotations (self);
      else
        writer_arm_timer (self);
    }

  if (job->kind == JOB_WRITE)
    {
      Batch *b = job->batch;

      self->in_flight -= b->len;
      self->n_in_flight--;
      if (job->errsv != 0)
        {
          if (self->last_errno != job->errsv && job->rotate_failed)
            g_message ("Cannot rotate %s: %s", self->path, g_strerror (job->errsv));
          else if (self->last_errno != job->errsv)
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
      if (writer_keeps_spare (self, b))
        g_ptr_array_add (self->spares, b);
      else
        batch_free (b);
      if (!writer_congested (self))
        writer_resume_readers (self);
      /* Frees the spares if nothing comes meanwhile. */
      writer_arm_timer (self);
    }
  else if (job->error != NULL)
    {
      g_clear_error (&self->reopen_error);
      self->reopen_error = g_steal_pointer (&job->error);
    }

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
void
pm_log_writer_wait_idle (PmLogWriter *self)
{
  g_mutex_lock (&io_lock);
  while (self->scheduled)
    g_cond_wait (&io_idle, &io_lock);
  g_mutex_unlock (&io_lock);
  io_dispatch (NULL);
  writer_tell_rotations (self);
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
  self->members = g_array_new (FALSE, FALSE, sizeof (Member));
  g_queue_init (&self->jobs);
  self->reuse_fd = -1;
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

/* Every open of a log file, the first one, ReopenLogs' and rotation's (on
 * an I/O thread): PM_ERROR_LOG_FAILED, with errno kept, on failure. As
 * @creds (pm-creds.h): the directories and the file are theirs, and nothing
 * is created where they may not write. */
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
      errno = errsv;
      return -1;
    }

  fd = pm_open_as (creds, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, PM_ERROR, PM_ERROR_LOG_FAILED,
                   _("Log “%s”: %s"), path, g_strerror (errsv));
      errno = errsv;
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

  /* A rotating writer changes the file at its path on an I/O thread; once
   * it has written what it was handed, its key names the file now there. */
  writers_settle ();
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
  pm_log_writer_wait_idle (self);

  g_clear_handle_id (&self->flush_timer, g_source_remove);
  g_clear_pointer (&self->batch, batch_free);
  g_ptr_array_unref (self->spares);
  g_ptr_array_unref (self->paused);
  g_ptr_array_unref (self->lossy);
  g_array_unref (self->members);
  g_clear_error (&self->reopen_error);
  g_clear_pointer (&self->carry, g_byte_array_unref);

  if (self->key != NULL && writers != NULL)
    g_hash_table_remove (writers, self->key);
  if (self->fd != STDOUT_FILENO)
    close (self->fd);
  clear_fd (&self->reuse_fd);
  if (self == stdout_writer)
    stdout_writer = NULL;
  pm_creds_free (self->creds);
  g_free (self->key);
  g_free (self->path);
  g_free (self);
}

/* Everything accepted so far goes out and is accounted for; then the "lines
 * lost" reports that a recovered writer appends. Blocks. */
static void
writer_drain (PmLogWriter *self)
{
  for (guint round = 0; round < 2; round++)
    {
      pm_log_writer_flush (self);
      pm_log_writer_wait_idle (self);
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

static void
writers_settle (void)
{
  g_autoptr(GPtrArray) all = all_writers ();

  for (guint i = 0; i < all->len; i++)
    {
      PmLogWriter *self = g_ptr_array_index (all, i);

      if (self->max_bytes > 0)
        pm_log_writer_wait_idle (self);
    }
}

/* The file is rotated at the smallest size any of its processes asks for,
 * keeping the most backups any of those asks for: nobody's file grows past
 * what they allowed, and nobody loses backups they wanted. A process that
 * does not rotate has no say in the number of backups. */
static void
writer_update_rotation (PmLogWriter *self)
{
  self->max_bytes = 0;
  self->backups = 0;
  for (guint i = 0; i < self->members->len; i++)
    {
      Member *m = &g_array_index (self->members, Member, i);

      if (m->max_bytes == 0)
        continue;
      if (self->max_bytes == 0 || m->max_bytes < self->max_bytes)
        self->max_bytes = m->max_bytes;
      self->backups = MAX (self->backups, m->backups);
    }
}

void
pm_log_writer_join (PmLogWriter *self,
                    PmLogClient *client,
                    guint64      max_bytes,
                    guint        backups)
{
  Member m = { client, max_bytes, backups };
  guint i;

  /* Standard output is never rotated, and may have thousands of writers. */
  if (self->path == NULL)
    return;
  /* What was rotated before is not the newcomer's to count. */
  writer_tell_rotations (self);
  for (i = 0; i < self->members->len; i++)
    if (g_array_index (self->members, Member, i).client == client)
      break;
  if (i < self->members->len)
    g_array_index (self->members, Member, i) = m;
  else
    g_array_append_val (self->members, m);
  writer_update_rotation (self);
}

void
pm_log_writer_leave (PmLogWriter *self,
                     PmLogClient *client)
{
  writer_tell_rotations (self);
  for (guint i = 0; i < self->members->len; i++)
    if (g_array_index (self->members, Member, i).client == client)
      {
        g_array_remove_index_fast (self->members, i);
        break;
      }
  writer_update_rotation (self);
}

gboolean
pm_log_reopen_all (GError **error)
{
  g_autoptr(GPtrArray) all = all_writers ();
  g_autoptr(GString) failed = NULL;

  for (guint i = 0; i < all->len; i++)
    {
      PmLogWriter *self = g_ptr_array_index (all, i);
      Job *job;

      /* Everything accepted so far belongs to the old file; the file is
       * opened by the I/O thread in turn with the batches (and rotations). */
      pm_log_writer_flush (self);
      g_clear_error (&self->reopen_error);
      job = g_new0 (Job, 1);
      job->writer = pm_log_writer_ref (self);
      job->kind = JOB_REOPEN;
      io_submit (job);
    }

  /* When this returns, the old files are complete and closed. */
  for (guint i = 0; i < all->len; i++)
    {
      PmLogWriter *self = g_ptr_array_index (all, i);

      pm_log_writer_wait_idle (self);
      if (self->reopen_error == NULL)
        continue;
      if (failed == NULL)
        failed = g_string_new (NULL);
      else
        g_string_append (failed, "; ");
      g_string_append (failed, self->reopen_error->message);
      g_clear_error (&self->reopen_error);
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

  pm_log_reader_release_buffer ();
}

