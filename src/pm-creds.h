/* pm-creds.h — acting as a caller: who the caller is (resolved once, in the
 * daemon), and file-system access with the caller's credentials on the
 * calling thread only.
 *
 * A daemon running as root serves callers of other users: the files it
 * opens or checks for them must be opened or checked as them, and their
 * children must run as them. Everything here that needs the passwd and
 * group databases (which allocate) happens in pm_creds_lookup(), so that a
 * spawned child only has to make three raw system calls.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* The PATH of a child run as a caller, as login(1) gives users. */
#define PM_CREDS_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

typedef struct
{
  uid_t  uid;
  gid_t  gid;        /* primary group, from the passwd entry */
  gid_t *groups;     /* supplementary groups, as initgroups() would set them */
  int    n_groups;
  char  *user;       /* the passwd entry's name, home and shell */
  char  *home;
  char  *shell;
} PmCreds;

/* The passwd entry and group list of @uid; PM_ERROR_SPAWN_FAILED when
 * there is no such user (nothing can be run as it). */
PmCreds  *pm_creds_lookup        (uid_t           uid,
                                  GError        **error);
PmCreds  *pm_creds_copy          (const PmCreds  *self);
void      pm_creds_free          (PmCreds        *self);

/* The file-system credentials of the calling thread, to put back. */
typedef struct
{
  gboolean switched;
  uid_t    fsuid;
  gid_t    fsgid;
  gid_t   *groups;
  int      n_groups;
} PmCredsSaved;

/* Makes the calling thread's file-system uid, gid and supplementary groups
 * @creds' (NULL: nothing changes) until pm_creds_leave(). Only this thread
 * is affected: setfsuid/setfsgid are per thread, and the groups are set by
 * the raw system call, not glibc's setgroups(), which would apply them to
 * every thread of the daemon. FALSE with errno set when it could not be
 * done (then nothing is changed). */
gboolean  pm_creds_enter         (const PmCreds  *creds,
                                  PmCredsSaved   *saved);
void      pm_creds_leave         (PmCredsSaved   *saved);

/* access(2) against the thread's current file-system credentials (the
 * caller's inside pm_creds_enter()), not the real uid as access() checks. */
int       pm_creds_access        (const char     *path,
                                  int             mode);

/* open(2) of @path, and g_mkdir_with_parents() of @dir, as @creds (NULL:
 * as the daemon): what is created belongs to them, and nothing is created
 * where they may not write. -1 with errno set on failure. */
int       pm_open_as             (const PmCreds  *creds,
                                  const char     *path,
                                  int             flags,
                                  mode_t          mode);
int       pm_mkdir_as            (const PmCreds  *creds,
                                  const char     *dir,
                                  mode_t          mode);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PmCreds, pm_creds_free)

G_END_DECLS
