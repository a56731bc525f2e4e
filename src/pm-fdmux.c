/* pm-fdmux.c — many file descriptors behind one main-loop source. */
#include "config.h"

#define G_LOG_DOMAIN "pm-fdmux"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <glib-unix.h>

#include "pm-fdmux.h"

#define EVENTS_PER_DISPATCH 64

struct _PmFdWatch
{
  int      fd;
  PmFdFunc func;
  gpointer user_data;
  gboolean removed;
};

static int        epoll_fd = -1;
static guint      epoll_source;
static gboolean   dispatching;
static GPtrArray *graveyard;      /* watches removed during a dispatch */

static gboolean
on_epoll_ready (int          fd,
                GIOCondition condition,
                gpointer     user_data)
{
  struct epoll_event events[EVENTS_PER_DISPATCH];
  int n;

  do
    n = epoll_wait (epoll_fd, events, EVENTS_PER_DISPATCH, 0);
  while (n < 0 && errno == EINTR);

  /* A watch removed by an earlier callback of this batch may still be in
   * it: it is freed only when the batch is done. */
  dispatching = TRUE;
  for (int i = 0; i < n; i++)
    {
      PmFdWatch *watch = events[i].data.ptr;

      if (!watch->removed)
        watch->func (watch->fd, events[i].events, watch->user_data);
    }
  dispatching = FALSE;
  g_ptr_array_set_size (graveyard, 0);
  return G_SOURCE_CONTINUE;
}

static void
ensure_epoll (void)
{
  if (epoll_fd >= 0)
    return;
  epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (epoll_fd < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));   /* only at start-up */
  graveyard = g_ptr_array_new_with_free_func (g_free);
  epoll_source = g_unix_fd_add (epoll_fd, G_IO_IN, on_epoll_ready, NULL);
}

PmFdWatch *
pm_fd_watch_add (int      fd,
                 PmFdFunc func,
                 gpointer user_data)
{
  PmFdWatch *watch = g_new0 (PmFdWatch, 1);
  struct epoll_event ev = { .events = EPOLLIN };

  ensure_epoll ();
  watch->fd = fd;
  watch->func = func;
  watch->user_data = user_data;
  ev.data.ptr = watch;
  if (epoll_ctl (epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      /* ENOMEM, or fs.epoll.max_user_watches reached. */
      g_message ("Cannot watch descriptor %d: %s", fd, g_strerror (errno));
      g_free (watch);
      return NULL;
    }
  return watch;
}

void
pm_fd_watch_remove (PmFdWatch *watch)
{
  if (watch == NULL)
    return;
  epoll_ctl (epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
  watch->removed = TRUE;
  if (dispatching)
    g_ptr_array_add (graveyard, watch);
  else
    g_free (watch);
}
