/* pm-notify.c — the daemon's sd_notify socket, shared by every child.
 *
 * One socket for the daemon rather than one per process: one descriptor and
 * one source whatever the number of children, and attribution by process
 * group is what the contract asks for anyway (a helper the service forks
 * may notify for it, as with systemd's NotifyAccess=all inside the unit).
 * The name is abstract (no file to create, to clean up after a crash, or to
 * make reachable for a child running as another user); anyone may send to
 * it, which is why only the credentials decide.
 *
 * Reading allocates nothing: one static buffer for the datagram and one for
 * its control messages. Descriptors a sender passes along are closed.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-notify"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gi18n.h>

#include "pm-error.h"
#include "pm-notify.h"
#include "pm-ready.h"

/* sd_notify messages are short; a longer datagram is dropped as a whole. */
#define NOTIFY_DATAGRAM_MAX 4096
/* Datagrams read per wakeup, so that a flood cannot starve the loop. */
#define NOTIFY_READS_PER_WAKEUP 64

typedef struct
{
  PmNotifyFunc func;
  gpointer     user_data;
} Watch;

static int         notify_fd = -1;
static guint       notify_source;
static char       *notify_address;   /* "@name" */
static GHashTable *watches;          /* pgid → Watch* */

static void
close_passed_fds (struct msghdr *msg)
{
  for (struct cmsghdr *c = CMSG_FIRSTHDR (msg); c != NULL; c = CMSG_NXTHDR (msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        int *fds = (int *) CMSG_DATA (c);
        gsize n = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);

        for (gsize i = 0; i < n; i++)
          close (fds[i]);
      }
}

static const struct ucred *
find_credentials (struct msghdr *msg)
{
  for (struct cmsghdr *c = CMSG_FIRSTHDR (msg); c != NULL; c = CMSG_NXTHDR (msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
        c->cmsg_len == CMSG_LEN (sizeof (struct ucred)))
      return (const struct ucred *) CMSG_DATA (c);
  return NULL;
}

static void
dispatch (const char    *buf,
          gsize          len,
          struct msghdr *msg)
{
  const struct ucred *cred = find_credentials (msg);
  const char *status = NULL;
  gsize status_len = 0;
  Watch *watch;
  pid_t pgid;
  guint says;

  /* pid 0: the sender is in another pid namespace; we cannot tell. */
  if (cred == NULL || cred->pid <= 0)
    return;
  pgid = getpgid (cred->pid);
  if (pgid <= 0 || watches == NULL)
    return;
  watch = g_hash_table_lookup (watches, GINT_TO_POINTER (pgid));
  if (watch == NULL)
    {
      g_debug ("Dropped a notify datagram from pid %d (group %d: not a child's)",
               (int) cred->pid, (int) pgid);
      return;
    }

  says = pm_ready_parse_notify (buf, len, &status, &status_len);
  if (says != 0)
    watch->func (says, status, status_len, watch->user_data);
}

static gboolean
on_notify_readable (int          fd,
                    GIOCondition condition,
                    gpointer     user_data)
{
  static char buf[NOTIFY_DATAGRAM_MAX];
  /* Room for the credentials and a few passed descriptors (to close). */
  static union
  {
    struct cmsghdr align;
    char           space[CMSG_SPACE (sizeof (struct ucred)) + CMSG_SPACE (16 * sizeof (int))];
  } control;

  for (guint i = 0; i < NOTIFY_READS_PER_WAKEUP; i++)
    {
      struct iovec iov = { buf, sizeof buf };
      struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = &control,
        .msg_controllen = sizeof control,
      };
      gssize n = recvmsg (fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          break;      /* EAGAIN: all read */
        }
      close_passed_fds (&msg);
      if ((gsize) n > sizeof buf || (msg.msg_flags & MSG_TRUNC))
        continue;     /* too long to be sd_notify */
      dispatch (buf, n, &msg);
    }
  return G_SOURCE_CONTINUE;
}

const char *
pm_notify_open (GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_autofree char *name = NULL;
  socklen_t len;
  int one = 1;
  int fd;

  if (notify_fd >= 0)
    return notify_address;

  /* The pid tells instances apart, the random part a pid reused in another
   * pid namespace sharing this network namespace. */
  name = g_strdup_printf ("elife-pm/%d/%08x/notify", (int) getpid (), g_random_int ());
  memcpy (addr.sun_path + 1, name, strlen (name));
  len = offsetof (struct sockaddr_un, sun_path) + 1 + strlen (name);

  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 ||
      setsockopt (fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
      bind (fd, (struct sockaddr *) &addr, len) < 0)
    {
      int errsv = errno;

      if (fd >= 0)
        close (fd);
      g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                   _("Notify socket “@%s”: %s"), name, g_strerror (errsv));
      return NULL;
    }

  notify_fd = fd;
  notify_address = g_strconcat ("@", name, NULL);
  notify_source = g_unix_fd_add (fd, G_IO_IN, on_notify_readable, NULL);
  g_debug ("Notify socket %s", notify_address);
  return notify_address;
}

const char *
pm_notify_address (void)
{
  return notify_address;
}

void
pm_notify_watch (pid_t        pgid,
                 PmNotifyFunc func,
                 gpointer     user_data)
{
  Watch *watch = g_new (Watch, 1);

  watch->func = func;
  watch->user_data = user_data;
  if (watches == NULL)
    watches = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_hash_table_replace (watches, GINT_TO_POINTER (pgid), watch);
}

void
pm_notify_unwatch (pid_t pgid)
{
  if (watches != NULL)
    g_hash_table_remove (watches, GINT_TO_POINTER (pgid));
}

void
pm_notify_shutdown (void)
{
  g_clear_handle_id (&notify_source, g_source_remove);
  if (notify_fd >= 0)
    close (notify_fd);
  notify_fd = -1;
  g_clear_pointer (&notify_address, g_free);
  g_clear_pointer (&watches, g_hash_table_unref);
}
