/* pm-spawn.c — starting one child.
 *
 * Paths are checked before forking so that a client gets "Script “/x”: No
 * such file or directory" rather than an exec error from deep inside GLib.
 * The child leads its own process group (a service is its whole group), dies
 * with the daemon (PR_SET_PDEATHSIG), reads /dev/null, and writes into two
 * pipes the daemon reads line by line.
 *
 * A child run as a caller (the daemon is root, the caller is not) has its
 * paths checked with the caller's file-system credentials, and sets the
 * caller's groups, gid and uid itself between clone() and exec: the group
 * list is resolved here beforehand, since the child may not allocate.
 *
 * With ten thousand children the daemon holds twenty thousand descriptors,
 * and a plain vfork copies that table into every child, whose exec then
 * closes them one by one: a Start would cost time in proportion to the
 * children already running. So the descriptors a child needs are first put
 * in a few reserved low slots; the child shares our table (CLONE_FILES) and
 * its first step makes a private copy of just the slots and below
 * (close_range with CLOSE_RANGE_UNSHARE), so a spawn costs the same with ten
 * children or ten thousand.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-spawn"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "pm-error.h"
#include "pm-notify.h"
#include "pm-procstat.h"
#include "pm-reaper.h"
#include "pm-spawn.h"
#include "pm-state.h"

/* Where node looks for its IPC channel, as child_process.fork() sets it up. */
#define NODE_CHANNEL_TARGET_FD 3

G_STATIC_ASSERT (NODE_CHANNEL_TARGET_FD == 3);

/* WATCHDOG_PID's value until the child writes its own pid over it: as long
 * as any pid. */
#define WATCHDOG_PID_SLOT "00000000000000000000"

static gboolean spawn_failed (GError    **error,
                              const char *what,
                              const char *path,
                              int         errsv);

static gboolean
spawn_failed_errno (GError    **error,
                    const char *path,
                    int         errsv)
{
  return spawn_failed (error, _("Could not open"), path, errsv);
}

/* The reserved descriptor slots (see the file's header). Each holds
 * /dev/null when idle; the stdin slot always does. */
enum
{
  SLOT_STDIN,
  SLOT_STDOUT,
  SLOT_STDERR,
  SLOT_IPC,
  SLOT_ERROR,     /* the write end of the exec-error pipe */
  N_SLOTS
};

/* The slots sit at or above this, clear of the child's 0-3. */
#define SLOT_BASE 10

/* Descriptors the daemon keeps free for its own work beyond what a Start
 * needs (reading /proc, rewriting the state file, reopening logs, a D-Bus
 * message carrying descriptors). */
#define FD_RESERVE 32
/* What one Start may take at its peak: three pipes or socket pairs, the
 * exec-error pipe, the script read for its "#!", the log file. */
#define FDS_PER_START 10

static int           slots[N_SLOTS] = { -1, -1, -1, -1, -1 };
static int           slots_end;           /* one past the highest slot */
static gboolean      share_fd_table;
static struct rlimit child_nofile;        /* what children get (exec'd with) */

/* Valgrind cannot run a clone() that shares the descriptor table without
 * being a thread; it loads its preload objects into every process it runs. */
static gboolean
under_valgrind (void)
{
  const char *preload = g_getenv ("LD_PRELOAD");

  return preload != NULL && strstr (preload, "/vgpreload_") != NULL;
}

static gboolean
slots_init (GError **error)
{
  int null_fd;

  if (slots[SLOT_STDIN] >= 0)
    return TRUE;

  null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0)
    return spawn_failed_errno (error, "/dev/null", errno);
  for (int i = 0; i < N_SLOTS; i++)
    {
      slots[i] = fcntl (null_fd, F_DUPFD_CLOEXEC, SLOT_BASE);
      if (slots[i] < 0)
        {
          int errsv = errno;

          for (int j = 0; j < i; j++)
            close (slots[j]);
          slots[0] = -1;
          close (null_fd);
          return spawn_failed_errno (error, "/dev/null", errsv);
        }
      slots_end = MAX (slots_end, slots[i] + 1);
    }
  close (null_fd);
  share_fd_table = !under_valgrind ();
  g_debug ("Spawn slots %d-%d; %s descriptor table", slots[0], slots_end - 1,
           share_fd_table ? "shared" : "copied");
  return TRUE;
}

/* Puts @fd in @slot (and closes @fd): the child finds it there. */
static void
slot_set (int slot,
          int fd)
{
  while (dup3 (fd, slots[slot], O_CLOEXEC) < 0 && errno == EINTR)
    ;
  close (fd);
}

static void
slot_clear (int slot)
{
  while (dup3 (slots[SLOT_STDIN], slots[slot], O_CLOEXEC) < 0 && errno == EINTR)
    ;
}

char *
pm_spawn_resolve_cwd (const PmOptions *opts)
{
  if (opts->cwd != NULL)
    return g_canonicalize_filename (opts->cwd, "/");
  return g_get_current_dir ();
}

char *
pm_spawn_resolve_path (const char *path,
                       const char *cwd)
{
  return g_canonicalize_filename (path, cwd);
}

char *
pm_spawn_find_program (const char *program,
                       const char *path_env)
{
  g_auto(GStrv) dirs = NULL;

  if (path_env == NULL || *path_env == '\0')
    return NULL;

  dirs = g_strsplit (path_env, ":", -1);
  for (char **dir = dirs; *dir; dir++)
    {
      g_autofree char *candidate = NULL;

      /* An empty PATH entry means the current directory, which for a
       * daemon means nothing useful: skip it rather than guess. */
      if (**dir == '\0')
        continue;
      candidate = g_build_filename (*dir, program, NULL);
      /* As the caller, when the daemon acts as one (pm-creds.h). */
      if (pm_creds_access (candidate, X_OK) == 0 &&
          !g_file_test (candidate, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&candidate);
    }
  return NULL;
}

static gboolean
spawn_failed (GError    **error,
              const char *what,
              const char *path,
              int         errsv)
{
  /* Out of descriptors is a limit, not a broken program. */
  if (errsv == EMFILE || errsv == ENFILE)
    {
      struct rlimit lim = { 0 };

      getrlimit (RLIMIT_NOFILE, &lim);
      g_set_error (error, PM_ERROR, PM_ERROR_LIMIT_EXCEEDED,
                   _("Out of file descriptors (RLIMIT_NOFILE is %llu; each process takes 2, "
                     "a start up to %d): %s"),
                   (unsigned long long) lim.rlim_cur, FDS_PER_START, g_strerror (errsv));
    }
  else
    g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                 /* TRANSLATORS: what (e.g. “Script”), its path, the OS reason */
                 _("%s “%s”: %s"), what, path, g_strerror (errsv));
  return FALSE;
}

static gboolean
check_cwd (const char *cwd,
           GError    **error)
{
  struct stat st;

  if (stat (cwd, &st) < 0)
    return spawn_failed (error, _("Working directory"), cwd, errno);
  if (!S_ISDIR (st.st_mode))
    return spawn_failed (error, _("Working directory"), cwd, ENOTDIR);
  if (pm_creds_access (cwd, X_OK) < 0)
    return spawn_failed (error, _("Working directory"), cwd, errno);
  return TRUE;
}

static gboolean
check_file (const char *what,
            const char *path,
            int         mode,
            GError    **error)
{
  struct stat st;

  if (stat (path, &st) < 0)
    return spawn_failed (error, what, path, errno);
  if (S_ISDIR (st.st_mode))
    return spawn_failed (error, what, path, EISDIR);
  if (pm_creds_access (path, mode) < 0)
    return spawn_failed (error, what, path, errno);
  return TRUE;
}

/* Whether the kernel can exec @path itself: "#!" or an ELF header. */
static gboolean
has_exec_magic (const char *path)
{
  guint8 head[4] = { 0 };
  gssize n = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return TRUE;      /* unreadable but executable: let exec decide */
  n = read (fd, head, sizeof head);
  close (fd);
  if (n >= 2 && head[0] == '#' && head[1] == '!')
    return TRUE;
  return n == 4 && memcmp (head, "\x7f" "ELF", 4) == 0;
}

/* What a child run as @creds starts from: what login(1) would give, never
 * the daemon's own environment. */
static char **
caller_environment (const PmCreds *creds)
{
  char **envp = g_new0 (char *, 1);
  const char *lang = g_getenv ("LANG");

  envp = g_environ_setenv (envp, "PATH", PM_CREDS_DEFAULT_PATH, TRUE);
  envp = g_environ_setenv (envp, "HOME", creds->home, TRUE);
  envp = g_environ_setenv (envp, "USER", creds->user, TRUE);
  envp = g_environ_setenv (envp, "LOGNAME", creds->user, TRUE);
  envp = g_environ_setenv (envp, "SHELL", creds->shell, TRUE);
  if (lang != NULL)
    envp = g_environ_setenv (envp, "LANG", lang, TRUE);
  return envp;
}

static char **
build_environment (const PmOptions *opts,
                   const PmCreds   *creds,
                   PmProgramKind    kind,
                   guint            id)
{
  char **envp;
  char id_str[16];

  if (opts->clear_env)
    envp = g_new0 (char *, 1);
  else if (creds != NULL)
    envp = caller_environment (creds);
  else
    envp = g_get_environ ();
  /* Were the daemon itself given a notify socket, a child must not talk to
   * the daemon's supervisor in its name (systemd unsets them the same way);
   * a child's own readiness options set them below. */
  envp = g_environ_unsetenv (envp, "NOTIFY_SOCKET");
  envp = g_environ_unsetenv (envp, "WATCHDOG_USEC");
  envp = g_environ_unsetenv (envp, "WATCHDOG_PID");

  for (char **kv = opts->env; *kv; kv++)
    {
      const char *eq = strchr (*kv, '=');
      g_autofree char *key = g_strndup (*kv, eq - *kv);

      envp = g_environ_setenv (envp, key, eq + 1, TRUE);
    }

  g_snprintf (id_str, sizeof id_str, "%u", id);
  envp = g_environ_setenv (envp, "ELIFE_PM_ID", id_str, TRUE);
  envp = g_environ_setenv (envp, "ELIFE_PM_NAME", opts->name, TRUE);

  if (opts->ready == PM_READY_NOTIFY && pm_notify_address () != NULL)
    envp = g_environ_setenv (envp, "NOTIFY_SOCKET", pm_notify_address (), TRUE);
  if (opts->watchdog_timeout != 0)
    {
      char usec[32];

      g_snprintf (usec, sizeof usec, "%" G_GUINT64_FORMAT,
                  (guint64) opts->watchdog_timeout * 1000);
      envp = g_environ_setenv (envp, "WATCHDOG_USEC", usec, TRUE);
      if (opts->ready == PM_READY_NOTIFY)
        envp = g_environ_setenv (envp, "WATCHDOG_PID", WATCHDOG_PID_SLOT, TRUE);
    }

  if (kind == PM_PROGRAM_PYTHON)
    envp = g_environ_setenv (envp, "PYTHONUNBUFFERED", "1", TRUE);
  if (kind == PM_PROGRAM_NODE)
    {
      envp = g_environ_setenv (envp, "NODE_CHANNEL_FD",
                               G_STRINGIFY (NODE_CHANNEL_TARGET_FD), TRUE);
      envp = g_environ_setenv (envp, "NODE_CHANNEL_SERIALIZATION_MODE", "json", TRUE);
    }
  return envp;
}

static char *
resolve_interpreter (const PmOptions *opts,
                     const PmCreds   *creds,
                     PmProgramKind    kind,
                     const char      *cwd,
                     char           **envp,
                     GError         **error)
{
  const char *program = opts->interpreter;
  const char *path_env;
  char *found;

  if (program == NULL)
    {
      if (kind == PM_PROGRAM_NODE)
        program = "node";
      else if (kind == PM_PROGRAM_PYTHON)
        program = "python3";
      else
        return NULL;
    }

  if (strchr (program, '/') != NULL)
    {
      g_autofree char *path = pm_spawn_resolve_path (program, cwd);

      if (!check_file (_("Interpreter"), path, X_OK, error))
        return NULL;
      return g_steal_pointer (&path);
    }

  /* The child's own PATH decides, as it would in a shell. */
  path_env = g_environ_getenv (envp, "PATH");
  if (path_env == NULL)
    path_env = creds != NULL ? PM_CREDS_DEFAULT_PATH : g_getenv ("PATH");
  found = pm_spawn_find_program (program, path_env);
  if (found == NULL)
    g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                 _("Interpreter “%s” not found in PATH “%s”"),
                 program, path_env ? path_env : "");
  return found;
}

/* What the child needs between clone() and execve(), prepared by the
 * parent: the child may not allocate or take locks. */
typedef struct
{
  const char  *path;
  char       **argv;
  char       **envp;
  const char  *cwd;
  int          fds[4];      /* slots that become 0, 1, 2 and (node) 3; -1 for none */
  int          n_fds;       /* 3, or 4 with the IPC channel */
  int          err_fd;      /* the error slot */
  int          slots_end;
  pid_t        parent;
  const PmCreds *creds;     /* become this user, or NULL */
  char        *pid_slot;    /* WATCHDOG_PID's value in envp, or NULL */
  struct rlimit nofile;
} ChildArgs;

static void
child_fail (ChildArgs *a)
{
  int errsv = errno;

  while (write (a->err_fd, &errsv, sizeof errsv) < 0 && errno == EINTR)
    ;
  _exit (127);
}

/* Writes @pid in decimal over @slot (as long as WATCHDOG_PID_SLOT). */
static void
write_pid (char *slot,
           pid_t pid)
{
  char digits[sizeof WATCHDOG_PID_SLOT];
  gsize n = 0;
  unsigned long v = (unsigned long) pid;

  do
    digits[n++] = '0' + v % 10;
  while ((v /= 10) != 0 && n < sizeof digits - 1);
  for (gsize i = 0; i < n; i++)
    slot[i] = digits[n - 1 - i];
  slot[n] = '\0';
}

/* Runs in a vfork-style child (it shares our memory until it execs): only
 * system calls, no allocation, no locks, nothing GLib. */
__attribute__((no_sanitize_address))
static int
child_main (void *data)
{
  ChildArgs *a = data;
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  sigset_t empty;

  /* Our handlers must never run here; then what exec should inherit: the
   * default dispositions (SIGPIPE is ignored in the daemon) and an empty
   * mask. All signals are blocked until then. */
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      sigaction (sig, &dfl, NULL);

  /* A descriptor table of our own holding only what lies below the end of
   * the slots: with a shared table, the kernel copies just those. Nothing
   * here may touch a descriptor before this. */
  if (close_range (a->slots_end, ~0U, CLOSE_RANGE_UNSHARE) < 0)
    child_fail (a);

  if (setpgid (0, 0) < 0)
    child_fail (a);

  /* The caller's groups, gid, then uid (after which nothing could be
   * changed), by raw system calls: glibc's wrappers would try to change the
   * daemon's threads too, whose memory this child shares. */
  if (a->creds != NULL &&
      (syscall (SYS_setgroups, (long) a->creds->n_groups, a->creds->groups) < 0 ||
       syscall (SYS_setresgid, (long) a->creds->gid, (long) a->creds->gid,
                (long) a->creds->gid) < 0 ||
       syscall (SYS_setresuid, (long) a->creds->uid, (long) a->creds->uid,
                (long) a->creds->uid) < 0))
    child_fail (a);

  /* After the change of credentials, which clears it. */
  prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  /* The daemon may have died before PDEATHSIG was armed. */
  if (getppid () != a->parent)
    _exit (127);

  /* The slots are at SLOT_BASE or above: no target is a slot. */
  for (int target = 0; target < a->n_fds; target++)
    if (dup2 (a->fds[target], target) < 0)
      child_fail (a);
  /* The rest (the slots, the daemon's own low descriptors) goes on exec;
   * the error slot stays open until then. */
  close_range (a->n_fds, ~0U, CLOSE_RANGE_CLOEXEC);

  if (chdir (a->cwd) < 0)
    child_fail (a);
  /* Only the child knows its pid before exec. */
  if (a->pid_slot != NULL)
    write_pid (a->pid_slot, getpid ());

  /* The daemon raised its own soft limit; children get the one it was
   * started with (select() breaks above 1024), as systemd does. */
  if (a->nofile.rlim_max != 0)
    setrlimit (RLIMIT_NOFILE, &a->nofile);

  sigemptyset (&empty);
  sigprocmask (SIG_SETMASK, &empty, NULL);

  execve (a->path, a->argv, a->envp);
  child_fail (a);
  return 127;
}

/* A process's start time in /proc/PID/stat is CLOCK_BOOTTIME at its fork,
 * in clock ticks. Read just before and just after the clone, the clock
 * names the child's tick whenever both reads fall in the same one (all but
 * a few spawns in a hundred: a clone takes 0.1-0.4 ms, a tick is 10 ms): no
 * open and read of /proc/PID/stat per Start. The first such value is checked against /proc; any difference
 * turns this off for good. */
static int boottime_trusted = -1;   /* -1: not checked yet */

static guint64
boottime_ticks (void)
{
  static long ns_per_tick;
  struct timespec ts;

  if (ns_per_tick == 0)
    {
      long hz = sysconf (_SC_CLK_TCK);

      ns_per_tick = hz > 0 && 1000000000L % hz == 0 ? 1000000000L / hz : -1;
    }
  if (ns_per_tick < 0 || boottime_trusted == 0 || clock_gettime (CLOCK_BOOTTIME, &ts) < 0)
    return 0;
  return ((guint64) ts.tv_sec * 1000000000ULL + (guint64) ts.tv_nsec) / (guint64) ns_per_tick;
}

static guint64
child_start_time (pid_t   pid,
                  guint64 before,
                  guint64 after)
{
  guint64 proc;

  if (before == 0 || before != after)
    return 0;
  if (boottime_trusted > 0)
    return before;
  proc = pm_state_start_time (pid);
  boottime_trusted = proc == before;
  if (!boottime_trusted)
    g_debug ("CLOCK_BOOTTIME gave %" G_GUINT64_FORMAT " ticks, /proc %" G_GUINT64_FORMAT
             ": start times are read from /proc", before, proc);
  return proc;
}

/* Spawns like posix_spawn: clone(CLONE_VM | CLONE_VFORK) copies no page
 * tables, so the cost of a spawn does not grow with the daemon's memory,
 * and the parent's heap is not made copy-on-write under its feet; with
 * CLONE_FILES (see the file's header) it does not grow with the daemon's
 * descriptors either. The error of a failed exec comes back through a
 * close-on-exec pipe (which also works where a tool turns the vfork into a
 * fork). */
static pid_t
clone_child (ChildArgs *a,
             int       *errsv,
             guint64   *start_time)
{
  static guint8 *stack;
  const gsize stack_size = 64 * 1024;
  int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
  sigset_t all, old;
  int err_pipe[2];
  int dumpable;
  pid_t pid;
  gssize n;
  guint64 before, after;

  if (stack == NULL)
    stack = g_malloc (stack_size);
  if (share_fd_table)
    flags |= CLONE_FILES;

  if (pipe2 (err_pipe, O_CLOEXEC) < 0)
    {
      *errsv = errno;
      return -1;
    }
  slot_set (SLOT_ERROR, err_pipe[1]);
  a->err_fd = slots[SLOT_ERROR];
  a->slots_end = slots_end;
  a->parent = getpid ();

  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  dumpable = a->creds != NULL ? prctl (PR_GET_DUMPABLE, 0, 0, 0, 0) : 0;
  before = boottime_ticks ();
  pid = clone (child_main, stack + stack_size, flags, a);
  *errsv = errno;
  after = boottime_ticks ();
  /* A child that changed its uid made the memory it shares with us (ours)
   * undumpable, as the kernel does on every change of credentials. */
  if (dumpable > 0 && prctl (PR_GET_DUMPABLE, 0, 0, 0, 0) != dumpable)
    prctl (PR_SET_DUMPABLE, dumpable, 0, 0, 0);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  /* Ours is the last write end left once the child has exec'd or exited. */
  slot_clear (SLOT_ERROR);

  if (pid < 0)
    {
      close (err_pipe[0]);
      return -1;
    }

  do
    n = read (err_pipe[0], errsv, sizeof *errsv);
  while (n < 0 && errno == EINTR);
  close (err_pipe[0]);

  if (n == sizeof *errsv)
    {
      /* It failed before exec and has exited: reap it here, it was never
       * anyone's child to watch. */
      while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
        ;
      return -1;
    }
  *start_time = child_start_time (pid, before, after);
  return pid;
}

static gboolean
make_pipe (int     fds[2],
           GError **error)
{
  if (pipe2 (fds, O_CLOEXEC) < 0)
    return spawn_failed (error, _("Pipe"), "", errno);
  /* Our end never blocks the main loop. */
  fcntl (fds[0], F_SETFL, O_NONBLOCK);
  return TRUE;
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    {
      close (*fd);
      *fd = -1;
    }
}

gboolean
pm_spawn_init (GError **error)
{
  struct rlimit lim;

  if (!slots_init (error))
    return FALSE;
  if (getrlimit (RLIMIT_NOFILE, &lim) < 0)
    return TRUE;
  child_nofile = lim;
  /* As systemd does for itself: the daemon holds two pipes per child. */
  if (lim.rlim_cur < lim.rlim_max)
    {
      struct rlimit raised = { lim.rlim_max, lim.rlim_max };

      if (setrlimit (RLIMIT_NOFILE, &raised) < 0)
        g_debug ("Cannot raise RLIMIT_NOFILE to %llu: %s",
                 (unsigned long long) lim.rlim_max, g_strerror (errno));
    }
  return TRUE;
}

/* The size of our descriptor table (FDSize in /proc/self/status): every
 * descriptor in use lies below it. 0 when it cannot be read. */
static guint64
fd_table_size (void)
{
  char buf[4096];
  const char *p;

  if (pm_procstat_read_file ("/proc/self/status", buf, sizeof buf) < 0)
    return 0;
  p = strstr (buf, "\nFDSize:");
  return p != NULL ? g_ascii_strtoull (p + strlen ("\nFDSize:"), NULL, 10) : 0;
}

/* Starts that may skip the check: as many as the free numbers above the
 * table, at the soft limit of the time, had room for. Only Starts take
 * descriptors for good (the reserve is for what comes and goes). */
#define FD_CREDIT_MAX 64
static guint64 fd_credit;
static rlim_t  fd_credit_limit;

gboolean
pm_spawn_check_descriptors (GError **error)
{
  int probe[FDS_PER_START + FD_RESERVE];
  struct rlimit lim;
  guint64 table;
  int n = 0, errsv = 0;

  if (!slots_init (error))
    return FALSE;

  if (getrlimit (RLIMIT_NOFILE, &lim) == 0)
    {
      /* Granted at this limit or a lower one (prlimit can lower it). */
      if (fd_credit > 0 && lim.rlim_cur >= fd_credit_limit)
        {
          fd_credit--;
          return TRUE;
        }
      fd_credit = 0;
      /* Far from the limit (the usual case), one read of /proc shows it
       * for the next Starts too: the descriptors at and above the table's
       * size are all free. */
      table = fd_table_size ();
      if (table > 0 && lim.rlim_cur > table &&
          lim.rlim_cur - table >= FD_RESERVE + FDS_PER_START)
        {
          fd_credit = MIN ((lim.rlim_cur - table - FD_RESERVE) / FDS_PER_START - 1,
                           FD_CREDIT_MAX);
          fd_credit_limit = lim.rlim_cur;
          return TRUE;
        }
    }

  /* Near the limit the kernel's count is the only exact one: take what a
   * Start and the daemon's reserve need, and give it back at once. */
  for (; n < (int) G_N_ELEMENTS (probe); n++)
    {
      probe[n] = fcntl (slots[SLOT_STDIN], F_DUPFD_CLOEXEC, 0);
      if (probe[n] < 0)
        {
          errsv = errno;
          break;
        }
    }
  for (int i = 0; i < n; i++)
    close (probe[i]);
  if (errsv == 0)
    return TRUE;
  return spawn_failed (error, "", "", errsv);
}

/* The checks of pm_spawn() that the caller's credentials decide. */
static gboolean
check_paths (const PmOptions *opts,
             const PmCreds   *creds,
             const PmScript  *program,
             char           **envp,
             char           **interpreter,
             GError         **error)
{
  const char *cwd = program->cwd;
  const char *script = program->path;
  PmProgramKind kind = program->kind;

  if (!check_cwd (cwd, error))
    return FALSE;

  if (program->archive != NULL)
    {
      /* Electron's node reads inside the archive (pm-script.c made sure
       * there is an interpreter): only the archive itself can be checked. */
      if (!check_file (_("ASAR archive"), program->archive, R_OK, error))
        return FALSE;
      *interpreter = resolve_interpreter (opts, creds, kind, cwd, envp, error);
      return *interpreter != NULL;
    }

  if (kind == PM_PROGRAM_EXEC && opts->interpreter == NULL)
    {
      if (!check_file (_("Script"), script, X_OK, error))
        return FALSE;
      /* An executable text file without "#!" is run by the shell, as a
       * shell (and posix_spawnp) would; deciding it here spares an exec
       * that is bound to fail. */
      if (!has_exec_magic (script))
        *interpreter = g_strdup ("/bin/sh");
      return TRUE;
    }

  if (!check_file (_("Script"), script, R_OK, error))
    return FALSE;
  *interpreter = resolve_interpreter (opts, creds, kind, cwd, envp, error);
  return *interpreter != NULL;
}

gboolean
pm_spawn (const PmOptions *opts,
          const PmCreds   *creds,
          const PmScript  *program,
          guint            id,
          PmSpawned       *out,
          GError         **error)
{
  const char *cwd = program->cwd;
  const char *script = program->path;
  PmProgramKind kind = program->kind;
  g_auto(GStrv) envp = NULL;
  g_autofree char *interpreter = NULL;
  g_autoptr(GPtrArray) argv = NULL;
  int out_pipe[2] = { -1, -1 };
  int err_pipe[2] = { -1, -1 };
  int ipc[2] = { -1, -1 };
  PmCredsSaved saved;
  gboolean checked;
  pid_t pid;

  if (!slots_init (error))
    return FALSE;

  envp = build_environment (opts, creds, kind, id);

  /* On this thread only; the exec itself checks again, as the caller. */
  if (!pm_creds_enter (creds, &saved))
    return spawn_failed (error, _("User"), creds->user, errno);
  checked = check_paths (opts, creds, program, envp, &interpreter, error);
  pm_creds_leave (&saved);
  if (!checked)
    return FALSE;

  argv = g_ptr_array_new ();
  if (interpreter != NULL)
    g_ptr_array_add (argv, interpreter);
  g_ptr_array_add (argv, (char *) script);
  for (char **arg = opts->args; *arg; arg++)
    g_ptr_array_add (argv, *arg);
  g_ptr_array_add (argv, NULL);


  if (!make_pipe (out_pipe, error) || !make_pipe (err_pipe, error))
    goto fail;

  if (kind == PM_PROGRAM_NODE &&
      socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ipc) < 0)
    {
      spawn_failed (error, _("IPC channel"), script, errno);
      goto fail;
    }

  {
    ChildArgs a = { 0 };
    int errsv = 0;

    a.path = argv->pdata[0];
    a.argv = (char **) argv->pdata;
    a.envp = envp;
    a.cwd = cwd;
    a.nofile = child_nofile;
    a.creds = creds;
    for (char **kv = envp; *kv != NULL; kv++)
      if (opts->ready == PM_READY_NOTIFY &&
          g_str_equal (*kv, "WATCHDOG_PID=" WATCHDOG_PID_SLOT))
        a.pid_slot = *kv + strlen ("WATCHDOG_PID=");
    a.fds[0] = slots[SLOT_STDIN];
    slot_set (SLOT_STDOUT, out_pipe[1]);
    a.fds[1] = slots[SLOT_STDOUT];
    out_pipe[1] = -1;
    slot_set (SLOT_STDERR, err_pipe[1]);
    a.fds[2] = slots[SLOT_STDERR];
    err_pipe[1] = -1;
    a.n_fds = 3;
    if (ipc[1] >= 0)
      {
        slot_set (SLOT_IPC, ipc[1]);
        a.fds[3] = slots[SLOT_IPC];
        ipc[1] = -1;
        a.n_fds = 4;
      }
    pid = clone_child (&a, &errsv, &out->start_time);
    /* With CLONE_VFORK the child has set its group and exec'd (or failed)
     * by now: the write ends are its alone. */
    slot_clear (SLOT_STDOUT);
    slot_clear (SLOT_STDERR);
    slot_clear (SLOT_IPC);
    if (pid < 0)
      {
        if (errsv == EMFILE || errsv == ENFILE)
          spawn_failed (error, "", "", errsv);
        else
          g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                       _("Could not start “%s”: %s"), a.path, g_strerror (errsv));
        goto fail;
      }
  }

  if (ipc[0] >= 0)
    fcntl (ipc[0], F_SETFL, O_NONBLOCK);

  out->pid = pid;
  out->stdout_fd = out_pipe[0];
  out->stderr_fd = err_pipe[0];
  out->ipc_fd = ipc[0];
  return TRUE;

fail:
  close_fd (&out_pipe[0]);
  close_fd (&out_pipe[1]);
  close_fd (&err_pipe[0]);
  close_fd (&err_pipe[1]);
  close_fd (&ipc[0]);
  close_fd (&ipc[1]);
  return FALSE;
}
