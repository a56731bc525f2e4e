/* pm-creds.c — acting as a caller.
 *
 * Why per-thread file-system credentials rather than a checking fork: the
 * checks and opens stay synchronous on the main thread, cost three system
 * calls each way, and the descriptor is ours at once; the daemon's other
 * threads (the D-Bus worker, the log I/O threads) keep root's credentials
 * throughout, because setfsuid/setfsgid and the raw setgroups system call
 * change only the calling thread. Linux drops the file-system capabilities
 * (CAP_DAC_OVERRIDE, ...) with a non-zero fsuid, so the kernel checks
 * exactly what it would check for the caller.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-creds"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "pm-creds.h"
#include "pm-error.h"

PmCreds *
pm_creds_lookup (uid_t    uid,
                 GError **error)
{
  g_autoptr(PmCreds) self = g_new0 (PmCreds, 1);
  g_autofree char *buf = NULL;
  long size = sysconf (_SC_GETPW_R_SIZE_MAX);
  struct passwd pw, *found = NULL;
  int n = 32;
  int r;

  if (size < 1024)
    size = 1024;
  for (;;)
    {
      buf = g_realloc (buf, size);
      r = getpwuid_r (uid, &pw, buf, size, &found);
      if (r != ERANGE || size > 1024 * 1024)
        break;
      size *= 2;
    }
  if (found == NULL)
    {
      g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                   _("User %u: %s"), (guint) uid,
                   r != 0 ? g_strerror (r) : _("no such user"));
      return NULL;
    }

  self->uid = pw.pw_uid;
  self->gid = pw.pw_gid;
  self->user = g_strdup (pw.pw_name);
  self->home = g_strdup (pw.pw_dir);
  self->shell = g_strdup (pw.pw_shell != NULL && *pw.pw_shell != '\0' ? pw.pw_shell : "/bin/sh");

  /* What initgroups() would set, without setting it. */
  self->groups = g_new (gid_t, n);
  while (getgrouplist (self->user, self->gid, self->groups, &n) < 0)
    self->groups = g_renew (gid_t, self->groups, n);
  self->n_groups = n;
  return g_steal_pointer (&self);
}

PmCreds *
pm_creds_copy (const PmCreds *self)
{
  PmCreds *copy = g_new0 (PmCreds, 1);

  *copy = *self;
  copy->groups = g_memdup2 (self->groups, sizeof (gid_t) * self->n_groups);
  copy->user = g_strdup (self->user);
  copy->home = g_strdup (self->home);
  copy->shell = g_strdup (self->shell);
  return copy;
}

void
pm_creds_free (PmCreds *self)
{
  if (self == NULL)
    return;
  g_free (self->groups);
  g_free (self->user);
  g_free (self->home);
  g_free (self->shell);
  g_free (self);
}

/* The raw system calls: glibc's setgroups() would change every thread. */
static int
thread_setgroups (int          n,
                  const gid_t *groups)
{
  return syscall (SYS_setgroups, (long) n, groups);
}

/* setfsuid() answers with the previous value, never an error: ask again
 * (-1 changes nothing) to learn whether it took. */
static gboolean
set_fsuid (uid_t uid)
{
  setfsuid (uid);
  if ((uid_t) setfsuid ((uid_t) -1) != uid)
    {
      errno = EPERM;
      return FALSE;
    }
  return TRUE;
}

static gboolean
set_fsgid (gid_t gid)
{
  setfsgid (gid);
  if ((gid_t) setfsgid ((gid_t) -1) != gid)
    {
      errno = EPERM;
      return FALSE;
    }
  return TRUE;
}

gboolean
pm_creds_enter (const PmCreds *creds,
                PmCredsSaved  *saved)
{
  int errsv;

  *saved = (PmCredsSaved) { 0 };
  if (creds == NULL)
    return TRUE;

  saved->fsuid = setfsuid ((uid_t) -1);
  saved->fsgid = setfsgid ((gid_t) -1);
  saved->n_groups = getgroups (0, NULL);
  if (saved->n_groups < 0)
    return FALSE;
  saved->groups = g_new (gid_t, MAX (saved->n_groups, 1));
  saved->n_groups = getgroups (saved->n_groups, saved->groups);
  if (saved->n_groups < 0)
    goto fail;

  /* Groups first: changing them needs CAP_SETGID, which a non-zero fsuid
   * does not take away, but the order keeps leave() the mirror image. */
  if (thread_setgroups (creds->n_groups, creds->groups) < 0)
    goto fail;
  if (!set_fsgid (creds->gid))
    goto fail_groups;
  if (!set_fsuid (creds->uid))
    goto fail_gid;
  saved->switched = TRUE;
  return TRUE;

fail_gid:
  errsv = errno;
  set_fsgid (saved->fsgid);
  errno = errsv;
fail_groups:
  errsv = errno;
  thread_setgroups (saved->n_groups, saved->groups);
  errno = errsv;
fail:
  g_clear_pointer (&saved->groups, g_free);
  return FALSE;
}

void
pm_creds_leave (PmCredsSaved *saved)
{
  int errsv = errno;

  if (!saved->switched)
    return;
  /* Back to root's fsuid first: that gives back the capabilities. */
  if (!set_fsuid (saved->fsuid) || !set_fsgid (saved->fsgid) ||
      thread_setgroups (saved->n_groups, saved->groups) < 0)
    g_error ("Could not restore the daemon's credentials: %s", g_strerror (errno));
  g_clear_pointer (&saved->groups, g_free);
  saved->switched = FALSE;
  errno = errsv;
}

int
pm_creds_access (const char *path,
                 int         mode)
{
  /* faccessat2 with AT_EACCESS checks the thread's fsuid, fsgid, groups and
   * effective capabilities; glibc's faccessat(AT_EACCESS) may instead
   * emulate it from stat() and the effective uid. */
  return syscall (SYS_faccessat2, AT_FDCWD, path, mode, AT_EACCESS);
}

int
pm_open_as (const PmCreds *creds,
            const char    *path,
            int            flags,
            mode_t         mode)
{
  PmCredsSaved saved;
  int fd, errsv;

  if (!pm_creds_enter (creds, &saved))
    return -1;
  fd = open (path, flags, mode);
  errsv = errno;
  pm_creds_leave (&saved);
  errno = errsv;
  return fd;
}

int
pm_mkdir_as (const PmCreds *creds,
             const char    *dir,
             mode_t         mode)
{
  PmCredsSaved saved;
  int r, errsv;

  if (!pm_creds_enter (creds, &saved))
    return -1;
  r = g_mkdir_with_parents (dir, mode);
  errsv = errno;
  pm_creds_leave (&saved);
  errno = errsv;
  return r;
}
